"""Modulated deformable convolution (DCNv2), computed as bilinear sampling (``grid_sample``) and one matrix product.

Used by FGDCN (flow-guided deformable compensation) and BVFI (temporal deformable interpolation and
recurrent fusion); see docs/models/common_ops.md, 'Modulated deformable convolution' and
'Rules every model follows'.

Offset layout (torchvision, = the DCNv2 extension used by EDVR-style code): ``offset`` is
``[B, 2 * G * kh * kw, Ho, Wo]``, group-major, then kernel tap ``k = i * kw + j`` (row-major), then the
pair ``(dy, dx)``; ``mask`` is ``[B, G * kh * kw, Ho, Wo]``. Out-of-image samples read zero.

The module predicts ``o1, o2, m = chunk(conv(offset_feat), 3)``, ``offset = cat(o1, o2)`` and
``mask = sigmoid(m)`` from one convolution (the usual port of the DCNv2 pack), optionally scaled
(``offset_scale``) or bounded (``offset_bound * tanh``, FGDCN) and shifted by a base optical flow given
in the project flow convention (channel 0 = x, 1 = y, pixels; see :mod:`.warp`).

:func:`modulated_deform_conv` computes what ``torchvision.ops.deform_conv2d`` computes (same offset layout, same
bilinear sampling with zeros outside the image; equal within float rounding, tested against it), but samples every
channel of an offset group with one ``grid_sample`` and applies the weights as one matrix product: 1.3-2.6x faster
than torchvision's CPU kernel at FGDCN's and BVFI's sizes (``benchmarks/deform_conv_speed.py``). Under ``torch.export`` (and so ONNX export) it calls
torchvision's operator, which ONNX has as the single ``DeformConv`` node: a graph half the size, exported in half
the time. Inside ``with torchvision_kernel():`` it calls torchvision's operator everywhere (to compare the two, or
to try torchvision's CUDA kernel on a GPU).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

__all__ = ["ModulatedDeformConv", "flow_to_offset", "modulated_deform_conv", "torchvision_kernel"]

_TORCHVISION_KERNEL: ContextVar[bool] = ContextVar("torchvision_deform_kernel", default=False)


@contextmanager
def torchvision_kernel() -> Iterator[None]:
    """Within the block, :func:`modulated_deform_conv` (and so every :class:`ModulatedDeformConv`, e.g. FGDCN's and
    BVFI's) calls ``torchvision.ops.deform_conv2d``, the kernel it uses under ``torch.export``, instead of its
    sampling path. Same results within float rounding; nested blocks and threads each keep their own setting."""
    token = _TORCHVISION_KERNEL.set(True)
    try:
        yield
    finally:
        _TORCHVISION_KERNEL.reset(token)


def modulated_deform_conv(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """Modulated (DCNv2, when ``mask`` is given) deformable convolution: ``torchvision.ops.deform_conv2d``'s arguments
    and result, computed by bilinear sampling and a matrix product (module docstring).

    Raises:
        ValueError: when the offset / mask channel counts do not fit the kernel, or batch / spatial sizes differ.
    """
    if x.ndim != 4:
        raise ValueError(f"Deformable convolution expects x of shape [B, C, H, W], got {tuple(x.shape)}.")
    kh, kw = weight.shape[-2:]
    taps = kh * kw
    if offset.ndim != 4 or offset.shape[0] != x.shape[0] or offset.shape[1] % (2 * taps):
        raise ValueError(
            f"offset must be [B, 2 * G * {kh} * {kw}, Ho, Wo] for a {kh}x{kw} kernel and batch {x.shape[0]}, "
            f"got {tuple(offset.shape)}."
        )
    groups = offset.shape[1] // (2 * taps)
    if x.shape[1] % groups:
        raise ValueError(f"{groups} offset groups do not divide the {x.shape[1]} input channels.")
    if mask is not None and (mask.shape[0] != x.shape[0] or mask.shape[1] != groups * taps
                             or mask.shape[-2:] != offset.shape[-2:]):
        raise ValueError(
            f"mask must be [B, {groups * taps}, {offset.shape[-2]}, {offset.shape[-1]}] to match the offset, "
            f"got {tuple(mask.shape)}."
        )
    if torch.compiler.is_exporting() or _TORCHVISION_KERNEL.get():
        return deform_conv2d(x, offset, weight, bias=bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
    return _sampled_deform_conv(x, offset, mask, weight, bias, stride, padding, dilation)


def _sampled_deform_conv(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None, weight: torch.Tensor,
    bias: torch.Tensor | None, stride: int, padding: int, dilation: int,
) -> torch.Tensor:
    """Deformable convolution as ``grid_sample`` (columns ``[B, C * k * k, Ho * Wo]``) and a grouped matrix product."""
    b, c, h, w = x.shape
    out_channels, c_per_wgroup, kh, kw = weight.shape
    taps = kh * kw
    groups = offset.shape[1] // (2 * taps)
    ho, wo = offset.shape[-2:]
    kwargs = {"dtype": offset.dtype, "device": offset.device}
    tap_y = (torch.arange(kh, **kwargs) * dilation).repeat_interleave(kw).view(1, 1, taps, 1, 1)  # tap k = i * kw + j
    tap_x = (torch.arange(kw, **kwargs) * dilation).repeat(kh).view(1, 1, taps, 1, 1)
    off = offset.view(b, groups, taps, 2, ho, wo)  # (dy, dx) per group and tap
    py = (torch.arange(ho, **kwargs) * stride - padding).view(1, 1, 1, ho, 1) + tap_y + off[:, :, :, 0]
    px = (torch.arange(wo, **kwargs) * stride - padding).view(1, 1, 1, 1, wo) + tap_x + off[:, :, :, 1]
    # pixel coordinates -> grid_sample's align_corners=False convention (exact for any size, 1 included)
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1).view(b * groups, taps * ho, wo, 2)
    cols = F.grid_sample(x.reshape(b * groups, c // groups, h, w), grid.to(x.dtype), mode="bilinear",
                         padding_mode="zeros", align_corners=False).view(b, groups, c // groups, taps, ho, wo)
    if mask is not None:
        cols = cols * mask.view(b, groups, 1, taps, ho, wo).to(x.dtype)
    wgroups = c // c_per_wgroup
    cols = cols.reshape(b, wgroups, c_per_wgroup * taps, ho * wo)
    out = torch.matmul(weight.reshape(wgroups, out_channels // wgroups, c_per_wgroup * taps), cols)
    out = out.reshape(b, out_channels, ho, wo)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def flow_to_offset(flow_xy: torch.Tensor, groups: int, taps: int) -> torch.Tensor:
    """Tile a flow ``[B, 2, H, W]`` (x, y) into a torchvision offset ``[B, 2 * groups * taps, H, W]`` (dy, dx pairs)."""
    if flow_xy.ndim != 4 or flow_xy.shape[1] != 2:
        raise ValueError(f"flow must be [B, 2, H, W] (channel 0 = x, 1 = y), got {tuple(flow_xy.shape)}.")
    return flow_xy.flip(1).repeat(1, groups * taps, 1, 1)


class ModulatedDeformConv(nn.Module):
    """DCNv2 layer whose offsets and modulation mask are predicted from ``offset_feat`` by one convolution.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as ``nn.Conv2d``.
        padding: default ``dilation * (kernel_size - 1) // 2`` (same size at stride 1).
        deformable_groups: offset groups G (each has its own offsets and mask per tap).
        offset_in_channels: channels of ``offset_feat`` (default ``in_channels``).
        offset_scale: multiplies the predicted offsets (ignored when ``offset_bound`` is set).
        offset_bound: when set, offsets are ``offset_bound * tanh(raw)`` (FGDCN uses 10).
        zero_init: zero-initialise the offset/mask convolution, so the layer starts as a plain
            convolution (plus the base flow) with mask 0.5.

    ``forward(x, offset_feat, flow=None)``: ``flow`` ``[B, 2, Ho, Wo]`` (x, y) is added to every
    group/tap offset. Returns ``[B, out_channels, Ho, Wo]``; :meth:`offsets_and_mask` exposes the
    offsets and mask (for visualisation and tests).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        deformable_groups: int = 1,
        offset_in_channels: int | None = None,
        bias: bool = True,
        offset_scale: float = 1.0,
        offset_bound: float | None = None,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}.")
        if in_channels % deformable_groups:
            raise ValueError(f"deformable_groups={deformable_groups} must divide in_channels={in_channels}.")
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = dilation * (kernel_size - 1) // 2 if padding is None else padding
        self.dilation = dilation
        self.deformable_groups = deformable_groups
        self.offset_scale = offset_scale
        self.offset_bound = offset_bound
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(in_channels // groups * kernel_size * kernel_size)
            nn.init.uniform_(self.bias, -bound, bound)
        taps = kernel_size * kernel_size
        self.conv_offset = nn.Conv2d(
            offset_in_channels or in_channels, 3 * deformable_groups * taps, kernel_size,
            stride=stride, padding=self.padding, dilation=dilation,
        )
        if zero_init:
            nn.init.zeros_(self.conv_offset.weight)
            nn.init.zeros_(self.conv_offset.bias)
        self.groups = groups

    def offsets_and_mask(
        self, offset_feat: torch.Tensor, flow: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The torchvision offsets ``[B, 2*G*k*k, Ho, Wo]`` and mask ``[B, G*k*k, Ho, Wo]``."""
        o1, o2, m = torch.chunk(self.conv_offset(offset_feat), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        offset = self.offset_bound * torch.tanh(offset) if self.offset_bound is not None else self.offset_scale * offset
        if flow is not None:
            if flow.shape[-2:] != offset.shape[-2:]:
                raise ValueError(
                    f"flow has spatial size {tuple(flow.shape[-2:])} but the offsets have {tuple(offset.shape[-2:])}; "
                    "resize it with monai_mcrecon.ops.warp.resize_flow."
                )
            offset = offset + flow_to_offset(flow, self.deformable_groups, self.kernel_size**2)
        return offset, torch.sigmoid(m)

    def forward(self, x: torch.Tensor, offset_feat: torch.Tensor, flow: torch.Tensor | None = None) -> torch.Tensor:
        offset, mask = self.offsets_and_mask(offset_feat, flow)
        # torchvision infers the weight groups from weight.shape[1] (in_channels // groups).
        return modulated_deform_conv(x, offset, mask, self.weight, self.bias, self.stride, self.padding, self.dilation)
