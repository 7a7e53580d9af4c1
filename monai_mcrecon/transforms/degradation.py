"""Synthetic degradations of clean natural images, as seeded MONAI transforms (array + dictionary).

Images are ``[C, H, W]`` float tensors in [0, 1]. Every transform draws its randomness from
``self.R`` (MONAI :class:`~monai.transforms.Randomizable`), so ``seed=`` or ``set_random_state``
makes it reproducible. The dictionary versions read ``keys`` (default ``"label"``, the clean image),
write ``output_key`` (default ``"image"``, the network input) and never modify the clean key. With
``case_seed_key="case_id"`` they reseed from ``(seed, case id)`` for every item, so an image's
degradation does not depend on the loading order or on data-loader workers (use it for evaluation).
A parameter given as a (low, high) range is drawn per call (per training sample); a single value is fixed
and draws nothing (:mod:`~monai_mcrecon.transforms.degradation_base`).

==========================  ===============================================================
transform                   model
==========================  ===============================================================
AddGaussianNoise            ``y = x + (sigma / scale) n``, ``n ~ N(0, 1)`` (DnCNN convention: sigma=25 of 255)
AddRicianNoise              ``y = |x + sigma (n1 + i n2)|`` (MRI magnitude noise)
SaturatedMotionBlur         ``y = clip(k * (g(x) x) + noise, 0, 1)``: random kernel k (camera shake, Gaussian
                            or defocus), highlight gain g (given, or solved for a clipped fraction)
AddRainStreaks              rain streaks (:mod:`~monai_mcrecon.transforms.weather`, re-exported here)
AddHaze                     atmospheric scattering haze (:mod:`~monai_mcrecon.transforms.weather`)
==========================  ===============================================================

The kernels live in :mod:`~monai_mcrecon.transforms.blur_kernels` (also re-exported here).

References: Zhang et al., DnCNN, IEEE TIP 2017 (Gaussian sigma/255); Boracchi & Foi, IEEE TIP 2012
(random-walk camera-shake trajectories).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection

from monai_mcrecon.ops.blur import blur
from monai_mcrecon.transforms.blur_kernels import (
    line_kernel,
    random_blur_kernel,
    random_motion_kernel,
    rasterize_trajectory,
)
from monai_mcrecon.transforms.degradation_base import (
    Degradation,
    Degradationd,
    Range,
    as_range,
    check_image,
    normal_like,
    sample_range,
)
from monai_mcrecon.ops.color import luma
from monai_mcrecon.transforms.weather import AddHaze, AddHazed, AddRainStreaks, AddRainStreaksd

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


class AddGaussianNoise(Degradation):
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
        self.sigma, self.scale, self.clip = as_range(sigma, "sigma"), float(scale), clip
        if self.sigma[0] < 0:
            raise ValueError(f"sigma={sigma} must be non-negative.")

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        img = check_image(img, "AddGaussianNoise")
        self.last_sigma = sample_range(self.R, self.sigma) / self.scale
        out = img + self.last_sigma * normal_like(self.R, img)
        return out.clamp(0, 1) if self.clip else out


class AddRicianNoise(Degradation):
    """Rician (MRI magnitude) noise ``y = sqrt((x + sigma n1)^2 + (sigma n2)^2)``.

    Args:
        sigma: standard deviation of each of the real/imaginary Gaussian components, relative to the
            [0, 1] range, or a (low, high) range. The result is biased upwards: ``E[y] = sigma sqrt(pi/2)``
            where ``x = 0`` (Rayleigh) and ``~ sqrt(x^2 + sigma^2)`` where ``x >> sigma``.
        seed: random seed.
    """

    def __init__(self, sigma: Range = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.sigma = as_range(sigma, "sigma")
        if self.sigma[0] < 0:
            raise ValueError(f"sigma={sigma} must be non-negative.")

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        img = check_image(img, "AddRicianNoise")
        s = sample_range(self.R, self.sigma)
        self.last_sigma = s
        re = img + s * normal_like(self.R, img)
        im = s * normal_like(self.R, img)
        return torch.sqrt(re * re + im * im)


class SaturatedMotionBlur(Degradation):
    """Blur of an over-exposed scene with clipping (saturated low-light blur, Deep RL).

    Steps: ``s = x (1 + (g - 1) w(x))`` boosts highlights (``w`` ramps from 0 at luma
    ``highlight_threshold`` to 1 at luma 1; ``highlight_threshold=None`` applies ``g`` everywhere, an
    exposure gain), ``b = blur(s, k)`` with :func:`~monai_mcrecon.ops.blur.blur`,
    Poisson (``photons`` per unit intensity, optional) and Gaussian (``noise_sigma``) noise, then
    ``y = clip(b, 0, 1)``. Where the blurred highlights exceed 1 the sensor saturates, which is what
    breaks the linear blur model. The matching sharp target is ``clip(s, 0, 1)`` (:attr:`last_target`).

    The gain is either drawn from ``gain`` or, with ``saturation``, solved per image: a clipped fraction
    ``f ~ U(saturation)`` is drawn and ``g`` is the smallest gain in ``gain`` (read as (min, max)) that
    saturates a fraction ``f`` of the pixels of ``s`` (brightest channel ``>= 1``); where even the
    largest gain cannot clip that many (no highlights), the largest gain is used.

    Args:
        kernel_size: odd size of the random kernels.
        gain: highlight gain g or a (low, high) range (g = 1: no saturation beyond the clean image's).
        kernel: a fixed kernel ``[kh, kw]`` (or ``[1, kh, kw]``) instead of random ones; normalised to sum 1.
        length: camera-shake trajectory extent as a fraction of the kernel size, (low, high).
        highlight_threshold: luma where the boost starts; None = global gain.
        noise_sigma: Gaussian read noise std in [0, 1] units (after blur, before clipping), or (low, high).
        photons: mean photon count at intensity 1 for Poisson shot noise; None = no shot noise.
        padding: border handling of the blur.
        seed: random seed.
        kernel_types: probabilities of the random kernel types ``{"motion": p, "gaussian": p, "defocus": p}``
            (:func:`~monai_mcrecon.transforms.blur_kernels.random_blur_kernel`); None = camera shake only.
        gaussian_sigma: Gaussian kernel std in pixels, (low, high).
        defocus_radius: defocus disk radius in pixels, (low, high).
        saturation: fraction of saturated pixels, (low, high), or None to draw the gain from ``gain``.

    Returns (``__call__``): ``(degraded [C, H, W], kernel [1, k, k])``. The drawn values are kept in
    :attr:`last_params`.
    """

    def __init__(
        self,
        kernel_size: int = 15,
        gain: Range = (1.0, 3.0),
        kernel: np.ndarray | torch.Tensor | None = None,
        length: Range = (0.3, 1.0),
        highlight_threshold: float | None = 0.75,
        noise_sigma: Range = 0.01,
        photons: float | None = None,
        padding: str = "reflect",
        seed: int | None = None,
        kernel_types: Mapping[str, float] | None = None,
        gaussian_sigma: Range = (0.5, 3.0),
        defocus_radius: Range = (1.0, 6.0),
        saturation: Range | None = None,
    ):
        super().__init__(seed)
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd and >= 3.")
        self.kernel_size, self.gain, self.length = kernel_size, as_range(gain, "gain"), as_range(length, "length")
        if self.gain[0] < 1:
            raise ValueError(f"gain={gain} must be >= 1 (it brightens highlights).")
        if highlight_threshold is not None and not 0 <= highlight_threshold < 1:
            raise ValueError(f"highlight_threshold={highlight_threshold} must lie in [0, 1) or be None.")
        self.noise_sigma = as_range(noise_sigma, "noise_sigma")
        if self.noise_sigma[0] < 0:
            raise ValueError(f"noise_sigma={noise_sigma} must be non-negative.")
        self.highlight_threshold, self.photons, self.padding = highlight_threshold, photons, padding
        self.kernel_types = None if kernel_types is None else dict(kernel_types)
        self.gaussian_sigma = as_range(gaussian_sigma, "gaussian_sigma")
        self.defocus_radius = as_range(defocus_radius, "defocus_radius")
        self.saturation = None if saturation is None else as_range(saturation, "saturation")
        if self.saturation is not None and not 0 <= self.saturation[0] <= self.saturation[1] <= 1:
            raise ValueError(f"saturation={saturation} must be fractions in [0, 1].")
        self.kernel = None
        if kernel is not None:
            k = torch.as_tensor(np.asarray(kernel), dtype=torch.float64).squeeze()
            if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0 or (k < 0).any() or k.sum() <= 0:
                raise ValueError(
                    "kernel must be a non-negative 2-D array with odd sizes and a positive sum, "
                    f"got shape {tuple(k.shape)}."
                )
            self.kernel = (k / k.sum()).float()
        self.last_params: dict = {}

    def highlight_weight(self, img: torch.Tensor) -> torch.Tensor:
        """``w(x)`` ``[1, H, W]``: 0 below luma ``highlight_threshold``, ramping to 1 at luma 1 (all ones
        for a global gain)."""
        if self.highlight_threshold is None:
            return torch.ones_like(img[:1])
        if img.shape[0] == 3:
            y = luma(img)
        else:
            y = img.mean(0, keepdim=True)
        return ((y - self.highlight_threshold) / (1 - self.highlight_threshold)).clamp(0, 1)

    def boost(self, img: torch.Tensor, gain: float) -> torch.Tensor:
        """Highlight boost ``x (1 + (g - 1) w(x))`` (values may exceed 1)."""
        if self.highlight_threshold is None:
            return img * gain
        return img * (1 + (gain - 1) * self.highlight_weight(img))

    def gain_for_saturation(self, img: torch.Tensor, fraction: float) -> float:
        """The smallest gain in ``[gain_min, gain_max]`` that saturates ``fraction`` of the pixels of the
        boosted image (largest gain when none does)."""
        lo, hi = self.gain
        m = img.double().amax(0)  # a pixel saturates when its brightest channel reaches 1
        w = self.highlight_weight(img).double()[0]
        reach = torch.full_like(m, float("inf"))
        can = (w > 0) & (m > 0)
        reach[can] = 1 + (1 / m[can] - 1) / w[can]  # m (1 + (g - 1) w) = 1
        reach[m >= 1] = 1.0
        n = int(round(fraction * m.numel()))
        if n == 0:
            return lo
        g = float(torch.sort(reach.flatten()).values[n - 1]) * (1 + 1e-6)  # margin for float32 rounding
        return float(min(max(g, lo), hi))

    def __call__(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img = check_image(img, "SaturatedMotionBlur")
        kind = "fixed"
        if self.kernel is not None:
            k = self.kernel.to(img.device, img.dtype)
        else:
            k_np, kind = random_blur_kernel(self.R, self.kernel_size, self.kernel_types, self.length,
                                            self.gaussian_sigma, self.defocus_radius)
            k = torch.from_numpy(k_np).to(img.device, img.dtype)
        fraction = None
        if self.saturation is None:
            g = sample_range(self.R, self.gain)
        else:
            fraction = sample_range(self.R, self.saturation)
            g = self.gain_for_saturation(img, fraction)
        sharp = self.boost(img, g)
        b = blur(sharp[None], k[None], padding=self.padding)[0]
        if self.photons is not None:
            lam = (b.clamp_min(0) * self.photons).double().cpu().numpy()
            b = torch.from_numpy(self.R.poisson(lam) / self.photons).to(img.dtype).to(img.device)
        sigma = sample_range(self.R, self.noise_sigma)
        if sigma > 0:
            b = b + sigma * normal_like(self.R, b)
        self.last_gain, self.last_target = g, sharp.clamp(0, 1)
        self.last_params = {"kernel": kind, "gain": g, "saturation": fraction, "noise_sigma": sigma}
        return b.clamp(0, 1), k[None]


# ----------------------------------------------------------------------------------------------- dictionary
class AddGaussianNoised(Degradationd):
    """Dictionary version of :class:`AddGaussianNoise`."""

    def __init__(self, keys: KeysCollection = "label", output_key: str | Sequence[str] = "image", sigma: Range = 25.0,
                 scale: float = 255.0, clip: bool = False, seed: int | None = None, case_seed_key: str | None = None,
                 allow_missing_keys: bool = False):
        super().__init__(AddGaussianNoise(sigma, scale, clip), keys, output_key, seed, case_seed_key,
                         allow_missing_keys)


class AddRicianNoised(Degradationd):
    """Dictionary version of :class:`AddRicianNoise`."""

    def __init__(self, keys: KeysCollection = "label", output_key: str | Sequence[str] = "image", sigma: Range = 0.05,
                 seed: int | None = None, case_seed_key: str | None = None, allow_missing_keys: bool = False):
        super().__init__(AddRicianNoise(sigma), keys, output_key, seed, case_seed_key, allow_missing_keys)


class SaturatedMotionBlurd(Degradationd):
    """Dictionary version of :class:`SaturatedMotionBlur`: writes the degraded image to ``output_key`` and
    the kernel ``[1, k, k]`` to ``kernel_key``; with ``target_key`` set, also the matching sharp target
    ``clip(boosted clean, 0, 1)`` (e.g. ``target_key="label"`` replaces the clean image by it)."""

    def __init__(self, keys: KeysCollection = "label", output_key: str = "image", kernel_key: str = "kernel",
                 target_key: str | None = None, kernel_size: int = 15, gain: Range = (1.0, 3.0),
                 kernel: np.ndarray | torch.Tensor | None = None, length: Range = (0.3, 1.0),
                 highlight_threshold: float | None = 0.75, noise_sigma: Range = 0.01, photons: float | None = None,
                 padding: str = "reflect", seed: int | None = None, case_seed_key: str | None = None,
                 allow_missing_keys: bool = False, kernel_types: Mapping[str, float] | None = None,
                 gaussian_sigma: Range = (0.5, 3.0), defocus_radius: Range = (1.0, 6.0),
                 saturation: Range | None = None):
        t = SaturatedMotionBlur(kernel_size, gain, kernel, length, highlight_threshold, noise_sigma, photons, padding,
                                kernel_types=kernel_types, gaussian_sigma=gaussian_sigma,
                                defocus_radius=defocus_radius, saturation=saturation)
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
