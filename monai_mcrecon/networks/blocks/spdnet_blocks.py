"""Building blocks of SPDNet (Yi et al., ICCV 2021), faithful to the authors' release.

See docs/models/spdnet.md, 'Architecture'. Module and attribute names follow the release
(``src/model/spdnet.py`` of https://github.com/Joyies/SPDNet, commit c03b8d3) so that, with
``release_compatible=True``, a release state dict has the same keys.

- :func:`residue_channel` -- the residue channel prior ``r(I) = max_c I - min_c I``;
- :class:`ConvUnit` (release ``convd``) -- reflection pad, conv (bias), ReLU;
- :class:`SqueezeExcitation` (release ``common.SELayer(n, 1)``) -- SE of reduction 1 **without biases**
  (MONAI's ``ChannelSELayer`` has biases, so the parameter count would not match);
- :class:`ResidualBlock` (``RB``), :class:`ResidualInResidual` (``RIR``);
- :class:`InteractiveFusion` (``Prior_Sp``) -- the attention half of the IFM; the IFM of the paper is
  ``ConvUnit(2n -> n)(cat(InteractiveFusion(x, r)))``, the conv unit being the WMLM's ``fuse_res``;
- :class:`TransposedUpsample` (``Upsample``) and :class:`Fuse` (``Fuse``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvUnit",
    "Fuse",
    "InteractiveFusion",
    "ResidualBlock",
    "ResidualInResidual",
    "SqueezeExcitation",
    "TransposedUpsample",
    "residue_channel",
]


def residue_channel(x: torch.Tensor) -> torch.Tensor:
    """Residue channel prior ``r(I) = max_c I - min_c I`` per pixel, ``[B, C, H, W] -> [B, 1, H, W]``.

    Rain streaks are achromatic (white), so they cancel in ``r`` while coloured scene structure
    remains. ``r >= 0``, ``r(I + c) = r(I)``, ``r(a I) = a r(I)`` for ``a > 0``, zero for a grey image;
    it is differentiable (not detached), so iterative guidance back-propagates through it. For a
    single-channel image ``r`` is identically zero.
    """
    return x.amax(dim=1, keepdim=True) - x.amin(dim=1, keepdim=True)


class ConvUnit(nn.Module):
    """``ReLU(Conv_kxk(ReflectionPad(x)))`` with bias (release ``convd``).

    Args:
        in_channels, out_channels, kernel_size, stride: of the convolution.
        release_compatible: also create the affine ``InstanceNorm2d`` of the release (``ins``), which
            the release never applies (state-dict compatibility only; it is unused here too).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, release_compatible: bool = False
    ) -> None:
        super().__init__()
        self.padding = nn.ReflectionPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)
        self.relu = nn.ReLU()
        if release_compatible:
            self.ins = nn.InstanceNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(self.padding(x)))


class SqueezeExcitation(nn.Module):
    """``x * sigmoid(W2 ReLU(W1 avgpool(x)))`` with bias-free ``W1, W2`` of size ``n x n`` (2 n^2 parameters)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels, bias=False),
            nn.ReLU(),
            nn.Linear(channels, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x * self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)


class ResidualBlock(nn.Module):
    """``RB(x) = x + SE(ReLU(Conv3(ReLU(Conv3(x)))))`` (zero-padded convs with bias, no activation after the sum)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.module_body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.ReLU(),
        )
        self.se = SqueezeExcitation(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.se(self.module_body(x))


class ResidualInResidual(nn.Module):
    """``RIR(x) = ReLU(x + Conv3(RB_b(... RB_1(x))))``."""

    def __init__(self, channels: int, num_blocks: int) -> None:
        super().__init__()
        self.module_body = nn.Sequential(
            *(ResidualBlock(channels) for _ in range(num_blocks)), nn.Conv2d(channels, channels, 3, 1, 1)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.module_body(x))


class InteractiveFusion(nn.Module):
    """Attention half of the Interactive Fusion Module (release ``Prior_Sp``, width ``n``, hard-coded 32 there).

    ::

        A   = sigmoid(Conv3(x) * Conv3(r));  x_a = x * A;  r_a = r * A
        gx  = Conv3(2n -> 2)(cat(x, x_a));   x' = x * gx[0] + x_a * gx[1]
        gr  = Conv3(2n -> 2)(cat(r, r_a));   r' = r * gr[0] + r_a * gr[1]

    Returns ``(x', r')``; the WMLM fuses them with a conv unit ``CU(2n -> n)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query_conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.key_conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.gamma1 = nn.Conv2d(2 * channels, 2, 3, 1, 1)
        self.gamma2 = nn.Conv2d(2 * channels, 2, 3, 1, 1)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attention = torch.sigmoid(self.query_conv(x) * self.key_conv(prior))
        x_a = x * attention
        p_a = prior * attention
        gx = self.gamma1(torch.cat((x, x_a), dim=1))
        gp = self.gamma2(torch.cat((prior, p_a), dim=1))
        return x * gx[:, 0:1] + x_a * gx[:, 1:2], prior * gp[:, 0:1] + p_a * gp[:, 1:2]


class TransposedUpsample(nn.Module):
    """``ReLU(ConvTranspose2d(k, stride s)(ReflectionPad(k // 2)(u)))`` (size ``2h + 5`` for k = 3, s = 2), then a
    nearest-neighbour resize to the size of ``like`` (release ``Upsample``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride)
        self.relu = nn.ReLU()

    def forward(self, u: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.relu(self.conv2d(self.reflection_pad(u))), like.shape[2:], mode="nearest")


class Fuse(nn.Module):
    """``Fuse(u, skip) = ReLU(RB(Upsample(u, skip) + skip))``; returns the skip's shape.

    ``release_compatible`` also creates the release's unused conv unit ``conv``.
    """

    def __init__(self, channels: int, release_compatible: bool = False) -> None:
        super().__init__()
        self.up = TransposedUpsample(channels, channels, 3, 2)
        if release_compatible:
            self.conv = ConvUnit(channels, channels, 3, 1, release_compatible=True)
        self.rb = ResidualBlock(channels)
        self.relu = nn.ReLU()

    def forward(self, u: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.relu(self.rb(self.up(u, skip) + skip))
