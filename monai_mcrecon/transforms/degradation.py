"""Synthetic degradations of clean natural images, as seeded MONAI transforms (array + dictionary).

Images are ``[C, H, W]`` float tensors in [0, 1]. Every transform draws its randomness from
``self.R`` (MONAI :class:`~monai.transforms.Randomizable`), so ``seed=`` or ``set_random_state``
makes it reproducible. The dictionary versions read ``keys`` (default ``"label"``, the clean image),
write ``output_key`` (default ``"image"``, the network input) and never modify the clean key. With
``case_seed_key="case_id"`` they reseed from ``(seed, case id)`` for every item, so an image's
degradation does not depend on the loading order or on data-loader workers (use it for evaluation).

==========================  ===============================================================
transform                   model
==========================  ===============================================================
AddGaussianNoise            ``y = x + (sigma / scale) n``, ``n ~ N(0, 1)`` (DnCNN convention: sigma=25 of 255)
AddRicianNoise              ``y = |x + sigma (n1 + i n2)|`` (MRI magnitude noise)
SaturatedMotionBlur         ``y = clip(k * (g(x) x) + noise, 0, 1)``: random motion kernel k, highlight gain g
AddRainStreaks              ``y = 1 - (1 - x)(1 - R)`` (screen) or ``clip(x + R)``, R = motion-blurred random drops
AddHaze                     ``y = x t + A (1 - t)``, ``t = exp(-beta d)`` (atmospheric scattering, Koschmieder)
==========================  ===============================================================

References: Zhang et al., DnCNN, IEEE TIP 2017 (Gaussian sigma/255); Boracchi & Foi, IEEE TIP 2012
(random-walk camera-shake trajectories); Garg & Nayar, CVPR 2004 / Yang et al., CVPR 2017 (rain
streak rendering); Narasimhan & Nayar, IJCV 2002 / He et al., CVPR 2009 (haze model).
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable, Transform

from monai_mcrecon.networks.blocks.blur import blur
from monai_mcrecon.transforms.natural import BT601_LUMA

__all__ = [
    "AddGaussianNoise",
    "AddGaussianNoised",
    "AddHaze",
    "AddHazed",
    "AddRainStreaks",
    "AddRainStreaksd",
    "AddRicianNoise",
    "AddRicianNoised",
    "SaturatedMotionBlur",
    "SaturatedMotionBlurd",
    "line_kernel",
    "random_motion_kernel",
    "rasterize_trajectory",
]

Range = float | Sequence[float]


def _as_range(value: Range, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name}={tuple(value)} must be (low, high) with low <= high.")
    return lo, hi


def _sample(r: np.random.RandomState, rng: tuple[float, float]) -> float:
    return rng[0] if rng[0] == rng[1] else float(r.uniform(*rng))


def _check_image(img: torch.Tensor, name: str) -> torch.Tensor:
    img = torch.as_tensor(img)
    if img.ndim != 3:
        raise ValueError(
            f"{name} expects an image [C, H, W], got shape {tuple(img.shape)}; degrade items before batching."
        )
    return img if img.is_floating_point() else img.float()


def _normal(r: np.random.RandomState, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(r.standard_normal(tuple(like.shape))).to(like.dtype).to(like.device)


# ----------------------------------------------------------------------------------------------- kernels
def rasterize_trajectory(points: np.ndarray, kernel_size: int) -> np.ndarray:
    """Splat 2-D points ``[N, 2]`` (row, col; kernel-centred coordinates) bilinearly onto a
    ``kernel_size x kernel_size`` grid and normalise to sum 1 (equal exposure time per point)."""
    k = np.zeros((kernel_size, kernel_size), np.float64)
    c = (kernel_size - 1) / 2
    pts = np.asarray(points, np.float64) + c
    pts = np.clip(pts, 0, kernel_size - 1 - 1e-9)
    r0, c0 = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
    fr, fc = pts[:, 0] - r0, pts[:, 1] - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (1, 0, fr * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 1, fr * fc)):
        np.add.at(k, (np.minimum(r0 + dr, kernel_size - 1), np.minimum(c0 + dc, kernel_size - 1)), w)
    return k / k.sum()


def random_motion_kernel(
    r: np.random.RandomState, kernel_size: int = 15, length: tuple[float, float] = (0.3, 1.0), steps: int = 64,
    inertia: float = 0.7,
) -> np.ndarray:
    """Random camera-shake kernel (Boracchi & Foi 2012 style): a random walk with inertia on the
    velocity, centred on its centroid, scaled so that its largest extent is ``length`` x (kernel_size - 1)
    and rasterised with :func:`rasterize_trajectory`. Non-negative, sums to 1, ``[kernel_size, kernel_size]``."""
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size} must be odd and >= 3.")
    v = r.standard_normal(2)
    pos, traj = np.zeros(2), []
    for _ in range(steps):
        v = inertia * v + (1 - inertia) * r.standard_normal(2) * 2.0
        pos = pos + v
        traj.append(pos.copy())
    traj = np.asarray(traj)
    traj -= traj.mean(0)
    extent = np.abs(traj).max()
    scale = _sample(r, _as_range(length, "length")) * (kernel_size - 1) / 2 / max(extent, 1e-9)
    # oversample the path so consecutive samples are < 0.5 px apart (a continuous streak)
    fine = np.linspace(0, len(traj) - 1, 8 * len(traj))
    traj = np.stack([np.interp(fine, np.arange(len(traj)), traj[:, i]) for i in range(2)], 1) * scale
    return rasterize_trajectory(traj, kernel_size)


def line_kernel(length: float, angle_deg: float, kernel_size: int | None = None) -> np.ndarray:
    """Anti-aliased straight line of ``length`` pixels at ``angle_deg`` from the vertical (positive =
    top leaning right), centred, max value 1 (so a single bright pixel becomes a streak of the same peak)."""
    if kernel_size is None:
        kernel_size = int(np.ceil(length)) // 2 * 2 + 3
    t = np.linspace(-length / 2, length / 2, max(2, int(4 * length)))
    a = np.deg2rad(angle_deg)
    pts = np.stack([t * np.cos(a), -t * np.sin(a)], 1)
    k = rasterize_trajectory(pts, kernel_size)
    return k / k.max()


# ----------------------------------------------------------------------------------------------- array transforms
class _Degradation(Randomizable, Transform):
    def __init__(self, seed: int | None) -> None:
        if seed is not None:
            self.set_random_state(seed)

    def randomize(self, data=None) -> None:  # parameters are drawn inside __call__
        pass


class AddGaussianNoise(_Degradation):
    """Additive white Gaussian noise ``y = x + (sigma / scale) n``.

    Args:
        sigma: noise standard deviation in units of ``1 / scale`` (25 with scale 255 is 0.098), or a
            (low, high) range sampled uniformly per call (blind denoising).
        scale: the intensity scale sigma refers to (255 for 8-bit conventions, 1 for [0, 1] units).
        clip: clip the result to [0, 1] (off by default: clipping biases the noise).
        seed: random seed.
    """

    def __init__(self, sigma: Range = 25.0, scale: float = 255.0, clip: bool = False, seed: int | None = None):
        super().__init__(seed)
        self.sigma, self.scale, self.clip = _as_range(sigma, "sigma"), float(scale), clip
        if self.sigma[0] < 0:
            raise ValueError(f"sigma={sigma} must be non-negative.")

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        img = _check_image(img, "AddGaussianNoise")
        self.last_sigma = _sample(self.R, self.sigma) / self.scale
        out = img + self.last_sigma * _normal(self.R, img)
        return out.clamp(0, 1) if self.clip else out


class AddRicianNoise(_Degradation):
    """Rician (MRI magnitude) noise ``y = sqrt((x + sigma n1)^2 + (sigma n2)^2)``.

    Args:
        sigma: standard deviation of each of the real/imaginary Gaussian components, relative to the
            [0, 1] range, or a (low, high) range. The result is biased upwards: ``E[y] = sigma sqrt(pi/2)``
            where ``x = 0`` (Rayleigh) and ``~ sqrt(x^2 + sigma^2)`` where ``x >> sigma``.
        seed: random seed.
    """

    def __init__(self, sigma: Range = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.sigma = _as_range(sigma, "sigma")
        if self.sigma[0] < 0:
            raise ValueError(f"sigma={sigma} must be non-negative.")

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        img = _check_image(img, "AddRicianNoise")
        s = _sample(self.R, self.sigma)
        self.last_sigma = s
        re = img + s * _normal(self.R, img)
        im = s * _normal(self.R, img)
        return torch.sqrt(re * re + im * im)


class SaturatedMotionBlur(_Degradation):
    """Motion blur of an over-exposed scene with clipping (saturated low-light blur, Deep RL).

    Steps: ``s = x (1 + (g - 1) w(x))`` boosts highlights (``w`` ramps from 0 at luma
    ``highlight_threshold`` to 1 at luma 1; ``highlight_threshold=None`` applies ``g`` everywhere, an
    exposure gain), ``b = blur(s, k)`` with :func:`~monai_mcrecon.networks.blocks.blur.blur`,
    Poisson (``photons`` per unit intensity, optional) and Gaussian (``noise_sigma``) noise, then
    ``y = clip(b, 0, 1)``. Where the blurred highlights exceed 1 the sensor saturates, which is what
    breaks the linear blur model. The matching sharp target is ``clip(s, 0, 1)`` (:attr:`last_target`).

    Args:
        kernel_size: odd size of the random motion kernels.
        gain: highlight gain g or a (low, high) range (g = 1: no saturation beyond the clean image's).
        kernel: a fixed kernel ``[kh, kw]`` (or ``[1, kh, kw]``) instead of random ones; normalised to sum 1.
        length: random trajectory extent as a fraction of the kernel size, (low, high).
        highlight_threshold: luma where the boost starts; None = global gain.
        noise_sigma: Gaussian read noise std in [0, 1] units (after blur, before clipping).
        photons: mean photon count at intensity 1 for Poisson shot noise; None = no shot noise.
        padding: border handling of the blur.
        seed: random seed.

    Returns (``__call__``): ``(degraded [C, H, W], kernel [1, k, k])``.
    """

    def __init__(
        self,
        kernel_size: int = 15,
        gain: Range = (1.0, 3.0),
        kernel: np.ndarray | torch.Tensor | None = None,
        length: Range = (0.3, 1.0),
        highlight_threshold: float | None = 0.75,
        noise_sigma: float = 0.01,
        photons: float | None = None,
        padding: str = "reflect",
        seed: int | None = None,
    ):
        super().__init__(seed)
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd and >= 3.")
        self.kernel_size, self.gain, self.length = kernel_size, _as_range(gain, "gain"), _as_range(length, "length")
        if self.gain[0] < 1:
            raise ValueError(f"gain={gain} must be >= 1 (it brightens highlights).")
        if highlight_threshold is not None and not 0 <= highlight_threshold < 1:
            raise ValueError(f"highlight_threshold={highlight_threshold} must lie in [0, 1) or be None.")
        self.highlight_threshold, self.noise_sigma, self.photons, self.padding = (
            highlight_threshold, float(noise_sigma), photons, padding)
        self.kernel = None
        if kernel is not None:
            k = torch.as_tensor(np.asarray(kernel), dtype=torch.float64).squeeze()
            if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0 or (k < 0).any() or k.sum() <= 0:
                raise ValueError(
                    "kernel must be a non-negative 2-D array with odd sizes and a positive sum, "
                    f"got shape {tuple(k.shape)}."
                )
            self.kernel = (k / k.sum()).float()

    def boost(self, img: torch.Tensor, gain: float) -> torch.Tensor:
        """Highlight boost ``x (1 + (g - 1) w(x))`` (values may exceed 1)."""
        if self.highlight_threshold is None:
            return img * gain
        if img.shape[0] == 3:
            weights = torch.tensor(BT601_LUMA, dtype=img.dtype, device=img.device).view(3, 1, 1)
            luma = (img * weights).sum(0, keepdim=True)
        else:
            luma = img.mean(0, keepdim=True)
        w = ((luma - self.highlight_threshold) / (1 - self.highlight_threshold)).clamp(0, 1)
        return img * (1 + (gain - 1) * w)

    def __call__(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img = _check_image(img, "SaturatedMotionBlur")
        if self.kernel is not None:
            k = self.kernel.to(img.device, img.dtype)
        else:
            k = torch.from_numpy(random_motion_kernel(self.R, self.kernel_size, self.length)).to(img.device, img.dtype)
        g = _sample(self.R, self.gain)
        sharp = self.boost(img, g)
        b = blur(sharp[None], k[None], padding=self.padding)[0]
        if self.photons is not None:
            lam = (b.clamp_min(0) * self.photons).double().cpu().numpy()
            b = torch.from_numpy(self.R.poisson(lam) / self.photons).to(img.dtype).to(img.device)
        if self.noise_sigma > 0:
            b = b + self.noise_sigma * _normal(self.R, b)
        self.last_gain, self.last_target = g, sharp.clamp(0, 1)
        return b.clamp(0, 1), k[None]


class AddRainStreaks(_Degradation):
    """Synthetic rain: random drops motion-blurred along one direction, blended onto the clean image.

    The rain layer ``R`` (same for all channels, in [0, 1]) is: ``density x H x W`` random pixels of
    brightness ``U(intensity)``, convolved with an anti-aliased line of ``length`` pixels at
    ``angle`` degrees from the vertical (max 1, so a drop keeps its brightness along the streak),
    optionally widened by a Gaussian of std ``width``, clipped to [0, 1]. Blend: ``"screen"``
    ``y = 1 - (1 - x)(1 - R)`` (never darker, never above 1) or ``"add"`` ``y = clip(x + R, 0, 1)``.
    Rain only adds energy: ``y >= x`` everywhere.

    Args:
        density: fraction of pixels that seed a drop, (low, high).
        length: streak length in pixels, (low, high).
        angle: streak angle from the vertical in degrees, (low, high) (one angle per image).
        intensity: drop brightness, (low, high).
        width: Gaussian widening std in pixels (0 = one-pixel streaks).
        blend: "screen" or "add".
        seed: random seed.
    """

    def __init__(
        self,
        density: Range = (0.002, 0.008),
        length: Range = (10.0, 30.0),
        angle: Range = (-30.0, 30.0),
        intensity: Range = (0.5, 1.0),
        width: float = 0.5,
        blend: str = "screen",
        seed: int | None = None,
    ):
        super().__init__(seed)
        if blend not in ("screen", "add"):
            raise ValueError(f"blend={blend!r}; use 'screen' or 'add'.")
        self.density, self.length = _as_range(density, "density"), _as_range(length, "length")
        self.angle, self.intensity = _as_range(angle, "angle"), _as_range(intensity, "intensity")
        self.width, self.blend = float(width), blend

    def rain_layer(self, h: int, w: int) -> torch.Tensor:
        """A ``[1, h, w]`` rain layer in [0, 1] (draws from ``self.R``)."""
        drops = np.zeros((h, w), np.float64)
        n = int(round(_sample(self.R, self.density) * h * w))
        idx = self.R.choice(h * w, size=n, replace=False) if n else np.zeros(0, int)
        drops.flat[idx] = self.R.uniform(*self.intensity, size=n)
        k = line_kernel(_sample(self.R, self.length), _sample(self.R, self.angle))
        if self.width > 0:
            from scipy.ndimage import gaussian_filter

            k = gaussian_filter(np.pad(k, 2), self.width)
            k = k / k.max()
        layer = blur(torch.from_numpy(drops)[None, None], torch.from_numpy(k)[None], padding="constant")
        return layer[0].clamp(0, 1).float()

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        img = _check_image(img, "AddRainStreaks")
        rain = self.rain_layer(*img.shape[-2:]).to(img.device, img.dtype)
        self.last_rain = rain
        if self.blend == "screen":
            return img + rain * (1 - img)  # = 1 - (1 - x)(1 - R), exactly x where R = 0
        return (img + rain).clamp(0, 1)


def _random_depth(r: np.random.RandomState, h: int, w: int) -> torch.Tensor:
    """Smooth random depth in [0, 1] ``[1, h, w]``: a top-to-bottom ramp (far sky at the top) plus a
    bicubically up-sampled 4 x 4 random field."""
    ramp = torch.linspace(1.0, 0.0, h).view(1, 1, h, 1).expand(1, 1, h, w)
    field = torch.from_numpy(r.uniform(0, 1, (1, 1, 4, 4))).float()
    field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)
    d = 0.6 * ramp + 0.4 * field
    d = (d - d.min()) / (d.max() - d.min()).clamp_min(1e-6)
    return d[0]


def _load_depth(depth) -> torch.Tensor:
    if isinstance(depth, (str, Path)):
        depth = np.load(depth)
    d = torch.as_tensor(np.asarray(depth, dtype=np.float32))
    d = d.squeeze()
    if d.ndim != 2:
        raise ValueError(f"depth must be a 2-D map [H, W] (or [1, H, W]), got shape {tuple(d.shape)}.")
    return d


class AddHaze(_Degradation):
    """Homogeneous haze by the atmospheric scattering model ``y = x t + A (1 - t)``, ``t = exp(-beta d)``.

    Args:
        beta: scattering coefficient per unit of normalised depth, or (low, high).
        airlight: global atmospheric light A in [0, 1] (gray), or (low, high).
        normalize_depth: divide a given depth map by its maximum (so d lies in (0, 1] and ``beta`` means the
            same for every scene); False uses the depth as given (e.g. metres, then beta is per metre).
        seed: random seed.

    ``__call__(img, depth=None)``: ``depth`` is a ``[H', W']`` map (array, tensor or ``.npy`` path;
    resized bilinearly to the image; non-finite values are set to the largest finite depth); without it a
    smooth random depth map is drawn. The transmission used is kept in :attr:`last_transmission`.
    """

    def __init__(
        self, beta: Range = (0.6, 1.8), airlight: Range = (0.7, 1.0), normalize_depth: bool = True,
        seed: int | None = None,
    ):
        super().__init__(seed)
        self.beta, self.airlight = _as_range(beta, "beta"), _as_range(airlight, "airlight")
        if self.beta[0] < 0 or not 0 <= self.airlight[0] <= self.airlight[1] <= 1:
            raise ValueError(f"beta={beta} must be >= 0 and airlight={airlight} must lie in [0, 1].")
        self.normalize_depth = normalize_depth

    def __call__(self, img: torch.Tensor, depth=None) -> torch.Tensor:
        img = _check_image(img, "AddHaze")
        h, w = img.shape[-2:]
        if depth is None:
            d = _random_depth(self.R, h, w)
        else:
            d = _load_depth(depth)
            finite = torch.isfinite(d)
            if not finite.any():
                raise ValueError("depth has no finite value.")
            d = torch.where(finite, d, d[finite].max())
            if d.min() < 0:
                raise ValueError(f"depth must be non-negative, got a minimum of {float(d.min()):.3g}.")
            if tuple(d.shape) != (h, w):
                d = F.interpolate(d[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
            if self.normalize_depth:
                d = d / d.max().clamp_min(1e-12)
            d = d[None]
        beta, a = _sample(self.R, self.beta), _sample(self.R, self.airlight)
        t = torch.exp(-beta * d.to(img.device, img.dtype))
        self.last_transmission, self.last_beta, self.last_airlight = t, beta, a
        return img * t + a * (1 - t)


# ----------------------------------------------------------------------------------------------- dictionary
class _Degradationd(Randomizable, MapTransform):
    """Shared dictionary logic: read ``keys``, write ``output_key`` (one key) or ``output_key`` per key."""

    def __init__(self, transform: _Degradation, keys: KeysCollection, output_key: str | Sequence[str],
                 seed: int | None, case_seed_key: str | None, allow_missing_keys: bool) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.transform = transform
        out = [output_key] if isinstance(output_key, str) else list(output_key)
        if len(out) != len(self.keys):
            raise ValueError(f"Give one output_key per key: keys={list(self.keys)}, output_key={out}.")
        if set(out) & set(self.keys):
            raise ValueError(f"output_key {out} must differ from keys {list(self.keys)}: the clean image is kept.")
        self.output_keys = out
        self.seed, self.case_seed_key = seed, case_seed_key
        if seed is not None:
            self.set_random_state(seed)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        pass

    def _reseed(self, d: Mapping) -> None:
        if self.case_seed_key is None:
            return
        if self.case_seed_key not in d:
            raise KeyError(
                f"case_seed_key={self.case_seed_key!r} is not in the data; add it or set case_seed_key=None."
            )
        case = d[self.case_seed_key]
        case = case[0] if isinstance(case, (list, tuple)) else case
        self.transform.set_random_state(zlib.crc32(f"{self.seed or 0}:{case}".encode()) & 0x7FFFFFFF)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self._reseed(d)
        for key, out in self.key_iterator(d, self.output_keys):
            d[out] = self._apply(d[key], d)
        return d

    def _apply(self, img, d):
        return self.transform(img)


class AddGaussianNoised(_Degradationd):
    """Dictionary version of :class:`AddGaussianNoise`."""

    def __init__(self, keys: KeysCollection = "label", output_key: str | Sequence[str] = "image", sigma: Range = 25.0,
                 scale: float = 255.0, clip: bool = False, seed: int | None = None, case_seed_key: str | None = None,
                 allow_missing_keys: bool = False):
        super().__init__(AddGaussianNoise(sigma, scale, clip), keys, output_key, seed, case_seed_key,
                         allow_missing_keys)


class AddRicianNoised(_Degradationd):
    """Dictionary version of :class:`AddRicianNoise`."""

    def __init__(self, keys: KeysCollection = "label", output_key: str | Sequence[str] = "image", sigma: Range = 0.05,
                 seed: int | None = None, case_seed_key: str | None = None, allow_missing_keys: bool = False):
        super().__init__(AddRicianNoise(sigma), keys, output_key, seed, case_seed_key, allow_missing_keys)


class SaturatedMotionBlurd(_Degradationd):
    """Dictionary version of :class:`SaturatedMotionBlur`: writes the degraded image to ``output_key`` and
    the kernel ``[1, k, k]`` to ``kernel_key``; with ``target_key`` set, also the matching sharp target
    ``clip(boosted clean, 0, 1)`` (e.g. ``target_key="label"`` replaces the clean image by it)."""

    def __init__(self, keys: KeysCollection = "label", output_key: str = "image", kernel_key: str = "kernel",
                 target_key: str | None = None, kernel_size: int = 15, gain: Range = (1.0, 3.0),
                 kernel: np.ndarray | torch.Tensor | None = None, length: Range = (0.3, 1.0),
                 highlight_threshold: float | None = 0.75, noise_sigma: float = 0.01, photons: float | None = None,
                 padding: str = "reflect", seed: int | None = None, case_seed_key: str | None = None,
                 allow_missing_keys: bool = False):
        t = SaturatedMotionBlur(kernel_size, gain, kernel, length, highlight_threshold, noise_sigma, photons, padding)
        super().__init__(t, keys, output_key, seed, case_seed_key, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError("SaturatedMotionBlurd degrades one key (the kernel is per image).")
        self.kernel_key, self.target_key = kernel_key, target_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self._reseed(d)
        for key, out in self.key_iterator(d, self.output_keys):
            d[out], d[self.kernel_key] = self.transform(d[key])
            if self.target_key is not None:
                d[self.target_key] = self.transform.last_target
        return d


class AddRainStreaksd(_Degradationd):
    """Dictionary version of :class:`AddRainStreaks`; ``rain_key`` optionally stores the rain layer ``[1, H, W]``."""

    def __init__(self, keys: KeysCollection = "label", output_key: str = "image", density: Range = (0.002, 0.008),
                 length: Range = (10.0, 30.0), angle: Range = (-30.0, 30.0), intensity: Range = (0.5, 1.0),
                 width: float = 0.5, blend: str = "screen", rain_key: str | None = None, seed: int | None = None,
                 case_seed_key: str | None = None, allow_missing_keys: bool = False):
        super().__init__(AddRainStreaks(density, length, angle, intensity, width, blend), keys, output_key, seed,
                         case_seed_key, allow_missing_keys)
        self.rain_key = rain_key

    def _apply(self, img, d):
        out = self.transform(img)
        if self.rain_key is not None:
            d[self.rain_key] = self.transform.last_rain
        return out


class AddHazed(_Degradationd):
    """Dictionary version of :class:`AddHaze`. ``depth_key`` names an item entry holding a depth map
    (``.npy`` path or array); items without it get a random smooth depth. ``transmission_key``
    optionally stores ``t`` ``[1, H, W]``."""

    def __init__(self, keys: KeysCollection = "label", output_key: str = "image", beta: Range = (0.6, 1.8),
                 airlight: Range = (0.7, 1.0), depth_key: str | None = None, normalize_depth: bool = True,
                 transmission_key: str | None = None, seed: int | None = None, case_seed_key: str | None = None,
                 allow_missing_keys: bool = False):
        super().__init__(AddHaze(beta, airlight, normalize_depth), keys, output_key, seed, case_seed_key,
                         allow_missing_keys)
        self.depth_key, self.transmission_key = depth_key, transmission_key

    def _apply(self, img, d):
        depth = d.get(self.depth_key) if self.depth_key is not None else None
        out = self.transform(img, depth)
        if self.transmission_key is not None:
            d[self.transmission_key] = self.transform.last_transmission
        return out
