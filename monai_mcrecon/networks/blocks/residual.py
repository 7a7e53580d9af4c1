"""Global residual wrapper: turn any image-to-image network into one that predicts a correction."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GlobalResidual"]


class GlobalResidual(nn.Module):
    """``y = net(x) + x[:, input_channels]``: the wrapped network learns the correction of the degraded
    input (channels ``input_channels`` of ``x``, by default the first ``out`` channels), the usual
    form of reconstruction baselines. Used for the residual MONAI ``BasicUNet`` baseline."""

    def __init__(self, net: nn.Module, input_channels: int | slice = 0) -> None:
        super().__init__()
        self.net = net
        self.input_channels = input_channels if isinstance(input_channels, slice) else slice(input_channels, input_channels + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        skip = x[:, self.input_channels]
        if skip.shape != out.shape:
            raise ValueError(f"Residual input {tuple(skip.shape)} and network output {tuple(out.shape)} differ.")
        return out + skip
