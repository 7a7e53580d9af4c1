"""Multi-scale convolutional dictionary (synthesis operator) with its exact adjoint.

The dictionary is the U-Net-decoder-shaped linear operator of MC-CDic (Lei et al., IJCAI 2023),
which the authors took from the MUSC / ISTA-U-Net code: sparse codes at ``S`` scales, coarse to
fine, are synthesised into one image-sized feature map. Every operation is a bias-free convolution,
so the operator is linear and its adjoint is the same convolutions transposed, in reverse order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AnalysisFilters",
    "MultiScaleDictionary",
    "SynthesisFilters",
    "analyse",
    "power_iteration",
    "synthesis_features",
]


class SynthesisFilters(NamedTuple):
    """``F.conv2d``-ready weights of the synthesis ``D`` (see :meth:`MultiScaleDictionary.synthesis_filters`).

    Attributes:
        bottleneck: ``[w_0, w_0, k, k]`` (with ``S = 1`` and ``fold_out``: ``[n_out, w_0, k, k]``).
        up: per level the ConvT2x2 weight ``[w_{s-1}, w_s, 2, 2]`` (stride 2).
        up_shuffle: per level ``[4 w_s, w_{s-1}, 1, 1]``: the same up-sampler as a 1x1 convolution
            followed by ``pixel_shuffle(2)`` (the same products as one GEMM; faster than
            ``conv_transpose2d`` for contiguous maps on CPU, slower for channels-last maps).
        fuse: per level ``[w_s, 2 w_s, k, k]``; the last one composed with the 1x1 output
            convolution when ``fold_out`` (``[n_out, 2 w_{S-1}, k, k]``).
        out: the 1x1 output convolution ``[n_out, w_{S-1}, 1, 1]``, ``None`` when folded.
    """

    bottleneck: torch.Tensor
    up: list[torch.Tensor]
    up_shuffle: list[torch.Tensor]
    fuse: list[torch.Tensor]
    out: torch.Tensor | None

    @property
    def last(self) -> torch.Tensor:
        """The last convolution: the finest ``fuse``, or the bottleneck for one scale."""
        return self.fuse[-1] if self.fuse else self.bottleneck


class AnalysisFilters(NamedTuple):
    """``F.conv2d``-ready weights of the adjoint ``D^T`` (see :meth:`MultiScaleDictionary.analysis_filters`).

    Attributes:
        out_t: ``[w_{S-1}, n_out, 1, 1]``, the adjoint of the 1x1 output convolution.
        skip: per level, fine to coarse, ``[w_s, w_s, k, k]``: the skip-code rows of the
            transposed fuse convolution (flipped kernels).
        down: per level, fine to coarse, ``[w_{s-1}, w_s, k + 1, k + 1]`` applied with stride 2:
            the other rows of the transposed fuse convolution composed with the stride-2 Conv2x2
            (adjoint of the up-sampler) into one strided convolution.
        bottleneck_t: ``[w_0, w_0, k, k]``, the transposed bottleneck (flipped kernels).
    """

    out_t: torch.Tensor
    skip: list[torch.Tensor]
    down: list[torch.Tensor]
    bottleneck_t: torch.Tensor


def _conv_transpose_as_conv(weight: torch.Tensor) -> torch.Tensor:
    """Stride-1 ``conv_transpose2d(v, W, padding=p)`` equals ``conv2d(v, flip(W^T), padding=p)`` for odd kernels."""
    return weight.transpose(0, 1).flip(-2, -1)


def _compose_1x1(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The weight of ``conv1x1(outer) o conv_kxk(inner)`` (both bias-free): ``[o, m] x [m, i, k, k] -> [o, i, k, k]``."""
    return torch.einsum("om,mikl->oikl", outer[:, :, 0, 0], inner)


