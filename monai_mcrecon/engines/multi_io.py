"""Training and evaluation with several network inputs, several outputs and several named loss terms.

Stereo SR feeds two views and returns SR images of both views at two passes plus disparities; frame
interpolation feeds two (or more) frames and a time, returns the frame, flows and masks, and is trained
with four loss terms. MONAI's engines handle this with three small pieces:

- :class:`PrepareMultiInput`: a MONAI ``prepare_batch`` calling
  ``network(batch[k0], batch[k1], ..., **{name: batch[key]})`` with the target ``batch[target]`` or a
  dict of several targets;
- :class:`MultiIOTrainer` (a ``SupervisedTrainer``): the loss is called ``loss(pred, target)`` with the
  network's whole output (tensor, dict or dataclass) and may return a tensor or a dict of named terms
  with the total under ``"loss"``; the terms (floats) land in ``engine.state.output["loss_terms"]``,
  where :func:`loss_terms_transform` gives them to a ``StatsHandler``/``TensorBoardStatsHandler``;
- :func:`select_output`: an ``output_transform`` for metrics picking one prediction and one target
  by name from dict / dataclass outputs (batched or decollated).

:class:`MultiIOEvaluator` is a ``SupervisedEvaluator`` built with the same ``prepare_batch``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from ignite.engine import Events
from monai.utils import ensure_tuple
from monai.utils.enums import CommonKeys as Keys
from torch import nn

__all__ = ["MultiIOEvaluator", "MultiIOTrainer", "PrepareMultiInput", "loss_terms_transform", "select_output"]


def _to_device(value: Any, device, non_blocking: bool, **kwargs) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device=device, non_blocking=non_blocking, **kwargs)
    return value


class PrepareMultiInput:
    """``prepare_batch`` for networks with several inputs (MONAI engine protocol).

    Args:
        input_keys: batch keys passed positionally, in order (a single key is allowed).
        target_keys: one key (the target is that tensor) or several (a dict ``{key: tensor}``).
        kwarg_keys: ``{argument name: batch key}`` passed as keyword arguments (e.g. ``{"t": "time"}``).

    Raises:
        KeyError: a key is missing from the batch (the message lists the batch keys).
    """

    def __init__(
        self,
        input_keys: Sequence[str] | str,
        target_keys: Sequence[str] | str,
        kwarg_keys: Mapping[str, str] | None = None,
    ) -> None:
        self.input_keys = [input_keys] if isinstance(input_keys, str) else list(input_keys)
        if not self.input_keys:
            raise ValueError("PrepareMultiInput needs at least one input key.")
        self.single_target = isinstance(target_keys, str)
        self.target_keys = [target_keys] if isinstance(target_keys, str) else list(target_keys)
        self.kwarg_keys = dict(kwarg_keys or {})

    def _get(self, batchdata: Mapping, key: str, device, non_blocking: bool, **kwargs):
        if key not in batchdata:
            raise KeyError(f"Batch has no key {key!r} (it has {sorted(map(str, batchdata))}); check the data pipeline's keys.")
        return _to_device(batchdata[key], device, non_blocking, **kwargs)

    def __call__(self, batchdata: Mapping, device=None, non_blocking: bool = False, **kwargs):
        inputs = [self._get(batchdata, k, device, non_blocking, **kwargs) for k in self.input_keys]
        targets = {k: self._get(batchdata, k, device, non_blocking, **kwargs) for k in self.target_keys if k in batchdata}
        missing = [k for k in self.target_keys if k not in batchdata]
        if missing and self.single_target:
            raise KeyError(f"Batch has no target key {missing[0]!r} (it has {sorted(map(str, batchdata))}).")
        target = targets.get(self.target_keys[0]) if self.single_target else targets
        kw = {name: self._get(batchdata, key, device, non_blocking, **kwargs) for name, key in self.kwarg_keys.items()}
        return inputs[0], target, tuple(inputs[1:]), kw


class _TermsLoss(nn.Module):
    """Wrap a loss that may return a dict of terms: returns the total and remembers the terms."""

    def __init__(self, loss: Callable) -> None:
        super().__init__()
        self.loss = loss
        self.last_terms: dict[str, float] = {}

    def forward(self, pred, target) -> torch.Tensor:
        out = self.loss(pred, target)
        if isinstance(out, Mapping):
            if "loss" not in out:
                raise KeyError(f"A loss returning a dict must hold the total under 'loss' (it has {sorted(out)}).")
            self.last_terms = {k: float(torch.as_tensor(v).detach().mean()) for k, v in out.items()}
            return out["loss"]
        self.last_terms = {"loss": float(torch.as_tensor(out).detach().mean())}
        return out


class MultiIOTrainer(SupervisedTrainer):
    """``SupervisedTrainer`` for several inputs/outputs and a loss with named terms.

    Args:
        input_keys, target_keys, kwarg_keys: build :class:`PrepareMultiInput` when ``prepare_batch`` is
            not given.
        *args, **kwargs: :class:`monai.engines.SupervisedTrainer` arguments. ``loss_function(pred, target)``
            may return a dict of terms with the total under ``"loss"``; its parameters (if any) must be in
            the optimizer.

    ``engine.state.output["loss_terms"]`` holds the floats of the last iteration's terms.
    """

    def __init__(
        self,
        *args: Any,
        input_keys: Sequence[str] | str | None = None,
        target_keys: Sequence[str] | str = "label",
        kwarg_keys: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if input_keys is not None and "prepare_batch" not in kwargs:
            kwargs["prepare_batch"] = PrepareMultiInput(input_keys, target_keys, kwarg_keys)
        loss = kwargs.pop("loss_function", None)
        if loss is None:
            raise ValueError("MultiIOTrainer needs a loss_function(pred, target).")
        kwargs["loss_function"] = loss if isinstance(loss, _TermsLoss) else _TermsLoss(loss)
        handlers = kwargs.pop("train_handlers", None)
        super().__init__(*args, **kwargs)
        # Registered after the workflow's own decollation handler, so it sees the final output
        # (a dict, or a list of per-sample dicts when decollate=True), and before the train handlers
        # (attached below), so a StatsHandler with loss_terms_transform sees this iteration's terms.
        self.add_event_handler(Events.ITERATION_COMPLETED, self._store_terms)
        for handler in ensure_tuple(handlers):
            if handler is not None:
                handler.attach(self)

    def _store_terms(self, engine: SupervisedTrainer) -> None:
        terms = dict(engine.loss_function.last_terms)
        outputs = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        for out in outputs:
            if isinstance(out, dict):
                out["loss_terms"] = terms


class MultiIOEvaluator(SupervisedEvaluator):
    """``SupervisedEvaluator`` with :class:`PrepareMultiInput` built from ``input_keys``/``target_keys``/``kwarg_keys``."""

    def __init__(
        self,
        *args: Any,
        input_keys: Sequence[str] | str | None = None,
        target_keys: Sequence[str] | str = "label",
        kwarg_keys: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if input_keys is not None and "prepare_batch" not in kwargs:
            kwargs["prepare_batch"] = PrepareMultiInput(input_keys, target_keys, kwarg_keys)
        super().__init__(*args, **kwargs)


def loss_terms_transform(output: Any) -> dict[str, float]:
    """``output_transform`` for ``StatsHandler``/``TensorBoardStatsHandler``: the iteration's named loss terms."""
    if isinstance(output, list):
        output = output[0]
    terms = output.get("loss_terms") if isinstance(output, Mapping) else None
    if terms is None:
        return {"loss": float(torch.as_tensor(output[Keys.LOSS]).detach().mean())}
    return terms


