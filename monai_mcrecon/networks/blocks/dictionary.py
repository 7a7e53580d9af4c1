"""Multi-scale convolutional dictionary (synthesis operator) with its exact adjoint.

The dictionary is the U-Net-decoder-shaped linear operator of MC-CDic (Lei et al., IJCAI 2023),
which the authors took from the MUSC / ISTA-U-Net code: sparse codes at ``S`` scales, coarse to
fine, are synthesised into one image-sized feature map. Every operation is a bias-free convolution,
so the operator is linear and its adjoint is the same convolutions transposed, in reverse order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MultiScaleDictionary", "power_iteration"]


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

    def forward(self, codes: Sequence[torch.Tensor]) -> torch.Tensor:
        """Synthesis ``D a``.

        Args:
            codes: ``[B, w_s, h_s, w_s]`` tensors, coarse to fine, with the sizes of :meth:`code_shapes`.

        Returns:
            ``[B, n_out, H, W]`` with ``H, W`` the size of the finest code.
        """
        self._check_codes(codes)
        pad = self.kernel_size // 2
        t = F.conv2d(codes[0], self.bottleneck.weight, padding=pad)
        for s in range(1, self.num_scales):
            skip = codes[s]
            t = F.conv_transpose2d(t, self.up[s - 1].weight, stride=2)
            t = F.pad(t, (0, skip.shape[-1] - t.shape[-1], 0, skip.shape[-2] - t.shape[-2]))
            t = F.conv2d(torch.cat([skip, t], dim=1), self.fuse[s - 1].weight, padding=pad)
        return F.conv2d(t, self.out.weight)

    def adjoint(self, v: torch.Tensor) -> list[torch.Tensor]:
        """Analysis ``D^T v``, the exact adjoint of :meth:`forward`.

        Args:
            v: ``[B, n_out, H, W]``.

        Returns:
            codes ``[B, w_s, h_s, w_s]``, coarse to fine, with the sizes of :meth:`code_shapes`.
        """
        if v.ndim != 4 or v.shape[1] != self.n_out:
            raise ValueError(f"Expected v of shape [B, {self.n_out}, H, W], got {tuple(v.shape)}.")
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
