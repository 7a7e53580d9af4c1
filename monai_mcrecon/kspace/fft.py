"""Fourier conventions of the project: the one place where an FFT convention is defined.

Two conventions exist:

* ``"ortho"`` (default): centred orthonormal transforms, identical to fastMRI's ``fft2c`` /
  ``ifft2c``: ``K = fftshift(fft2(ifftshift(x), norm="ortho"))`` over the last two axes. Unitary,
  so ``ifft2c(fft2c(x)) == x`` and Parseval holds.
* ``"release"``: the convention of the MC-CDic authors' release: ``K = fftshift(fft2(x))``
  (unnormalised, no ``ifftshift`` of the image) and back-transform
  ``x = irfft2(ifftshift(K), s=(H, W))``. Because ``irfft2`` assumes Hermitian symmetry, the
  back-transform returns ``real(ifft2(K_sym))`` where ``K_sym`` mirrors the non-negative-frequency
  half of the spectrum (along W) onto the negative half. Use it to reproduce the release's
  degraded images (``output="real_irfft"`` in :mod:`monai_mcrecon.kspace.operators`).

Complex data are complex tensors here. Networks see two real channels (real, imaginary):
:func:`complex_to_channels` / :func:`channels_to_complex`. MONAI's reconstruction app and fastMRI
use a trailing axis of size 2: :func:`complex_to_real_last` / :func:`real_last_to_complex`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "CONVENTIONS",
    "fft2c",
    "ifft2c",
    "complex_to_channels",
    "channels_to_complex",
    "complex_to_real_last",
    "real_last_to_complex",
]

CONVENTIONS = ("ortho", "release")
_DIMS = (-2, -1)


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"Unknown FFT convention {convention!r}; use one of {CONVENTIONS}.")


def fft2c(x: torch.Tensor, convention: str = "ortho") -> torch.Tensor:
    """Centred 2-D Fourier transform over the last two axes.

    Args:
        x: image ``[..., H, W]``, real or complex.
        convention: ``"ortho"`` (centred orthonormal, fastMRI) or ``"release"`` (MC-CDic release:
            unnormalised ``fftshift(fft2(x))``).

    Returns:
        complex k-space ``[..., H, W]`` with the DC term at ``(H // 2, W // 2)``.
    """
    _check_convention(convention)
    if not x.is_complex():
        x = x.to(torch.promote_types(x.dtype, torch.float32))
    if convention == "release":
        return torch.fft.fftshift(torch.fft.fft2(x, dim=_DIMS), dim=_DIMS)
    x = torch.fft.ifftshift(x, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.fft2(x, dim=_DIMS, norm="ortho"), dim=_DIMS)


def ifft2c(k: torch.Tensor, convention: str = "ortho", size: Sequence[int] | None = None) -> torch.Tensor:
    """Inverse of :func:`fft2c` over the last two axes.

    Args:
        k: centred complex k-space ``[..., H, W]``.
        convention: ``"ortho"`` returns the complex image; ``"release"`` returns the real image
            ``irfft2(ifftshift(k), s=size)`` of the MC-CDic release (Hermitian-symmetrised).
        size: output ``(H, W)`` for ``"release"`` (default: the k-space size).

    Returns:
        complex image (``"ortho"``) or real image (``"release"``), ``[..., H, W]``.
    """
    _check_convention(convention)
    if convention == "release":
        size = tuple(size) if size is not None else tuple(k.shape[-2:])
        return torch.fft.irfft2(torch.fft.ifftshift(k, dim=_DIMS), s=size, dim=_DIMS)
    k = torch.fft.ifftshift(k, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.ifft2(k, dim=_DIMS, norm="ortho"), dim=_DIMS)


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` complex -> ``[B, 2C, H, W]`` real, channels ordered (re_0, im_0, re_1, ...)."""
    if not x.is_complex():
        raise TypeError(f"Expected a complex tensor, got dtype {x.dtype}.")
    r = torch.view_as_real(x)  # [B, C, H, W, 2]
    return r.permute(0, 1, 4, 2, 3).reshape(x.shape[0], 2 * x.shape[1], *x.shape[2:])


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`complex_to_channels`: ``[B, 2C, H, W]`` real -> ``[B, C, H, W]`` complex."""
    if x.shape[1] % 2:
        raise ValueError(f"Expected an even number of channels (real, imaginary pairs), got {x.shape[1]}.")
    b, c2, h, w = x.shape
    r = x.reshape(b, c2 // 2, 2, h, w).permute(0, 1, 3, 4, 2).contiguous()
    return torch.view_as_complex(r)


def complex_to_real_last(x: torch.Tensor) -> torch.Tensor:
    """Complex ``[...]`` -> real ``[..., 2]`` (the fastMRI / MONAI reconstruction layout)."""
    return torch.view_as_real(x)


def real_last_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``[..., 2]`` (fastMRI / MONAI layout) -> complex ``[...]``."""
    if x.shape[-1] != 2:
        raise ValueError(f"Expected a trailing axis of size 2 (real, imaginary), got shape {tuple(x.shape)}.")
    return torch.view_as_complex(x.contiguous())
