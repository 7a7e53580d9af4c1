"""Residual channel attention blocks (RCAN, Zhang et al., ECCV 2018).

Channel attention is MONAI's :class:`~monai.networks.blocks.ChannelSELayer`: its two ``Linear``
layers with biases on the pooled vector have exactly the parameters (and the function) of RCAN's
``Conv1x1(C -> C/r) -> ReLU -> Conv1x1(C/r -> C)`` with biases on a 1x1 map, so parameter counts
of RCAN-style models (e.g. MC-CDic's 1,439,086 per proximal network) are kept.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import ChannelSELayer
from torch import nn

__all__ = ["ChannelAttention", "RCAB", "ResidualGroup"]


class ChannelAttention(ChannelSELayer):
    """RCAN channel attention: ``x * Sigmoid(W_2 ReLU(W_1 GAP(x) + b_1) + b_2)``.

    Args:
        channels: input channels ``C``.
        reduction: reduction ratio ``r``; the hidden width is ``C // r``. For ``C < r`` (tiny
            presets) the hidden width is 1 instead of RCAN's 0, which would not build.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction=}.")
        super().__init__(spatial_dims=2, in_channels=channels, r=min(reduction, channels))


class RCAB(nn.Module):
    """Residual channel attention block: ``x + CA(Conv3x3(ReLU(Conv3x3(x))))``, convolutions with bias.

    Args:
        channels: feature channels ``C`` (input = output).
        reduction: channel-attention reduction ratio.
        kernel_size: odd kernel size of the two convolutions.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size, padding=pad),
            ChannelAttention(channels, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """``num_blocks`` RCABs followed by a Conv3x3 (with bias), *without* RCAN's group-level skip.

    This is the residual group of the MC-CDic release (its ``res += x`` is commented out): the
    group output is the last convolution's output, not ``x`` plus it.

    Args:
        channels: feature channels ``C``.
        num_blocks: number of RCABs (>= 0).
        reduction: channel-attention reduction ratio.
        kernel_size: odd kernel size.
    """

    def __init__(self, channels: int, num_blocks: int, reduction: int = 16, kernel_size: int = 3) -> None:
        super().__init__()
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0, got {num_blocks=}.")
        blocks: list[nn.Module] = [RCAB(channels, reduction, kernel_size) for _ in range(num_blocks)]
        blocks.append(nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