def _pick(value: Any, name: str | None, what: str) -> Any:
    if name is None:
        return value
    if isinstance(value, Mapping):
        if name not in value:
            raise KeyError(f"The {what} has no entry {name!r} (it has {sorted(map(str, value))}).")
        return value[name]
    if dataclasses.is_dataclass(value):
        if not hasattr(value, name):
            raise KeyError(f"The {what} has no field {name!r} (fields: {[f.name for f in dataclasses.fields(value)]}).")
        return getattr(value, name)
    raise TypeError(f"Cannot pick {name!r} from a {type(value).__name__} {what}; return a dict or dataclass.")


def select_output(pred_name: str | None = None, target_name: str | None = None) -> Callable:
    """``output_transform`` returning ``(y_pred, y)``: entry ``pred_name`` of the prediction, ``target_name`` of the target.

    Works on the engine output before decollation (one dict) and after (a list of per-sample dicts, for
    which lists of per-sample tensors are returned, as MONAI metrics accept). ``None`` keeps the whole value.
    """

    def _transform(output: Any):
        if isinstance(output, list):
            preds = [_pick(o[Keys.PRED], pred_name, "prediction") for o in output]
            targets = [_pick(o[Keys.LABEL], target_name, "target") for o in output]
            return preds, targets
        return _pick(output[Keys.PRED], pred_name, "prediction"), _pick(output[Keys.LABEL], target_name, "target")

    return _transform
