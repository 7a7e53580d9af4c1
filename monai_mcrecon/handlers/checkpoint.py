"""Ignite handlers for bundle checkpoints: :class:`CheckpointLoader` (MONAI's, through the verified
:func:`~monai_mcrecon.bundle.weights.load_weights`), :class:`WeightEMA` (an exponential moving average of the
weights) and :func:`attach_checkpointing` (periodic checkpoints of everything a resume needs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from ignite.handlers import Checkpoint, EMAHandler
from monai.handlers import CheckpointLoader as _MonaiCheckpointLoader
from monai.networks.utils import copy_model_state

from monai_mcrecon.bundle.weights import WeightsError, check_state_dict, load_weights
from monai_mcrecon.engines.resume import ResumableSampler, make_data_order_resumable

__all__ = [
    "CheckpointLoader",
    "WeightEMA",
    "attach_checkpointing",
]


class CheckpointLoader(_MonaiCheckpointLoader):
    """MONAI's :class:`~monai.handlers.CheckpointLoader` through :func:`load_weights` (existence,
    recorded hash, ``weights_only``) and :func:`check_state_dict` (state-dict mismatches named),
    with ``ignite.handlers.Checkpoint`` semantics for the engine, optimizer, scheduler and
    :class:`RandomStates` in ``load_dict`` (resuming). Same arguments as MONAI's, plus
    ``bundle_root`` (whose ``large_files.yml`` lists the file; default: found from the path)."""

    def __init__(self, load_path: str, load_dict: dict, *args: Any, bundle_root: str | None = None, **kwargs: Any):
        if not load_path:
            raise FileNotFoundError(
                "CheckpointLoader got no load_path: pass --ckpt_path <weights file> (or --resume_from)."
            )
        super().__init__(str(load_path), load_dict, *args, **kwargs)
        self.bundle_root = bundle_root

    def __call__(self, engine: Any) -> None:
        checkpoint = load_weights(self.load_path, self.map_location, self.bundle_root)
        k, _ = list(self.load_dict.items())[0]
        if len(self.load_dict) == 1 and (not isinstance(checkpoint, Mapping) or k not in checkpoint):
            checkpoint = {k: checkpoint}
        missing_objects = [name for name in self.load_dict if name not in checkpoint]
        for name in [n for n in missing_objects if isinstance(self.load_dict[n], ResumableSampler)]:
            # checkpoints written before the data order was checkpointed: keep this run's seed
            self.logger.warning(f"{self.load_path!r} holds no {name!r}; the data order restarts with this run's seed.")
            missing_objects.remove(name)
            self.load_dict = {k: v for k, v in self.load_dict.items() if k != name}
        if missing_objects:
            raise WeightsError(
                f"Checkpoint {self.load_path!r} holds {sorted(checkpoint)} but {missing_objects} are needed; "
                "resume only from checkpoints of the same training configuration (checkpoint_*.pt of its output_dir)."
            )
        if not self.strict_shape:
            for name, obj in list(self.load_dict.items()):
                if isinstance(obj, torch.nn.Module):
                    checkpoint[name] = copy_model_state(obj, checkpoint, inplace=False)[0]
                else:
                    self.load_dict.pop(name)
        elif self.strict:
            for name, obj in self.load_dict.items():
                if isinstance(obj, torch.nn.Module):
                    check_state_dict(obj, checkpoint[name], f"weights in {self.load_path!r}")
        prior_max_epochs = engine.state.max_epochs
        Checkpoint.load_objects(to_load=self.load_dict, checkpoint=checkpoint, strict=self.strict)
        if prior_max_epochs is not None and engine.state.epoch > prior_max_epochs:
            raise ValueError(
                f"The checkpoint {self.load_path!r} is at epoch {engine.state.epoch}, beyond max_epochs "
                f"{prior_max_epochs}; raise --max_epochs to train further."
            )
        engine.state.max_epochs = prior_max_epochs
        self.logger.info(f"Restored {sorted(self.load_dict)} from {self.load_path}")


class WeightEMA(EMAHandler):
    """Ignite's :class:`~ignite.handlers.EMAHandler` (exponential moving average of the weights, updated after
    every iteration: ``ema = (1 - momentum) ema + momentum w``) whose average restarts from the network's weights
    when the trainer starts. Ignite's handler copies the network when it is built, which in a bundle is before
    ``CheckpointLoader`` has loaded ``--init_ckpt``; attach this handler after the loader. Use ``ema_model`` for
    validation and for the saved weights."""

    def attach(self, engine: Any, name: str = "ema_momentum", warn_if_exists: bool = True, event: Any = None) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self.sync)
        super().attach(engine, name, warn_if_exists, Events.ITERATION_COMPLETED if event is None else event)

    def sync(self, engine: Any = None) -> None:
        """Restart the average from the network's current weights (and buffers)."""
        self.ema_model.load_state_dict(self.model.state_dict())


def attach_checkpointing(
    trainer: Any,
    save_dir: str,
    objects: Mapping[str, Any],
    resume_from: str | None = None,
    save_interval: int = 1,
    n_saved: int = 2,
    final_filename: str | None = "model_final.pt",
    data_order: bool = True,
    save: bool = True,
) -> Any:
    """Attach to ``trainer`` a MONAI ``CheckpointSaver`` of ``objects`` every ``save_interval`` epochs
    (``checkpoint_epoch=<n>.pt``, the newest ``n_saved`` kept, plus ``final_filename`` at the end)
    and, with ``resume_from``, a :class:`CheckpointLoader` restoring them when the run starts.

    ``objects`` should hold the network, optimizer, LR scheduler, ``trainer`` and a
    :class:`RandomStates`; attaching after the trainer is built keeps the config free of cycles
    (the trainer does not refer to its saver). With ``data_order`` (default) the trainer's data
    loader is made resumable inside a data pass (:func:`make_data_order_resumable`) and its
    sampler checkpointed as ``data_order``. ``final_filename=None``: no final checkpoint (the
    periodic ones still are written). ``save=False`` attaches no saver, only the loader: data-parallel
    ranks other than 0 resume from the same checkpoint as rank 0 but write nothing
    (``multi_gpu_train.json``). Returns the trainer.
    """
    from monai.handlers import CheckpointSaver

    objects = dict(objects)
    if "trainer" not in objects:
        objects["trainer"] = trainer
    if data_order and "data_order" not in objects:
        sampler = make_data_order_resumable(trainer, attach=False)
        if sampler is not None:
            objects["data_order"] = sampler
    if save:
        CheckpointSaver(
            save_dir=save_dir, save_dict=objects, save_interval=save_interval, n_saved=n_saved,
            save_final=final_filename is not None, final_filename=final_filename, epoch_level=True,
        ).attach(trainer)
    if resume_from:
        CheckpointLoader(load_path=str(resume_from), load_dict=objects, map_location="cpu").attach(trainer)
    if "data_order" in objects:  # after the loader (handlers run in order): follow the restored iteration
        objects["data_order"].attach(trainer)
    return trainer
