"""HMDS heterogeneous distillation loss (docs/models/mdrn.md, 'Tests')."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.losses.distillation import FeatureAdapter, HeterogeneousKDLoss, as_output_and_features
from monai_mcrecon.networks.nets.mdrn import MDRN


class RandomCNNTeacher(nn.Module):
    """Frozen random 3-conv CNN returning (output, [2 features]) (docs/models/mdrn.md, 'Presets')."""

    def __init__(self, channels: int = 1, width: int = 12, half_width: int = 48) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(channels, width, 3, padding=1)
        self.c2 = nn.Conv2d(width, half_width, 3, stride=2, padding=1)  # 48 channels at 1/2 size
        self.c3 = nn.Conv2d(half_width, channels * 4, 3, padding=1)

    def forward(self, y):
        f1 = torch.relu(self.c1(y))
        f2 = torch.relu(self.c2(f1))
        return y + F.pixel_shuffle(self.c3(f2), 2), [f1, f2]


def _setup(lambda_out=1.0, lambda_feat=0.1):
    torch.manual_seed(0)
    student = MDRN.from_preset("tiny", in_channels=1)
    teacher = RandomCNNTeacher().requires_grad_(False).eval()
    loss = HeterogeneousKDLoss(
        student_channels=8, teacher_channels=[[12, 48]], pairs=[(0, 0, 0), (1, 0, 1)], lambda_out=lambda_out, lambda_feat=lambda_feat
    )
    y = torch.rand(2, 1, 32, 32)
    x = torch.rand(2, 1, 32, 32)
    return student, teacher, loss, y, x


def test_gradients_reach_student_and_adapters_but_not_the_teacher():
    student, teacher, loss_fn, y, x = _setup()
    teacher.requires_grad_(True)  # even a trainable teacher gets no gradient: its results are detached
    with torch.no_grad():
        t_res = [teacher(y)]
    pred, feats = student(y, return_features=True)
    loss_fn(pred, x, feats, t_res).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in loss_fn.adapters.parameters())
    # without torch.no_grad the loss detaches the teacher results itself
    student.zero_grad()
    pred, feats = student(y, return_features=True)
    loss_fn(pred, x, feats, [teacher(y)]).backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_oracle_teacher_doubles_the_l1_term_when_feature_weight_is_zero():
    student, _, loss_fn, y, x = _setup(lambda_out=0.7, lambda_feat=0.0)
    pred, feats = student(y, return_features=True)
    total = loss_fn(pred, x, feats, [(x.clone(), [])])
    torch.testing.assert_close(total, (1 + 0.7) * F.l1_loss(pred, x))
    # two oracle teachers count twice
    total2 = HeterogeneousKDLoss(lambda_out=1.0, lambda_feat=0.0)(pred, x, feats, [(x, []), (x, [])])
    torch.testing.assert_close(total2, 3 * F.l1_loss(pred, x))


def test_zero_weights_give_plain_l1():
    student, teacher, loss_fn, y, x = _setup(lambda_out=0.0, lambda_feat=0.0)
    pred, feats = student(y, return_features=True)
    with torch.no_grad():
        t_res = [teacher(y)]
    torch.testing.assert_close(loss_fn(pred, x, feats, t_res), F.l1_loss(pred, x))
    torch.testing.assert_close(loss_fn(pred, x), F.l1_loss(pred, x))  # no teachers


def test_total_is_the_weighted_sum_of_its_terms():
    student, teacher, loss_fn, y, x = _setup(lambda_out=0.5, lambda_feat=0.25)
    pred, feats = student(y, return_features=True)
    with torch.no_grad():
        t_out, t_feats = teacher(y)
    a0, a1 = loss_fn.adapters
    expected = (
        F.l1_loss(pred, x)
        + 0.5 * F.l1_loss(pred, t_out)
        + 0.25 * (F.l1_loss(a0(feats[0], (32, 32)), t_feats[0]) + F.l1_loss(a1(feats[1], (16, 16)), t_feats[1]))
    )
    torch.testing.assert_close(loss_fn(pred, x, feats, [(t_out, t_feats)]), expected)


def test_adapter_maps_width_and_resolution_of_a_heterogeneous_teacher():
    torch.manual_seed(0)
    adapter = FeatureAdapter(8, 48)
    f = torch.rand(2, 8, 32, 32)
    out = adapter(f, (16, 16))
    assert out.shape == (2, 48, 16, 16)
    # bilinear resize of the 1x1 projection (linear ops commute)
    torch.testing.assert_close(out, F.interpolate(adapter.proj(f), size=(16, 16), mode="bilinear", align_corners=False))
    assert adapter(f, (32, 32)).shape == (2, 48, 32, 32)


def test_result_normalisation_and_bad_pairs_are_named():
    t = torch.zeros(1)
    assert as_output_and_features(t)[1] == [] and as_output_and_features({"pred": t, "features": [t]})[1] == [t]
    with pytest.raises(TypeError, match="wrap the teacher"):
        as_output_and_features("x")
    with pytest.raises(ValueError, match="teacher_channels"):
        HeterogeneousKDLoss(pairs=[(0, 0, 2)], teacher_channels=[[8, 8]])
    student, teacher, _, y, x = _setup()
    bad = HeterogeneousKDLoss(student_channels=8, teacher_channels=[[16, 48]], pairs=[(0, 0, 0)])
    pred, feats = student(y, return_features=True)
    with pytest.raises(ValueError, match="has 12 channels"):
        bad(pred, x, feats, [teacher(y)])
