"""Small classification teachers / students for knowledge distillation (UniKD), the digits data and top-1 accuracy.

Project networks (docs/models/unikd.md, 'Presets'); not a paper's model. The paper's
pairs are standard CIFAR backbones (ResNet56 -> ResNet20, WRN, VGG, ...); :class:`StageNet`'s
constructor defaults are the CIFAR ResNet20 layout (3 stages x 3 basic blocks, widths 16/32/64,
strides 1/2/2, 100 classes), the ``small`` / ``tiny`` presets are the project's students, and
``teacher_small`` / ``teacher_tiny`` its teachers:

=================  =======  ============  ===================
preset             block    widths        blocks per stage
=================  =======  ============  ===================
``teacher_small``  basic    16/32/64      2/2/2
``small``          basic    8/16/32       1/1/1
``teacher_tiny``   conv     16/32/64      1/1/1
``tiny``           conv     8/16/32       1/1/1
=================  =======  ============  ===================

``StageNet(x, return_features=True)`` returns ``(logits, [stage maps])`` (post-activation stage
outputs, shallow to deep), the teacher/student protocol of
:class:`~monai_mcrecon.engines.distillation.DistillationTrainer`.

Also here (the classification pieces the ``unikd_classification`` bundle needs):
:func:`digits_datalist` (scikit-learn's handwritten digits, shipped inside the scikit-learn wheel,
upsampled to 32x32, fixed stratified split) and :class:`Top1Accuracy` (a MONAI cumulative metric with
per-sample details, for ``IgniteMetricHandler`` / ``MetricsCSVWriter``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction
from torch import nn

from monai_mcrecon.networks.presets import PresetMixin

__all__ = ["BasicBlock", "StageNet", "Top1Accuracy", "digits_datalist"]

_BLOCKS = ("basic", "conv")


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """CIFAR ResNet basic block: ``ReLU(BN(Conv3(ReLU(BN(Conv3(x))))) + shortcut(x))``, 1x1 conv + BN shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class StageNet(PresetMixin, nn.Module):
    """Stage-structured classifier: stem, ``len(widths)`` stages, global average pooling, linear classifier.

    Args:
        in_channels: image channels.
        num_classes: ``K``.
        widths: channels per stage.
        blocks_per_stage: blocks in each stage.
        strides: stride of each stage's first block.
        block: ``"basic"`` (stem Conv3+BN+ReLU to ``widths[0]``, then residual basic blocks) or
            ``"conv"`` (no stem; each block is Conv3+BN+ReLU).

    ``forward(x, return_features=False)``: ``x`` is ``[B, in_channels, H, W]``; returns logits
    ``[B, K]``, or ``(logits, [stage_1, ..., stage_S])`` with ``return_features``.

    Raises:
        ValueError: inconsistent stage lists, an unknown block, or an input with the wrong channels.
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "teacher_small": {"num_classes": 10, "blocks_per_stage": (2, 2, 2)},
        "small": {"num_classes": 10, "widths": (8, 16, 32), "blocks_per_stage": (1, 1, 1)},
        "teacher_tiny": {"num_classes": 10, "blocks_per_stage": (1, 1, 1), "block": "conv"},
        "tiny": {"num_classes": 10, "widths": (8, 16, 32), "blocks_per_stage": (1, 1, 1), "block": "conv"},
    }

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 100,
        widths: Sequence[int] = (16, 32, 64),
        blocks_per_stage: Sequence[int] = (3, 3, 3),
        strides: Sequence[int] = (1, 2, 2),
        block: str = "basic",
    ) -> None:
        super().__init__()
        widths, blocks_per_stage, strides = [int(w) for w in widths], [int(b) for b in blocks_per_stage], [int(s) for s in strides]
        if not (len(widths) == len(blocks_per_stage) == len(strides)) or not widths:
            raise ValueError(f"widths, blocks_per_stage and strides need one entry per stage: {widths=} {blocks_per_stage=} {strides=}.")
        if block not in _BLOCKS:
            raise ValueError(f"block must be one of {_BLOCKS}, got {block!r}.")
        self.in_channels, self.num_classes, self.widths = int(in_channels), int(num_classes), widths
        self.stem = _conv_bn_relu(self.in_channels, widths[0], 1) if block == "basic" else nn.Identity()
        cin = widths[0] if block == "basic" else self.in_channels
        stages = []
        for w, n, s in zip(widths, blocks_per_stage, strides):
            layers = []
            for i in range(n):
                layers.append(BasicBlock(cin, w, s if i == 0 else 1) if block == "basic" else _conv_bn_relu(cin, w, s if i == 0 else 1))
                cin = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(widths[-1], self.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor, return_features: bool = False):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"StageNet expects [B, {self.in_channels}, H, W] images, got shape {tuple(x.shape)}.")
        h = self.stem(x)
        feats = []
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        logits = self.fc(h.mean(dim=(2, 3)))
        return (logits, feats) if return_features else logits


def digits_datalist(split: str = "train", size: int = 32, held_out: float = 0.3, seed: int = 0, per_class: int | None = None) -> list[dict]:
    """scikit-learn's handwritten digits (1,797 real 8x8 grey images, 10 classes), upsampled to ``size``.

    The split is fixed and stratified (``train_test_split(test_size=held_out, random_state=seed)``):
    with the defaults 1,257 training and 540 held-out images. Items are
    ``{"image": [1, size, size] float32 in [0, 1] (bilinear), "label": int, "case_id": "digit_<index>"}``.
    ``per_class``: keep only that many training images of each class (a fixed random choice, drawn
    with ``seed``; the low-label setting of ``unikd_classification``); ``None`` keeps them all.

    Raises:
        ValueError: ``split`` not ``"train"`` / ``"test"``, or ``per_class`` not a positive integer, larger
            than the smallest class, or given with ``split="test"``.
        ImportError: scikit-learn is not installed (``pip install scikit-learn``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if per_class is not None and split != "train":
        raise ValueError(f"per_class subsamples the training split only; got split={split!r} (use per_class=None).")
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:  # pragma: no cover
        raise ImportError("digits_datalist needs scikit-learn: pip install scikit-learn.") from e
    digits = load_digits()
    index = torch.arange(len(digits.target)).numpy()
    train_idx, test_idx = train_test_split(index, test_size=held_out, random_state=seed, stratify=digits.target)
    chosen = sorted(train_idx if split == "train" else test_idx)
    if per_class is not None:
        counts = np.bincount(digits.target[chosen])
        if int(per_class) != per_class or not 1 <= per_class <= counts.min():
            raise ValueError(f"per_class must be an integer in [1, {counts.min()}] (the smallest training class), got {per_class!r}.")
        order = np.random.RandomState(seed).permutation(chosen)
        chosen = sorted(int(i) for c in range(len(counts)) for i in order[digits.target[order] == c][: int(per_class)])
    images = torch.as_tensor(digits.images[chosen], dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return [{"image": img, "label": int(digits.target[i]), "case_id": f"digit_{i:04d}"} for img, i in zip(images, chosen)]


class Top1Accuracy(CumulativeIterationMetric):
    """Top-1 accuracy of logits ``[B, K]`` against labels ``[B]`` (or ``[B, 1]``); per-sample 0 / 1 details.

    Use with ``monai.handlers.IgniteMetricHandler(metric_fn=Top1Accuracy(), save_details=True)``.
    """

    def __init__(self, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False) -> None:
        super().__init__()
        self.reduction, self.get_not_nans = reduction, get_not_nans

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if y_pred.ndim != 2:
            raise ValueError(f"Top1Accuracy expects logits [B, K], got shape {tuple(y_pred.shape)}.")
        return (y_pred.argmax(1) == y.reshape(-1).long()).float()[:, None]

    def aggregate(self, reduction: MetricReduction | str | None = None):
        f, not_nans = do_metric_reduction(self.get_buffer(), reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f
