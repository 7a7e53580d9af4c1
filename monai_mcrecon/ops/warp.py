"""Backward warping by optical flow and by horizontal (stereo) coordinates: the project's one home.

Conventions (docs/models/common_ops.md, 'Flow and coordinate warps'):

- **flow** ``[B, 2, H, W]`` in pixels, channel 0 = horizontal (x, columns), channel 1 = vertical
  (y, rows); :func:`flow_warp` computes ``out(p) = x(p + flow(p))`` with bilinear sampling,
  ``align_corners=True`` pixel arithmetic and border padding (RIFE / FGDCN / BVFI). MONAI's
  ``monai.networks.blocks.Warp`` computes the same with the channels in (y, x) order
  (``Warp()(x, flow.flip(1))``).
- **absolute x-coordinate** ``coord_x [B, 1, H, W]``: :func:`coord_warp_x` samples each row of ``x``
  at column ``coord_x(p)`` (SSRDE-FNet's "disparity" tensors hold such coordinates); zero padding.
- **disparity** ``d >= 0`` (rectified stereo): the left pixel ``(y, x)`` sees the right image at
  ``(y, x - d)``, the right pixel sees the left image at ``(y, x + d)``; :func:`disparity_warp`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["coord_warp_x", "disparity_to_coord", "disparity_warp", "flow_warp", "resize_flow"]


def _base_grid(b: int, h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(h, device=like.device, dtype=like.dtype).view(1, h, 1).expand(b, h, w)
    xs = torch.arange(w, device=like.device, dtype=like.dtype).view(1, 1, w).expand(b, h, w)
    return xs, ys


def _normalise(coord: torch.Tensor, size: int) -> torch.Tensor:
    return 2.0 * coord / max(size - 1, 1) - 1.0


def flow_warp(
    x: torch.Tensor,
    flow_xy: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "border",
    align_corners: bool = True,
) -> torch.Tensor:
    """Backward-warp ``x [B, C, H, W]`` by ``flow_xy [B, 2, H, W]``: ``out(p) = x(p + flow(p))``.

    Raises:
        ValueError: when the flow is not ``[B, 2, H, W]`` matching ``x``.
    """
    if x.ndim != 4 or flow_xy.ndim != 4 or flow_xy.shape[1] != 2:
        raise ValueError(
            f"flow_warp expects x [B, C, H, W] and flow [B, 2, H, W] (channel 0 = x, 1 = y), "
            f"got {tuple(x.shape)} and {tuple(flow_xy.shape)}."
        )
    if flow_xy.shape[0] != x.shape[0] or flow_xy.shape[-2:] != x.shape[-2:]:
        raise ValueError(
            f"flow {tuple(flow_xy.shape)} does not match the image {tuple(x.shape)}; resize it with resize_flow."
        )
    b, _, h, w = x.shape
    xs, ys = _base_grid(b, h, w, flow_xy)
    if align_corners:
        gx, gy = _normalise(xs + flow_xy[:, 0], w), _normalise(ys + flow_xy[:, 1], h)
    else:
        gx = (2.0 * (xs + flow_xy[:, 0]) + 1.0) / w - 1.0
        gy = (2.0 * (ys + flow_xy[:, 1]) + 1.0) / h - 1.0
    grid = torch.stack((gx, gy), dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


def _resize_flow_symbolic(flow_xy: torch.Tensor, scale_factor: float, mode: str) -> torch.Tensor:
    """:func:`resize_flow` by an integer factor ``s`` or its reciprocal ``1 / n`` with integer size arithmetic.

    For export, where ``H, W`` are symbols: ``round(H * s) == H * s`` and, for ``H`` divisible by ``n`` (the
    callers pad to such sizes; checked), ``round(H / n) == H // n``, so the output equals the eager one.

    Raises:
        ValueError: another factor.
    """
    h, w = flow_xy.shape[-2:]
    if scale_factor >= 1 and scale_factor.is_integer():
        s = int(scale_factor)
        size, factor = (h * s, w * s), float(s)
    elif (1 / scale_factor).is_integer():
        n = round(1 / scale_factor)
        torch._check(h % n == 0, lambda: f"resize_flow by 1/{n} exports for sizes divisible by {n}.")
        torch._check(w % n == 0, lambda: f"resize_flow by 1/{n} exports for sizes divisible by {n}.")
        size, factor = (h // n, w // n), 1.0 / n
    else:
        raise ValueError(
            f"resize_flow exports integer scale factors and their reciprocals only, got {scale_factor}; pass size instead."
        )
    if factor == 1.0:
        return flow_xy
    return F.interpolate(flow_xy, size=size, mode=mode, align_corners=False) * factor


def resize_flow(
    flow_xy: torch.Tensor,
    size: Sequence[int] | None = None,
    scale_factor: float | None = None,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Resize a flow field spatially **and** rescale its values (x by the width ratio, y by the height ratio)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("Give exactly one of size or scale_factor to resize_flow.")
    h, w = flow_xy.shape[-2:]
    if size is None and torch.compiler.is_exporting():
        return _resize_flow_symbolic(flow_xy, float(scale_factor), mode)
    if size is None:
        size = (int(round(h * scale_factor)), int(round(w * scale_factor)))
    size = tuple(int(s) for s in size)
    out = F.interpolate(flow_xy, size=size, mode=mode, align_corners=False) if size != (h, w) else flow_xy
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow_xy.dtype, device=flow_xy.device).view(1, 2, 1, 1)
    return out * scale


def coord_warp_x(x: torch.Tensor, coord_x: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample every row of ``x [B, C, H, W]`` at the absolute column ``coord_x [B, 1, H, W]`` (bilinear, align_corners)."""
    if x.ndim != 4 or coord_x.ndim != 4 or coord_x.shape[1] != 1:
        raise ValueError(
            f"coord_warp_x expects x [B, C, H, W] and coord_x [B, 1, H, W], got {tuple(x.shape)} and {tuple(coord_x.shape)}."
        )
    if coord_x.shape[0] != x.shape[0] or coord_x.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"coord_x {tuple(coord_x.shape)} does not match the image {tuple(x.shape)}.")
    b, _, h, w = x.shape
    _, ys = _base_grid(b, h, w, coord_x)
    grid = torch.stack((_normalise(coord_x[:, 0], w), _normalise(ys, h)), dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def disparity_to_coord(disparity: torch.Tensor, view: str = "left") -> torch.Tensor:
    """Absolute x-coordinate in the other view: ``x - d`` for the left view, ``x + d`` for the right view."""
    if view not in ("left", "right"):
        raise ValueError(f"view must be 'left' or 'right', got {view!r}.")
    w = disparity.shape[-1]
    xs = torch.arange(w, device=disparity.device, dtype=disparity.dtype).view(1, 1, 1, w)
    return xs - disparity if view == "left" else xs + disparity


def disparity_warp(other: torch.Tensor, disparity: torch.Tensor, view: str = "left", padding_mode: str = "zeros") -> torch.Tensor:
    """Warp the other view into ``view``'s frame using ``view``'s disparity ``[B, 1, H, W]`` (>= 0, pixels)."""
    return coord_warp_x(other, disparity_to_coord(disparity, view), padding_mode=padding_mode)
