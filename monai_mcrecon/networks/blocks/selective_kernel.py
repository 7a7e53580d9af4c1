"""Selective-kernel (SK) fusion of two feature maps (SKNet, Li et al., CVPR 2019; as released with MSTN).

The package's one home for SK fusion. Given two tensors ``a``, ``b`` with ``C`` channels, a
per-channel soft selection between them is computed from their global average:

```
U = a + b;  s = spatial_mean(U)                     # [B, C]
z = Linear(C -> d)(s),  d = max(C // reduction, min_features)
l_k = Linear_k(d -> C)(z),  k = 0, 1
(w_0, w_1) = softmax over k of (l_0, l_1)           # per channel, w_0 + w_1 = 1
SK(a, b) = w_0 * a + w_1 * b
```

As in the MSTN release (``SKConv`` with ``M=2, r=2, L=64`` on ``C = 2 * width`` channels), there is
no non-linearity (and no batch norm) after the squeeze layer ``z``; the original SKNet has
BN + ReLU there (docs/models/mstn.md, 'Selective-kernel fusion'). Parameter names (``fc``, ``fcs.0``,
``fcs.1``) follow the release, so its state dicts load.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SelectiveKernelFusion"]


class SelectiveKernelFusion(nn.Module):
    """Per-channel softmax selection between two same-shape feature maps (MSTN's AFSM).

    Args:
        channels: channels ``C`` of both inputs.
        reduction: squeeze ratio ``r`` (release: 2).
        min_features: lower bound ``L`` of the squeeze width (release: 64 in MSTN's fusion nodes).

    The squeeze width is ``d = max(C // reduction, min_features)``.

    Examples::

        sk = SelectiveKernelFusion(64)
        y = sk(a, b)                # [B, 64, H, W]
        w = sk.selection_weights(a, b)  # [B, 2, 64]; w.sum(1) == 1
    """

    def __init__(self, channels: int, reduction: int = 2, min_features: int = 64) -> None:
        super().__init__()
        if channels < 1 or reduction < 1 or min_features < 1:
            raise ValueError(
                f"channels, reduction and min_features must be >= 1, got {channels=}, {reduction=}, {min_features=}."
            )
        self.channels = int(channels)
        self.squeeze_features = max(self.channels // reduction, int(min_features))
        self.fc = nn.Linear(self.channels, self.squeeze_features)
        self.fcs = nn.ModuleList([nn.Linear(self.squeeze_features, self.channels) for _ in range(2)])

    def selection_weights(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Softmax weights ``[B, 2, C]`` (``[:, 0]`` for ``a``, ``[:, 1]`` for ``b``); they sum to 1 over dim 1."""
        if a.shape != b.shape or a.ndim < 3 or a.shape[1] != self.channels:
            raise ValueError(
                f"SelectiveKernelFusion expects two tensors of the same shape [B, {self.channels}, ...], "
                f"got {tuple(a.shape)} and {tuple(b.shape)}."
            )
        s = (a + b).flatten(2).mean(-1)
        z = self.fc(s)
        logits = torch.stack([fc(z) for fc in self.fcs], dim=1)
        return torch.softmax(logits, dim=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``w_0 * a + w_1 * b`` with the per-channel weights of :meth:`selection_weights`."""
        w = self.selection_weights(a, b)
        w = w.reshape(*w.shape, *([1] * (a.ndim - 2)))
        return w[:, 0] * a + w[:, 1] * b
