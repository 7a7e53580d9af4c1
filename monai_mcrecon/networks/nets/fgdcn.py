"""FGDCN: flow guidance deformable compensation network for video frame interpolation.

Paper: P. Lei, F. Fang, T. Zeng, G. Zhang, "Flow Guidance Deformable Compensation Network for Video Frame
Interpolation", IEEE Transactions on Multimedia 26, pp. 1801-1812, 2024 (DOI 10.1109/TMM.2023.3289702,
arXiv:2211.12117). Authors' code: https://github.com/lpcccc-cv/FGDCN (commit 7745a89178c3ac601b6d2d91649ff15eabf1937b;
``models/modules/Ours.py``, ``flownet.py``, ``IFNet.py``, ``DCNv2/dcn_v2.py``).

Fidelity: **faithful to the authors' released code** (see ``docs/models/fgdcn.md``). The three steps:

1. **Flow step** (:class:`FlowStep`, release ``IFNet``): coarse-to-fine IFBlocks accumulate the flows
   ``F_t0, F_t1`` at 1/2 resolution (``flow_list``, distilled from a teacher), a three-level
   correlation-based refinement (:class:`FlowRefiner`, release ``FlowRefineNet_Multis``) gives full-resolution
   flows, the blend mask ``M`` and feature pyramids of both frames, and the **anchor frame**
   ``I_mid = M warp(I0, F_t0) + (1 - M) warp(I1, F_t1)``.
2. **Deformation step** (:class:`PCDAlign`): a pyramid of flow-guided modulated deformable convolutions
   (the package's :class:`~monai_mcrecon.networks.blocks.deform.ModulatedDeformConv` with the flow as base
   offset and a ``10 tanh`` bounded residual) compensates the unwarped features of each frame.
3. **Synthesis** (:class:`GridNet`): a 3-row GridNet maps the compensated, mask-weighted pyramid to a
   residual added to the anchor frame.

Deliberate differences from the release (none changes the computation for H, W multiples of 16):

- **Two frame arguments.** ``forward(frame0, frame1)``; the release's single ``[B, 2, 3, H, W]`` tensor is
  accepted as ``forward(x)``.
- **Any H, W.** Inputs are replicate-padded to a multiple of :attr:`FGDCN.multiple` (16 at the paper
  setting) and every output cropped back to the input's region: full-resolution outputs to ``H x W``, the
  1/2-grid coarse flows and ``rec_half`` to ``ceil(H/2) x ceil(W/2)``, ``rec_quarter`` to ``ceil(H/4) x ceil(W/4)``
  (so that the distillation and pyramid losses, which resize full-resolution targets to these grids, stay
  aligned and use the right flow scale when padding happens).
- **Named outputs.** :class:`FGDCNOutput` instead of ``(rec, flow_list)``; it also carries the refined flow,
  the mask, the anchor frame and the two coarse reconstructions of the release's (unused) pyramid heads.
  Eval mode returns ``rec`` only unless ``return_all_outputs=True``.
- **Unused modules.** The release builds a 1x1-conv occlusion head in every refinement unit that is never
  applied (37,131 parameters); only ``release_compatible=True`` builds it. Parameters: 14,325,811 used,
  14,362,942 with it (the release's 14.36 M).
- **Sizes are parameters** (IFBlock widths / scales / count, refinement width, offset width and groups,
  GridNet columns) for the ``small`` and ``tiny`` presets; module names follow the release, so a release
  state dict loads with :func:`convert_release_state_dict`.
- **Time.** The release interpolates t = 0.5 only (its time input is disabled); so does this port.

Inputs are RGB in [0, 1]; ``rec`` is not clamped. The flow convention is the project's (channel 0 = x,
1 = y, pixels, backward warp ``out(p) = x(p + flow(p))``, :mod:`~monai_mcrecon.ops.warp`).

Over 600 lines by design: the model's private blocks stay in its own ``nets/`` file (``networks/blocks`` holds
only blocks that two or more networks use), so the whole network reads top to bottom in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.blocks.deform import ModulatedDeformConv
from monai_mcrecon.ops.warp import flow_warp, resize_flow
from monai_mcrecon.networks.presets import PresetMixin

__all__ = [
    "FGDCN",
    "FGDCNOutput",
    "FlowRefineUnit",
    "FlowRefiner",
    "FlowStep",
    "GridNet",
    "IFBlock",
    "PCDAlign",
    "anchor_frame",
    "convert_release_state_dict",
]


def conv_prelu(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    """``conv_u``: Conv (bias) + per-channel PReLU (release ``flownet.conv``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=True),
        nn.PReLU(out_channels),
    )


