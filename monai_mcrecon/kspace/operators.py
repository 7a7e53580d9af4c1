"""Acquisition operators on centred k-space: undersampling, super-resolution truncation, data
consistency. Plain torch functions on complex tensors ``[..., H, W]``; masks broadcast to k-space
(``[1, W]`` column masks or ``[H, W]`` 2-D masks, see :mod:`monai_mcrecon.kspace.masks`).

Degraded images come in three forms (``output=``):

* ``"magnitude"``: ``|ifft2c(M * fft2c(x))|`` (the usual zero-filled magnitude image);
* ``"complex"``: ``ifft2c(M * fft2c(x))``;
* ``"real_irfft"``: the MC-CDic release, ``irfft2(ifftshift(M * fftshift(fft2(x))))``: real and
  possibly negative; equal to ``real(ifft2(M_sym * F x))`` with ``M_sym`` the mask mirrored
  from the non-negative half of W (see :mod:`monai_mcrecon.kspace.fft`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from monai_mcrecon.kspace.coils import sens_expand, sens_reduce
from monai_mcrecon.kspace.fft import fft2c, ifft2c

__all__ = [
    "OUTPUTS",
    "check_mask",
    "forward_operator",
    "adjoint_operator",
    "kspace_to_image",
    "undersample_image",
    "truncation_mask",
    "kspace_truncate",
    "kspace_zero_pad",
    "truncate_image",
    "data_consistency",
    "data_consistency_image",
    "multicoil_forward_operator",
    "multicoil_adjoint_operator",
    "multicoil_data_consistency",
]

OUTPUTS = ("magnitude", "complex", "real_irfft")


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"Unknown output {output!r}; use one of {OUTPUTS}.")


def check_mask(mask: torch.Tensor, shape: Sequence[int], owner: str = "mask") -> None:
    """Refuse a sampling mask that does not broadcast onto k-space ``shape`` ``[..., H, W]`` without
    enlarging it (a column mask is ``[1, W]``, a 2-D mask ``[H, W]``).

    Raises:
        ValueError: naming both shapes and the expected mask shapes.
    """
    ms, ks = tuple(getattr(mask, "shape", ())), tuple(int(s) for s in shape)
    try:
        fits = tuple(torch.broadcast_shapes(ms, ks)) == ks
    except RuntimeError:
        fits = False
    if not fits:
        h, w = ks[-2:] if len(ks) >= 2 else (None, None)
        raise ValueError(
            f"{owner}: a mask of shape {ms} does not fit k-space of shape {ks}; use a column mask [1, {w}] or a "
            f"2-D mask [{h}, {w}] (made for this H x W, e.g. create_mask_func(...)(({h}, {w})))."
        )


def forward_operator(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A x = M F x``: masked centred orthonormal k-space of ``image`` ``[..., H, W]``."""
    check_mask(mask, image.shape, "forward_operator")
    return fft2c(image) * mask


