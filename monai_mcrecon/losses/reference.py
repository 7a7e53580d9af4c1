"""Reference-weighted L1: the MC-CDic training loss ``L1(x^, x) + w * L1(y^, y)`` (w = 0.1 in the release)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ReferenceWeightedL1Loss"]


class ReferenceWeightedL1Loss(nn.Module):
    """``L = L1(pred[:, :t], label[:, :t]) + reference_weight * L1(pred[:, t:], label[:, t:])``.

    ``pred`` and ``label`` are ``[B, t + r, H, W]``: the restored target (``t = target_channels``) and
    the reconstructed reference; ``label`` stacks the clean target and clean reference (MONAI
    ``ConcatItemsd(["target", "reference"], "label")``). When ``pred`` holds the target only (a
    network in eval mode) the loss is the target term alone.
    """

    def __init__(self, reference_weight: float = 0.1, target_channels: int = 1) -> None:
        super().__init__()
        if reference_weight < 0:
            raise ValueError(f"reference_weight must be >= 0, got {reference_weight}.")
        self.reference_weight = reference_weight
        self.target_channels = target_channels

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        t = self.target_channels
        if pred.shape[2:] != label.shape[2:] or pred.shape[1] > label.shape[1]:
            raise ValueError(
                f"pred {tuple(pred.shape)} and label {tuple(label.shape)} do not match; label must stack "
                "the clean target and the clean reference on the channel axis."
            )
        loss = torch.nn.functional.l1_loss(pred[:, :t], label[:, :t])
        if pred.shape[1] > t and self.reference_weight:
            loss = loss + self.reference_weight * torch.nn.functional.l1_loss(pred[:, t:], label[:, t : pred.shape[1]])
        return loss
