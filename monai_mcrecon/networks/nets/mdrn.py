"""MDRN (reconstructed from the abstract): Multiple Degradation and Reconstruction Network for denoising.

Paper: J. Li, H. Yang, Q. Yi, F. Fang, G. Gao, T. Zeng, G. Zhang, "Multiple Degradation and
Reconstruction Network for Single Image Denoising via Knowledge Distillation", CVPR Workshops
(NTIRE) 2022, pp. 558-567, arXiv:2204.13873. Authors' code: none public.

Fidelity: **inferred; the paper text was not available** (see ``docs/models/mdrn.md``). The
abstract states a lightweight network that removes noise progressively through repeated degradation
and reconstruction, trained with two heterogeneous knowledge-distillation strategies (HMDS). Every
module, width, depth and loss weight here is the project's reconstruction (docs/models/mdrn.md,
'Architecture' and 'HMDS distillation'):

- head ``Conv3x3(C -> c)``, ``n_blocks`` MDR blocks (:class:`MDRBlock`, below), all-block fusion
  ``Conv1x1(n_blocks * c -> c)``, tail ``Conv3x3(c -> C)`` and a global residual (the tail predicts
  minus the noise);
- HMDS: :class:`monai_mcrecon.losses.distillation.HeterogeneousKDLoss` (output and cross-architecture
  feature distillation from frozen teachers), trained by
  :class:`monai_mcrecon.engines.distillation.DistillationTrainer`.

Project choices (docs/models/mdrn.md, 'Project choices'): any H, W is accepted (the input is reflect-padded
to a multiple of ``2**levels`` and the output and features are cropped back; the blocks need such sizes), and
``out_channels`` may differ from ``in_channels`` (the global residual then needs ``residual="image"``).

The *Multiple Degradation and Reconstruction* (MDR) block is the project's reconstruction of the block named
in the abstract (the model's private block, so it lives in this file; ``networks/blocks`` holds only blocks
that two or more networks use): the feature map is degraded to a lower resolution (where noise is averaged
out), processed there, reconstructed by sub-pixel up-sampling and fused with the block input. Sizes, the
up-sampler and the fusion are project choices.

:class:`DnCNN` (a plain Conv-ReLU stack, Zhang et al. 2017 style, without batch normalisation) is the
project's default HMDS teacher (docs/models/mdrn.md, 'Presets'; ``small``: 8 layers, 32 channels); it returns its
intermediate features in the same ``(output, [features])`` protocol.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from monai.networks.blocks import ChannelSELayer
from torch import nn

from monai_mcrecon.networks.presets import PresetMixin

__all__ = ["MDRN", "DnCNN", "MDRBlock"]

_RESIDUAL = ("noise", "image")
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


def _check_input(name: str, x: torch.Tensor, channels: int) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(
            f"{name} expects a noisy image of shape [B, {channels}, H, W] (values in [0, 1]), got "
            f"{tuple(x.shape)}; build the network with in_channels={x.shape[1] if x.ndim == 4 else '?'} "
            "or convert the image (gray <-> RGB)."
        )


class MDRN(PresetMixin, nn.Module):
    """MDRN denoiser (inferred; the paper text was not available, see ``docs/models/mdrn.md``).

    ::

        F0   = Conv3(C -> c)(y)
        F_b  = MDR_b(F_{b-1}),  b = 1..n_blocks
        Ffus = Conv1x1(n_blocks * c -> c)(cat(F_1, ..., F_n))
        out  = y + Conv3(c -> C)(Ffus)            # residual="noise" (default)
        out  =     Conv3(c -> C)(Ffus)            # residual="image"

    Args:
        in_channels: image channels ``C`` (1 gray / MRI magnitude, 3 RGB); values in [0, 1].
        out_channels: output channels (default ``in_channels``).
        spatial_dims: only 2 is supported (MONAI-style argument).
        features: feature width ``c`` (default 32).
        num_blocks: number of MDR blocks (default 4).
        levels: x2 degradation levels inside each block (1 or 2).
        attention: channel attention (``ChannelSELayer``, r = 4) at the end of each block.
        downsample: ``"conv"`` (strided Conv3x3) or ``"unshuffle"``.
        residual: ``"noise"`` adds the tail output to the input (global residual), ``"image"`` uses it directly.
        zero_init_tail: zero the tail conv so that a fresh network is the identity (with ``residual="noise"``).

    ``forward(y)`` returns the denoised image ``[B, out_channels, H, W]`` (not clamped);
    ``forward(y, return_features=True)`` returns ``(image, [F_1, ..., F_n])`` with every block feature
    ``[B, c, H, W]`` (for feature distillation).

    Examples::

        net = MDRN.from_preset("small")                 # C = 1, c = 32, 4 blocks
        denoised = net(noisy)                           # [B, 1, H, W], any H, W
        denoised, feats = net(noisy, return_features=True)
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "paper": {},
        "small": {"in_channels": 1, "features": 32, "num_blocks": 4},
        "tiny": {"features": 8, "num_blocks": 2},
    }

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = None,
        spatial_dims: int = 2,
        features: int = 32,
        num_blocks: int = 4,
        levels: int = 1,
        attention: bool = False,
        downsample: str = "conv",
        residual: str = "noise",
        zero_init_tail: bool = False,
    ) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"MDRN is 2-D only, got {spatial_dims=}; denoise 3-D volumes slice by slice.")
        if residual not in _RESIDUAL:
            raise ValueError(f"Unknown residual {residual!r}; choose one of {_RESIDUAL}.")
        out_channels = in_channels if out_channels is None else out_channels
        if residual == "noise" and out_channels != in_channels:
            raise ValueError(
                f"residual='noise' adds the output to the input, so out_channels ({out_channels}) must equal "
                f"in_channels ({in_channels}); use residual='image' for a channel change."
            )
        if num_blocks < 1 or features < 1:
            raise ValueError(f"features and num_blocks must be >= 1, got {features=}, {num_blocks=}.")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.features, self.num_blocks, self.levels, self.residual = int(features), int(num_blocks), int(levels), residual
        self.head = nn.Conv2d(in_channels, features, 3, padding=1)
        self.blocks = nn.ModuleList(
            MDRBlock(features, levels=levels, attention=attention, downsample=downsample) for _ in range(num_blocks)
        )
        self.fusion = nn.Conv2d(num_blocks * features, features, 1)
        self.tail = nn.Conv2d(features, out_channels, 3, padding=1)
        if zero_init_tail:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(
        self, y: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Denoise ``y [B, in_channels, H, W]``; see the class docstring for the returns.

        Raises:
            ValueError: when ``y`` is not ``[B, in_channels, H, W]``.
        """
        _check_input("MDRN", y, self.in_channels)
        h, w = y.shape[-2:]
        m = 2**self.levels
        pad_h, pad_w = (-h) % m, (-w) % m
        # reflect padding needs pad < size; replicate covers 1-pixel inputs
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(y, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else y
        f = self.head(x)
        feats = []
        for block in self.blocks:
            f = block(f)
            feats.append(f)
        out = self.tail(self.fusion(torch.cat(feats, dim=1)))
        if self.residual == "noise":
            out = x + out
        out = out[..., :h, :w]
        if not return_features:
            return out
        return out, [ft[..., :h, :w] for ft in feats]


class DnCNN(PresetMixin, nn.Module):
    """DnCNN-like residual denoiser (Conv-ReLU stack, no batch norm), the default HMDS teacher.

    ``out = y + Conv3(ReLU(Conv3( ... ReLU(Conv3(y)))))`` with ``num_layers`` convolutions of width
    ``features``. ``forward(y, return_features=True)`` returns ``(image, [features])`` with the
    activations after the layers listed in ``feature_layers`` (1-based), each ``[B, features, H, W]``.

    Args:
        in_channels: image channels (1 or 3).
        features: width (``small`` teacher: 32; ``large``, the teacher the ``mdrn_denoise`` bundle
            ships results for: 64 channels, 10 layers, 297k parameters, more than MDRN ``small``).
        num_layers: number of convolutions, >= 2 (``small`` teacher: 8).
        feature_layers: layers whose activations are returned as features (default: the middle and the
            second-to-last hidden layer).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "small": {"in_channels": 1, "features": 32, "num_layers": 8},
        "large": {"in_channels": 1, "features": 64, "num_layers": 10},
        "tiny": {"features": 8, "num_layers": 3},
    }

    def __init__(
        self, in_channels: int = 3, features: int = 32, num_layers: int = 8, feature_layers: tuple[int, ...] | None = None
    ) -> None:
        super().__init__()
        if num_layers < 2:
            raise ValueError(f"DnCNN needs num_layers >= 2, got {num_layers=}.")
        self.in_channels, self.features = int(in_channels), int(features)
        hidden = num_layers - 1
        self.feature_layers = tuple(feature_layers) if feature_layers is not None else tuple(
            sorted({max(1, hidden // 2), hidden})
        )
        if any(not 1 <= k <= hidden for k in self.feature_layers):
            raise ValueError(f"feature_layers must lie in 1..{hidden} (hidden layers), got {self.feature_layers}.")
        layers = [nn.Conv2d(in_channels, features, 3, padding=1)]
        layers += [nn.Conv2d(features, features, 3, padding=1) for _ in range(num_layers - 2)]
        self.hidden = nn.ModuleList(layers)
        self.tail = nn.Conv2d(features, in_channels, 3, padding=1)

    def forward(
        self, y: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        _check_input("DnCNN", y, self.in_channels)
        f = y
        feats = []
        for k, conv in enumerate(self.hidden, start=1):
            f = F.relu(conv(f))
            if k in self.feature_layers:
                feats.append(f)
        out = y + self.tail(f)
        return (out, feats) if return_features else out
