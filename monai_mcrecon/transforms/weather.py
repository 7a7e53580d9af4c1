"""Weather degradations of clean natural images: rain streaks and haze (array + dictionary transforms).

Images are ``[C, H, W]`` float tensors in [0, 1]; every draw comes from ``self.R`` (MONAI
:class:`~monai.transforms.Randomizable`), see :mod:`~monai_mcrecon.transforms.degradation` for the
conventions shared with the other degradations (``keys`` -> ``output_key``, ``case_seed_key``).

==========================  ===============================================================
transform                   model
==========================  ===============================================================
AddRainStreaks              rain layer R (one grey layer for all channels, motion-blurred random drops),
                            blended: ``"screen"`` ``y = 1 - (1 - x)(1 - R)``, ``"add"`` ``clip(x + R)``
                            or ``"achromatic"`` ``y = x + min(R, 1 - max_c x)`` (colour kept exactly)
AddHaze                     ``y = x t + A (1 - t)``, ``t = exp(-beta d)`` (atmospheric scattering, Koschmieder);
                            A a grey or near-white tinted airlight, d a given, disparity-derived or random depth
DarkChannelPriord           the inverse direction: the dark-channel-prior dehazed image of a hazy one
                            (:func:`monai_mcrecon.ops.dehaze.dark_channel_prior`), the prior that the
                            ``mstn_dehaze`` network refines
==========================  ===============================================================

**Colour of the rain.** Rain streaks are bright and colourless. The ``"screen"`` blend (the default, kept
so that evaluation stays comparable) adds ``R (1 - x)``: a residual in the complementary colour of the scene
(orange on a blue sky) that scales the residue channel ``max_c - min_c`` by ``1 - R``, against the
colourless-rain assumption of residue-channel-guided deraining (SPDNet). ``"add"`` adds the same ``R`` to
every channel but clips each channel separately, so where the brightest channel saturates first (the blue of
a sky) the residual turns yellow. ``"achromatic"`` adds ``min(R, 1 - max_c x)``: the same amount to every
channel and never above 1, so ``y_c - y_c' = x_c - x_c'`` and no channel is clipped (streaks fade out on
saturated pixels, which cannot get brighter).

References: Garg & Nayar, CVPR 2004 / Yang et al., CVPR 2017 (rain streak rendering); Narasimhan &
Nayar, IJCV 2002 / He et al., CVPR 2009 (haze model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform

from monai_mcrecon.ops.blur import blur
from monai_mcrecon.ops.dehaze import dark_channel_prior
from monai_mcrecon.transforms.blur_kernels import line_kernel
from monai_mcrecon.transforms.degradation_base import (
    Degradation,
    Degradationd,
    Range,
    as_range,
    check_image,
    sample_range,
)

__all__ = [
    "RAIN_BLENDS",
    "AddHaze",
    "AddHazed",
    "AddRainStreaks",
    "AddRainStreaksd",
    "DarkChannelPriord",
    "depth_from_disparity",
    "random_smooth_depth",
]

RAIN_BLENDS = ("screen", "add", "achromatic")


class AddRainStreaks(Degradation):
    """Synthetic rain: random drops motion-blurred along one direction, blended onto the clean image.

    The rain layer ``R`` (same for all channels, in [0, 1]) is: ``density x H x W`` random pixels of
    brightness ``U(intensity)``, convolved with an anti-aliased line of ``length`` pixels at
    ``angle`` degrees from the vertical (max 1, so a drop keeps its brightness along the streak),
    optionally widened by a Gaussian of std ``width``, clipped to [0, 1] and scaled by ``brightness``.
    Blends (see the module docstring): ``"screen"`` ``y = 1 - (1 - x)(1 - R)``, ``"add"``
    ``y = clip(x + R, 0, 1)``, ``"achromatic"`` ``y = x + min(R, 1 - max_c x)``. Rain only adds energy:
    ``y >= x`` everywhere. Density, length, angle, width and brightness are drawn once per image.

    Args:
        density: fraction of pixels that seed a drop, (low, high).
        length: streak length in pixels, (low, high).
        angle: streak angle from the vertical in degrees, (low, high) (one angle per image).
        intensity: drop brightness, (low, high) (one draw per drop).
        width: Gaussian widening std in pixels (0 = one-pixel streaks), or (low, high).
        blend: one of :data:`RAIN_BLENDS`, or several of them: one is drawn per image (uniformly).
        brightness: factor on the whole layer, or (low, high) (1: the drops' own brightness).
        seed: random seed.

    The layer actually added is kept in :attr:`last_rain` (for ``"achromatic"``: ``y = x + last_rain``
    exactly) and the drawn values in :attr:`last_params`.
    """

    def __init__(
        self,
        density: Range = (0.002, 0.008),
        length: Range = (10.0, 30.0),
        angle: Range = (-30.0, 30.0),
        intensity: Range = (0.5, 1.0),
        width: Range = 0.5,
        blend: str | Sequence[str] = "screen",
        brightness: Range = 1.0,
        seed: int | None = None,
    ):
        super().__init__(seed)
        blends = (blend,) if isinstance(blend, str) else tuple(blend)
        if not blends or any(b not in RAIN_BLENDS for b in blends):
            raise ValueError(f"blend={blend!r}; use one of {RAIN_BLENDS} (or a list of them).")
        self.density, self.length = as_range(density, "density"), as_range(length, "length")
        self.angle, self.intensity = as_range(angle, "angle"), as_range(intensity, "intensity")
        self.width, self.brightness = as_range(width, "width"), as_range(brightness, "brightness")
        if self.width[0] < 0 or self.brightness[0] < 0 or self.density[0] < 0:
            raise ValueError(f"density={density}, width={width} and brightness={brightness} must be non-negative.")
        self.blend = blend if isinstance(blend, str) else blends
        self.blends = blends
        self.last_params: dict[str, float] = {}

    def rain_layer(self, h: int, w: int) -> torch.Tensor:
        """A ``[1, h, w]`` rain layer in [0, 1] (draws from ``self.R``)."""
        drops = np.zeros((h, w), np.float64)
        density = sample_range(self.R, self.density)
        n = int(round(density * h * w))
        idx = self.R.choice(h * w, size=n, replace=False) if n else np.zeros(0, int)
        drops.flat[idx] = self.R.uniform(*self.intensity, size=n)
        length, angle = sample_range(self.R, self.length), sample_range(self.R, self.angle)
        k = line_kernel(length, angle)
        width = sample_range(self.R, self.width)
        if width > 0:
            from scipy.ndimage import gaussian_filter

            k = gaussian_filter(np.pad(k, 2), width)
            k = k / k.max()
        layer = blur(torch.from_numpy(drops)[None, None], torch.from_numpy(k)[None], padding="constant")
        brightness = sample_range(self.R, self.brightness)
        self.last_params = {"density": density, "length": length, "angle": angle, "width": width,
                            "brightness": brightness}
        layer = layer[0].clamp(0, 1).float()
        return layer if brightness == 1.0 else layer * brightness

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        img = check_image(img, "AddRainStreaks")
        rain = self.rain_layer(*img.shape[-2:]).to(img.device, img.dtype)
        blend = self.blends[0] if len(self.blends) == 1 else self.blends[self.R.randint(len(self.blends))]
        self.last_params["blend"] = blend
        if blend == "achromatic":
            rain = torch.minimum(rain, (1 - img.amax(0, keepdim=True)).clamp_min(0))
            self.last_rain = rain
            return img + rain
        self.last_rain = rain
        if blend == "screen":
            return img + rain * (1 - img)  # = 1 - (1 - x)(1 - R), exactly x where R = 0
        return (img + rain).clamp(0, 1)


def _legacy_random_depth(r: np.random.RandomState, h: int, w: int) -> torch.Tensor:
    """Smooth random depth in [0, 1] ``[1, h, w]``: a top-to-bottom ramp (far sky at the top) plus a
    bicubically up-sampled 4 x 4 random field (the default of :class:`AddHaze`)."""
    ramp = torch.linspace(1.0, 0.0, h).view(1, 1, h, 1).expand(1, 1, h, w)
    field = torch.from_numpy(r.uniform(0, 1, (1, 1, 4, 4))).float()
    field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)
    d = 0.6 * ramp + 0.4 * field
    d = (d - d.min()) / (d.max() - d.min()).clamp_min(1e-6)
    return d[0]


def _normalise(d: torch.Tensor) -> torch.Tensor:
    return (d - d.min()) / (d.max() - d.min()).clamp_min(1e-6)


def random_smooth_depth(
    r: np.random.RandomState, h: int, w: int, grid: Sequence[int] = (2, 8), ramp: Range = (0.0, 1.0),
    tilt: Range = (-30.0, 30.0), gamma: Range = (0.5, 2.0),
) -> torch.Tensor:
    """Random smooth depth in [0, 1] ``[1, h, w]`` (0 = nearest, 1 = farthest).

    ``ramp_weight x gradient + (1 - ramp_weight) x field``, normalised and raised to ``gamma``: the gradient
    grows towards the top of the image (far sky, near ground) turned by ``tilt`` degrees; the field is a
    ``g x g`` uniform random grid (``g`` an integer in ``grid``) up-sampled bicubically (a low-frequency
    random field: coarse grids give large near/far regions, fine grids cluttered scenes). Every parameter is
    a (low, high) range drawn per call.
    """
    g_lo, g_hi = (int(v) for v in grid)
    if not 2 <= g_lo <= g_hi:
        raise ValueError(f"grid={tuple(grid)} must be integers (low, high) with 2 <= low <= high.")
    g = g_lo if g_lo == g_hi else int(r.randint(g_lo, g_hi + 1))
    weight = sample_range(r, as_range(ramp, "ramp"))
    angle = np.deg2rad(sample_range(r, as_range(tilt, "tilt")))
    power = sample_range(r, as_range(gamma, "gamma"))
    yy = torch.linspace(1.0, 0.0, h).view(h, 1)  # 1 at the top row
    xx = torch.linspace(-0.5, 0.5, w).view(1, w)
    gradient = _normalise(yy * float(np.cos(angle)) + xx * float(np.sin(angle)))
    field = torch.from_numpy(r.uniform(0, 1, (1, 1, g, g))).float()
    field = _normalise(F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)[0, 0])
    d = _normalise(weight * gradient + (1 - weight) * field) ** power
    return d[None]


def depth_from_disparity(disparity) -> torch.Tensor:
    """Relative depth ``1 / disparity`` ``[H, W]`` from a disparity map (array, tensor or ``.npy`` path;
    ``[H, W]`` or ``[1, H, W]``; pixels). Unknown pixels (NaN, inf, <= 0) get the largest depth (far).

    Raises:
        ValueError: no pixel has a positive finite disparity.
    """
    if isinstance(disparity, (str, Path)):
        from monai_mcrecon.transforms.stereo import LoadDisparity

        disparity = LoadDisparity()(disparity)
    disp = torch.as_tensor(np.asarray(disparity, dtype=np.float32)).squeeze()
    if disp.ndim != 2:
        raise ValueError(f"disparity must be a 2-D map [H, W] (or [1, H, W]), got shape {tuple(disp.shape)}.")
    valid = torch.isfinite(disp) & (disp > 0)
    if not valid.any():
        raise ValueError("disparity has no positive finite value; depth cannot be derived from it.")
    depth = torch.where(valid, 1.0 / disp.clamp_min(1e-6), torch.zeros_like(disp))
    return torch.where(valid, depth, depth[valid].max())


def _load_depth(depth) -> torch.Tensor:
    if isinstance(depth, (str, Path)):
        depth = np.load(depth)
    d = torch.as_tensor(np.asarray(depth, dtype=np.float32))
    d = d.squeeze()
    if d.ndim != 2:
        raise ValueError(f"depth must be a 2-D map [H, W] (or [1, H, W]), got shape {tuple(d.shape)}.")
    return d


class AddHaze(Degradation):
    """Homogeneous haze by the atmospheric scattering model ``y = x t + A (1 - t)``, ``t = exp(-beta d)``.

    Args:
        beta: scattering coefficient per unit of normalised depth, or (low, high).
        airlight: brightness of the global atmospheric light A in [0, 1], or (low, high).
        normalize_depth: divide a given depth map by its maximum (so d lies in (0, 1] and ``beta`` means the
            same for every scene); False uses the depth as given (e.g. metres, then beta is per metre).
        seed: random seed.
        airlight_tint: 0 (default) gives a grey airlight; ``tau > 0`` a near-white tinted one,
            ``A_c = clip(a (1 + u_c), 0, 1)`` with ``u_c ~ U(-tau, tau)`` drawn per image and channel (zero
            mean, so the tint is neutral on average).
        random_depth: how depth is drawn when none is given: ``None`` (default) a top-to-bottom ramp plus a
            4 x 4 random field; a dict of :func:`random_smooth_depth` ranges (``grid``, ``ramp``, ``tilt``,
            ``gamma``; ``{}`` for its defaults) draws those per image.

    ``__call__(img, depth=None)``: ``depth`` is a ``[H', W']`` map (array, tensor or ``.npy`` path;
    resized bilinearly to the image; non-finite values are set to the largest finite depth); without it a
    random depth map is drawn. The transmission used is kept in :attr:`last_transmission`, the airlight
    ``[C, 1, 1]`` in :attr:`last_airlight_colour`.
    """

    def __init__(
        self, beta: Range = (0.6, 1.8), airlight: Range = (0.7, 1.0), normalize_depth: bool = True,
        seed: int | None = None, airlight_tint: float = 0.0, random_depth: Mapping | None = None,
    ):
        super().__init__(seed)
        self.beta, self.airlight = as_range(beta, "beta"), as_range(airlight, "airlight")
        if self.beta[0] < 0 or not 0 <= self.airlight[0] <= self.airlight[1] <= 1:
            raise ValueError(f"beta={beta} must be >= 0 and airlight={airlight} must lie in [0, 1].")
        if not 0 <= airlight_tint < 1:
            raise ValueError(f"airlight_tint={airlight_tint} must lie in [0, 1).")
        self.normalize_depth, self.airlight_tint = normalize_depth, float(airlight_tint)
        self.random_depth = None if random_depth is None else dict(random_depth)
        if self.random_depth is not None:
            unknown = set(self.random_depth) - {"grid", "ramp", "tilt", "gamma"}
            if unknown:
                raise ValueError(f"random_depth has unknown entries {sorted(unknown)}; use grid, ramp, tilt, gamma.")

    def draw_depth(self, h: int, w: int) -> torch.Tensor:
        """A random depth map ``[1, h, w]`` in [0, 1] (draws from ``self.R``)."""
        if self.random_depth is None:
            return _legacy_random_depth(self.R, h, w)
        return random_smooth_depth(self.R, h, w, **self.random_depth)

    def __call__(self, img: torch.Tensor, depth=None) -> torch.Tensor:
        img = check_image(img, "AddHaze")
        h, w = img.shape[-2:]
        if depth is None:
            d = self.draw_depth(h, w)
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
        beta, a = sample_range(self.R, self.beta), sample_range(self.R, self.airlight)
        colour = torch.full((img.shape[0], 1, 1), a, dtype=img.dtype, device=img.device)
        if self.airlight_tint > 0:
            u = self.R.uniform(-self.airlight_tint, self.airlight_tint, size=img.shape[0])
            colour = torch.from_numpy(np.clip(a * (1 + u), 0, 1)).to(img.device, img.dtype).view(-1, 1, 1)
        t = torch.exp(-beta * d.to(img.device, img.dtype))
        self.last_transmission, self.last_beta, self.last_airlight = t, beta, a
        self.last_airlight_colour = colour
        if self.airlight_tint > 0:
            return img * t + colour * (1 - t)
        return img * t + a * (1 - t)


class AddRainStreaksd(Degradationd):
    """Dictionary version of :class:`AddRainStreaks`; ``rain_key`` optionally stores the rain layer ``[1, H, W]``."""

    def __init__(self, keys: KeysCollection = "label", output_key: str = "image", density: Range = (0.002, 0.008),
                 length: Range = (10.0, 30.0), angle: Range = (-30.0, 30.0), intensity: Range = (0.5, 1.0),
                 width: Range = 0.5, blend: str | Sequence[str] = "screen", rain_key: str | None = None, seed: int | None = None,
                 case_seed_key: str | None = None, allow_missing_keys: bool = False, brightness: Range = 1.0):
        super().__init__(AddRainStreaks(density, length, angle, intensity, width, blend, brightness), keys,
                         output_key, seed, case_seed_key, allow_missing_keys)
        self.rain_key = rain_key

    def _apply(self, img, d):
        out = self.transform(img)
        if self.rain_key is not None:
            d[self.rain_key] = self.transform.last_rain
        return out


class AddHazed(Degradationd):
    """Dictionary version of :class:`AddHaze`. ``depth_key`` names an item entry holding a depth map
    (``.npy`` path or array); else ``disparity_key`` one holding a stereo disparity (depth ``1 / disparity``,
    :func:`depth_from_disparity`); items with neither get a random depth. ``transmission_key`` optionally
    stores ``t`` ``[1, H, W]``."""

    def __init__(self, keys: KeysCollection = "label", output_key: str = "image", beta: Range = (0.6, 1.8),
                 airlight: Range = (0.7, 1.0), depth_key: str | None = None, normalize_depth: bool = True,
                 transmission_key: str | None = None, seed: int | None = None, case_seed_key: str | None = None,
                 allow_missing_keys: bool = False, airlight_tint: float = 0.0, random_depth: Mapping | None = None,
                 disparity_key: str | None = None):
        t = AddHaze(beta, airlight, normalize_depth, airlight_tint=airlight_tint, random_depth=random_depth)
        super().__init__(t, keys, output_key, seed, case_seed_key, allow_missing_keys)
        self.depth_key, self.transmission_key, self.disparity_key = depth_key, transmission_key, disparity_key

    def _apply(self, img, d):
        depth = d.get(self.depth_key) if self.depth_key is not None else None
        if depth is None and self.disparity_key is not None and d.get(self.disparity_key) is not None:
            depth = depth_from_disparity(d[self.disparity_key])
        out = self.transform(img, depth)
        if self.transmission_key is not None:
            d[self.transmission_key] = self.transform.last_transmission
        return out


class DarkChannelPriord(MapTransform):
    """Store the dark-channel-prior dehazed version of ``keys`` (``[C, H, W]``, C = 1 or 3, in [0, 1]) under
    ``output_key`` (one key), computed on the whole image: :func:`monai_mcrecon.ops.dehaze.dark_channel_prior`
    with the guided filter's ``radius`` (default: scaled with the image size). Deterministic.

    Raises:
        ValueError: an image that is not ``[C, H, W]`` with C = 1 or 3 (from the prior).
    """

    def __init__(self, keys: KeysCollection = "image", output_key: str = "prior", radius: int | None = None,
                 allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.radius = radius
        if len(self.keys) != 1:
            raise ValueError(f"DarkChannelPriord takes one key (its output goes to output_key), got {self.keys}.")
        self.output_key = output_key

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            img = torch.as_tensor(d[key])
            d[self.output_key] = dark_channel_prior(img.unsqueeze(0).float(), radius=self.radius)[0].to(img.dtype)
        return d