def synthesis_features(codes: Sequence[torch.Tensor], filters: SynthesisFilters) -> list[torch.Tensor]:
    """Everything of ``D a`` up to its last convolution: the parts of that convolution's input channels.

    ``D a = conv2d(cat(parts), filters.last, padding=k // 2)`` (then the 1x1 ``filters.out`` when it
    is not folded). Returning the parts lets callers concatenate the inputs of several dictionaries
    once and apply their (summed) last convolutions as one convolution.
    """
    pad = filters.bottleneck.shape[-1] // 2
    if not filters.fuse:
        return [codes[0]]
    t = F.conv2d(codes[0], filters.bottleneck, padding=pad)
    for s in range(1, len(codes)):
        skip = codes[s]
        if t.is_contiguous() or not t.is_contiguous(memory_format=torch.channels_last):
            t = F.pixel_shuffle(F.conv2d(t, filters.up_shuffle[s - 1]), 2)
        else:
            t = F.conv_transpose2d(t, filters.up[s - 1], stride=2)
        if t.shape[-2:] != skip.shape[-2:]:
            t = F.pad(t, (0, skip.shape[-1] - t.shape[-1], 0, skip.shape[-2] - t.shape[-2]))
        if s < len(codes) - 1:
            t = F.conv2d(torch.cat([skip, t], dim=1), filters.fuse[s - 1], padding=pad)
    return [codes[-1], t]


def analyse(t: torch.Tensor, filters: AnalysisFilters) -> list[torch.Tensor]:
    """``D^T`` after its first 1x1 step: codes, coarse to fine, from ``t = out^T v`` (``[B, w_{S-1}, H, W]``).

    Per level the skip code is one convolution of ``t`` and the map passed to the coarser level one
    strided convolution (transposed fuse convolution and Conv2x2 composed), so no ``2 w_s``-channel
    intermediate is formed.
    """
    pad = filters.bottleneck_t.shape[-1] // 2
    codes = []
    for skip, down in zip(filters.skip, filters.down):
        codes.append(F.conv2d(t, skip, padding=pad))
        t = F.conv2d(t, down, stride=2, padding=pad)
    codes.append(F.conv2d(t, filters.bottleneck_t, padding=pad))
    return codes[::-1]


