"""Image-quality metrics for MRI reconstruction as plain torch functions.

Two reference conventions are implemented, because published numbers depend on them:

- **fastMRI** (``fastmri.evaluate``, Zbontar et al. 2018): :func:`nmse`, :func:`psnr` and :func:`ssim`
  reproduce ``fastmri.evaluate.nmse/psnr/ssim`` for a volume ``[slices, H, W]``. ``maxval`` defaults to
  the maximum of the whole ground-truth volume, PSNR and NMSE are computed over the whole volume, and
  SSIM is the mean over slices of ``skimage.metrics.structural_similarity`` with its defaults (7x7
  uniform window, sample covariance, K1 = 0.01, K2 = 0.03, the 3-pixel border cropped).
- **MATLAB** (Wang et al. 2004, ``ssim.m``; BasicSR ``calculate_ssim``, as used by MC-CDic):
  :func:`ssim_matlab` uses an 11x11 Gaussian window (sigma 1.5), population statistics, the 'valid'
  region of the filtering, and ``data_range`` 255 by default. Like BasicSR it does not apply the
  automatic down-sampling of the 2009 revision of ``ssim.m``.

All functions take tensors (or arrays) on any device, compute in float64 and return a 0-d float64
tensor on the input's device. A 2-D input is one slice; every dimension before the last two indexes
slices. Differences to ``fastmri.evaluate`` are at float64 round-off level for float64 inputs;
``skimage`` computes float32 inputs in float32, so for those it differs at float32 round-off level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["nmse", "psnr", "rmse", "ssim", "ssim_matlab"]

# skimage.metrics.structural_similarity defaults, used by fastmri.evaluate.ssim
_FASTMRI_WIN_SIZE = 7
# Wang et al. 2004 / ssim.m / BasicSR calculate_ssim
_MATLAB_WIN_SIZE = 11
_MATLAB_SIGMA = 1.5
_K1 = 0.01
_K2 = 0.03


def _prepare(gt: torch.Tensor, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a ground-truth / prediction pair and return both as plain float64 tensors."""
    gt = torch.as_tensor(gt)
    pred = torch.as_tensor(pred, device=gt.device)
    if gt.shape != pred.shape:
        raise ValueError(
            f"gt and pred must have the same shape, got gt.shape={tuple(gt.shape)} and "
            f"pred.shape={tuple(pred.shape)}."
        )
    if gt.ndim < 2:
        raise ValueError(f"Expected an image (H, W) or a volume (..., H, W), got shape {tuple(gt.shape)}.")
    for name, x in (("gt", gt), ("pred", pred)):
        if x.is_complex():
            raise ValueError(f"{name} is complex ({x.dtype}); take the magnitude first (e.g. fastmri.complex_abs).")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains non-finite values (nan or inf).")
    # as_subclass drops MetaTensor (or other subclass) behaviour: the results are plain numbers
    return (gt.as_subclass(torch.Tensor).to(torch.float64), pred.as_subclass(torch.Tensor).to(torch.float64))


def _data_range(gt: torch.Tensor, maxval: float | torch.Tensor | None, name: str = "maxval") -> torch.Tensor:
    """``maxval`` as a float64 tensor on gt's device; the ground-truth maximum when None (fastMRI default)."""
    if maxval is None:
        return gt.max()
    value = torch.as_tensor(maxval, dtype=torch.float64, device=gt.device)
    if value.numel() != 1 or not bool(torch.isfinite(value)) or not bool(value > 0):
        raise ValueError(f"{name} must be a positive finite scalar, got {maxval!r}.")
    return value.reshape(())


def _slices(x: torch.Tensor) -> torch.Tensor:
    """View ``(..., H, W)`` as ``(S, 1, H, W)``: every leading dimension indexes slices."""
    return x.reshape(-1, 1, x.shape[-2], x.shape[-1])


def _filter_valid(x: torch.Tensor, kernel_1d: torch.Tensor) -> torch.Tensor:
    """Separable correlation of ``(N, 1, H, W)`` with ``kernel_1d`` along H and W, 'valid' region only."""
    k = kernel_1d.to(dtype=x.dtype, device=x.device)
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return F.conv2d(x, k.view(1, 1, 1, -1))


def _ssim_per_slice(
    gt: torch.Tensor, pred: torch.Tensor, data_range: torch.Tensor, kernel_1d: torch.Tensor, cov_norm: float
) -> torch.Tensor:
    """Mean SSIM map over the 'valid' region of each slice; returns shape ``(S,)``.

    Following skimage/ssim.m: local (weighted) means and second moments from the window, variances as
    ``cov_norm * (E[xx] - E[x]^2)``, and ``C1 = (K1 R)^2``, ``C2 = (K2 R)^2``.
    """
    win = kernel_1d.numel()
    if gt.shape[-2] < win or gt.shape[-1] < win:
        raise ValueError(
            f"SSIM with a {win}x{win} window needs slices of at least {win}x{win} pixels, "
            f"got {tuple(gt.shape[-2:])}."
        )
    x, y = _slices(gt), _slices(pred)
    n = x.shape[0]
    moments = _filter_valid(torch.cat([x, y, x * x, y * y, x * y]), kernel_1d)
    ux, uy, uxx, uyy, uxy = moments.split(n)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return ssim_map.flatten(1).mean(dim=1)


