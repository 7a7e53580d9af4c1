"""The dark channel prior (He, Sun, Tang, CVPR 2009) in PyTorch, with guided-filter refinement of the
transmission (He, Sun, Tang, ECCV 2010) instead of soft matting.

One home for the method: :func:`monai_mcrecon.baselines.dark_channel_dehaze` (the classical baseline of
the results tables) and :class:`monai_mcrecon.transforms.weather.DarkChannelPriord` (the prior that the
``mstn_dehaze`` bundle's network refines) both call :func:`dark_channel_prior`.

* :func:`box_mean`: the mean over ``(2 r + 1)^2`` windows with symmetric ("reflect" in SciPy's naming:
  ``d c b a | a b c d | d c b a``) borders, by cumulative sums (cost independent of ``r``);
* :func:`guided_filter`: the gray-guide guided filter;
* :func:`dark_channel_prior`: the dehazed image, batched, any device.

Border modes follow the SciPy baseline this replaced (``minimum_filter(mode="nearest")`` for the dark
channel, ``uniform_filter(mode="reflect")`` for the guided filter); ``tests/test_baselines.py`` checks both
against SciPy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from monai_mcrecon.ops.color import luma

__all__ = ["box_mean", "dark_channel_prior", "default_guided_radius", "guided_filter"]


def default_guided_radius(height: int, width: int) -> int:
    """The guided filter's radius for an image of this size: 40 at 600 x 400, scaled by the square root of
    the area, at least 4."""
    return max(4, round(40 * math.sqrt(height * width / (600 * 400))))


def _symmetric_pad(x: torch.Tensor, r: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    if r > n:
        raise ValueError(f"box_mean: radius {r} exceeds the image size {n} along dim {dim}; use a smaller radius.")
    return torch.cat([x.narrow(dim, 0, r).flip(dim), x, x.narrow(dim, n - r, r).flip(dim)], dim)


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of ``x [..., H, W]`` over ``(2 radius + 1)^2`` windows, symmetric borders (``radius <= H, W``)."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}.")
    if radius == 0:
        return x
    k = 2 * radius + 1
    for dim in (-1, -2):
        c = _symmetric_pad(x, radius, dim).cumsum(dim)
        c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim)
        n = x.shape[dim]
        x = (c.narrow(dim, k, n) - c.narrow(dim, 0, n)) / k
    return x


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Gray-guide guided filter: ``q = mean(a) I + mean(b)``, ``a = cov(I, p) / (var(I) + eps)``,
    ``b = mean(p) - a mean(I)``, means over ``(2 radius + 1)^2`` windows (:func:`box_mean`)."""
    mean_i, mean_p = box_mean(guide, radius), box_mean(src, radius)
    cov_ip = box_mean(guide * src, radius) - mean_i * mean_p
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * guide + box_mean(b, radius)


def _dark(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Minimum over the channels and a ``patch_size`` window (replicated borders): ``[B, 1, H, W]``."""
    m = -x.amin(dim=1, keepdim=True)
    p = patch_size // 2
    m = F.pad(m, [p, patch_size - 1 - p] * 2, mode="replicate")
    # separable: rows, then columns (sliding windows by unfold, 3x faster on CPU than max pooling, which stays
    # for graph capture: exact either way)
    if torch.compiler.is_exporting():
        return -F.max_pool2d(F.max_pool2d(m, (1, patch_size), stride=1), (patch_size, 1), stride=1)
    return -m.unfold(-1, patch_size, 1).amax(-1).unfold(-2, patch_size, 1).amax(-1)


def dark_channel_prior(
    img: torch.Tensor, patch_size: int = 15, omega: float = 0.95, t0: float = 0.1, top_fraction: float = 0.001,
    radius: int | None = None, eps: float = 1e-3,
) -> torch.Tensor:
    """Dehaze ``img [B, C, H, W]`` (C = 1 or 3, values in [0, 1]) by the dark channel prior.

    1. dark channel: minimum over the channels and a ``patch_size`` x ``patch_size`` window;
    2. airlight A (per image): among the brightest ``top_fraction`` of dark-channel pixels (at least one; all
       pixels tied with the last of them included), the colour of the one with the highest summed intensity;
    3. ``t = 1 - omega * dark(I / A)``, refined by :func:`guided_filter` (guide: the gray level, BT.601
       weights for colour; ``radius`` default :func:`default_guided_radius` (at most ``H`` and ``W``); ``eps``);
    4. ``J = (I - A) / max(t, t0) + A``, clipped to [0, 1].

    Raises:
        ValueError: an input that is not ``[B, 1 or 3, H, W]``.
    """
    if img.ndim != 4 or img.shape[1] not in (1, 3):
        raise ValueError(f"dark_channel_prior expects [B, C, H, W] with C = 1 or 3, got shape {tuple(img.shape)}.")
    b, c, h, w = img.shape
    if radius is None:
        radius = min(default_guided_radius(h, w), h, w)
    dc = _dark(img, patch_size).reshape(b, -1)
    flat = img.reshape(b, c, -1)
    # every pixel whose dark channel reaches the k-th largest value (k = top_fraction of the pixels, at least
    # one; ties all included, so the choice does not depend on a sort order), without data-dependent shapes
    # (the pixel count as a tensor keeps the exported graph free of size arithmetic)
    k = torch.clamp(torch.round(top_fraction * dc.new_ones(dc.shape).sum(1, keepdim=True)), min=1).long()
    threshold = dc.sort(dim=1, descending=True).values.gather(1, k - 1)
    brightness = flat.sum(1).masked_fill(dc < threshold, -math.inf)
    pick = brightness.argmax(1, keepdim=True)  # [B, 1]
    airlight = flat.gather(2, pick.unsqueeze(1).expand(b, c, 1)).clamp(min=1e-3).unsqueeze(-1)  # [B, C, 1, 1]
    t = 1 - omega * _dark(img / airlight, patch_size)
    gray = img if c == 1 else luma(img)
    t = guided_filter(gray, t, radius, eps)
    return ((img - airlight) / t.clamp(min=t0) + airlight).clamp(0, 1)
