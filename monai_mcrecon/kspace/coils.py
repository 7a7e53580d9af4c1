"""Multi-coil MRI: simulated receive coils, coil combination and sensitivity estimation.

Complex torch tensors throughout; the coil axis is ``dim=-3``: coil images and coil k-space are
``[..., C, H, W]``, sensitivity maps ``S`` are ``[..., C, H, W]``, and a combined image keeps the
coil axis with size one, ``[..., 1, H, W]`` (the VarNet / MONAI ``sensitivity_map_reduce``
layout). k-space is centred and orthonormal (:func:`monai_mcrecon.kspace.fft.fft2c`).

Signal model (SENSE, Pruessmann et al., MRM 1999): coil ``c`` measures
``y_c = M F (S_c x) + n_c``. Here:

* :func:`sens_expand` ``= F (S_c x)`` and :func:`sens_reduce` ``= sum_c conj(S_c) F^H y_c`` are
  the operator and its adjoint without the mask (as in the VarNet of Sriram et al., MICCAI 2020);
  the masked pair lives in :mod:`monai_mcrecon.kspace.operators`.
* :func:`rss` is the root-sum-of-squares combination ``sqrt(sum_c |x_c|^2)`` and
  :func:`sens_combine` the pixel-wise least-squares (Roemer / SENSE R=1) combination
  ``sum_c conj(S_c) x_c / sum_c |S_c|^2``.
* :func:`simulate_sensitivities` builds smooth maps from loops on a circle around the field of
  view, RSS-normalised (``sum_c |S_c|^2 = 1`` at every pixel); :func:`smooth_phase` a smooth
  object phase; :func:`simulate_multicoil` the noisy multi-coil k-space of an image.
* :func:`estimate_sensitivities` estimates the maps from the fully sampled centre of k-space (the
  auto-calibration signal, ACS, located by :func:`calibration_region`): ``"lowres"`` divides the
  tapered low-resolution coil images by their RSS (what fastMRI's / MONAI's learned sensitivity
  models compute around their U-Net, here without the network); ``"espirit"`` is the eigenvalue approach of Uecker et al., "ESPIRiT - an
  eigenvalue approach to autocalibrating parallel MRI: where SENSE meets GRAPPA", MRM 2014.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from monai_mcrecon.kspace.fft import fft2c, ifft2c
from monai_mcrecon.kspace.masks import _centre_slice, infer_sampling_mask

__all__ = [
    "MultiCoilSimulation",
    "SENSITIVITY_METHODS",
    "smooth_phase",
    "simulate_sensitivities",
    "simulate_multicoil",
    "rss",
    "sens_expand",
    "sens_reduce",
    "sens_combine",
    "calibration_region",
    "estimate_sensitivities",
]

SENSITIVITY_METHODS = ("lowres", "espirit")

_COIL_DIM = -3


def _real_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.empty((), dtype=dtype).real.dtype if dtype.is_complex else dtype


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype.is_complex:
        return dtype
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _grid(shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Isotropic centred coordinates ``(y, x)`` in float64: the pixel ``(H // 2, W // 2)`` (the
    centre of :func:`fft2c`) is the origin and the longer side spans ``[-1, 1)``."""
    if len(shape) != 2 or min(int(s) for s in shape) < 1:
        raise ValueError(f"shape must be (H, W) with positive sizes, got {tuple(shape)}.")
    h, w = int(shape[0]), int(shape[1])
    half = max(h, w) / 2.0
    y = (torch.arange(h, dtype=torch.float64) - h // 2) / half
    x = (torch.arange(w, dtype=torch.float64) - w // 2) / half
    return torch.meshgrid(y, x, indexing="ij")


def smooth_phase(
    shape: Sequence[int],
    max_phase: float = math.pi / 2,
    seed: int | None = 0,
    order: int = 2,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A smooth random phase map: a random polynomial of low total degree.

    ``phi(y, x) = a * sum_{i + j <= order} c_ij y^i x^j`` with ``c_ij ~ N(0, 1)`` on the centred
    coordinates of :func:`simulate_sensitivities`, scaled so that ``max |phi| = max_phase``.

    Args:
        shape: ``(H, W)``.
        max_phase: largest absolute phase in radians (0 gives a zero map).
        seed: seed of numpy's ``default_rng``; equal seeds give equal maps.
        order: total polynomial degree (``>= 0``; 1 is a linear ramp plus offset).
        dtype: real dtype of the result.

    Returns:
        real ``[H, W]`` phase in radians.

    Raises:
        ValueError: bad ``shape``, negative ``order`` or ``max_phase``.
    """
    if order < 0 or max_phase < 0:
        raise ValueError(f"order and max_phase must be >= 0, got order={order}, max_phase={max_phase}.")
    y, x = _grid(shape)
    rng = np.random.default_rng(seed)
    phi = torch.zeros_like(y)
    for i in range(order + 1):
        for j in range(order + 1 - i):
            phi = phi + float(rng.standard_normal()) * y**i * x**j
    peak = phi.abs().max()
    phi = phi * (max_phase / peak) if peak > 0 else phi
    return phi.to(dtype)


def simulate_sensitivities(
    shape: Sequence[int],
    num_coils: int = 8,
    seed: int | None = 0,
    coil_radius: float = 1.5,
    loop_radius: float = 1.0,
    phase_slope: float = math.pi / 2,
    jitter: float = 0.1,
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """Smooth complex sensitivity maps of ``num_coils`` loops on a circle around the FOV.

    Coil ``c`` sits at angle ``theta_c = 2 pi c / C + theta_0`` (random ``theta_0`` and small
    random angular / radial jitter) and distance ``coil_radius`` from the centre, in the
    coordinates where the longer side of the image spans ``[-1, 1)``. Its raw map is the on-axis
    Biot-Savart profile of a loop of radius ``a = loop_radius`` at distance ``d`` from the pixel,
    with a linear phase along the tangent ``t_c = (-sin theta_c, cos theta_c)`` and a random
    offset::

        S~_c(r) = (a^2 / (a^2 + |r - p_c|^2))^(3/2) * exp(i (phi_c + phase_slope * <r, t_c>))

    and the maps are RSS-normalised, ``S_c = S~_c / sqrt(sum_c' |S~_c'|^2)``, so that
    ``sum_c |S_c|^2 = 1`` at every pixel of the FOV.

    Args:
        shape: ``(H, W)``.
        num_coils: number of coils ``C >= 1``.
        seed: seed of numpy's ``default_rng``.
        coil_radius: distance of the coils from the centre (``> 0``).
        loop_radius: loop radius ``a`` (``> 0``); larger is a flatter profile.
        phase_slope: phase gradient in radians per unit length (per half FOV).
        jitter: relative random perturbation of the coil angles and radii (0 for a regular array).
        dtype: complex dtype of the result.

    Returns:
        complex ``[C, H, W]`` maps with ``sum_c |S_c|^2 = 1``.

    Raises:
        ValueError: bad ``shape``, ``num_coils < 1`` or non-positive radii.
    """
    if num_coils < 1:
        raise ValueError(f"num_coils must be >= 1, got {num_coils}.")
    if coil_radius <= 0 or loop_radius <= 0:
        raise ValueError(f"coil_radius and loop_radius must be > 0, got {coil_radius}, {loop_radius}.")
    y, x = _grid(shape)
    rng = np.random.default_rng(seed)
    theta0 = rng.uniform(0.0, 2 * math.pi / num_coils)
    maps = []
    for c in range(num_coils):
        theta = 2 * math.pi * c / num_coils + theta0 + jitter * rng.uniform(-0.5, 0.5) * 2 * math.pi / num_coils
        radius = coil_radius * (1.0 + jitter * rng.uniform(-0.5, 0.5))
        py, px = radius * math.sin(theta), radius * math.cos(theta)
        dist2 = (y - py) ** 2 + (x - px) ** 2
        magnitude = (loop_radius**2 / (loop_radius**2 + dist2)) ** 1.5
        phase = rng.uniform(-math.pi, math.pi) + phase_slope * (-math.sin(theta) * x + math.cos(theta) * y)
        maps.append(torch.polar(magnitude, phase))
    sens = torch.stack(maps)
    sens = sens / rss(sens, dim=0, keepdim=True)
    return sens.to(dtype)


class MultiCoilSimulation(NamedTuple):
    """Output of :func:`simulate_multicoil`.

    Attributes:
        kspace: noisy coil k-space ``[..., C, H, W]`` (complex).
        sensitivities: the ground-truth maps ``[C, H, W]`` (RSS-normalised).
        image: the complex ground truth ``x = image * exp(i phi)``, shape of the input image.
        noise_std: ``sigma`` per leading index ``[...]``, the standard deviation of the complex
            noise (``E |n|^2 = sigma^2``); zeros when no noise was added.
    """

    kspace: torch.Tensor
    sensitivities: torch.Tensor
    image: torch.Tensor
    noise_std: torch.Tensor


def simulate_multicoil(
    image: torch.Tensor,
    num_coils: int = 8,
    snr_db: float | None = None,
    seed: int | None = 0,
    phase: bool = True,
    max_phase: float = math.pi / 2,
    sensitivities: torch.Tensor | None = None,
) -> MultiCoilSimulation:
    """Simulate a fully sampled multi-coil acquisition of ``image``.

    ``x = image * exp(i phi)`` with ``phi`` from :func:`smooth_phase` (``phase=True``), coil k-space
    ``k_c = fft2c(S_c x) + n_c`` with ``S`` from :func:`simulate_sensitivities` (or the given
    ``sensitivities``) and i.i.d. circular complex Gaussian noise ``n_c ~ CN(0, sigma^2)``
    (real and imaginary parts each of variance ``sigma^2 / 2``).

    SNR definition: for every leading index (every image of a batch) separately,
    ``SNR_dB = 10 log10(P_s / sigma^2)`` with ``P_s = mean_{c, k} |fft2c(S_c x)|^2`` the mean power
    of the noise-free coil k-space over all coils and k-space samples (equal, by Parseval, to the
    mean of ``|S_c x|^2`` over coils and pixels). Apply a mask afterwards to undersample.

    The phase map, the maps and the noise come from independent streams derived from ``seed``
    (the same phase and maps for every image of a batch), so equal seeds give equal results.

    Args:
        image: ``[..., H, W]`` real or complex image. The coil axis is inserted before the spatial
            axes: a channel-first ``[B, 1, H, W]`` image gives ``[B, 1, C, H, W]``; pass
            ``image[:, 0]`` to get ``[B, C, H, W]``.
        num_coils: number of coils (ignored when ``sensitivities`` is given).
        snr_db: SNR in dB as defined above; ``None`` for noise-free k-space.
        seed: seed of the phase, the maps and the noise.
        phase: multiply the image by a smooth random phase.
        max_phase: largest absolute phase in radians (see :func:`smooth_phase`).
        sensitivities: optional ``[C, H, W]`` maps to use instead of simulated ones.

    Returns:
        :class:`MultiCoilSimulation` ``(kspace, sensitivities, image, noise_std)``.

    Raises:
        ValueError: ``image`` has fewer than two axes or ``sensitivities`` do not match it.
    """
    if image.ndim < 2:
        raise ValueError(f"image must be [..., H, W], got shape {tuple(image.shape)}.")
    shape = tuple(image.shape[-2:])
    cdtype = _complex_dtype(image.dtype)
    seeds = np.random.SeedSequence(seed).generate_state(3)
    x = image.to(cdtype)
    if phase:
        phi = smooth_phase(shape, max_phase=max_phase, seed=int(seeds[0]), dtype=_real_dtype(cdtype))
        x = x * torch.polar(torch.ones_like(phi), phi).to(image.device)
    if sensitivities is None:
        sens = simulate_sensitivities(shape, num_coils, seed=int(seeds[1]), dtype=cdtype).to(image.device)
    else:
        if sensitivities.ndim != 3 or tuple(sensitivities.shape[-2:]) != shape:
            raise ValueError(
                f"sensitivities must be [C, H, W] with (H, W) = {shape}, got {tuple(sensitivities.shape)}."
            )
        sens = sensitivities.to(device=image.device, dtype=cdtype)
    kspace = sens_expand(x.unsqueeze(_COIL_DIM), sens)
    lead = kspace.shape[:-3]
    if snr_db is None:
        return MultiCoilSimulation(kspace, sens, x, torch.zeros(lead, dtype=_real_dtype(cdtype), device=kspace.device))
    power = kspace.abs().square().mean(dim=(-3, -2, -1))
    sigma = torch.sqrt(power / 10.0 ** (snr_db / 10.0))
    gen = torch.Generator().manual_seed(int(seeds[2]))
    noise = torch.randn(kspace.shape, generator=gen, dtype=torch.complex128)  # E|n|^2 = 1
    noise = noise.to(device=kspace.device, dtype=cdtype) * sigma[..., None, None, None]
    return MultiCoilSimulation(kspace + noise, sens, x, sigma)


def rss(coil_images: torch.Tensor, dim: int = _COIL_DIM, keepdim: bool = False) -> torch.Tensor:
    """Root sum of squares over the coil axis, ``sqrt(sum_c |x_c|^2)``.

    Equal to ``fastmri.rss_complex`` / MONAI's ``root_sum_of_squares`` on the real ``(..., 2)``
    layout (which also drop the coil axis by default).

    Args:
        coil_images: ``[..., C, H, W]`` real or complex.
        dim: the coil axis.
        keepdim: keep the coil axis with size one.

    Returns:
        real magnitude, ``[..., H, W]`` (``[..., 1, H, W]`` with ``keepdim``).
    """
    return coil_images.abs().square().sum(dim=dim, keepdim=keepdim).sqrt()


def sens_expand(image: torch.Tensor, sens: torch.Tensor) -> torch.Tensor:
    """Coil k-space of an image: ``k_c = fft2c(S_c x)`` (VarNet's ``sens_expand``).

    Args:
        image: ``[..., 1, H, W]`` (or ``[H, W]``) complex image, broadcast against ``sens``.
        sens: ``[..., C, H, W]`` sensitivity maps.

    Returns:
        complex ``[..., C, H, W]`` coil k-space.
    """
    return fft2c(image * sens)


def sens_reduce(kspace: torch.Tensor, sens: torch.Tensor, keepdim: bool = True) -> torch.Tensor:
    """Adjoint of :func:`sens_expand`: ``x = sum_c conj(S_c) ifft2c(k_c)`` (VarNet's ``sens_reduce``).

    Args:
        kspace: ``[..., C, H, W]`` coil k-space.
        sens: ``[..., C, H, W]`` sensitivity maps.
        keepdim: keep the coil axis with size one (``[..., 1, H, W]``, the default, as VarNet).

    Returns:
        complex image ``[..., 1, H, W]`` (``[..., H, W]`` without ``keepdim``).
    """
    return (sens.conj() * ifft2c(kspace)).sum(dim=_COIL_DIM, keepdim=keepdim)


def sens_combine(
    coil_images: torch.Tensor, sens: torch.Tensor, keepdim: bool = True, eps: float = 0.0
) -> torch.Tensor:
    """Sensitivity-weighted (Roemer / SENSE R=1) coil combination.

    The pixel-wise least-squares solution of ``x_c = S_c x``::

        x = sum_c conj(S_c) x_c / sum_c |S_c|^2      where sum_c |S_c|^2 > eps, else 0.

    With RSS-normalised maps (``sum_c |S_c|^2 = 1``, e.g. :func:`simulate_sensitivities`,
    :func:`estimate_sensitivities`) this is ``sum_c conj(S_c) x_c``, i.e. :func:`sens_reduce` of
    ``fft2c(x_c)``; pixels where the maps vanish (ESPIRiT's cropped background) give 0.

    Args:
        coil_images: ``[..., C, H, W]`` complex coil images.
        sens: ``[..., C, H, W]`` sensitivity maps.
        keepdim: keep the coil axis with size one (default).
        eps: pixels with ``sum_c |S_c|^2 <= eps`` are set to zero.

    Returns:
        complex image ``[..., 1, H, W]`` (``[..., H, W]`` without ``keepdim``).
    """
    numerator = (sens.conj() * coil_images).sum(dim=_COIL_DIM, keepdim=keepdim)
    energy = sens.abs().square().sum(dim=_COIL_DIM, keepdim=keepdim)
    valid = energy > eps
    return torch.where(valid, numerator / torch.where(valid, energy, torch.ones_like(energy)), 0)


def calibration_region(mask: torch.Tensor, shape: Sequence[int]) -> tuple[slice, slice]:
    """The auto-calibration region: the fully sampled rectangle around the k-space centre.

    Grows a rectangle from the DC sample ``(H // 2, W // 2)`` one row or column at a time while the
    new row / column segment is fully sampled, until no side can grow. A 1-D column mask ``[1, W]``
    gives all ``H`` rows times its centre block of columns (the ``left, right`` of MONAI's
    ``CoilSensitivityModel.get_fully_sampled_region``, along W); a 2-D mask gives its centre block.
    Leading axes of ``mask`` (a batch of masks) are reduced to the samples acquired in all of them.

    Args:
        mask: sampling mask broadcastable to ``[..., H, W]`` (non-zero = acquired).
        shape: k-space shape ``(..., H, W)``.

    Returns:
        ``(rows, cols)`` slices of the region.

    Raises:
        ValueError: the mask does not broadcast to ``shape`` or the DC sample is not acquired (no
            calibration region).
    """
    if mask.ndim < 2:
        raise ValueError(f"mask must be broadcastable to [..., H, W], got shape {tuple(mask.shape)}.")
    h, w = int(shape[-2]), int(shape[-1])
    sampled = (mask != 0).reshape(-1, *mask.shape[-2:]).all(dim=0)
    try:
        sampled = torch.broadcast_to(sampled, (h, w)).cpu().numpy()
    except RuntimeError as err:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to k-space {(h, w)}.") from err
    top, left = h // 2, w // 2
    if not sampled[top, left]:
        raise ValueError(
            "No auto-calibration region: the k-space centre (DC) is not sampled; pass num_low_freqs "
            "or a mask with a fully sampled centre."
        )
    bottom, right = top + 1, left + 1
    grown = True
    while grown:
        grown = False
        if left > 0 and sampled[top:bottom, left - 1].all():
            left, grown = left - 1, True
        if right < w and sampled[top:bottom, right].all():
            right, grown = right + 1, True
        if top > 0 and sampled[top - 1, left:right].all():
            top, grown = top - 1, True
        if bottom < h and sampled[bottom, left:right].all():
            bottom, grown = bottom + 1, True
    return slice(top, bottom), slice(left, right)


def _region_from_num_low_freqs(num_low_freqs: int | Sequence[int], h: int, w: int) -> tuple[slice, slice]:
    if isinstance(num_low_freqs, int):
        nh, nw = h, int(num_low_freqs)
    else:
        if len(num_low_freqs) != 2:
            raise ValueError(f"num_low_freqs must be an int or (rows, cols), got {num_low_freqs}.")
        nh, nw = (int(n) for n in num_low_freqs)
    if not (1 <= nh <= h and 1 <= nw <= w):
        raise ValueError(f"num_low_freqs {(nh, nw)} must lie between 1 and the k-space size {(h, w)}.")
    return _centre_slice(h, nh), _centre_slice(w, nw)


def _crop_region(region: tuple[slice, slice], calib_size: int | Sequence[int] | None) -> tuple[slice, slice]:
    if calib_size is None:
        return region
    sizes = (calib_size, calib_size) if isinstance(calib_size, int) else tuple(calib_size)
    out = []
    for sl, size in zip(region, sizes):
        n = sl.stop - sl.start
        if size < n:  # keep the centred part of the region (it contains DC)
            start = sl.start + (n - int(size) + 1) // 2
            sl = slice(start, start + int(size))
        out.append(sl)
    return out[0], out[1]


def _taper(n: int, full: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Hann taper of ``n`` samples, non-zero at the ends (``sin^2(pi (j + 1) / (n + 1))``); flat
    along an axis that the region covers completely (no truncation there, so no Gibbs ringing)."""
    if full:
        return torch.ones(n, dtype=dtype, device=device)
    j = torch.arange(n, dtype=torch.float64, device=device)
    return torch.sin(math.pi * (j + 1) / (n + 1)).square().to(dtype)


def _lowres_maps(kspace: torch.Tensor, region: tuple[slice, slice]) -> torch.Tensor:
    h, w = kspace.shape[-2:]
    rows, cols = region
    real = _real_dtype(kspace.dtype)
    win_r = _taper(rows.stop - rows.start, rows.stop - rows.start == h, real, kspace.device)
    win_c = _taper(cols.stop - cols.start, cols.stop - cols.start == w, real, kspace.device)
    calib = torch.zeros_like(kspace)
    calib[..., rows, cols] = kspace[..., rows, cols] * (win_r[:, None] * win_c[None, :])
    images = ifft2c(calib)
    norm = rss(images, keepdim=True)
    return torch.where(norm > 0, images / torch.where(norm > 0, norm, torch.ones_like(norm)), 0)


def _centred_dft(size: int, num_freqs: int, device: torch.device) -> torch.Tensor:
    """``E[r, j] = exp(2 pi i (j - n // 2)(r - N // 2) / N)``: the unnormalised centred inverse DFT
    (the convention of :func:`ifft2c`) from ``n`` centred frequencies to ``N`` pixels."""
    r = torch.arange(size, dtype=torch.float64, device=device) - size // 2
    f = torch.arange(num_freqs, dtype=torch.float64, device=device) - num_freqs // 2
    angle = 2 * math.pi * torch.outer(r, f) / size
    return torch.polar(torch.ones_like(angle), angle)


def _espirit_single(
    kspace: torch.Tensor,
    region: tuple[slice, slice],
    kernel_size: int,
    threshold: float,
    crop: float,
    noise_std: float | None,
) -> torch.Tensor:
    """ESPIRiT maps (first set) of one ``[C, H, W]`` k-space, computed in complex128."""
    num_coils, h, w = kspace.shape
    k = kernel_size
    calib = kspace[:, region[0], region[1]].to(torch.complex128)
    if calib.shape[-2] < k or calib.shape[-1] < k:
        raise ValueError(
            f"ESPIRiT needs a calibration region of at least kernel_size={k} per axis, got "
            f"{tuple(calib.shape[-2:])}; lower kernel_size or acquire more low frequencies."
        )
    # calibration (block-Hankel) matrix: one row per k x k window, columns (coil, ky, kx)
    patches = calib.unfold(1, k, 1).unfold(2, k, 1)  # [C, nh, nw, k, k]
    a = patches.permute(1, 2, 0, 3, 4).reshape(-1, num_coils * k * k)
    # right singular vectors and singular values from the small Gram matrix A^H A (n x n, n = C k^2)
    eigval, eigvec = torch.linalg.eigh(a.conj().T @ a)
    s = eigval.flip(0).clamp_min(0).sqrt()
    vh = eigvec.flip(1).conj().T
    if s[0] <= 0:
        raise ValueError("ESPIRiT: the calibration region holds no signal.")
    cutoff = threshold * s[0]
    if noise_std is not None:  # largest singular value of the noise part (Marchenko-Pastur edge)
        cutoff = max(cutoff, noise_std * (math.sqrt(a.shape[0]) + math.sqrt(a.shape[1])))
    # rows of V^H span the signal subspace of the (column) patch vectors
    kernels = vh[s > cutoff].reshape(-1, num_coils, k, k)
    if kernels.shape[0] == 0:
        raise ValueError("ESPIRiT: no singular value of the calibration matrix lies above the noise level.")
    # image-domain operator G(r) = (1/k^2) sum_i w_i(r) w_i(r)^H with w_ic(r) the (unnormalised)
    # inverse DFT of kernel i, coil c: a trigonometric polynomial with k x k frequencies, so the
    # products have (2k - 1)^2 frequencies. Evaluate them on a small n x n grid (n >= 2k - 1: exact),
    # take their Fourier coefficients and sum those on the H x W grid with separable DFT matrices.
    nh, nw = min(2 * k, h), min(2 * k, w)
    padded = kernels.new_zeros(kernels.shape[0], num_coils, nh, nw)
    padded[..., nh // 2 - k // 2 : nh // 2 - k // 2 + k, nw // 2 - k // 2 : nw // 2 - k // 2 + k] = kernels
    small = ifft2c(padded) * math.sqrt(nh * nw)
    gram = torch.einsum("icyx,idyx->cdyx", small, small.conj()) / (k * k)
    coeff = fft2c(gram) / math.sqrt(nh * nw)  # coefficient of frequency (j - n // 2) at index j
    dft_h, dft_w = _centred_dft(h, nh, coeff.device), _centred_dft(w, nw, coeff.device)
    gram = torch.einsum("ry,cdyx,sx->rscd", dft_h, coeff, dft_w)  # [H, W, C, C], Hermitian
    eigval, eigvec = torch.linalg.eigh(gram)  # ascending; reads the lower triangle
    maps = eigvec[..., -1]  # [H, W, C], unit norm
    # fix the per-pixel phase of the eigenvectors relative to a virtual body coil: the principal
    # component of the calibration data over coils
    cov = calib.reshape(num_coils, -1) @ calib.reshape(num_coils, -1).conj().T
    virtual = torch.linalg.eigh(cov)[1][:, -1]
    ref = maps @ virtual.conj()
    maps = maps * torch.where(ref.abs() > 0, ref.conj() / ref.abs().clamp_min(1e-300), 1)[..., None]
    maps = maps * (eigval[..., -1] > crop)[..., None]
    return maps.permute(2, 0, 1)


def estimate_sensitivities(
    kspace: torch.Tensor,
    mask: torch.Tensor | None = None,
    num_low_freqs: int | Sequence[int] | None = None,
    method: str = "lowres",
    calib_size: int | Sequence[int] | None = None,
    kernel_size: int = 6,
    threshold: float = 0.02,
    crop: float = 0.8,
    noise_std: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Estimate RSS-normalised sensitivity maps from the auto-calibration region (ACS).

    The ACS is, in order of precedence: the centred block given by ``num_low_freqs`` (fastMRI's
    centre rule, see :mod:`monai_mcrecon.kspace.masks`), the :func:`calibration_region` of ``mask``,
    or that of the mask read off the zero-filled ``kspace`` (a sample counts as acquired where any
    coil is non-zero, see :func:`~monai_mcrecon.kspace.masks.infer_sampling_mask`).
    ``calib_size`` optionally crops it to its centred ``(rows, cols)``.

    * ``"lowres"``: the ACS is tapered (a Hann window along each axis that it truncates),
      zero-filled and transformed, ``y_c = ifft2c(T * k_c)``, and ``S_c = y_c / sqrt(sum |y_c|^2)``
      (0 where the RSS vanishes). The maps carry the phase of the low-resolution object.
    * ``"espirit"`` (Uecker et al. 2014): the calibration matrix of all ``kernel_size^2`` windows
      of the ACS is decomposed by SVD; the right singular vectors with singular value
      ``> threshold * sigma_max`` span the signal subspace ``{w_i}``. The maps are, at every pixel,
      the eigenvector of ``G(r) = (1 / k^2) sum_i w_i(r) w_i(r)^H`` (``w_i(r)`` the inverse DFT of
      kernel ``i``, a ``C`` vector) of the largest eigenvalue, set to zero where that eigenvalue
      is ``<= crop`` (outside the support of the data); the eigenvector phase is referenced to a
      virtual body coil (the principal component of the ACS over coils). Only the first set of
      maps is returned. Unit norm where kept, so RSS-normalised there.

    Args:
        kspace: complex coil k-space ``[..., C, H, W]`` (zero-filled where not acquired).
        mask: sampling mask broadcastable to ``[..., H, W]``; optional.
        num_low_freqs: int (number of fully sampled centre columns, all rows: a 1-D column mask)
            or ``(rows, cols)`` of a centred block; overrides ``mask``.
        method: ``"lowres"`` or ``"espirit"``.
        calib_size: optional largest ``(rows, cols)`` (or one int for both) of the ACS used.
        kernel_size: ESPIRiT kernel width ``k``.
        threshold: ESPIRiT singular-value threshold, relative to the largest.
        crop: ESPIRiT eigenvalue threshold in ``[0, 1)``.
        noise_std: optional standard deviation ``sigma`` of the complex k-space noise
            (``E |n|^2 = sigma^2``, e.g. :attr:`MultiCoilSimulation.noise_std`): a float or one value
            per leading index. ESPIRiT then also drops singular values below
            ``sigma (sqrt(m) + sqrt(n))``, the largest singular value of an ``m x n`` calibration
            matrix of pure noise (Marchenko-Pastur edge; it holds for the block-Hankel structure
            too). Recommended at low SNR: without it, a ``threshold`` below the noise floor lets
            noise kernels in and the leading eigenvector loses its meaning (on the sample, a
            1-D ACS of 18 columns fails at 5 dB with ``threshold=0.02``, and at 30 dB with
            ``threshold=0.001``).

    Returns:
        complex maps ``[..., C, H, W]`` in the dtype of ``kspace``.

    Raises:
        TypeError: ``kspace`` is not complex.
        ValueError: ``kspace`` is not ``[..., C, H, W]``, unknown ``method``, bad ``num_low_freqs``,
            no calibration region (the DC sample not acquired), or an ACS smaller than the ESPIRiT
            kernel.
    """
    if not kspace.is_complex():
        raise TypeError(f"kspace must be a complex tensor, got dtype {kspace.dtype}.")
    if kspace.ndim < 3:
        raise ValueError(f"kspace must be multi-coil [..., C, H, W], got shape {tuple(kspace.shape)}.")
    if method not in SENSITIVITY_METHODS:
        raise ValueError(f"Unknown method {method!r}; use one of {SENSITIVITY_METHODS}.")
    h, w = kspace.shape[-2:]
    if num_low_freqs is not None:
        region = _region_from_num_low_freqs(num_low_freqs, h, w)
    else:
        if mask is None:

            mask = infer_sampling_mask(kspace).amax(dim=_COIL_DIM)
        region = calibration_region(mask, kspace.shape)
    region = _crop_region(region, calib_size)
    if method == "lowres":
        return _lowres_maps(kspace, region)
    if not 0 <= crop < 1:
        raise ValueError(f"crop must lie in [0, 1), got {crop}.")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}.")
    flat = kspace.reshape(-1, *kspace.shape[-3:])
    sigmas: list[float | None] = [None] * flat.shape[0]
    if noise_std is not None:
        noise = torch.as_tensor(noise_std, dtype=torch.float64).flatten()
        if noise.numel() not in (1, flat.shape[0]):
            raise ValueError(
                f"noise_std must be one value or one per leading index ({flat.shape[0]}), got {noise.numel()}."
            )
        sigmas = [float(v) for v in noise.expand(flat.shape[0])]
    maps = torch.stack(
        [_espirit_single(k, region, kernel_size, threshold, crop, sigma) for k, sigma in zip(flat, sigmas)]
    )
    return maps.reshape(kspace.shape).to(kspace.dtype)