class _Conv2(nn.Module):
    """Two ``conv_u`` (the first with ``stride``), release ``Conv2``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = conv_prelu(in_channels, out_channels, 3, stride)
        self.conv2 = conv_prelu(out_channels, out_channels, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


def _scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by ``factor`` (align_corners=False), values unchanged (images, masks, features)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def _scale_flow4(flow: torch.Tensor, factor: float) -> torch.Tensor:
    """Resize a 4-channel flow pair (t->0, t->1) spatially and in value by ``factor``."""
    return torch.cat([resize_flow(flow[:, :2], scale_factor=factor), resize_flow(flow[:, 2:], scale_factor=factor)], 1)


def anchor_frame(frame0: torch.Tensor, frame1: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``I_mid = M warp(I0, F_t0) + (1 - M) warp(I1, F_t1)`` with ``flow = cat(F_t0, F_t1)`` ``[B, 4, H, W]``."""
    return flow_warp(frame0, flow[:, :2]) * mask + flow_warp(frame1, flow[:, 2:]) * (1 - mask)


class IFBlock(nn.Module):
    """IFBlock (release ``flownet.IFBlock``): flow increments at 1/2 resolution.

    ``x`` is bilinearly down-scaled by ``scale``; ``conv_u(in -> c/2, 2)``, ``conv_u(c/2 -> c, 2)``; eight
    ``conv_u(c -> c)`` with one residual connection around them; ``ConvTranspose2d(c -> 4, 4, 2, 1)``; bilinear
    up-scale by ``scale`` (flow values are **not** rescaled, as in the release).
    """

    def __init__(self, in_channels: int, scale: int = 1, channels: int = 64) -> None:
        super().__init__()
        self.scale = scale
        self.conv0 = nn.Sequential(conv_prelu(in_channels, channels // 2, 3, 2), conv_prelu(channels // 2, channels, 3, 2))
        self.convblock = nn.Sequential(*[conv_prelu(channels, channels) for _ in range(8)])
        self.conv1 = nn.ConvTranspose2d(channels, 4, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale != 1:
            x = _scale(x, 1.0 / self.scale)
        x = self.conv0(x)
        x = self.convblock(x) + x
        flow = self.conv1(x)
        if self.scale != 1:
            flow = _scale(flow, float(self.scale))
        return flow


class FlowRefineUnit(nn.Module):
    """One refinement level (release ``FlowRefineNetA`` with ``context_dim = hidden_dim = c``, radius 1).

    ::

        U_i = unfold3x3(x_i); W_i = warp(U_i, flow_i); f_i = centre tap of W_i
        occ = sigmoid(conv3-PReLU-conv3-PReLU-conv3(cat(f_0, f_1))) + mask_prev
        f = f_0 occ + f_1 (1 - occ)
        corr_i = cosine(f, each of the 9 taps of W_i)                     # 9 channels
        motion_i = PReLU(Conv3(cat(corr_convs(corr_i), flow_convs(flow_i))))
        flow_i += flow_head(gru(cat(f, f_i, motion_i, flow_i)))          # plain convs despite the name

    Args:
        channels: feature width ``c`` of the level.
        iterations: refinement iterations (release 1); every iteration restarts from ``mask_prev``.
        release_compatible: also build the release's never-applied 1x1 occlusion head ``occl_convs``.
    """

    def __init__(self, channels: int, iterations: int = 1, release_compatible: bool = False) -> None:
        super().__init__()
        c = channels
        self.iterations = iterations
        self.n_pts = 9
        if release_compatible:
            self.occl_convs = nn.Sequential(
                nn.Conv2d(2 * c, c, 1), nn.PReLU(c), nn.Conv2d(c, c, 1), nn.PReLU(c), nn.Conv2d(c, 1, 1), nn.Sigmoid()
            )
        self.occl_convs_new = nn.Sequential(
            nn.Conv2d(2 * c, c, 3, 1, 1), nn.PReLU(c), nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c),
            nn.Conv2d(c, 1, 3, 1, 1), nn.Sigmoid(),
        )
        self.corr_convs = nn.Sequential(nn.Conv2d(self.n_pts, c, 1), nn.PReLU(c), nn.Conv2d(c, c, 1), nn.PReLU(c))
        self.flow_convs = nn.Sequential(nn.Conv2d(2, c, 3, 1, 1), nn.PReLU(c), nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c))
        self.motion_convs = nn.Sequential(nn.Conv2d(2 * c, c, 3, 1, 1), nn.PReLU(c))
        self.gru = nn.Sequential(nn.Conv2d(3 * c + 2, c, 3, 1, 1), nn.PReLU(c), nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c))
        self.flow_head = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c), nn.Conv2d(c, 2, 3, 1, 1))

    @staticmethod
    def _l2normalize(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
        if torch.compiler.is_exporting():
            # the same value, x 1e6 / sqrt(1e12 s + 1): ONNX export's optimiser drops "+ 1e-12" as adding zero
            # (tolerance 1e-8), which turns zero features into 0 / 0
            return x * 1e6 / (x.pow(2).sum(dim=dim, keepdim=True) * 1e12 + 1.0).sqrt()
        return x / (x.pow(2).sum(dim=dim, keepdim=True) + 1e-12).sqrt()

    def _once(self, x0, x1, flow0, flow1, mask):
        b, c, h, w = x0.shape
        contents0 = flow_warp(F.unfold(x0, 3, padding=1).view(b, c * self.n_pts, h, w), flow0).view(b, c, self.n_pts, h, w)
        contents1 = flow_warp(F.unfold(x1, 3, padding=1).view(b, c * self.n_pts, h, w), flow1).view(b, c, self.n_pts, h, w)
        fea0, fea1 = contents0[:, :, self.n_pts // 2], contents1[:, :, self.n_pts // 2]
        occl = self.occl_convs_new(torch.cat([fea0, fea1], 1)) + mask
        fea = fea0 * occl + fea1 * (1 - occl)
        fea_n = self._l2normalize(fea)[:, :, None]
        corr0 = self.corr_convs((fea_n * self._l2normalize(contents0)).sum(1))
        corr1 = self.corr_convs((fea_n * self._l2normalize(contents1)).sum(1))
        motion0 = self.motion_convs(torch.cat([corr0, self.flow_convs(flow0)], 1))
        motion1 = self.motion_convs(torch.cat([corr1, self.flow_convs(flow1)], 1))
        flow0 = flow0 + self.flow_head(self.gru(torch.cat([fea, fea0, motion0, flow0], 1)))
        flow1 = flow1 + self.flow_head(self.gru(torch.cat([fea, fea1, motion1, flow1], 1)))
        return flow0, flow1, occl

    def forward(self, x0, x1, flow0, flow1, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the refined ``cat(flow0, flow1)`` ``[B, 4, h, w]`` and the mask ``occ`` ``[B, 1, h, w]``."""
        occl = mask
        for _ in range(self.iterations):
            flow0, flow1, occl = self._once(x0, x1, flow0, flow1, mask)
        return torch.cat([flow0, flow1], 1), occl


class FlowRefiner(nn.Module):
    """Three-level flow refinement with a shared encoder (release ``FlowRefineNet_Multis``).

    Encoder (both frames): ``s1 = Conv2(3 -> c, 1)`` (full), ``s2 = Conv2(c -> 2c)`` (1/2), ``s3 = Conv2(2c -> 4c)``
    (1/4). The flow (1/2 resolution) is halved to 1/4, refined at 1/4, 1/2 and full resolution (``up2`` flows and
    bilinear x2 masks in between); the mask is the last unit's ``occ`` (a sum of up to three sigmoids, not clamped).

    Returns:
        ``(flow [B,4,H,W], mask [B,1,H,W], warped0, warped1, pyr0, pyr1)`` with ``pyr_i = [s1, s2, s3](I_i)``
        and ``warped_i[l] = warp(pyr_i[l], flow_i at level l)``.
    """

    def __init__(self, channels: int = 24, iterations: int = 1, release_compatible: bool = False) -> None:
        super().__init__()
        c = channels
        self.conv1 = _Conv2(3, c, 1)
        self.conv2 = _Conv2(c, 2 * c)
        self.conv3 = _Conv2(2 * c, 4 * c)
        self.rf_block1 = FlowRefineUnit(c, iterations, release_compatible)
        self.rf_block2 = FlowRefineUnit(2 * c, iterations, release_compatible)
        self.rf_block3 = FlowRefineUnit(4 * c, iterations, release_compatible)

    @staticmethod
    def warp_pyramid(feats: Sequence[torch.Tensor], flow: torch.Tensor) -> list[torch.Tensor]:
        """Warp each level by the flow resized to it (halved per level, values x0.5)."""
        outs = []
        for fea in feats:
            outs.append(flow_warp(fea, flow))
            flow = resize_flow(flow, scale_factor=0.5)
        return outs

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, flow: torch.Tensor):
        b, _, h, w = x0.shape
        s1 = self.conv1(torch.cat([x0, x1], 0))
        s2 = self.conv2(s1)
        s3 = self.conv3(s2)
        mask = torch.zeros(b, 1, h // 4, w // 4, dtype=x0.dtype, device=x0.device)
        flow = _scale_flow4(flow, 0.5)
        flow, mask = self.rf_block3(s3[:b], s3[b:], flow[:, :2], flow[:, 2:], mask)
        flow, mask = _scale_flow4(flow, 2.0), _scale(mask, 2.0)
        flow, mask = self.rf_block2(s2[:b], s2[b:], flow[:, :2], flow[:, 2:], mask)
        flow, mask = _scale_flow4(flow, 2.0), _scale(mask, 2.0)
        flow, mask = self.rf_block1(s1[:b], s1[b:], flow[:, :2], flow[:, 2:], mask)
        pyr0, pyr1 = [s1[:b], s2[:b], s3[:b]], [s1[b:], s2[b:], s3[b:]]
        return flow, mask, self.warp_pyramid(pyr0, flow[:, :2]), self.warp_pyramid(pyr1, flow[:, 2:]), pyr0, pyr1


class FlowStep(nn.Module):
    """Flow step (release ``IFNet``): IFBlocks, flow accumulation, refinement and the anchor frame.

    ``F_1 = D_0``, ``F_k = D_0 + ... + D_{k-1}`` at 1/2 resolution with ``D_0 = block0(cat(I0, I1))`` and
    ``D_k = block_k(cat(warp(I0, up2(F_k)[:2]), warp(I1, up2(F_k)[2:]), up2(F_k)))``; ``flow_list = [F_1, ...]``.

    Args:
        ifblock_channels: widths ``c`` of the IFBlocks (release 180, 120, 90).
        ifblock_scales: their down-scaling factors (release 4, 2, 1).
        refine_channels: refinement width ``c`` (release 24; levels c, 2c, 4c).
        refine_iterations: iterations per refinement level (release 1).
        release_compatible: build the unused 1x1 occlusion heads.
    """

    def __init__(
        self,
        ifblock_channels: Sequence[int] = (180, 120, 90),
        ifblock_scales: Sequence[int] = (4, 2, 1),
        refine_channels: int = 24,
        refine_iterations: int = 1,
        release_compatible: bool = False,
    ) -> None:
        super().__init__()
        if len(ifblock_channels) != len(ifblock_scales) or not ifblock_channels:
            raise ValueError(
                f"ifblock_channels {tuple(ifblock_channels)} and ifblock_scales {tuple(ifblock_scales)} must be "
                "non-empty and of the same length (one scale per IFBlock)."
            )
        self.num_blocks = len(ifblock_channels)
        for i, (c, s) in enumerate(zip(ifblock_channels, ifblock_scales)):
            setattr(self, f"block{i}", IFBlock(6 if i == 0 else 10, scale=int(s), channels=int(c)))
        self.refine = FlowRefiner(refine_channels, refine_iterations, release_compatible)

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(self.num_blocks)]

    def coarse_flows(self, img0: torch.Tensor, img1: torch.Tensor) -> list[torch.Tensor]:
        """The accumulated IFBlock flows ``[F_1, F_2, ...]``, each ``[B, 4, H/2, W/2]``."""
        flow_list = []
        acc = None
        for i, block in enumerate(self.blocks):
            if acc is None:
                delta = block(torch.cat([img0, img1], 1))
            else:
                up = _scale_flow4(acc, 2.0)
                delta = block(torch.cat([flow_warp(img0, up[:, :2]), flow_warp(img1, up[:, 2:]), up], 1))
            acc = delta if acc is None else acc + delta
            flow_list.append(acc)
        return flow_list

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this (:class:`FGDCN` pads its inputs to it; the flow step alone does not)."""
        return max(16, 4 * max(b.scale for b in self.blocks))

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> dict[str, Any]:
        h, w = img0.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(
                f"The flow step needs H and W that are multiples of {self.multiple}, got {h} x {w}; FGDCN pads its "
                f"inputs, so when training the flow step alone use a patch_size that is a multiple of {self.multiple}."
            )
        flow_list = self.coarse_flows(img0, img1)
        flow, mask, warped0, warped1, pyr0, pyr1 = self.refine(img0, img1, flow_list[-1])
        return {
            "anchor": anchor_frame(img0, img1, flow, mask), "flow": flow, "mask": mask, "flow_list": flow_list,
            "warped0": warped0, "warped1": warped1, "pyr0": pyr0, "pyr1": pyr1,
        }


class PCDAlign(nn.Module):
    """Pyramid flow-guided deformable compensation (release ``PCD_Align``), weights shared by both directions.

    ::

        L3: o3 = LReLU(conv(LReLU(conv(LReLU(conv(cat(Qa3, Qb3)))))));  A3 = LReLU(DCN(Pa3; o3, flow/4))
        L2: o2 = LReLU(conv(LReLU(conv(cat(Qa2, Qb2)))))
            o2 = LReLU(conv(LReLU(conv(cat(o2, 2 up(o3))))));            A2 = LReLU(DCN(Pa2; o2, flow/2))
        L1: same with o2;                                                   A1 = DCN(Pa1; o1, flow)

    ``DCN(x; feat, flow)``: offsets ``10 tanh(conv(feat)) + flow`` (tiled over groups and taps), mask
    ``sigmoid``; the offset conv is zero-initialised (offset = flow, mask 0.5 at the start).

    Args:
        level_channels: feature widths at full, 1/2, 1/4 resolution (release 24, 48, 96).
        offset_channels: width ``nf`` of the offset branch (release 64).
        deformable_groups: offset groups G (release 8).
        offset_bound: bound of the learned residual offsets (release 10 px).
    """

    def __init__(
        self,
        level_channels: Sequence[int] = (24, 48, 96),
        offset_channels: int = 64,
        deformable_groups: int = 8,
        offset_bound: float = 10.0,
    ) -> None:
        super().__init__()
        c1, c2, c3 = level_channels
        nf = offset_channels
        for c in level_channels:
            if c % deformable_groups:
                raise ValueError(
                    f"deformable_groups={deformable_groups} must divide every level width {tuple(level_channels)}; "
                    "choose refine_channels as a multiple of deformable_groups."
                )

        def dcn(c: int) -> ModulatedDeformConv:
            return ModulatedDeformConv(c, c, 3, deformable_groups=deformable_groups, offset_in_channels=nf,
                                       offset_bound=offset_bound)

        self.L3_offset_conv1_1 = nn.Conv2d(2 * c3, nf, 3, 1, 1)
        self.L3_offset_conv2_1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.L3_offset_conv3_1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.L3_dcnpack_1 = dcn(c3)
        self.L2_offset_conv1_1 = nn.Conv2d(2 * c2, nf, 3, 1, 1)
        self.L2_offset_conv1_2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.L2_offset_conv2_1 = nn.Conv2d(2 * nf, nf, 3, 1, 1)
        self.L2_offset_conv3_1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.L2_dcnpack_1 = dcn(c2)
        self.L1_offset_conv1_1 = nn.Conv2d(2 * c1, nf, 3, 1, 1)
        self.L1_offset_conv1_2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.L1_offset_conv2_1 = nn.Conv2d(2 * nf, nf, 3, 1, 1)
        self.L1_offset_conv3_1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.L1_dcnpack_1 = dcn(c1)
        self.lrelu = nn.LeakyReLU(0.1)

    def forward(self, fea_a, fea_b, src, flows) -> list[torch.Tensor]:
        """``fea_a/fea_b``: warped pyramids (own / other frame), ``src``: unwarped own pyramid, ``flows``: own flow per
        level; all lists ordered full, 1/2, 1/4. Returns the compensated features ``[A1, A2, A3]``."""
        act = self.lrelu
        o3 = act(self.L3_offset_conv1_1(torch.cat([fea_a[2], fea_b[2]], 1)))
        o3 = act(self.L3_offset_conv3_1(act(self.L3_offset_conv2_1(o3))))
        a3 = act(self.L3_dcnpack_1(src[2], o3, flows[2]))
        o2 = act(self.L2_offset_conv1_2(act(self.L2_offset_conv1_1(torch.cat([fea_a[1], fea_b[1]], 1)))))
        o3 = F.interpolate(o3, size=o2.shape[-2:], mode="bilinear", align_corners=False)
        o2 = act(self.L2_offset_conv3_1(act(self.L2_offset_conv2_1(torch.cat([o2, o3 * 2], 1)))))
        a2 = act(self.L2_dcnpack_1(src[1], o2, flows[1]))
        o1 = act(self.L1_offset_conv1_2(act(self.L1_offset_conv1_1(torch.cat([fea_a[0], fea_b[0]], 1)))))
        o2 = F.interpolate(o2, size=o1.shape[-2:], mode="bilinear", align_corners=False)
        o1 = act(self.L1_offset_conv3_1(act(self.L1_offset_conv2_1(torch.cat([o1, o2 * 2], 1)))))
        a1 = self.L1_dcnpack_1(src[0], o1, flows[0])
        return [a1, a2, a3]


class _Lateral(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.PReLU(), nn.Conv2d(dim, dim, 3, 1, 1), nn.PReLU(), nn.Conv2d(dim, dim, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) + x


class _Down(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.PReLU(), nn.Conv2d(in_dim, out_dim, 3, 2, 1), nn.PReLU(),
                                    nn.Conv2d(out_dim, out_dim, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _Up(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.PReLU(), nn.Conv2d(in_dim, out_dim, 3, 1, 1), nn.PReLU(),
                                    nn.Conv2d(out_dim, out_dim, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(_scale(x, 2.0))


class GridNet(nn.Module):
    """Three-row GridNet synthesis (release ``IFNet.GridNet``) with RGB heads at every row.

    ``columns`` lateral columns on row 0 (release 6): ``columns / 2`` "down" columns (lateral blocks along each
    row, a down-block from row r added into row r + 1), then ``columns / 2`` "up" columns (an up-block from row
    r + 1 added into row r), the last lateral block on row 0. Rows 1 and 2 have ``columns - 1`` lateral blocks.
    Node order as in the release. Returns ``[out_full, out_half, out_quarter]`` (3 channels each); the half head
    reads row 1 after its last merge, the quarter head row 2 after its last lateral block.

    Args:
        widths: row widths (release 48, 96, 192).
        columns: lateral columns of row 0 (even, >= 2; release 6).
    """

    def __init__(self, widths: Sequence[int] = (48, 96, 192), columns: int = 6, out_channels: int = 3) -> None:
        super().__init__()
        if columns < 2 or columns % 2:
            raise ValueError(f"GridNet columns must be an even number >= 2 (release 6), got {columns}.")
        w0, w1, w2 = widths
        self.half = columns // 2
        self.lateral = nn.ModuleList([
            nn.ModuleList([_Lateral(w0) for _ in range(columns)]),
            nn.ModuleList([_Lateral(w1) for _ in range(columns - 1)]),
            nn.ModuleList([_Lateral(w2) for _ in range(columns - 1)]),
        ])
        self.down = nn.ModuleList([
            nn.ModuleList([_Down(w0, w1) for _ in range(self.half)]),
            nn.ModuleList([_Down(w1, w2) for _ in range(self.half)]),
        ])
        self.up = nn.ModuleList([
            nn.ModuleList([_Up(w1, w0) for _ in range(self.half)]),
            nn.ModuleList([_Up(w2, w1) for _ in range(self.half)]),
        ])
        self.compress = nn.ModuleList([nn.Conv2d(w, w, 3, 1, 1) for w in (w0, w1, w2)])
        self.to_RGB = nn.Sequential(nn.PReLU(), nn.Conv2d(w0, out_channels, 3, 1, 1))
        self.to_RGB_L1 = nn.Sequential(nn.PReLU(), nn.Conv2d(w1, out_channels, 3, 1, 1))
        self.to_RGB_L2 = nn.Sequential(nn.PReLU(), nn.Conv2d(w2, out_channels, 3, 1, 1))

    def forward(self, pyramid: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        n = self.half
        lat, down, up = self.lateral, self.down, self.up
        x0 = [self.compress[0](pyramid[0])]
        x1 = [self.compress[1](pyramid[1])]
        x2 = [self.compress[2](pyramid[2])]
        for k in range(n):  # row 0 of the down half
            x0.append(lat[0][k](x0[k]))
        for k in range(n):  # down columns
            x1[k] = x1[k] + down[0][k](x0[k])
            x2[k] = x2[k] + down[1][k](x1[k])
            x1.append(lat[1][k](x1[k]))
            x2.append(lat[2][k](x2[k]))
        for k in range(n, 2 * n - 1):  # row 2 of the up half
            x2.append(lat[2][k](x2[k]))
        rec_quarter = self.to_RGB_L2(x2[-1])
        for k in range(n):  # up columns
            j = n + k
            x1[j] = x1[j] + up[1][k](x2[j])
            if k == n - 1:
                rec_half = self.to_RGB_L1(x1[j])
            x0[j] = x0[j] + up[0][k](x1[j])
            if k < n - 1:
                x1.append(lat[1][j](x1[j]))
            x0.append(lat[0][j](x0[j]))
        return [self.to_RGB(x0[-1]), rec_half, rec_quarter]


@dataclasses.dataclass
class FGDCNOutput:
    """FGDCN's named outputs (the release returns ``(rec, flow_list)``).

    Attributes:
        rec: interpolated middle frame ``[B, 3, H, W]`` (t = 0.5; not clamped).
        flow_list: coarse IFBlock flows, one ``[B, 4, H/2, W/2]`` per block (channels 0:2 flow t->0, 2:4 t->1,
            (x, y), pixels of the 1/2 grid); distilled from the teacher.
        flow: refined flows ``[B, 4, H, W]``.
        mask: blend mask ``M`` ``[B, 1, H, W]`` (range (0, 3), not clamped, as in the release).
        anchor: anchor frame ``I_mid`` ``[B, 3, H, W]``.
        rec_half: ``bilinear_1/2(I_mid) + out_half`` (pyramid loss).
        rec_quarter: ``bilinear_1/4(I_mid) + out_quarter``.
    """

    rec: torch.Tensor
    flow_list: list[torch.Tensor]
    flow: torch.Tensor
    mask: torch.Tensor
    anchor: torch.Tensor
    rec_half: torch.Tensor
    rec_quarter: torch.Tensor


class FGDCN(PresetMixin, nn.Module):
    """FGDCN (faithful to the authors' release): flow step with anchor frame, flow-guided deformable compensation
    pyramid, GridNet synthesis; interpolates the middle frame (t = 0.5) of two RGB frames in [0, 1].

    ::

        F, M, Q0, Q1, P0, P1, I_mid = FlowStep(I0, I1)
        A^(0) = PCD(Q0, Q1, P0, F_t0);  A^(1) = PCD(Q1, Q0, P1, F_t1)       # shared weights
        Pyr_l = cat((A_l^(0) + Q0_l) M_l, (A_l^(1) + Q1_l) (1 - M_l))      # l = full, 1/2, 1/4
        rec = GridNet(Pyr)[0] + I_mid

    Parameters at the paper preset: 14,325,811 (used), 14,362,942 with ``release_compatible=True``.

    Args:
        ifblock_channels / ifblock_scales: IFBlock widths and scales (release (180, 120, 90) / (4, 2, 1)).
        refine_channels: refinement width ``c`` (release 24); pyramid widths c, 2c, 4c; GridNet rows 2c, 4c, 8c.
        refine_iterations: refinement iterations per level (release 1).
        offset_channels: PCD offset width ``nf`` (release 64).
        deformable_groups: DCN offset groups (release 8).
        offset_bound: bound of the DCN residual offsets (release 10).
        grid_columns: GridNet lateral columns on row 0 (release 6).
        release_compatible: build the release's unused 1x1 occlusion heads (14,362,942 parameters).
        return_all_outputs: in eval mode return :class:`FGDCNOutput` instead of ``rec``.

    Examples::

        net = FGDCN.from_preset("small")
        out = net(frame0, frame1)          # training mode: FGDCNOutput; out.rec is [B, 3, H, W]
        net.eval(); mid = net(frame0, frame1)
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "paper": {},
        "small": {
            "ifblock_channels": (32, 16), "ifblock_scales": (4, 2), "refine_channels": 8, "offset_channels": 16,
            "deformable_groups": 2, "grid_columns": 2,
        },
        "tiny": {
            "ifblock_channels": (16, 8), "ifblock_scales": (4, 2), "refine_channels": 4, "offset_channels": 8,
            "deformable_groups": 1, "grid_columns": 2,
        },
    }

    def __init__(
        self,
        ifblock_channels: Sequence[int] = (180, 120, 90),
        ifblock_scales: Sequence[int] = (4, 2, 1),
        refine_channels: int = 24,
        refine_iterations: int = 1,
        offset_channels: int = 64,
        deformable_groups: int = 8,
        offset_bound: float = 10.0,
        grid_columns: int = 6,
        release_compatible: bool = False,
        return_all_outputs: bool = False,
    ) -> None:
        super().__init__()
        if refine_channels < 1 or offset_channels < 1 or refine_iterations < 1:
            raise ValueError(
                f"refine_channels, offset_channels and refine_iterations must be >= 1, got {refine_channels=}, "
                f"{offset_channels=}, {refine_iterations=}."
            )
        c = int(refine_channels)
        self.return_all_outputs = bool(return_all_outputs)
        self.flow_net = FlowStep(ifblock_channels, ifblock_scales, c, refine_iterations, release_compatible)
        self.multiple = self.flow_net.multiple
        self.pcd_align = PCDAlign((c, 2 * c, 4 * c), offset_channels, deformable_groups, offset_bound)
        self.flow_fea_fusin = GridNet((2 * c, 4 * c, 8 * c), grid_columns)

    def _frames(self, frame0: torch.Tensor, frame1: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if frame1 is None:
            if frame0.ndim != 5 or frame0.shape[1] != 2 or frame0.shape[2] != 3:
                raise ValueError(
                    "FGDCN expects two frames: forward(frame0, frame1) with [B, 3, H, W] each, or one tensor "
                    f"[B, 2, 3, H, W] (the release's input); got a single tensor of shape {tuple(frame0.shape)}."
                )
            return frame0[:, 0], frame0[:, 1]
        if frame0.ndim != 4 or frame0.shape[1] != 3 or frame0.shape != frame1.shape:
            raise ValueError(
                f"FGDCN expects frame0 and frame1 of the same shape [B, 3, H, W] (RGB in [0, 1]), got "
                f"{tuple(frame0.shape)} and {tuple(frame1.shape)}."
            )
        return frame0, frame1

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor | None = None) -> FGDCNOutput | torch.Tensor:
        """Interpolate the middle frame.

        Args:
            frame0, frame1: ``[B, 3, H, W]`` RGB in [0, 1] (any H, W; padded to :attr:`multiple` internally); or
                ``frame0`` alone as ``[B, 2, 3, H, W]``.

        Returns:
            training mode or ``return_all_outputs``: :class:`FGDCNOutput`; eval mode: ``rec`` ``[B, 3, H, W]``.
        """
        img0, img1 = self._frames(frame0, frame1)
        h, w = img0.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            img0 = F.pad(img0, (0, pw, 0, ph), mode="replicate")
            img1 = F.pad(img1, (0, pw, 0, ph), mode="replicate")
        fs = self.flow_net(img0, img1)
        flow, mask, anchor = fs["flow"], fs["mask"], fs["anchor"]
        flows0 = [flow[:, :2], resize_flow(flow[:, :2], scale_factor=0.5), resize_flow(flow[:, :2], scale_factor=0.25)]
        flows1 = [flow[:, 2:], resize_flow(flow[:, 2:], scale_factor=0.5), resize_flow(flow[:, 2:], scale_factor=0.25)]
        masks = [mask, _scale(mask, 0.5), _scale(mask, 0.25)]
        dcn0 = self.pcd_align(fs["warped0"], fs["warped1"], fs["pyr0"], flows0)
        dcn1 = self.pcd_align(fs["warped1"], fs["warped0"], fs["pyr1"], flows1)
        pyramid = [
            torch.cat([(dcn0[l] + fs["warped0"][l]) * masks[l], (dcn1[l] + fs["warped1"][l]) * (1 - masks[l])], 1)
            for l in range(3)
        ]
        out_full, out_half, out_quarter = self.flow_fea_fusin(pyramid)
        rec = out_full + anchor
        if not (self.training or self.return_all_outputs):
            return rec[..., :h, :w]
        h2, w2, h4, w4 = -(-h // 2), -(-w // 2), -(-h // 4), -(-w // 4)
        return FGDCNOutput(
            rec=rec[..., :h, :w],
            flow_list=[f[..., :h2, :w2] for f in fs["flow_list"]],
            flow=flow[..., :h, :w],
            mask=mask[..., :h, :w],
            anchor=anchor[..., :h, :w],
            rec_half=(_scale(anchor, 0.5) + out_half)[..., :h2, :w2],
            rec_quarter=(_scale(anchor, 0.25) + out_quarter)[..., :h4, :w4],
        )


def convert_release_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a state dict of the authors' ``FGDCN`` to this port's keys (strips ``module.``; the DCN offset conv
    ``conv_offset_mask`` is ``conv_offset`` here). Load with ``release_compatible=True`` for the full release."""
    out = {}
    for k, v in state.items():
        k = k[len("module."):] if k.startswith("module.") else k
        out[k.replace(".conv_offset_mask.", ".conv_offset.")] = v
    return out
