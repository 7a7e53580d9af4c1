"""BVFI: three-stage blurry video frame interpolation (reconstructed from the abstract).

Paper: P. Lei, Z. Yan, T. Wang, F. Fang, G. Zhang, "Three-Stage Cascade Framework for Blurry Video Frame
Interpolation", arXiv:2310.05383 (2023); conference version "Three-Stage Temporal Deformable Network for
Blurry Video Frame Interpolation", ICME 2024, doi:10.1109/ICME57554.2024.10687742. Authors' code: none known.

Fidelity: **reconstructed from the abstract** (see ``docs/models/bvfi.md``). The abstract states the three
stages and arbitrary-time synthesis:

1. temporal deformable frame interpolation (:class:`TemporalDeformableInterp`);
2. temporal feature fusion with bi-directional recurrent deformable alignment (:class:`BiRecurrentAlign`);
3. deblurring with a transformer-empowered Taylor approximation network (:class:`TaylorDeblur`).

Everything below that stage list is **inferred; the paper text was not available** (docs/models/bvfi.md,
'Inputs, outputs and time convention', 'Architecture', 'Losses'): the
input window (N = 4 blurry frames B_-1, B_0, B_1, B_2), the time convention (t in [0, 1] between the
centres of B_0 and B_1), the time conditioning (a constant map ``tau = t``), all module internals, the Taylor
recursion's inputs, the losses (:class:`monai_mcrecon.losses.bvfi.BVFILoss`). The design reuses ideas of the
same authors' FGDCN (DCNv2 with offsets from concatenated features), of BasicVSR++-style recurrent
alignment and of DeepTaylor (Zhou et al., NeurIPS 2021).

Project choices (docs/models/bvfi.md, 'Project choices'):

- stage 1 has one offset network and one deformable conv **per input frame** (the abstract does not say
  whether they are shared; with shared weights the network could not tell B_-1 from B_2);
- the recurrent states start from the features of B_0 (forward) and B_1 (backward);
- the mapping branch F of stage 3 is Restormer-style (channel "transposed" attention + gated feed-forward);
  the derivative network G's last conv is zero-initialised, so ``x_hat == x0`` at initialisation.

Value range: RGB in [0, 1]; outputs are not clamped (the bundle clamps for evaluation).

Interfaces: ``forward(blurry, t)`` with ``blurry`` ``[B, N, 3, H, W]`` or channel-stacked ``[B, 3N, H, W]``
(frame-major: channels ``3i..3i+2`` are frame ``i``) and ``t`` ``[B, L]`` (also a float, a sequence, or a
1-D tensor of ``L`` times shared by the batch). Training mode (or ``return_all_outputs=True``) returns a
:class:`BVFIOutput` dict ``{"out", "coarse", "x0", "taylor_terms"}`` with ``[B, L, 3, H, W]`` tensors; eval mode
returns ``out`` only, in the input's layout (``[B, L, 3, H, W]``, or ``[B, 3L, H, W]`` for a stacked input,
which is what ``verify_net_in_out`` checks). Any H, W (all stages run at full resolution).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.blocks.deform import ModulatedDeformConv
from monai_mcrecon.networks.presets import PresetMixin

__all__ = [
    "BVFI",
    "AlignOutput",
    "BiRecurrentAlign",
    "ChannelAttentionTransformerBlock",
    "InterpOutput",
    "TaylorDeblur",
    "TaylorOutput",
    "TemporalDeformableInterp",
    "normalize_times",
]

_SLOPE = 0.1


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(_SLOPE, inplace=True)


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResBlock(nn.Module):
    """``x + conv3(LReLU(conv3(x)))`` (EDVR-style residual block without normalisation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv3(channels, channels), _lrelu(), _conv3(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def normalize_times(t: Any, batch: int, device=None, dtype=None) -> torch.Tensor:
    """Times as a ``[B, L]`` tensor.

    ``t`` may be a float (one time for every sample), a sequence or 1-D tensor of ``L`` times (shared by the
    batch), or a ``[B, L]`` tensor. Gradients through ``t`` are kept.

    Raises:
        ValueError: wrong shape, empty, or a time outside [0, 1] (times are fractions of the interval
            between the centres of B_0 and B_1).
    """
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(t, dtype=dtype or torch.float32)
    t = t.to(device=device, dtype=dtype or (t.dtype if t.is_floating_point() else torch.float32))
    if t.ndim == 0:
        t = t.reshape(1, 1).expand(batch, 1)
    elif t.ndim == 1:
        t = t.reshape(1, -1).expand(batch, -1)
    elif t.ndim != 2 or t.shape[0] != batch:
        raise ValueError(
            f"t must be a float, a list of L times, or a [B, L] tensor with B = {batch}; got shape {tuple(t.shape)}."
        )
    if t.shape[1] == 0:
        raise ValueError("t holds no target time; pass at least one time in [0, 1].")
    with torch.no_grad():
        if bool(((t < 0) | (t > 1)).any()):
            raise ValueError(
                f"Target times must lie in [0, 1] (0 = centre of B_0, 1 = centre of B_1), got min {float(t.min()):.3f}, "
                f"max {float(t.max()):.3f}."
            )
    return t


class InterpOutput(NamedTuple):
    """Stage-1 results: fused target features ``[B, L, C, H, W]``, coarse frames ``[B, L, 3, H, W]`` and the
    per-frame encoder features ``[B, N, C, H, W]``."""

    features: torch.Tensor
    coarse: torch.Tensor
    frame_features: torch.Tensor


class TemporalDeformableInterp(nn.Module):
    """Stage 1, temporal deformable interpolation (inferred; the paper text was not available).

    See docs/models/bvfi.md, 'Architecture'.

    ::

        f_i   = E(B_i)                               shared encoder: conv3(3 -> C) + LReLU, n_enc ResBlocks
        tau   = t * ones[B, 1, H/s, W/s]
        o_i   = OffsetNet_i(cat(f_i, f_0, f_1, tau))   conv3(3C+1 -> C) + LReLU, conv3(C -> C) + LReLU
        s_i   = DCNv2_i(f_i; o_i)                     offsets/mask from one conv on o_i (the shared wrapper)
        F_t   = Conv1x1(N C -> C)(cat_i s_i)
        J_t   = Conv3(C -> 3)(F_t) + (1 - t) B_0 + t B_1

    ``f_0``/``f_1`` are the features of B_0/B_1 (input indices ``key_index`` and ``key_index + 1``).
    ``feature_stride`` s > 1 [project, for CPU training]: E starts with ``PixelUnshuffle(s)`` (lossless
    space-to-depth, conv3(3 s^2 -> C)), so stages 1-2 run at 1/s resolution, and the residual of ``J_t`` is
    ``PixelShuffle(s)(Conv3(C -> 3 s^2)(F_t))``; s = 1 is the full-resolution design.
    """

    def __init__(
        self,
        in_channels: int = 3,
        features: int = 32,
        num_inputs: int = 4,
        deformable_groups: int = 4,
        encoder_blocks: int = 2,
        key_index: int = 1,
        offset_bound: float | None = None,
        feature_stride: int = 1,
    ) -> None:
        super().__init__()
        if feature_stride < 1:
            raise ValueError(f"feature_stride must be >= 1, got {feature_stride}.")
        if not 0 <= key_index < num_inputs - 1:
            raise ValueError(f"key_index={key_index} must leave B_0 and B_1 inside the {num_inputs} input frames.")
        self.num_inputs, self.key_index, self.feature_stride = num_inputs, key_index, feature_stride
        c, s = features, feature_stride
        self.encoder = nn.Sequential(
            nn.PixelUnshuffle(s), _conv3(in_channels * s * s, c), _lrelu(), *[ResBlock(c) for _ in range(encoder_blocks)]
        )
        self.offset_nets = nn.ModuleList(
            nn.Sequential(_conv3(3 * c + 1, c), _lrelu(), _conv3(c, c), _lrelu()) for _ in range(num_inputs)
        )
        self.dcns = nn.ModuleList(
            ModulatedDeformConv(c, c, 3, deformable_groups=deformable_groups, offset_in_channels=c,
                                offset_bound=offset_bound)
            for _ in range(num_inputs)
        )
        self.fuse = nn.Conv2d(num_inputs * c, c, 1)
        self.to_rgb = nn.Sequential(_conv3(c, in_channels * s * s), nn.PixelShuffle(s))

    def encode(self, blurry: torch.Tensor) -> torch.Tensor:
        """``[B, N, 3, H, W] -> [B, N, C, H, W]`` with the shared encoder E."""
        b, n = blurry.shape[:2]
        f = self.encoder(blurry.flatten(0, 1))
        return f.reshape(b, n, *f.shape[1:])

    def forward(self, blurry: torch.Tensor, t: torch.Tensor, frame_features: torch.Tensor | None = None) -> InterpOutput:
        """``blurry [B, N, 3, H, W]``, ``t [B, L]`` -> :class:`InterpOutput` (the L targets run as one batch)."""
        b, n, _, h, w = blurry.shape
        if n != self.num_inputs:
            raise ValueError(f"Stage 1 was built for {self.num_inputs} input frames, got {n}.")
        if h % self.feature_stride or w % self.feature_stride:
            raise ValueError(f"H, W = {h}, {w} must be multiples of feature_stride={self.feature_stride} (BVFI pads).")
        feats = self.encode(blurry) if frame_features is None else frame_features
        ell = t.shape[1]
        k = self.key_index
        rep = lambda x: x.unsqueeze(1).expand(b, ell, *x.shape[1:]).flatten(0, 1)  # noqa: E731  [B,...] -> [B*L,...]
        f0, f1 = rep(feats[:, k]), rep(feats[:, k + 1])
        tt = t.reshape(b * ell, 1, 1, 1)
        tau = tt.expand(b * ell, 1, *feats.shape[-2:])
        sampled = []
        for i in range(n):
            fi = rep(feats[:, i])
            o = self.offset_nets[i](torch.cat((fi, f0, f1, tau), dim=1))
            sampled.append(self.dcns[i](fi, o))
        fused = self.fuse(torch.cat(sampled, dim=1))
        coarse = self.to_rgb(fused) + (1 - tt) * rep(blurry[:, k]) + tt * rep(blurry[:, k + 1])
        return InterpOutput(fused.reshape(b, ell, *fused.shape[1:]), coarse.reshape(b, ell, *coarse.shape[1:]), feats)


class AlignOutput(NamedTuple):
    """Stage-2 results, ``[B, L, C, H, W]`` each: fused features ``Y``, forward states ``Hf``, backward ``Hb``."""

    features: torch.Tensor
    forward_states: torch.Tensor
    backward_states: torch.Tensor


class _RecurrentCell(nn.Module):
    """One direction's step: ``a = DCNv2(h; conv(cat(X_l, h)))``; ``h = ResBlocks(LReLU(Conv3(2C -> C)(cat(X_l, a))))``."""

    def __init__(self, c: int, deformable_groups: int, num_blocks: int, offset_bound: float | None) -> None:
        super().__init__()
        self.align = ModulatedDeformConv(c, c, 3, deformable_groups=deformable_groups, offset_in_channels=2 * c,
                                         offset_bound=offset_bound)
        self.merge = nn.Sequential(_conv3(2 * c, c), _lrelu(), *[ResBlock(c) for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a = self.align(h, torch.cat((x, h), dim=1))
        return self.merge(torch.cat((x, a), dim=1))


class BiRecurrentAlign(nn.Module):
    """Stage 2, bi-directional recurrent deformable alignment (inferred; the paper text was not available).

    The target features ``X_1..X_L`` (sorted by ascending t by the caller) form a sequence::

        backward: h = f_1; for l = L..1: h = cell_b(X_l, h); Hb_l = h
        forward:  h = f_0; for l = 1..L: h = cell_f(X_l, h); Hf_l = h
        Y_l = Conv1x1(2C -> C)(cat(Hf_l, Hb_l)) + X_l

    so ``Hf_l`` depends on ``X_1..X_l`` only and ``Hb_l`` on ``X_l..X_L`` only.
    """

    def __init__(self, features: int = 32, deformable_groups: int = 4, num_blocks: int = 2,
                 offset_bound: float | None = None) -> None:
        super().__init__()
        self.backward_cell = _RecurrentCell(features, deformable_groups, num_blocks, offset_bound)
        self.forward_cell = _RecurrentCell(features, deformable_groups, num_blocks, offset_bound)
        self.fuse = nn.Conv2d(2 * features, features, 1)

    def forward(self, x: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor) -> AlignOutput:
        """``x [B, L, C, H, W]`` (ascending t), ``f0``/``f1`` ``[B, C, H, W]`` -> :class:`AlignOutput`."""
        ell = x.shape[1]
        hb: list[torch.Tensor] = [None] * ell  # type: ignore[list-item]
        h = f1
        for l in reversed(range(ell)):
            h = self.backward_cell(x[:, l], h)
            hb[l] = h
        hf, h = [], f0
        for l in range(ell):
            h = self.forward_cell(x[:, l], h)
            hf.append(h)
        hf_t, hb_t = torch.stack(hf, 1), torch.stack(hb, 1)
        y = self.fuse(torch.cat((hf_t, hb_t), dim=2).flatten(0, 1)).reshape(x.shape) + x
        return AlignOutput(y, hf_t, hb_t)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel (Restormer's ``WithBias_LayerNorm``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelAttentionTransformerBlock(nn.Module):
    """Restormer-style block: ``x + MDTA(LN(x))``, then ``x + GDFN(LN(x))``.

    MDTA ("transposed" attention across channels, cost linear in H W): ``q, k, v = DWConv3(Conv1x1(x))``;
    per head ``softmax(norm(q) norm(k)^T * temperature) v`` with the ``(C/heads) x (C/heads)`` attention map.
    GDFN: ``Conv1x1(GELU(a) * b)`` with ``a, b = DWConv3(Conv1x1(x))`` (expansion ``ffn_expansion``).
    """

    def __init__(self, channels: int, heads: int = 1, ffn_expansion: float = 2.0) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"heads={heads} must divide the transformer width {channels}.")
        self.heads = heads
        self.norm1, self.norm2 = LayerNorm2d(channels), LayerNorm2d(channels)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.qkv_dw = nn.Conv2d(3 * channels, 3 * channels, 3, padding=1, groups=3 * channels)
        self.proj = nn.Conv2d(channels, channels, 1)
        hidden = int(channels * ffn_expansion)
        self.ffn_in = nn.Conv2d(channels, 2 * hidden, 1)
        self.ffn_dw = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden)
        self.ffn_out = nn.Conv2d(hidden, channels, 1)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dw(self.qkv(x)).chunk(3, dim=1)
        q, k, v = (z.reshape(b, self.heads, c // self.heads, h * w) for z in (q, k, v))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.proj((attn @ v).reshape(b, c, h, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        a, g = self.ffn_dw(self.ffn_in(self.norm2(x))).chunk(2, dim=1)
        return x + self.ffn_out(F.gelu(a) * g)


class TaylorOutput(NamedTuple):
    """Stage-3 results for ``[M, ...]`` inputs: ``out`` (x_hat), ``x0`` and the K terms ``g_k`` (``[M, 3, H, W]``)."""

    out: torch.Tensor
    x0: torch.Tensor
    taylor_terms: list[torch.Tensor]


class TaylorDeblur(nn.Module):
    """Stage 3, transformer-empowered Taylor approximation (inferred; the paper text was not available).

    Per target, with the observation ``(Y, J)`` (fused features, coarse frame)::

        x0    = J + F(cat(Y, J))                       conv3 -> n_F transformer blocks -> conv3(-> 3)
        g_0   = x0;  g_k = G(cat(g_{k-1}, x0, J, phi(Y)))   k = 1..K, one G shared by every k
        x_hat = x0 + sum_{k=1..K} g_k / k!

    G = conv3-LReLU-conv3-LReLU-conv3(-> 3) with the last conv zero-initialised (``x_hat == x0`` at
    initialisation); ``phi`` = Conv1x1(C -> C_G). The 1/k! weighting with a shared G is DeepTaylor's idea;
    its inputs here are an assumption (docs/models/bvfi.md, 'Architecture'). ``derivative`` (G) can be replaced by
    any callable.
    """

    def __init__(
        self,
        in_channels: int = 3,
        features: int = 32,
        transformer_width: int = 32,
        transformer_blocks: int = 2,
        transformer_heads: int = 2,
        derivative_features: int = 32,
        taylor_order: int = 2,
    ) -> None:
        super().__init__()
        if taylor_order < 0:
            raise ValueError(f"taylor_order must be >= 0, got {taylor_order}.")
        self.taylor_order = taylor_order
        self.mapping = nn.Sequential(
            _conv3(features + in_channels, transformer_width),
            *[ChannelAttentionTransformerBlock(transformer_width, transformer_heads) for _ in range(transformer_blocks)],
            _conv3(transformer_width, in_channels),
        )
        cg = derivative_features
        self.phi = nn.Conv2d(features, cg, 1)
        self.derivative = nn.Sequential(
            _conv3(3 * in_channels + cg, cg), _lrelu(), _conv3(cg, cg), _lrelu(), _conv3(cg, in_channels)
        )
        nn.init.zeros_(self.derivative[-1].weight)
        nn.init.zeros_(self.derivative[-1].bias)

    def forward(self, y: torch.Tensor, j: torch.Tensor) -> TaylorOutput:
        """``y [M, C, H, W]`` (stage-2 features), ``j [M, 3, H, W]`` (coarse frames) -> :class:`TaylorOutput`."""
        x0 = j + self.mapping(torch.cat((y, j), dim=1))
        py = self.phi(y)
        g, terms, out = x0, [], x0
        for k in range(1, self.taylor_order + 1):
            g = self.derivative(torch.cat((g, x0, j, py), dim=1))
            terms.append(g)
            out = out + g / math.factorial(k)
        return TaylorOutput(out, x0, terms)


class BVFIOutput(dict):
    """Named BVFI outputs (a dict, so engines, losses and ``select_output`` read it by key):
    ``out``, ``coarse``, ``x0`` ``[B, L, 3, H, W]`` and ``taylor_terms`` (list of K ``[B, L, 3, H, W]``)."""


class BVFI(PresetMixin, nn.Module):
    """BVFI three-stage blurry video frame interpolation (reconstructed from the abstract; see the module docstring).

    Args:
        in_channels: image channels (3, RGB in [0, 1]).
        num_inputs: blurry frames N in the window (B_-1, B_0, B_1, B_2 for N = 4).
        key_index: index of B_0 in the window (B_1 is the next one); default ``N // 2 - 1``.
        features: feature width C.
        deformable_groups: DCN offset groups n_g (must divide C).
        encoder_blocks: residual blocks of the shared encoder n_enc.
        recurrent_blocks: residual blocks per recurrent step.
        transformer_width, transformer_blocks, transformer_heads: the mapping branch F of stage 3.
        derivative_features: width C_G of the derivative network G.
        taylor_order: K.
        offset_bound: when set, DCN offsets are ``offset_bound * tanh(.)`` (FGDCN uses 10); default unbounded.
        feature_stride: resolution divisor s of stages 1-2 [project]: 1 (default) runs everything at full
            resolution as designed; s > 1 encodes every frame with ``PixelUnshuffle(s)`` and brings the
            stage-2 features back to full resolution with ``PixelShuffle(s)(Conv3(C -> C s^2))`` before stage 3
            (the ``small`` preset uses s = 4: torchvision's deformable convolution is ~40x slower than a plain
            convolution on CPU, so full-resolution DCNs do not fit a CPU training budget). Inputs whose H, W are
            not multiples of s are replicate-padded and the outputs cropped back.
        return_all_outputs: return the output dict in eval mode too.

    Defaults are the project's proposal (no paper values exist); presets ``small`` and ``tiny``
    (docs/models/bvfi.md, 'Presets').
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "paper": {},
        "small": {"features": 24, "deformable_groups": 1, "feature_stride": 4, "encoder_blocks": 2, "recurrent_blocks": 2,
                  "transformer_width": 24, "transformer_blocks": 2, "transformer_heads": 2,
                  "derivative_features": 24, "taylor_order": 2},
        "tiny": {"features": 8, "deformable_groups": 1, "encoder_blocks": 1, "recurrent_blocks": 1,
                 "transformer_width": 8, "transformer_blocks": 1, "transformer_heads": 1,
                 "derivative_features": 8, "taylor_order": 2},
    }

    def __init__(
        self,
        in_channels: int = 3,
        num_inputs: int = 4,
        key_index: int | None = None,
        features: int = 32,
        deformable_groups: int = 4,
        encoder_blocks: int = 2,
        recurrent_blocks: int = 2,
        transformer_width: int = 32,
        transformer_blocks: int = 2,
        transformer_heads: int = 2,
        derivative_features: int = 32,
        taylor_order: int = 2,
        offset_bound: float | None = None,
        feature_stride: int = 1,
        return_all_outputs: bool = False,
    ) -> None:
        super().__init__()
        if num_inputs < 2:
            raise ValueError(f"BVFI needs at least the two key frames B_0 and B_1, got num_inputs={num_inputs}.")
        if features % deformable_groups:
            raise ValueError(f"deformable_groups={deformable_groups} must divide features={features}.")
        self.in_channels, self.num_inputs = in_channels, num_inputs
        self.key_index = num_inputs // 2 - 1 if key_index is None else key_index
        self.return_all_outputs = return_all_outputs
        self.feature_stride = feature_stride

        self.interp = TemporalDeformableInterp(in_channels, features, num_inputs, deformable_groups, encoder_blocks,
                                               self.key_index, offset_bound, feature_stride)
        self.align = BiRecurrentAlign(features, deformable_groups, recurrent_blocks, offset_bound)
        s = feature_stride
        self.upsample = (
            nn.Sequential(_conv3(features, features * s * s), nn.PixelShuffle(s)) if s > 1 else nn.Identity()
        )
        self.deblur = TaylorDeblur(in_channels, features, transformer_width, transformer_blocks, transformer_heads,
                                   derivative_features, taylor_order)

    def _frames(self, blurry: torch.Tensor) -> tuple[torch.Tensor, bool]:
        n, c = self.num_inputs, self.in_channels
        if blurry.ndim == 4 and blurry.shape[1] == n * c:
            return blurry.reshape(blurry.shape[0], n, c, *blurry.shape[-2:]), True
        if blurry.ndim == 5 and blurry.shape[1] == n and blurry.shape[2] == c:
            return blurry, False
        raise ValueError(
            f"BVFI expects the blurry window as [B, {n}, {c}, H, W] or channel-stacked [B, {n * c}, H, W] "
            f"({n} frames of {c} channels), got {tuple(blurry.shape)}."
        )

    def forward(self, blurry: torch.Tensor, t: Any = 0.5):
        """Interpolate sharp frames at times ``t`` (see the module docstring for shapes and return values)."""
        frames, stacked = self._frames(blurry)
        b, n, c, h, w = frames.shape
        s = self.feature_stride
        ph, pw = (-h) % s, (-w) % s
        if ph or pw:
            frames = F.pad(frames.flatten(0, 1), (0, pw, 0, ph), mode="replicate").reshape(b, n, c, h + ph, w + pw)
        t = normalize_times(t, b, frames.device, frames.dtype)
        ell = t.shape[1]
        if torch.compiler.is_exporting():  # ONNX has no stable sort; its TopK breaks ties by the lower index (stable)
            order = torch.sort(t.detach(), dim=1).indices
            inverse = torch.sort(order, dim=1).indices
        else:
            order = torch.argsort(t.detach(), dim=1, stable=True)
            inverse = torch.argsort(order, dim=1)
        t_sorted = torch.gather(t, 1, order)

        stage1 = self.interp(frames, t_sorted)
        k = self.key_index
        stage2 = self.align(stage1.features, stage1.frame_features[:, k], stage1.frame_features[:, k + 1])
        stage3 = self.deblur(self.upsample(stage2.features.flatten(0, 1)), stage1.coarse.flatten(0, 1))

        def unsort(x: torch.Tensor) -> torch.Tensor:
            x = x.reshape(b, ell, *x.shape[-3:])[..., :h, :w]
            idx = inverse.reshape(b, ell, 1, 1, 1).expand_as(x)
            return torch.gather(x, 1, idx)

        out = unsort(stage3.out)
        if not (self.training or self.return_all_outputs):
            return out.flatten(1, 2) if stacked else out
        return BVFIOutput(
            out=out,
            coarse=unsort(stage1.coarse),
            x0=unsort(stage3.x0),
            taylor_terms=[unsort(g) for g in stage3.taylor_terms],
        )
