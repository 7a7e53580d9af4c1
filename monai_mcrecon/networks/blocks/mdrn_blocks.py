"""Blocks of MDRN (inferred; the paper text was not available, see docs/models/mdrn.md, 'Architecture').

The *Multiple Degradation and Reconstruction* (MDR) block below is the project's reconstruction of
the block named in the abstract of Li et al., "Multiple Degradation and Reconstruction Network for
Single Image Denoising via Knowledge Distillation" (CVPRW 2022): the feature map is degraded to a
lower resolution (where noise is averaged out), processed there, reconstructed by sub-pixel
up-sampling and fused with the block input. Sizes, the up-sampler and the fusion are project choices.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import ChannelSELayer
from torch import nn

__all__ = ["MDRBlock"]

_DOWNSAMPLE = ("conv", "unshuffle")


class _Degrade(nn.Module):
    """Halve the resolution: ``ReLU(Conv3x3 stride 2)`` or ``ReLU(Conv1x1(PixelUnshuffle(2)))``."""

    def __init__(self, channels: int, mode: str) -> None:
        super().__init__()
        if mode == "conv":
            self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        else:
            self.op = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4 * channels, channels, 1))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.op(x))


class _Process(nn.Module):
    """``Conv3x3(ReLU(Conv3x3(d)))`` at the degraded resolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Reconstruct(nn.Module):
    """Double the resolution: ``PixelShuffle(2)(Conv3x3(c -> 4c))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4 * channels, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class MDRBlock(nn.Module):
    """Multiple Degradation and Reconstruction block (inferred; the paper text was not available).

    ``levels=1`` (default, docs/models/mdrn.md, 'Architecture')::

        d   = ReLU(Conv3(c -> c, stride 2)(x))
        r   = Conv3(ReLU(Conv3(d)))
        u   = PixelShuffle(2)(Conv3(c -> 4c)(r))
        out = x + Conv1x1(2c -> c)(cat(x, u))

    ``levels=2`` degrades twice (to 1/4 resolution), processes there, and reconstructs twice; the
    first reconstruction is added to the 1/2-resolution features (skip) and processed before the
    second reconstruction. ``attention=True`` applies MONAI's ``ChannelSELayer`` (r = 4) to ``out``.

    Args:
        channels: feature width ``c``.
        levels: number of x2 degradation levels (1 or 2); H, W must be multiples of ``2**levels``.
        attention: channel attention on the block output.
        downsample: ``"conv"`` (strided Conv3x3) or ``"unshuffle"`` (PixelUnshuffle(2) + Conv1x1(4c -> c)).

    Raises:
        ValueError: for an unknown ``downsample`` mode or ``levels`` not in (1, 2).
    """

    def __init__(self, channels: int, levels: int = 1, attention: bool = False, downsample: str = "conv") -> None:
        super().__init__()
        if levels not in (1, 2):
            raise ValueError(f"MDRBlock supports levels 1 or 2, got {levels=}.")
        if downsample not in _DOWNSAMPLE:
            raise ValueError(f"Unknown downsample {downsample!r}; choose one of {_DOWNSAMPLE}.")
        self.levels = levels
        self.degrade = nn.ModuleList(_Degrade(channels, downsample) for _ in range(levels))
        self.process = nn.ModuleList(_Process(channels) for _ in range(levels))
        self.reconstruct = nn.ModuleList(_Reconstruct(channels) for _ in range(levels))
        self.fuse = nn.Conv2d(2 * channels, channels, 1)
        self.attention = ChannelSELayer(2, channels, r=4) if attention else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, c, H, W]`` -> ``[B, c, H, W]`` (H, W multiples of ``2**levels``)."""
        skips = []
        d = x
        for degrade in self.degrade:
            skips.append(d)
            d = degrade(d)
        # deepest level: process, then reconstruct upwards; intermediate levels add the skip and process again
        r = self.process[-1](d)
        for level in range(self.levels - 1, -1, -1):
            u = self.reconstruct[level](r)
            if level > 0:
                r = self.process[level - 1](u + skips[level])
        out = x + self.fuse(torch.cat([x, u], dim=1))
        return self.attention(out)