def adjoint_operator(kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A^H k = F^H M k``: the exact adjoint of :func:`forward_operator` (complex image)."""
    check_mask(mask, kspace.shape, "adjoint_operator")
    return ifft2c(kspace * mask)


def kspace_to_image(kspace: torch.Tensor, output: str = "magnitude") -> torch.Tensor:
    """Back-transform centred k-space to an image in the requested ``output`` form.

    For ``"real_irfft"`` ``kspace`` must be in the release convention (``fft2c(x, "release")``).
    """
    _check_output(output)
    if output == "real_irfft":
        return ifft2c(kspace, convention="release")
    image = ifft2c(kspace)
    return image.abs() if output == "magnitude" else image


def undersample_image(
    image: torch.Tensor, mask: torch.Tensor, output: str = "magnitude"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulate a Cartesian undersampled acquisition of ``image``.

    Args:
        image: ``[..., H, W]`` real or complex image.
        mask: sampling mask broadcastable to ``[..., H, W]`` (1 = acquired).
        output: form of the zero-filled image, one of :data:`OUTPUTS`.

    Returns:
        ``(kspace_masked, zero_filled)``: the masked k-space (orthonormal convention, or the release
        convention when ``output="real_irfft"``) and the zero-filled image.
    """
    _check_output(output)
    check_mask(mask, image.shape, "undersample_image")
    convention = "release" if output == "real_irfft" else "ortho"
    kspace = fft2c(image, convention=convention) * mask
    return kspace, kspace_to_image(kspace, output)


def _lr_shape(shape: Sequence[int], scale: float) -> tuple[int, int]:
    if scale < 1:
        raise ValueError(f"Super-resolution scale must be >= 1, got {scale}.")
    h, w = int(shape[-2]), int(shape[-1])
    return max(1, int(h // scale)), max(1, int(w // scale))


def _centre_slices(full: Sequence[int], part: Sequence[int]) -> tuple[slice, slice]:
    # keeps the DC sample (index n // 2 of a centred spectrum) at index m // 2 of the part
    return tuple(slice(n // 2 - m // 2, n // 2 - m // 2 + m) for n, m in zip(full, part))  # type: ignore[return-value]


def truncation_mask(shape: Sequence[int], scale: float) -> torch.Tensor:
    """``[H, W]`` mask keeping the centred ``(H // s) x (W // s)`` block of k-space (HR grid)."""
    h, w = int(shape[-2]), int(shape[-1])
    mask = torch.zeros(h, w)
    mask[_centre_slices((h, w), _lr_shape((h, w), scale))] = 1
    return mask


def kspace_truncate(kspace: torch.Tensor, scale: float, grid: str = "hr") -> torch.Tensor:
    """k-space truncation for super-resolution by ``scale``.

    Args:
        kspace: centred k-space ``[..., H, W]``.
        scale: the resolution factor ``s`` (keeps ``(H // s) x (W // s)`` samples).
        grid: ``"hr"`` zeroes everything outside the centred block and keeps the HR grid (the
            MC-CDic setting: input and output have the same size); ``"lr"`` crops the block, giving
            LR-grid k-space, rescaled by ``sqrt(N_lr / N_hr)`` so that the orthonormal image keeps
            its intensity.
    """
    if grid not in ("hr", "lr"):
        raise ValueError(f"grid must be 'hr' or 'lr', got {grid!r}.")
    if grid == "hr":
        return kspace * truncation_mask(kspace.shape, scale).to(kspace.device)
    lr = _lr_shape(kspace.shape, scale)
    ratio = (lr[0] * lr[1]) / (kspace.shape[-2] * kspace.shape[-1])
    return kspace[(..., *_centre_slices(kspace.shape[-2:], lr))] * ratio**0.5


def kspace_zero_pad(kspace: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Zero-pad centred LR k-space ``[..., h, w]`` onto an HR grid ``shape = (H, W)``.

    The inverse of ``kspace_truncate(grid="lr")`` on the kept samples (same intensity scaling).
    """
    h, w = int(shape[-2]), int(shape[-1])
    if h < kspace.shape[-2] or w < kspace.shape[-1]:
        raise ValueError(
            f"Cannot zero-pad k-space of size {tuple(kspace.shape[-2:])} onto the smaller grid {(h, w)}."
        )
    out = kspace.new_zeros(*kspace.shape[:-2], h, w)
    out[(..., *_centre_slices((h, w), kspace.shape[-2:]))] = kspace
    ratio = (h * w) / (kspace.shape[-2] * kspace.shape[-1])
    return out * ratio**0.5


def truncate_image(
    image: torch.Tensor, scale: float, grid: str = "hr", output: str = "magnitude"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulate a low-resolution acquisition by k-space truncation.

    Returns ``(kspace_truncated, degraded_image)``; with ``grid="hr"`` the image keeps the input
    size (zero-padded k-space), with ``grid="lr"`` it has size ``(H // s, W // s)``.
    ``output="real_irfft"`` uses the release convention (HR grid only).
    """
    _check_output(output)
    if output == "real_irfft":
        if grid != "hr":
            raise ValueError("output='real_irfft' reproduces the release, which truncates on the HR grid only.")
        kspace = fft2c(image, convention="release") * truncation_mask(image.shape, scale).to(image.device)
        return kspace, kspace_to_image(kspace, output)
    kspace = kspace_truncate(fft2c(image), scale, grid=grid)
    return kspace, kspace_to_image(kspace, output)


def data_consistency(
    kspace_pred: torch.Tensor,
    kspace_measured: torch.Tensor,
    mask: torch.Tensor,
    noise_lambda: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Data consistency in k-space.

    Hard (``noise_lambda=None``): acquired samples are replaced by the measurement,
    ``k = (1 - M) k_pred + M k_meas``. Soft (noise-weighted, Schlemper et al. 2017):
    ``k = (1 - M) k_pred + M (k_pred + lambda k_meas) / (1 + lambda)``; ``lambda -> inf`` is hard DC,
    ``lambda = 0`` leaves the prediction unchanged.
    """
    try:
        same = tuple(torch.broadcast_shapes(kspace_pred.shape, kspace_measured.shape)) == tuple(kspace_pred.shape)
    except RuntimeError:
        same = False
    if not same:
        raise ValueError(
            f"data_consistency: predicted k-space {tuple(kspace_pred.shape)} and measured k-space "
            f"{tuple(kspace_measured.shape)} differ in shape; both must be [..., H, W] of the same acquisition."
        )
    check_mask(mask, kspace_pred.shape, "data_consistency")
    if noise_lambda is None:
        return kspace_pred * (1 - mask) + kspace_measured * mask
    blended = (kspace_pred + noise_lambda * kspace_measured) / (1 + noise_lambda)
    return kspace_pred * (1 - mask) + blended * mask


def data_consistency_image(
    image_pred: torch.Tensor,
    kspace_measured: torch.Tensor,
    mask: torch.Tensor,
    noise_lambda: float | torch.Tensor | None = None,
    output: str = "complex",
) -> torch.Tensor:
    """Image-domain wrapper of :func:`data_consistency` (orthonormal convention)."""
    _check_output(output)
    if output == "real_irfft":
        raise ValueError("Data consistency is defined in the orthonormal convention; use 'complex' or 'magnitude'.")
    k = data_consistency(fft2c(image_pred), kspace_measured, mask, noise_lambda)
    return kspace_to_image(k, output)


def multicoil_forward_operator(image: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SENSE forward operator ``A x = M F S x`` (Pruessmann et al. 1999): ``k_c = M fft2c(S_c x)``.

    Args:
        image: complex image ``[..., 1, H, W]`` (or ``[H, W]``), broadcast against ``sens``.
        sens: sensitivity maps ``[..., C, H, W]``.
        mask: sampling mask broadcastable to ``[..., C, H, W]`` (the same for every coil).

    Returns:
        masked coil k-space ``[..., C, H, W]``.
    """
    return sens_expand(image, sens) * mask


def multicoil_adjoint_operator(kspace: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Exact adjoint of :func:`multicoil_forward_operator`: ``A^H k = sum_c conj(S_c) F^H (M k_c)``.

    ``<A x, k> = <x, A^H k>`` holds for any real mask (binary or weights).

    Args:
        kspace: coil k-space ``[..., C, H, W]``.
        sens: sensitivity maps ``[..., C, H, W]``.
        mask: real sampling mask broadcastable to ``[..., C, H, W]``.

    Returns:
        complex image ``[..., 1, H, W]``.
    """
    return sens_reduce(kspace * mask, sens)


def multicoil_data_consistency(
    pred: torch.Tensor,
    kspace_measured: torch.Tensor,
    mask: torch.Tensor,
    sens: torch.Tensor | None,
    noise_lambda: float | torch.Tensor | None = None,
    pred_domain: str = "image",
    output: str = "kspace",
) -> torch.Tensor:
    """Multi-coil data consistency: :func:`data_consistency` applied to every coil's k-space.

    The prediction is taken to coil k-space, ``k_c = fft2c(S_c x)`` for an image (``pred_domain=
    "image"``) or used as it is (``"kspace"``), and then, per coil, hard
    (``k_c = (1 - M) k_c + M y_c``: every acquired sample equals the measurement exactly) or soft
    (``noise_lambda``) data consistency as in :func:`data_consistency`.

    Args:
        pred: the network estimate: a combined complex image ``[..., 1, H, W]`` (broadcast against
            ``sens``) or coil k-space ``[..., C, H, W]``, see ``pred_domain``.
        kspace_measured: measured (zero-filled) coil k-space ``[..., C, H, W]``.
        mask: sampling mask broadcastable to ``[..., C, H, W]``.
        sens: sensitivity maps ``[..., C, H, W]``; needed for ``pred_domain="image"`` or
            ``output="image"``, may be ``None`` otherwise.
        noise_lambda: ``None`` for hard data consistency, else the soft weight ``lambda``.
        pred_domain: ``"image"`` or ``"kspace"``.
        output: ``"kspace"``: the corrected coil k-space ``[..., C, H, W]``; ``"image"``: its
            sensitivity-weighted combination ``sum_c conj(S_c) ifft2c(k_c)``, ``[..., 1, H, W]``
            (re-expanding that image does not reproduce the measurement exactly unless the data
            are consistent with ``sens``).

    Returns:
        coil k-space or combined image, see ``output``.

    Raises:
        ValueError: unknown ``pred_domain`` / ``output``, or ``sens`` missing where it is needed.
    """
    if pred_domain not in ("image", "kspace"):
        raise ValueError(f"pred_domain must be 'image' or 'kspace', got {pred_domain!r}.")
    if output not in ("kspace", "image"):
        raise ValueError(f"output must be 'kspace' or 'image', got {output!r}.")
    if sens is None and (pred_domain == "image" or output == "image"):
        raise ValueError("sens is required for pred_domain='image' or output='image'.")
    kspace_pred = sens_expand(pred, sens) if pred_domain == "image" else pred
    kspace = data_consistency(kspace_pred, kspace_measured, mask, noise_lambda)
    return sens_reduce(kspace, sens) if output == "image" else kspace