class MultiScaleDictionary(nn.Module):
    """Synthesis dictionary ``D`` mapping multi-scale codes to an ``n_out``-channel feature map.

    With ``widths = [w_0, ..., w_{S-1}]`` (coarse to fine) and codes ``a_s`` of ``w_s`` channels at
    ``1 / 2^(S-1-s)`` of the output size::

        t = Conv3x3(w_0 -> w_0)(a_0)
        t = Conv3x3(2 w_s -> w_s)( cat[a_s, ConvT2x2,s2(w_{s-1} -> w_s)(t)] )   for s = 1 .. S-1
        D a = Conv1x1(w_{S-1} -> n_out)(t)

    No biases anywhere. The adjoint ``D^T`` applies ConvT1x1, then per level ConvT3x3, splits the
    channels into the skip code and the rest, and sends the rest through Conv2x2 stride 2 (the
    adjoint of the up-sampler); last a ConvT3x3 on the bottleneck. Both directions use
    ``F.conv2d`` / ``F.conv_transpose2d`` on this module's own weights, so ``<D a, v> = <a, D^T v>``
    holds to float precision, for any output size.

    Sizes that are not multiples of ``2^(S-1)``: the code of scale ``s - 1`` has size
    ``floor(h_s / 2)``; in the synthesis the up-sampled map (size ``2 floor(h_s / 2)``) is zero
    padded at the bottom / right to ``h_s`` (as in the release, whose centred pad puts the single
    extra row there), and the strided Conv2x2 of the adjoint drops that row. Use
    :meth:`code_shapes` to get consistent code sizes.

    The paper's default ``widths=(128, 96, 64)`` gives 464,896 parameters with ``n_out=64`` and
    460,928 with ``n_out=2``. The release derives the up-sampler width as ``w_{s-1} - 32``, which
    equals ``w_s`` for the paper's widths; here it is ``w_s`` for any widths.

    Args:
        widths: code channels per scale, coarse to fine.
        n_out: channels of the synthesised feature map.
        kernel_size: odd kernel size of the 3x3 convolutions.

    Example::

        d = MultiScaleDictionary((128, 96, 64), n_out=64)
        codes = d.adjoint(torch.randn(1, 64, 240, 240))   # [1,128,60,60], [1,96,120,120], [1,64,240,240]
        image = d(codes)                                  # [1, 64, 240, 240]
    """

    def __init__(self, widths: Sequence[int] = (128, 96, 64), n_out: int = 64, kernel_size: int = 3) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty sequence of positive channel counts, got {widths=}.")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so that convolutions keep the size, got {kernel_size=}.")
        self.widths = widths
        self.n_out = int(n_out)
        self.kernel_size = int(kernel_size)
        self.bottleneck = nn.Conv2d(widths[0], widths[0], kernel_size, padding=kernel_size // 2, bias=False)
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(w_prev, w, kernel_size=2, stride=2, bias=False) for w_prev, w in zip(widths, widths[1:])
        )
        self.fuse = nn.ModuleList(
            nn.Conv2d(2 * w, w, kernel_size, padding=kernel_size // 2, bias=False) for w in widths[1:]
        )
        self.out = nn.Conv2d(widths[-1], self.n_out, kernel_size=1, bias=False)

    @property
    def num_scales(self) -> int:
        return len(self.widths)

    def reset_parameters(self) -> None:
        """Kaiming-uniform initialisation of every atom (``fan_in``, linear gain), as in the release."""
        for weight in self.parameters():
            nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="linear")

    def code_shapes(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """Shapes ``(channels, h, w)`` of the codes, coarse to fine, for an output of ``height x width``."""
        shapes = []
        for s, w_s in enumerate(self.widths):
            factor = 2 ** (self.num_scales - 1 - s)
            shapes.append((w_s, height // factor, width // factor))
        return shapes

    def synthesis_filters(self, fold_out: bool = True) -> SynthesisFilters:
        """The weights of :meth:`forward` rearranged for a faster, numerically equivalent synthesis.

        Computed from the parameters (differentiable), so a caller applying a dictionary many times
        in one pass (an unrolled network) prepares them once. The stride-2 ConvT2x2 is also given as
        a 1x1 convolution and ``pixel_shuffle`` (the same products, one GEMM); with ``fold_out`` the 1x1
        output convolution is composed into the last 3x3 convolution (no separate ``n_out``-channel
        pass).
        """
        up = [u.weight for u in self.up]
        up_shuffle = [u.weight.permute(1, 2, 3, 0).reshape(-1, u.weight.shape[0], 1, 1) for u in self.up]
        fuse = [f.weight for f in self.fuse]
        bottleneck = self.bottleneck.weight
        out: torch.Tensor | None = self.out.weight
        if fold_out:
            if fuse:
                fuse[-1] = _compose_1x1(self.out.weight, fuse[-1])
            else:
                bottleneck = _compose_1x1(self.out.weight, bottleneck)
            out = None
        return SynthesisFilters(bottleneck, up, up_shuffle, fuse, out)

    def analysis_filters(self) -> AnalysisFilters:
        """The weights of :meth:`adjoint` rearranged for a faster, numerically equivalent analysis.

        Transposed convolutions become convolutions with flipped kernels; per level the transposed
        fuse convolution is split into its skip rows and the rest, and the rest is composed with the
        stride-2 Conv2x2 into one ``(k + 1) x (k + 1)`` stride-2 convolution (fewer products than
        both, and no ``2 w_s``-channel map). See :func:`analyse`.
        """
        k = self.kernel_size
        skips, downs = [], []
        for s in range(self.num_scales - 1, 0, -1):
            w_s = self.widths[s]
            fuse_t = _conv_transpose_as_conv(self.fuse[s - 1].weight)  # [2 w_s, w_s, k, k]
            skip, rest = fuse_t[:w_s], fuse_t[w_s:]
            up = self.up[s - 1].weight  # as a conv2d weight: [w_{s-1}, w_s, 2, 2]
            down = rest.new_zeros(up.shape[0], w_s, k + 1, k + 1)
            for a in range(2):
                for b in range(2):
                    down[:, :, a : a + k, b : b + k] += torch.einsum("om,mikl->oikl", up[:, :, a, b], rest)
            skips.append(skip)
            downs.append(down)
        return AnalysisFilters(
            self.out.weight.transpose(0, 1), skips, downs, _conv_transpose_as_conv(self.bottleneck.weight)
        )

    def _check_codes(self, codes: Sequence[torch.Tensor]) -> None:
        if len(codes) != self.num_scales:
            raise ValueError(f"Expected {self.num_scales} codes (coarse to fine), got {len(codes)}.")
        expected = self.code_shapes(codes[-1].shape[-2], codes[-1].shape[-1])
        got = [tuple(c.shape[1:]) for c in codes]
        if got != expected:
            raise ValueError(
                f"Code shapes {got} do not match the finest code; expected {expected} "
                "(channels = widths, each coarser size the floor of half the finer one, see code_shapes())."
            )

    def forward(self, codes: Sequence[torch.Tensor], filters: SynthesisFilters | None = None) -> torch.Tensor:
        """Synthesis ``D a``.

        Args:
            codes: ``[B, w_s, h_s, w_s]`` tensors, coarse to fine, with the sizes of :meth:`code_shapes`.
            filters: :meth:`synthesis_filters` of this module, prepared once by a caller that applies it
                repeatedly: the faster path, equal up to float rounding. ``None``: the straightforward
                transcription below.

        Returns:
            ``[B, n_out, H, W]`` with ``H, W`` the size of the finest code.
        """
        self._check_codes(codes)
        if filters is not None:
            out = F.conv2d(torch.cat(synthesis_features(codes, filters), dim=1), filters.last, padding=self.kernel_size // 2)
            return out if filters.out is None else F.conv2d(out, filters.out)
        pad = self.kernel_size // 2
        t = F.conv2d(codes[0], self.bottleneck.weight, padding=pad)
        for s in range(1, self.num_scales):
            skip = codes[s]
            t = F.conv_transpose2d(t, self.up[s - 1].weight, stride=2)
            t = F.pad(t, (0, skip.shape[-1] - t.shape[-1], 0, skip.shape[-2] - t.shape[-2]))
            t = F.conv2d(torch.cat([skip, t], dim=1), self.fuse[s - 1].weight, padding=pad)
        return F.conv2d(t, self.out.weight)

    def adjoint(self, v: torch.Tensor, filters: AnalysisFilters | None = None) -> list[torch.Tensor]:
        """Analysis ``D^T v``, the exact adjoint of :meth:`forward`.

        Args:
            v: ``[B, n_out, H, W]``.
            filters: :meth:`analysis_filters` of this module for the faster path (equal up to float
                rounding); ``None``: the straightforward transcription below.

        Returns:
            codes ``[B, w_s, h_s, w_s]``, coarse to fine, with the sizes of :meth:`code_shapes`.
        """
        if v.ndim != 4 or v.shape[1] != self.n_out:
            raise ValueError(f"Expected v of shape [B, {self.n_out}, H, W], got {tuple(v.shape)}.")
        if filters is not None:
            return analyse(F.conv2d(v, filters.out_t), filters)
        pad = self.kernel_size // 2
        t = F.conv_transpose2d(v, self.out.weight)
        codes = []
        for s in range(self.num_scales - 1, 0, -1):
            t = F.conv_transpose2d(t, self.fuse[s - 1].weight, padding=pad)
            skip, rest = t.split(self.widths[s], dim=1)
            codes.append(skip)
            t = F.conv2d(rest, self.up[s - 1].weight, stride=2)
        codes.append(F.conv_transpose2d(t, self.bottleneck.weight, padding=pad))
        return codes[::-1]

    def normal(self, codes: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``D^T D a``."""
        return self.adjoint(self.forward(codes))


@torch.no_grad()
def power_iteration(
    dictionary: MultiScaleDictionary,
    spatial_size: tuple[int, int] = (64, 64),
    num_iterations: int = 20,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Estimate the largest eigenvalue ``L`` of ``D^T D`` by power iteration.

    As in the release: codes drawn uniformly from ``[0, 1)`` for an output of ``spatial_size``,
    ``num_iterations`` steps ``a <- D^T D a / ||D^T D a||``, then the Rayleigh quotient
    ``L = <a, D^T D a> / <a, a>``. ``1 / L`` is the ISTA step size that makes the gradient step on
    ``||D a - v||^2 / 2`` non-expansive.

    Args:
        dictionary: the operator ``D``.
        spatial_size: ``(H, W)`` of the synthesised map the codes are sized for.
        num_iterations: power-iteration steps (>= 0).
        generator: optional random generator for the starting codes.

    Returns:
        a 0-d tensor on the dictionary's device and dtype.
    """
    if num_iterations < 0:
        raise ValueError(f"num_iterations must be >= 0, got {num_iterations=}.")
    weight = dictionary.out.weight
    codes = [
        torch.rand((1, *shape), generator=generator, dtype=weight.dtype, device="cpu").to(weight.device)
        for shape in dictionary.code_shapes(*spatial_size)
    ]
    for _ in range(num_iterations):
        codes = dictionary.normal(codes)
        norm = torch.sqrt(sum((c * c).sum() for c in codes))
        codes = [c / norm for c in codes]
    image = dictionary.normal(codes)
    numerator = sum((a * b).sum() for a, b in zip(codes, image))
    denominator = sum((a * a).sum() for a in codes)
    return numerator / denominator
