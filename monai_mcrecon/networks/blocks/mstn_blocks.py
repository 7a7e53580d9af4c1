"""Building blocks of MSTN (Yi et al., IEEE TMM 2022), faithful to the authors' release.

See docs/models/mstn.md, 'Architecture'. Module and parameter names follow the release
(``models/net.py`` at commit 76ed889: ``conv2d``, ``conv1``/``conv2``, ``downsample``/``middle``/
``upsample``/``sk``) so that its state dicts load into :class:`monai_mcrecon.networks.nets.mstn.MSTN`.
All convolutions have biases and use reflection padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.blocks.selective_kernel import SelectiveKernelFusion

__all__ = ["MSTNConvLayer", "MSTNFusion", "MSTNUpsample", "MSRB"]


class MSTNConvLayer(nn.Module):
    """``ReLU(Conv_k,stride(reflect_pad_{k//2}(x)))`` (the release's ``ConvLayer``; its batch norm option is off).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size ``k``.
        stride: convolution stride (2 halves the size: ``ceil(H / 2)``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect")))


class MSTNUpsample(nn.Module):
    """``ReLU(ConvTranspose_k,stride(reflect_pad_{k//2}(x)))`` (the release's ``Upsample``).

    For ``k = 3``, stride 2 and an ``h``-row input the output has ``2h + 5`` rows; the fusion node
    resizes it bilinearly to the target size (so the resize is never an identity).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect")))


class MSRB(nn.Module):
    """MSTN residual block: ``ReLU(x + Conv3(ReLU(Conv3(x))))``, each conv after reflection pad 1, with bias.

    Args:
        channels: channels ``C`` (input = output).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3)
        self.conv2 = nn.Conv2d(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(F.pad(x, [1] * 4, mode="reflect")))
        out = self.conv2(F.pad(out, [1] * 4, mode="reflect"))
        return F.relu(out + x)


class MSTNFusion(nn.Module):
    """Fusion node (MFFM, inferred mapping) of a scale ``x_i`` (``C`` channels) with the next coarser ``x_{i+1}`` (``2C``).

    ```
    a = ConvLayer(C -> 2C, 3, stride 2)(x_i)
    m = ConvLayer(2C -> 2C, 3, stride 1)(SK(a, x_{i+1}))
    u = ReLU(ConvTranspose2d(2C -> C, 3, stride 2)(reflect_pad_1(m)))
    u = bilinear_resize(u, size(x_i), align_corners=False)
    return x_i + u
    ```

    ``SK`` is :class:`~monai_mcrecon.networks.blocks.selective_kernel.SelectiveKernelFusion` on
    ``2C`` channels with ``d = max(C, 64)``.

    Args:
        channels: channels ``C`` of the finer input ``x_i``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.downsample = MSTNConvLayer(channels, 2 * channels, 3, stride=2)
        self.middle = MSTNConvLayer(2 * channels, 2 * channels, 3, stride=1)
        self.upsample = MSTNUpsample(2 * channels, channels, 3, stride=2)
        self.sk = SelectiveKernelFusion(2 * channels, reduction=2, min_features=64)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fuse ``x [B, C, H, W]`` with ``y [B, 2C, ceil(H/2), ceil(W/2)]``; returns ``[B, C, H, W]``."""
        a = self.downsample(x)
        if a.shape != y.shape:
            raise ValueError(
                f"MSTNFusion expects the coarser input with shape {tuple(a.shape)} (2C channels, ceil(H/2), "
                f"ceil(W/2)), got {tuple(y.shape)}."
            )
        u = self.upsample(self.middle(self.sk(a, y)))
        u = F.interpolate(u, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x + u
