"""Knowledge-distillation training engine (MONAI ``SupervisedTrainer`` with frozen teachers).

One iteration: frozen teachers forward under ``torch.no_grad`` -> student forward (returning its
features) -> ``loss(student_output, label, student_features, teacher_results)`` -> backward -> step.
Used for MDRN's HMDS (:class:`monai_mcrecon.losses.distillation.HeterogeneousKDLoss`) and UniKD
(:mod:`monai_mcrecon.losses.unikd`), but any student/teacher pair following the ``(output, [features])``
protocol works (:class:`monai_mcrecon.networks.blocks.feature_hooks.FeatureHooks` gives it to any network).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils.enums import CommonKeys as Keys
from torch import nn

from monai_mcrecon.losses.distillation import as_output_and_features

__all__ = ["DistillationTrainer", "check_distillation_options"]


class DistillationTrainer(SupervisedTrainer):
    """``SupervisedTrainer`` whose iteration distils frozen teachers into the student ``network``.

    Args:
        teachers: one teacher or a list; each is a callable ``T(image, **teacher_kwargs)`` returning a
            tensor, ``(output, [features])`` or ``{"pred", "features"}``. ``nn.Module`` teachers are moved
            to ``device``, put in eval mode and frozen (``requires_grad_(False)``).
        teacher_kwargs: keyword arguments for every teacher call (e.g. ``{"return_features": True}``).
        student_kwargs: keyword arguments for the student call (default ``{"return_features": True}``);
            the student result is normalised the same way as a teacher's.
        *args, **kwargs: :class:`monai.engines.SupervisedTrainer` arguments. ``loss_function`` is called
            as ``loss(pred, label, student_features, teacher_results)``; its own parameters (e.g. HMDS
            adapters, UniKD heads) must be in ``optimizer``. It may return a tensor or a dict of named
            terms with the total under ``"loss"`` (the terms land in ``state.output["loss_terms"]`` as
            floats). A loss with a ``set_epoch(epoch)`` method is told the 1-based epoch at the start of
            every epoch (UniKD's warm-up). The student is called directly (no ``inferer``): train
            on crops.

    The iteration output holds ``image``, ``label``, ``pred`` (student output) and ``loss`` as in
    ``SupervisedTrainer``, so MONAI handlers and metrics work unchanged.

    Raises:
        ValueError: when ``teachers`` is empty, a teacher's parameters are in the optimizer, or the
            loss function's parameters are not (the fix is named in the message).
    """

    def __init__(
        self,
        *args: Any,
        teachers: Callable | Sequence[Callable],
        teacher_kwargs: dict | None = None,
        student_kwargs: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.accumulation_steps != 1:
            raise ValueError(f"DistillationTrainer does not support gradient accumulation, got accumulation_steps={self.accumulation_steps}.")
        teachers = [teachers] if callable(teachers) else list(teachers)
        if not teachers:
            raise ValueError("DistillationTrainer needs at least one teacher; use SupervisedTrainer for plain training.")
        optimised = {id(p) for group in self.optimizer.param_groups for p in group["params"]}
        for i, teacher in enumerate(teachers):
            if isinstance(teacher, nn.Module):
                if any(id(p) in optimised for p in teacher.parameters()):
                    raise ValueError(f"Teacher {i} has parameters in the optimizer; teachers are frozen, optimise the student only.")
                teacher.to(self.state.device).eval().requires_grad_(False)
        if isinstance(self.loss_function, nn.Module):
            missing = [n for n, p in self.loss_function.named_parameters() if id(p) not in optimised]
            if missing:
                raise ValueError(
                    f"Loss parameters {missing[:3]}... are not in the optimizer; build it over "
                    "list(network.parameters()) + list(loss_function.parameters()) so the adapters train."
                )
            self.loss_function.to(self.state.device)
        self.teachers = teachers
        self.teacher_kwargs = dict(teacher_kwargs or {})
        self.student_kwargs = {"return_features": True} if student_kwargs is None else dict(student_kwargs)
        self._loss_terms: dict[str, float] | None = None
        # after the workflow's decollation handler: every (per-sample) output dict gets the terms
        self.add_event_handler(Events.ITERATION_COMPLETED, self._store_terms)
        if callable(getattr(self.loss_function, "set_epoch", None)):
            self.add_event_handler(Events.EPOCH_STARTED, lambda engine: engine.loss_function.set_epoch(engine.state.epoch))

    def _store_terms(self, engine: DistillationTrainer) -> None:
        if self._loss_terms is None:
            return
        outputs = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        for out in outputs:
            if isinstance(out, dict):
                out["loss_terms"] = dict(self._loss_terms)

    def _iteration(self, engine: DistillationTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        inputs, targets = batch[0], batch[1]
        args, kwargs = (batch[2], batch[3]) if len(batch) == 4 else ((), {})
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}

        with torch.no_grad():
            teacher_results = [as_output_and_features(t(inputs, *args, **kwargs, **self.teacher_kwargs)) for t in self.teachers]

        def _compute_pred_loss():
            pred, feats = as_output_and_features(engine.network(inputs, *args, **kwargs, **self.student_kwargs))
            engine.state.output[Keys.PRED] = pred
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            loss = engine.loss_function(pred, targets, feats, teacher_results)
            if isinstance(loss, dict):
                if Keys.LOSS not in loss:
                    raise ValueError(f"A loss returning a dict must hold the total under 'loss', got keys {sorted(loss)}.")
                engine._loss_terms = {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in loss.items() if k != Keys.LOSS}
                loss = loss[Keys.LOSS]
            engine.state.output[Keys.LOSS] = loss.mean()
            engine.fire_event(IterationEvents.LOSS_COMPLETED)

        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        if engine.amp and engine.scaler is not None:
            with torch.autocast("cuda", **engine.amp_kwargs):
                _compute_pred_loss()
            engine.scaler.scale(engine.state.output[Keys.LOSS]).backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.scaler.step(engine.optimizer)
            engine.scaler.update()
        else:
            _compute_pred_loss()
            engine.state.output[Keys.LOSS].backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.optimizer.step()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


def check_distillation_options(distill: bool, train_teacher: bool, teacher_ckpt: str | None) -> None:
    """Validate a bundle's distillation switches (``mdrn_denoise``: ``--distill``, ``--train_teacher``, ``--teacher_ckpt``).

    Raises:
        ValueError: ``distill`` and ``train_teacher`` together, or ``distill`` without a teacher checkpoint.
        FileNotFoundError: ``teacher_ckpt`` does not exist.
    """
    import os

    if distill and train_teacher:
        raise ValueError("distill and train_teacher are exclusive: train the teacher first (--train_teacher true), then the student (--distill true --teacher_ckpt <teacher model.pt>).")
    if distill and not teacher_ckpt:
        raise ValueError("distill=true needs a trained teacher: pass --teacher_ckpt <path of the teacher's model.pt> (train it with --train_teacher true).")
    if distill and not os.path.isfile(teacher_ckpt):
        raise FileNotFoundError(f"Teacher checkpoint {teacher_ckpt!r} not found; train the teacher with --train_teacher true first.")
