"""Classical (non-learned) restoration baselines for the natural-image bundles' results tables.

Each function takes and returns a ``[C, H, W]`` float tensor in [0, 1] (C = 1 or 3; the output has
the input's dtype and device) so it can sit where a network would. Noise levels are in [0, 1] units
(sigma 25 of 255 is 0.098).

* :func:`nl_means_denoise`: non-local means (Buades et al., CVPR 2005), scikit-image.
* :func:`wavelet_denoise`: BayesShrink wavelet soft thresholding (Chang et al., IEEE TIP 2000), scikit-image.
* :func:`richardson_lucy_deblur`: Richardson-Lucy deconvolution with a known kernel (Richardson 1972,
  Lucy 1974), scikit-image, per channel.
* :func:`dark_channel_dehaze`: dark channel prior (He, Sun, Tang, CVPR 2009) with guided-filter
  refinement of the transmission (He, Sun, Tang, ECCV 2010) instead of soft matting.
* :func:`average_interpolate`: frame interpolation by averaging the two neighbouring frames.
* :func:`tvl1_interpolate`: frame interpolation by TV-L1 optical flow (Zach, Pock, Bischof, DAGM 2007;
  scikit-image ``optical_flow_tvl1`` on gray frames) in both directions, the intermediate flows of the
  linear-motion approximation of Super SloMo (Jiang et al., CVPR 2018), backward warping of both frames
  and a ``(1 - t, t)`` blend.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["average_interpolate", "dark_channel_dehaze", "tvl1_interpolate", "guided_filter", "nl_means_denoise", "richardson_lucy_deblur", "wavelet_denoise"]


def _to_hwc(img: torch.Tensor, name: str) -> np.ndarray:
    t = torch.as_tensor(img)
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"{name} expects a [C, H, W] image with C = 1 or 3, got shape {tuple(t.shape)}.")
    return t.detach().cpu().double().numpy().transpose(1, 2, 0)


def _from_hwc(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    like = torch.as_tensor(like)
    if arr.ndim == 2:
        arr = arr[..., None]
    out = torch.from_numpy(np.ascontiguousarray(np.clip(arr, 0, 1).transpose(2, 0, 1)))
    return out.to(dtype=like.dtype if like.is_floating_point() else torch.float32, device=like.device)


def nl_means_denoise(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Non-local means with ``h = 0.8 sigma`` (the value scikit-image recommends with ``fast_mode``),
    5 x 5 patches, 13 x 13 search window (``patch_distance=6``), the noise ``sigma`` given (not estimated).

    Args:
        img: noisy ``[C, H, W]`` image.
        sigma: noise standard deviation in [0, 1] units.
    """
    from skimage.restoration import denoise_nl_means

    x = _to_hwc(img, "nl_means_denoise")
    out = denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6,
                           channel_axis=-1)
    return _from_hwc(out, img)