def _gaussian_kernel_1d(size: int, sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian; its outer product is MATLAB's ``fspecial('gaussian', size, sigma)``."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def nmse(gt: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Normalised mean squared error ``||gt - pred||^2 / ||gt||^2`` over the whole input.

    Matches ``fastmri.evaluate.nmse``.

    Args:
        gt: ground truth, shape ``(H, W)`` or ``(..., H, W)``.
        pred: prediction, same shape as ``gt``.

    Returns:
        0-d float64 tensor on ``gt``'s device.

    Raises:
        ValueError: when the shapes differ, or an input is complex or not finite.
    """
    gt, pred = _prepare(gt, pred)
    return torch.sum((gt - pred) ** 2) / torch.sum(gt**2)


def rmse(gt: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Root mean squared error ``sqrt(mean((gt - pred)^2))`` over the whole input.

    Args:
        gt: ground truth, shape ``(H, W)`` or ``(..., H, W)``.
        pred: prediction, same shape as ``gt``.

    Returns:
        0-d float64 tensor on ``gt``'s device.

    Raises:
        ValueError: when the shapes differ, or an input is complex or not finite.
    """
    gt, pred = _prepare(gt, pred)
    return torch.sqrt(torch.mean((gt - pred) ** 2))


def psnr(gt: torch.Tensor, pred: torch.Tensor, maxval: float | torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio ``10 log10(maxval^2 / MSE)`` in dB, MSE over the whole volume.

    Matches ``fastmri.evaluate.psnr`` (``skimage.metrics.peak_signal_noise_ratio`` with
    ``data_range=maxval``). Identical inputs give ``inf``.

    Args:
        gt: ground truth, shape ``(H, W)`` or ``(slices, H, W)`` (any leading dimensions).
        pred: prediction, same shape as ``gt``.
        maxval: peak value; defaults to ``gt.max()`` of the whole input, as in fastMRI.

    Returns:
        0-d float64 tensor on ``gt``'s device.

    Raises:
        ValueError: when the shapes differ, an input is complex or not finite, or ``maxval`` is not
            a positive finite scalar.
    """
    gt, pred = _prepare(gt, pred)
    data_range = _data_range(gt, maxval)
    return 10 * torch.log10(data_range**2 / torch.mean((gt - pred) ** 2))


def ssim(gt: torch.Tensor, pred: torch.Tensor, maxval: float | torch.Tensor | None = None) -> torch.Tensor:
    """fastMRI structural similarity: mean over slices of skimage's default SSIM.

    Matches ``fastmri.evaluate.ssim``: each 2-D slice is compared with a 7x7 uniform window, sample
    covariance (``N / (N - 1)``), K1 = 0.01, K2 = 0.03 and ``data_range=maxval``; the SSIM map is averaged
    over the slice without its 3-pixel border (skimage's crop), then over slices.

    Args:
        gt: ground truth, shape ``(H, W)`` (one slice) or ``(slices, H, W)`` (any leading dimensions),
            with ``H, W >= 7``.
        pred: prediction, same shape as ``gt``.
        maxval: data range; defaults to ``gt.max()`` of the whole volume, as in fastMRI.

    Returns:
        0-d float64 tensor on ``gt``'s device.

    Raises:
        ValueError: when the shapes differ, an input is complex or not finite, slices are smaller than
            7x7, or ``maxval`` is not a positive finite scalar.
    """
    gt, pred = _prepare(gt, pred)
    data_range = _data_range(gt, maxval)
    n = _FASTMRI_WIN_SIZE**2
    kernel = torch.full((_FASTMRI_WIN_SIZE,), 1.0 / _FASTMRI_WIN_SIZE, dtype=torch.float64)
    return _ssim_per_slice(gt, pred, data_range, kernel, cov_norm=n / (n - 1)).mean()


def ssim_matlab(gt: torch.Tensor, pred: torch.Tensor, data_range: float | torch.Tensor = 255.0) -> torch.Tensor:
    """MATLAB-style structural similarity (Wang et al. 2004 ``ssim.m``, BasicSR ``calculate_ssim``).

    Each 2-D slice is filtered with the normalised 11x11 Gaussian window (sigma 1.5) over the 'valid'
    region, with population statistics, K1 = 0.01 and K2 = 0.03; the SSIM map is averaged per slice,
    then over slices. Equivalent to ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=data_range)`` per slice, whose 5-pixel crop is
    exactly the 'valid' region.

    Args:
        gt: ground truth, shape ``(H, W)`` or ``(slices, H, W)`` (any leading dimensions), ``H, W >= 11``.
        pred: prediction, same shape as ``gt``.
        data_range: dynamic range of the images; 255 for 8-bit images as in ``ssim.m`` and BasicSR.

    Returns:
        0-d float64 tensor on ``gt``'s device.

    Raises:
        ValueError: when the shapes differ, an input is complex or not finite, slices are smaller than
            11x11, or ``data_range`` is not a positive finite scalar.
    """
    gt, pred = _prepare(gt, pred)
    value_range = _data_range(gt, data_range, name="data_range")
    kernel = _gaussian_kernel_1d(_MATLAB_WIN_SIZE, _MATLAB_SIGMA)
    return _ssim_per_slice(gt, pred, value_range, kernel, cov_norm=1.0).mean()
