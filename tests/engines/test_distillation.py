"""DistillationTrainer: frozen teachers, student + adapters trained (MONAI SupervisedTrainer subclass)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from ignite.engine import Events
from monai.handlers import from_engine
from torch import nn

from monai_mcrecon.engines.distillation import DistillationTrainer
from monai_mcrecon.losses.distillation import HeterogeneousKDLoss
from monai_mcrecon.networks.nets.mdrn import MDRN, DnCNN


def _data(n=4):
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(n, 1, 32, 32, generator=g)
    noisy = clean + 0.1 * torch.randn(n, 1, 32, 32, generator=g)
    return [{"image": noisy[i : i + 2], "label": clean[i : i + 2]} for i in range(0, n, 2)]


def _trainer(loss_fn=None, params=None, **kwargs):
    torch.manual_seed(0)
    student = MDRN.from_preset("tiny", in_channels=1)
    teacher = DnCNN.from_preset("tiny", in_channels=1)
    loss_fn = loss_fn or HeterogeneousKDLoss(student_channels=8, teacher_channels=[[8, 8]], pairs=[(0, 0, 0), (1, 0, 1)])
    params = params if params is not None else list(student.parameters()) + list(loss_fn.parameters())
    trainer = DistillationTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=_data(),
        network=student,
        optimizer=torch.optim.Adam(params, 1e-3),
        loss_function=loss_fn,
        teachers=teacher,
        teacher_kwargs={"return_features": True},
        **kwargs,
    )
    return trainer, student, teacher, loss_fn


def test_iteration_trains_student_and_adapters_and_freezes_the_teacher():
    trainer, student, teacher, loss_fn = _trainer()
    before = [copy.deepcopy(m.state_dict()) for m in (student, teacher, loss_fn)]
    # expected first-iteration loss, computed by hand
    batch = _data()[0]
    with torch.no_grad():
        t_out, t_feats = teacher(batch["image"], return_features=True)
        pred, feats = student(batch["image"], return_features=True)
        expected = loss_fn(pred, batch["label"], feats, [(t_out, t_feats)])
    losses = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(float(from_engine(["loss"], first=True)(e.state.output))))
    trainer.run()
    assert len(losses) == 2
    assert losses[0] == pytest.approx(expected.item(), rel=1e-5)
    after = [m.state_dict() for m in (student, teacher, loss_fn)]
    changed = [any(not torch.equal(b[k], a[k]) for k in b) for b, a in zip(before, after)]
    assert changed == [True, False, True]
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    preds = from_engine(["pred"])(trainer.state.output)  # decollated: one [C, H, W] per sample
    assert [p.shape for p in preds] == [(1, 32, 32)] * 2


def test_plain_callable_teacher_returning_a_tensor_is_accepted():
    # an oracle "teacher" that is not a module and has no features: output distillation only
    data = _data()
    lookup = {id(d["image"]): d["label"] for d in data}
    torch.manual_seed(0)
    student = MDRN.from_preset("tiny", in_channels=1)
    loss_fn = HeterogeneousKDLoss(lambda_out=1.0, lambda_feat=0.0)
    seen = []
    trainer = DistillationTrainer(
        device=torch.device("cpu"),
        max_epochs=1,
        train_data_loader=data,
        network=student,
        optimizer=torch.optim.SGD(student.parameters(), 0.0),
        loss_function=loss_fn,
        teachers=[lambda y: seen.append(y.shape) or lookup.get(id(y), torch.zeros_like(y))],
    )
    trainer.run()
    assert seen == [(2, 1, 32, 32)] * 2


def test_adapters_missing_from_the_optimizer_are_named():
    student = MDRN.from_preset("tiny", in_channels=1)
    loss_fn = HeterogeneousKDLoss(student_channels=8, teacher_channels=[[8, 8]], pairs=[(0, 0, 0)])
    with pytest.raises(ValueError, match="loss_function.parameters"):
        _trainer(loss_fn=loss_fn, params=list(student.parameters()))


def test_teacher_in_the_optimizer_is_rejected():
    teacher = DnCNN.from_preset("tiny", in_channels=1)
    student = MDRN.from_preset("tiny", in_channels=1)
    with pytest.raises(ValueError, match="frozen"):
        DistillationTrainer(
            device=torch.device("cpu"),
            max_epochs=1,
            train_data_loader=_data(),
            network=student,
            optimizer=torch.optim.Adam(list(student.parameters()) + list(teacher.parameters())),
            loss_function=nn.L1Loss(),
            teachers=teacher,
        )
    with pytest.raises(ValueError, match="at least one teacher"):
        DistillationTrainer(
            device=torch.device("cpu"), max_epochs=1, train_data_loader=_data(), network=student,
            optimizer=torch.optim.Adam(student.parameters()), loss_function=nn.L1Loss(), teachers=[],
        )