def wavelet_denoise(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """BayesShrink soft-threshold wavelet denoising (scikit-image ``denoise_wavelet``, db1, default levels)
    with the given noise ``sigma`` ([0, 1] units) and ``rescale_sigma=True``; channels processed separately."""
    from skimage.restoration import denoise_wavelet

    x = _to_hwc(img, "wavelet_denoise")
    out = denoise_wavelet(x, sigma=sigma, method="BayesShrink", mode="soft", rescale_sigma=True, channel_axis=-1)
    return _from_hwc(out, img)


def richardson_lucy_deblur(img: torch.Tensor, kernel: torch.Tensor | np.ndarray, num_iter: int = 30) -> torch.Tensor:
    """Richardson-Lucy deconvolution of every channel with the same known kernel (scikit-image
    ``richardson_lucy`` on the image reflect-padded by one kernel size, then cropped; clipped to [0, 1]).

    Args:
        img: blurred ``[C, H, W]`` image.
        kernel: ``[kh, kw]`` or ``[1, kh, kw]`` in the convention of
            :func:`monai_mcrecon.ops.blur.blur` (a true convolution, as scikit-image uses).
        num_iter: RL iterations.
    """
    from skimage.restoration import richardson_lucy

    k = torch.as_tensor(np.asarray(kernel) if not isinstance(kernel, torch.Tensor) else kernel)
    k = k.detach().cpu().double().squeeze().numpy()
    if k.ndim != 2 or (k < 0).any() or k.sum() <= 0:
        raise ValueError(f"kernel must be a non-negative 2-D kernel with a positive sum, got shape {k.shape}.")
    k = k / k.sum()
    x = _to_hwc(img, "richardson_lucy_deblur")
    # reflect-pad by a kernel size so the zero borders of scikit-image's convolutions stay outside the image
    p = max(k.shape)
    xp = np.pad(x, ((p, p), (p, p), (0, 0)), mode="reflect") if min(x.shape[:2]) > p else x
    out = np.stack([richardson_lucy(xp[..., c], k, num_iter=num_iter, clip=True) for c in range(x.shape[-1])], -1)
    if xp is not x:
        out = out[p:-p, p:-p]
    return _from_hwc(out, img)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Gray-guide guided filter (He et al., ECCV 2010) on 2-D arrays, in float64:
    :func:`monai_mcrecon.ops.dehaze.guided_filter` (symmetric borders)."""
    from monai_mcrecon.ops.dehaze import guided_filter as _guided_filter

    g, p = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (guide, src))
    return _guided_filter(g, p, int(radius), float(eps)).numpy()


def dark_channel_dehaze(
    img: torch.Tensor, patch_size: int = 15, omega: float = 0.95, t0: float = 0.1, top_fraction: float = 0.001,
    radius: int | None = None, eps: float = 1e-3,
) -> torch.Tensor:
    """Dark channel prior dehazing (He et al. 2009), transmission refined by a guided filter:
    :func:`monai_mcrecon.ops.dehaze.dark_channel_prior` on the ``[C, H, W]`` image in float64 (steps, defaults
    and the guided filter's size-scaled ``radius`` there). Works on gray images too."""
    from monai_mcrecon.ops.dehaze import dark_channel_prior

    x = torch.from_numpy(_to_hwc(img, "dark_channel_dehaze").transpose(2, 0, 1)).unsqueeze(0)
    j = dark_channel_prior(x, patch_size=patch_size, omega=omega, t0=t0, top_fraction=top_fraction, radius=radius, eps=eps)
    return _from_hwc(j[0].numpy().transpose(1, 2, 0), img)


def _check_pair(frame0: torch.Tensor, frame1: torch.Tensor, name: str) -> None:
    _to_hwc(frame0, name)
    if tuple(torch.as_tensor(frame0).shape) != tuple(torch.as_tensor(frame1).shape):
        raise ValueError(f"{name}: the two frames differ in shape {tuple(frame0.shape)} vs {tuple(frame1.shape)}.")


def average_interpolate(frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
    """The mean of the two neighbouring frames (the simplest interpolation baseline)."""
    _check_pair(frame0, frame1, "average_interpolate")
    return 0.5 * (torch.as_tensor(frame0) + torch.as_tensor(frame1))


def tvl1_interpolate(frame0: torch.Tensor, frame1: torch.Tensor, t: float = 0.5, **tvl1_kwargs) -> torch.Tensor:
    """Interpolate the frame at time ``t`` in (0, 1) between ``frame0`` and ``frame1`` with TV-L1 flow.

    ``F01`` (``frame1(p + F01(p)) = frame0(p)``) and ``F10`` come from ``skimage.registration.optical_flow_tvl1``
    on the BT.601 gray frames; ``F_t0 = -(1 - t) t F01 + t^2 F10`` and ``F_t1 = (1 - t)^2 F01 - t (1 - t) F10``;
    the result is ``(1 - t) warp(frame0, F_t0) + t warp(frame1, F_t1)`` (border padding).
    """
    from monai_mcrecon.ops.optical_flow import tvl1_flow
    from monai_mcrecon.ops.warp import flow_warp
    from monai_mcrecon.transforms.natural import convert_channels

    _check_pair(frame0, frame1, "tvl1_interpolate")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}.")
    f0 = torch.as_tensor(frame0).detach().cpu().double()
    f1 = torch.as_tensor(frame1).detach().cpu().double()
    g0 = convert_channels(f0, 1)[0].numpy()
    g1 = convert_channels(f1, 1)[0].numpy()
    f01 = tvl1_flow(g0, g1, **tvl1_kwargs)[None]
    f10 = tvl1_flow(g1, g0, **tvl1_kwargs)[None]
    ft0 = -(1 - t) * t * f01 + t * t * f10
    ft1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
    out = (1 - t) * flow_warp(f0[None], ft0) + t * flow_warp(f1[None], ft1)
    like = torch.as_tensor(frame0)
    return out[0].clamp(0, 1).to(dtype=like.dtype if like.is_floating_point() else torch.float32, device=like.device)
