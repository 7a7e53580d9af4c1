"""Resuming a training run exactly: the random states of every generator (:class:`RandomStates`), the
training data order as a function of the trainer's iteration (:class:`ResumableSampler`,
:func:`make_data_order_resumable`), and which checkpoint to resume from (:func:`latest_checkpoint`,
:func:`resume_path`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from monai_mcrecon.bundle.overrides import as_bool
from monai_mcrecon.bundle.weights import WeightsError

__all__ = [
    "RandomStates",
    "ResumableSampler",
    "latest_checkpoint",
    "make_data_order_resumable",
    "resume_path",
]


def _np_state_to_plain(state: tuple) -> dict:
    import torch

    name, keys, pos, has_gauss, cached = state
    return {"name": str(name), "keys": torch.as_tensor(keys.astype("int64")), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _np_state_from_plain(d: Mapping) -> tuple:
    import numpy as np

    return (d["name"], np.asarray(d["keys"].cpu().numpy(), dtype=np.uint32), int(d["pos"]), int(d["has_gauss"]),
            float(d["cached"]))


class RandomStates:
    """The random states a training run depends on, as an object with ``state_dict`` /
    ``load_state_dict`` for :class:`ignite.handlers.Checkpoint` (MONAI's ``CheckpointSaver`` /
    ``CheckpointLoader``): torch (CPU and CUDA), numpy's global state, Python's ``random``, and
    the ``R`` of every MONAI ``Randomizable`` reachable from ``transforms`` (``Compose`` trees,
    lists, datasets and data loaders, and the array transforms inside dictionary transforms). Everything is stored as tensors and plain numbers, so
    the checkpoint loads with ``torch.load(weights_only=True)``.
    """

    def __init__(self, transforms: Any = None) -> None:
        self.transforms = transforms

    def randomizables(self) -> list:
        """Every ``Randomizable`` reachable from ``transforms``, in a fixed order (also the array
        transforms inside dictionary ones, e.g. ``RandSpatialCropd.cropper``, which own their ``R``)."""
        from monai.transforms import Randomizable, Transform
        from torch.utils.data import DataLoader, Dataset

        found: list = []
        seen: set[int] = set()

        def walk(obj: Any) -> None:
            if id(obj) in seen:
                return
            if isinstance(obj, (list, tuple)):
                seen.add(id(obj))
                for o in obj:
                    walk(o)
            elif isinstance(obj, Mapping):
                seen.add(id(obj))
                for o in obj.values():
                    walk(o)
            elif isinstance(obj, DataLoader):
                seen.add(id(obj))
                walk(obj.dataset)
            elif isinstance(obj, (Transform, Dataset)):
                seen.add(id(obj))
                if isinstance(obj, Randomizable):
                    found.append(obj)
                for o in vars(obj).values():
                    if isinstance(o, (Transform, Dataset, list, tuple, Mapping)):
                        walk(o)

        walk(self.transforms)
        return found

    def state_dict(self) -> dict:
        import random

        import numpy as np
        import torch

        py = random.getstate()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": _np_state_to_plain(np.random.get_state()),
            "python": {"version": int(py[0]), "state": torch.as_tensor(py[1], dtype=torch.int64),
                       "gauss": py[2] if py[2] is None else float(py[2])},
            "transforms": [_np_state_to_plain(t.R.get_state()) for t in self.randomizables()],
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        import random

        import numpy as np
        import torch

        torch.set_rng_state(state["torch"].cpu())
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        np.random.set_state(_np_state_from_plain(state["numpy"]))
        py = state["python"]
        random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
        rands = self.randomizables()
        if len(rands) != len(state["transforms"]):
            raise WeightsError(
                f"The checkpoint holds random states of {len(state['transforms'])} random transforms but this "
                f"configuration has {len(rands)}; resume with the configuration that wrote the checkpoint."
            )
        for t, s in zip(rands, state["transforms"]):
            t.R.set_state(_np_state_from_plain(s))


class ResumableSampler(torch.utils.data.Sampler):
    """The indices of ``num_samples`` items, pass after pass: pass ``p`` is ``torch.randperm``
    drawn from its own generator seeded with ``seed + p`` (``shuffle=True``) or ``0 .. n-1``; the
    global random states are not touched. The pass that the next ``iter()`` gives is
    ``pass_index``, so the data order is a function of ``(seed, pass)`` only and can be restored
    from the trainer's iteration (:func:`make_data_order_resumable`). ``state_dict`` /
    ``load_state_dict`` hold the seed (plain integers, for ``torch.load(weights_only=True)``).
    """

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = True) -> None:
        if int(num_samples) < 1:
            raise ValueError(f"ResumableSampler needs at least one sample, got num_samples={num_samples}.")
        self.num_samples, self.seed, self.shuffle, self.pass_index = int(num_samples), int(seed), bool(shuffle), 0
        self.batch_sampler: Any = None  # the ReproducibleBatchSampler around it (make_data_order_resumable)

    def set_position(self, iteration: int) -> None:
        """Make the next ``iter()`` of the loader give the batches from ``iteration`` (batches done in
        all) on: pass ``iteration // len(loader)``, its first ``iteration % len(loader)`` batches skipped."""
        passes, done = divmod(int(iteration), len(self.batch_sampler))
        self.pass_index = passes
        self.batch_sampler.start_iteration = done or None

    def attach(self, engine: Any) -> None:
        """Set the position from ``engine.state.iteration`` when ``engine`` starts (or resumes)."""
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, lambda e: self.set_position(e.state.iteration))

    def indices(self, pass_index: int) -> list[int]:
        """The order of pass ``pass_index``."""
        if not self.shuffle:
            return list(range(self.num_samples))
        g = torch.Generator().manual_seed((self.seed + int(pass_index)) % 2**63)
        return torch.randperm(self.num_samples, generator=g).tolist()

    def __iter__(self):
        order = self.indices(self.pass_index)
        self.pass_index += 1
        return iter(order)

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict:
        return {"seed": self.seed, "num_samples": self.num_samples, "shuffle": int(self.shuffle)}

    def load_state_dict(self, state: Mapping) -> None:
        if int(state["num_samples"]) != self.num_samples:
            raise WeightsError(
                f"The checkpoint's data order covers {int(state['num_samples'])} training items but this "
                f"configuration has {self.num_samples}; resume with the data set that wrote the checkpoint."
            )
        self.seed, self.shuffle = int(state["seed"]), bool(state["shuffle"])


