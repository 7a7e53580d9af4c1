"""The package's one Haar wavelet transform (one level, orthonormal, fixed filters as buffers).

For every channel and every 2x2 block ``a b / c d`` of the input (``a`` top-left, ``d`` bottom-right):

- ``LL = (a + b + c + d) / 2`` (low band),
- ``H1 = (a + b - c - d) / 2`` (low along the width, high along the height),
- ``H2 = (a - b + c - d) / 2`` (high along the width, low along the height),
- ``H3 = (a - b - c + d) / 2`` (high along both).

This is the band order and the sign convention of ``pytorch_wavelets`` 1.3
``DWTForward(J=1, wave="haar")`` (``yl``, ``yh[0][:, :, 0..2]``) for even sizes, the transform used by
the SPDNet release (checked once against pytorch_wavelets 1.3.0 on random float64 input: largest
difference 1.2e-7, its filters being float32; ``tests/networks/test_wavelet.py`` repeats the check when
pytorch_wavelets is installed). pytorch_wavelets is not a dependency. The 4x4 mixing is orthonormal, so the inverse is
its transpose (a transposed strided convolution with the same filters) and the transform preserves
energy. The filters are registered buffers: the modules have no parameters.

``pack_bands`` / ``unpack_bands`` convert between ``(low, high)`` and one channel-stacked tensor in
the two layouts that SPDNet needs (see docs/models/spdnet.md, 'Architecture'):

- ``pack_bands`` (release and consistent): band-major ``[H1 | H2 | H3 | LL]``, ``C`` channels each;
- ``unpack_bands(order="release")``: reads ``4C`` channels as ``C`` groups of 4, channel ``4j`` the low
  band of feature ``j`` and ``4j+1 .. 4j+3`` its high bands (the release's ``_Itransformer``), which
  is *not* the inverse of ``pack_bands`` (harmless in SPDNet: a learned conv precedes every IDWT);
- ``unpack_bands(order="consistent")``: the exact inverse of ``pack_bands``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HaarDWT", "HaarIDWT", "haar_dwt", "haar_idwt", "haar_filters", "pack_bands", "unpack_bands"]

BAND_ORDERS = ("release", "consistent")


def haar_filters(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The four 2x2 analysis filters ``[4, 1, 2, 2]`` in the order ``LL, H1, H2, H3`` (see module doc)."""
    f = torch.tensor(
        [
            [[1.0, 1.0], [1.0, 1.0]],
            [[1.0, 1.0], [-1.0, -1.0]],
            [[1.0, -1.0], [1.0, -1.0]],
            [[1.0, -1.0], [-1.0, 1.0]],
        ],
        dtype=dtype,
        device=device,
    )
    return (0.5 * f).unsqueeze(1)


def _check_even(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"The Haar DWT expects a [B, C, H, W] tensor, got shape {tuple(x.shape)}.")
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(
            f"The Haar DWT needs even H and W, got {tuple(x.shape[-2:])}; pad the input to a multiple of 2 first."
        )


def haar_dwt(x: torch.Tensor, filters: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One-level Haar DWT.

    Args:
        x: ``[B, C, H, W]`` with even ``H`` and ``W``.
        filters: the ``[4, 1, 2, 2]`` filters (default :func:`haar_filters`).

    Returns:
        ``(low [B, C, H/2, W/2], high [B, C, 3, H/2, W/2])`` (pytorch_wavelets layout).
    """
    _check_even(x)
    b, c, h, w = x.shape
    f = haar_filters(x.dtype, x.device) if filters is None else filters.to(x.dtype)
    y = F.conv2d(x, f.repeat(c, 1, 1, 1), stride=2, groups=c).reshape(b, c, 4, h // 2, w // 2)
    return y[:, :, 0], y[:, :, 1:]


def haar_idwt(low: torch.Tensor, high: torch.Tensor, filters: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse of :func:`haar_dwt`: ``low [B, C, h, w]`` and ``high [B, C, 3, h, w]`` -> ``[B, C, 2h, 2w]``."""
    if low.ndim != 4 or high.ndim != 5 or high.shape[2] != 3 or high.shape[:2] != low.shape[:2] \
            or high.shape[-2:] != low.shape[-2:]:
        raise ValueError(
            f"haar_idwt expects low [B, C, h, w] and high [B, C, 3, h, w], got {tuple(low.shape)} and {tuple(high.shape)}."
        )
    b, c, h, w = low.shape
    f = haar_filters(low.dtype, low.device) if filters is None else filters.to(low.dtype)
    y = torch.cat([low.unsqueeze(2), high], dim=2).reshape(b, 4 * c, h, w)
    return F.conv_transpose2d(y, f.repeat(c, 1, 1, 1), stride=2, groups=c)


class HaarDWT(nn.Module):
    """Module form of :func:`haar_dwt` (filters in a buffer, no parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filters", haar_filters(), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return haar_dwt(x, self.filters)


class HaarIDWT(nn.Module):
    """Module form of :func:`haar_idwt` (filters in a buffer, no parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filters", haar_filters(), persistent=False)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return haar_idwt(low, high, self.filters)


def pack_bands(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """``(low [B, C, h, w], high [B, C, 3, h, w])`` -> band-major ``[B, 4C, h, w]`` = ``[H1 | H2 | H3 | LL]``
    (the SPDNet release's ``_transformer``)."""
    return torch.cat([high[:, :, 0], high[:, :, 1], high[:, :, 2], low], dim=1)


def unpack_bands(t: torch.Tensor, order: str = "release") -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 4C, h, w]`` -> ``(low [B, C, h, w], high [B, C, 3, h, w])``.

    Args:
        t: the stacked bands.
        order: ``"release"``: ``C`` groups of 4 (``4j`` low, ``4j+1..4j+3`` high; SPDNet's
            ``_Itransformer``); ``"consistent"``: band-major, the inverse of :func:`pack_bands`.

    Raises:
        ValueError: unknown ``order`` or channel count not a multiple of 4.
    """
    if order not in BAND_ORDERS:
        raise ValueError(f"Unknown band order {order!r}; choose one of {BAND_ORDERS}.")
    if t.ndim != 4 or t.shape[1] % 4:
        raise ValueError(f"unpack_bands expects [B, 4C, h, w], got shape {tuple(t.shape)}.")
    b, c4, h, w = t.shape
    c = c4 // 4
    if order == "release":
        y = t.reshape(b, c, 4, h, w)
        return y[:, :, 0], y[:, :, 1:]
    y = t.reshape(b, 4, c, h, w)
    return y[:, 3], y[:, :3].transpose(1, 2)
