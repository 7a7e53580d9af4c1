"""HMDS heterogeneous knowledge distillation for MDRN (inferred; the paper text was not available).

Reconstruction of the two "heterogeneous" distillation strategies named in the abstract of Li et al.,
CVPRW 2022 (MDRN), following docs/models/mdrn.md, 'HMDS distillation'. Teachers are frozen
callables ``T_j(y) -> (output_j, [features_j])`` that may be architecturally unrelated to the student:

- (a) output (response) distillation ``L_out = sum_j L1(y_hat, output_j)``;
- (b) cross-architecture feature distillation through learned adapters
  ``A_p = resize_bilinear(Conv1x1(c_student -> c_teacher))``:
  ``L_feat = sum_(k, j, m) L1(A_p(F_k), feat_j[m])`` over the configured pairs ``p = (k, j, m)``.

Total: ``L = L1(y_hat, x) + lambda_out * L_out + lambda_feat * L_feat`` (project defaults
``lambda_out = 1``, ``lambda_feat = 0.1``). The adapters are trained with the student (put
``loss.parameters()`` into the optimizer) and discarded at inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FeatureAdapter", "HeterogeneousKDLoss", "as_output_and_features"]


def as_output_and_features(result) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Normalise a network result to ``(output, [features])``.

    Accepts a tensor (no features), a pair ``(output, [features])`` or a dict with ``"pred"`` and
    optional ``"features"``.

    Raises:
        TypeError: for any other result type.
    """
    if isinstance(result, torch.Tensor):
        return result, []
    if isinstance(result, dict) and "pred" in result:
        return result["pred"], list(result.get("features", []))
    if isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[0], torch.Tensor):
        return result[0], list(result[1])
    raise TypeError(
        f"Expected a tensor, (output, [features]) or {{'pred': ..., 'features': [...]}}, got {type(result).__name__}; "
        "wrap the teacher so that it returns one of these."
    )


class FeatureAdapter(nn.Module):
    """``Conv1x1(in_channels -> out_channels)`` followed by bilinear resizing to the teacher feature size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        y = self.proj(x)
        if tuple(y.shape[-2:]) != tuple(size):
            y = F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)
        return y


class HeterogeneousKDLoss(nn.Module):
    """HMDS loss ``L1(y_hat, x) + lambda_out * L_out + lambda_feat * L_feat`` (inferred, docs/models/mdrn.md).

    Args:
        student_channels: width of the student features (an int for all blocks, or one per block).
        teacher_channels: per teacher, the widths of its returned features (``[[32, 32]]`` for one
            teacher with two 32-channel features); only needed for features named in ``pairs``.
        pairs: feature pairs ``(k, j, m)``: student block feature ``k`` is mapped by its own adapter to
            feature ``m`` of teacher ``j`` (0-based indices).
        lambda_out: weight of the output distillation ``L_out``.
        lambda_feat: weight of the feature distillation ``L_feat``.

    Call ``loss(pred, label, student_features=None, teacher_results=None)``; ``teacher_results`` is a
    list with one ``(output, [features])`` per teacher (computed without gradients). Without teachers
    the loss is the plain ``L1(pred, label)``. Losses are means over all elements.

    Raises:
        ValueError: for pairs that name a missing student block, teacher or teacher feature, or a
            teacher feature whose width differs from ``teacher_channels``.
    """

    def __init__(
        self,
        student_channels: int | Sequence[int] = 32,
        teacher_channels: Sequence[Sequence[int]] = (),
        pairs: Sequence[Sequence[int]] = (),
        lambda_out: float = 1.0,
        lambda_feat: float = 0.1,
    ) -> None:
        super().__init__()
        self.pairs = [tuple(int(i) for i in p) for p in pairs]
        if any(len(p) != 3 for p in self.pairs):
            raise ValueError(f"pairs must be (student_block, teacher, teacher_feature) triples, got {pairs}.")
        self.teacher_channels = [list(c) for c in teacher_channels]
        self.lambda_out, self.lambda_feat = float(lambda_out), float(lambda_feat)
        adapters = []
        for k, j, m in self.pairs:
            c_s = student_channels if isinstance(student_channels, int) else student_channels[k]
            if j >= len(self.teacher_channels) or m >= len(self.teacher_channels[j]):
                raise ValueError(
                    f"Pair {(k, j, m)} names feature {m} of teacher {j}, but teacher_channels={self.teacher_channels}; "
                    "list the width of every teacher feature used in pairs."
                )
            adapters.append(FeatureAdapter(c_s, self.teacher_channels[j][m]))
        self.adapters = nn.ModuleList(adapters)

    def output_loss(self, pred: torch.Tensor, teacher_results: Sequence) -> torch.Tensor:
        """``L_out = sum_j L1(pred, output_j)``."""
        total = pred.new_zeros(())
        for out, _ in teacher_results:
            total = total + F.l1_loss(pred, out.detach())
        return total

    def feature_loss(self, student_features: Sequence[torch.Tensor], teacher_results: Sequence) -> torch.Tensor:
        """``L_feat = sum_(k, j, m) L1(A(F_k), feat_j[m])`` over ``pairs``."""
        total = None
        for adapter, (k, j, m) in zip(self.adapters, self.pairs):
            if k >= len(student_features):
                raise ValueError(f"Pair {(k, j, m)} names student feature {k}, but the student returned {len(student_features)}.")
            if j >= len(teacher_results) or m >= len(teacher_results[j][1]):
                raise ValueError(f"Pair {(k, j, m)} names a teacher feature that the teachers did not return.")
            target = teacher_results[j][1][m].detach()
            if target.shape[1] != self.teacher_channels[j][m]:
                raise ValueError(
                    f"Teacher {j} feature {m} has {target.shape[1]} channels, but teacher_channels says "
                    f"{self.teacher_channels[j][m]}; fix teacher_channels."
                )
            term = F.l1_loss(adapter(student_features[k], target.shape[-2:]), target)
            total = term if total is None else total + term
        return total if total is not None else torch.zeros(())

    def forward(
        self,
        pred: torch.Tensor,
        label: torch.Tensor,
        student_features: Sequence[torch.Tensor] | None = None,
        teacher_results: Sequence | None = None,
    ) -> torch.Tensor:
        loss = F.l1_loss(pred, label)
        if not teacher_results:
            return loss
        if self.lambda_out:
            loss = loss + self.lambda_out * self.output_loss(pred, teacher_results)
        if self.lambda_feat and self.pairs:
            loss = loss + self.lambda_feat * self.feature_loss(student_features or [], teacher_results).to(loss)
        return loss