def make_data_order_resumable(trainer: Any, seed: int | None = None, attach: bool = True) -> ResumableSampler | None:
    """Make the order of ``trainer.data_loader`` (a MONAI workflow's map-style ``DataLoader``
    with ``shuffle`` on or off) a function of the trainer's iteration, so that a run resumed from
    a checkpoint sees exactly the batches the uninterrupted run sees, also when an epoch
    (``epoch_length``) is not one pass over the data.

    The loader is rebuilt (as Ignite's :func:`~ignite.engine.deterministic.update_dataloader`
    does) around a :class:`~ignite.engine.deterministic.ReproducibleBatchSampler` of a
    :class:`ResumableSampler` (``seed``: default ``torch.initial_seed()``, i.e. the bundle's
    ``set_determinism`` seed); when the run starts (after a resume's :class:`CheckpointLoader`),
    the sampler is put at pass ``iteration // len(loader)`` and the batch sampler skips the
    ``iteration % len(loader)`` batches already trained on. This is what Ignite's
    ``DeterministicEngine`` does for the data, without re-seeding the global random states
    (those are restored by :class:`RandomStates`).

    Returns the sampler (checkpoint it with the other objects), or ``None`` when the loader is left
    as it is: not a ``DataLoader`` over a map-style data set with a plain random / sequential
    sampler (e.g. a ``DistributedSampler``, which MONAI re-seeds every epoch). ``attach=False``:
    call ``sampler.attach(trainer)`` yourself, after the handlers that restore the iteration.
    """
    from ignite.engine.deterministic import ReproducibleBatchSampler
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    loader = getattr(trainer, "data_loader", None)
    if not isinstance(loader, DataLoader) or not isinstance(loader.batch_sampler, BatchSampler):
        return None
    if isinstance(loader.batch_sampler, ReproducibleBatchSampler):
        sampler = loader.batch_sampler.sampler
        return sampler if isinstance(sampler, ResumableSampler) else None
    inner = loader.sampler
    if type(inner) is RandomSampler and not inner.replacement and len(inner) == len(loader.dataset):
        shuffle = True
    elif type(inner) is SequentialSampler:
        shuffle = False
    else:
        return None
    seed = torch.initial_seed() if seed is None else int(seed)
    sampler = ResumableSampler(len(loader.dataset), seed, shuffle)
    batches = ReproducibleBatchSampler(BatchSampler(sampler, loader.batch_size, loader.drop_last))
    if len(batches) < 1:
        raise ValueError(
            f"The training data loader yields no batch: {len(loader.dataset)} item(s) with batch_size "
            f"{loader.batch_size} and drop_last={loader.drop_last}; lower --batch_size or add data."
        )
    # Ignite's update_dataloader, but as a torch DataLoader: re-running monai.data.DataLoader's
    # __init__ would re-seed the data set's transforms and reset the global torch generator. A
    # private generator for the loader's per-iterator base seed keeps the global torch state out of
    # the data order (the base seed only seeds worker processes).
    params = {k: v for k, v in vars(loader).items()
              if not k.startswith("_") and k not in ("batch_size", "sampler", "drop_last", "batch_sampler", "dataset_kind")}
    params["multiprocessing_context"] = loader.multiprocessing_context
    if params.get("generator") is None:
        params["generator"] = torch.Generator().manual_seed(seed % 2**63)
    trainer.data_loader = DataLoader(batch_sampler=batches, **params)
    sampler.batch_sampler = batches
    if attach:
        sampler.attach(trainer)
    return sampler


def latest_checkpoint(folder: str | Path, prefix: str = "checkpoint") -> str | None:
    """The newest ``<prefix>_<name>=<step>.pt`` in ``folder`` (Ignite / MONAI ``CheckpointSaver``
    names), by step; ``None`` when there is none. Temporary (partial) files are ignored."""
    import re

    best: tuple[int, str] | None = None
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for p in folder.glob(f"{prefix}_*.pt"):
        m = re.search(r"=(\d+)\.pt$", p.name)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), str(p))
    return best[1] if best else None


def resume_path(output_dir: str | Path, resume: bool | str = False, resume_from: str | None = None) -> str | None:
    """What a train config resumes from: ``resume_from`` if given, else with ``resume`` the newest
    checkpoint of ``output_dir`` (:func:`latest_checkpoint`); ``None`` = start from scratch.

    Raises:
        FileNotFoundError: ``resume_from`` missing, or ``resume`` with no checkpoint in ``output_dir``.
    """
    if resume_from:
        if not Path(resume_from).is_file():
            raise FileNotFoundError(f"--resume_from {resume_from!r} does not exist; check the path.")
        return str(resume_from)
    if isinstance(resume, str):
        resume = as_bool(resume)
    if not resume:
        return None
    found = latest_checkpoint(output_dir)
    if found is None:
        raise FileNotFoundError(
            f"--resume true but {str(output_dir)!r} holds no checkpoint_*.pt to resume from; drop --resume to "
            "start from scratch, or pass --resume_from <checkpoint>."
        )
    return found
