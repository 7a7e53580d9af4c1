"""The bundles shipped with the repository (``bundles/<name>``): locating them, trusting them,
verifying and loading their weights, and resuming their training.

* :func:`bundle_dir`: the folder of a shipped bundle.
* :func:`check_trusted_bundle`: bundle configs run Python; the command runs only the package's own
  bundles unless told to trust another one.
* :func:`load_weights` (used by :class:`CheckpointLoader`, hence by every bundle config, the
  command and the MONAI Label tasks): the file must exist, match the SHA-256 recorded in the
  bundle's ``large_files.yml`` and load with ``torch.load(weights_only=True)``;
  :func:`check_state_dict` names the keys and shapes of weights saved for another preset.
* :class:`RandomStates`, :func:`attach_checkpointing`, :func:`resume_path`: checkpoints with the
  model, optimizer, scheduler, engine state and random states, and resuming from them;
  :class:`ResumableSampler` / :func:`make_data_order_resumable`: the training data order as a
  function of the trainer's iteration, so a resume inside a data pass sees the same batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.handlers import Checkpoint, EMAHandler
from monai.handlers import CheckpointLoader as _MonaiCheckpointLoader
from monai.networks.utils import copy_model_state

__all__ = [
    "BUNDLES_DIR",
    "LARGE_FILES",
    "TRUST_ENV",
    "CheckpointLoader",
    "RandomStates",
    "ResumableSampler",
    "WeightsError",
    "attach_checkpointing",
    "bundle_dir",
    "check_overrides",
    "check_state_dict",
    "check_trusted_bundle",
    "is_shipped_bundle",
    "latest_checkpoint",
    "load_weights",
    "make_data_order_resumable",
    "read_large_files",
    "resume_path",
    "shipped_bundles",
    "skip_finished",
    "verify_weights_file",
    "write_large_files",
    "write_run_info",
]

BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"


def bundle_dir(name: str) -> str:
    """Folder of the bundle ``name`` (used as the default ``bundle_root`` in the bundles' configs).

    Raises:
        FileNotFoundError: no such bundle in this checkout (pass ``--bundle_root`` explicitly when the
            bundle was copied elsewhere).
    """
    path = BUNDLES_DIR / name
    if not (path / "configs").is_dir():
        available = sorted(p.name for p in BUNDLES_DIR.iterdir()) if BUNDLES_DIR.is_dir() else []
        raise FileNotFoundError(
            f"Bundle {name!r} not found under {str(BUNDLES_DIR)!r} (available: {available}); "
            "pass --bundle_root <folder of the bundle> when running a copied bundle."
        )
    return str(path)


def as_bool(value: Any) -> bool:
    """A config flag given as ``True``/``False`` or, from the command line, as a string (``true``, ``1``, ``yes``, ``on``;
    anything else is false): ``"$monai_mcrecon.bundles.as_bool(@flag)"``."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def write_run_info(output_dir: str, info: dict, filename: str = "training_info.json") -> str:
    """Record how a model is trained (loss, feature extractor, preset, degradation) next to its
    checkpoints, so that a checkpoint can always be traced back to its recipe. Returns the path."""
    import json

    from monai_mcrecon.safe_io import atomic_write_text

    path = Path(output_dir) / filename
    atomic_write_text(path, json.dumps(info, indent=2, default=str) + "\n")
    return str(path)


# --------------------------------------------------------------------------------------------------
# trust, checksums and loading weights (one path for every bundle, the CLI and MONAI Label)
# --------------------------------------------------------------------------------------------------

#: Environment variable that, set to ``1``, lets the command run bundles outside :data:`BUNDLES_DIR`.
TRUST_ENV = "MONAI_MCRECON_TRUST_BUNDLES"
#: File of a bundle that lists its weight files with their hashes (MONAI's ``large_files`` format).
LARGE_FILES = "large_files.yml"


class WeightsError(ValueError):
    """A weights file that cannot be used: missing, empty, corrupt, tampered or for another network."""


def shipped_bundles() -> list[str]:
    """Names of the bundles shipped with the package (folders of :data:`BUNDLES_DIR` with ``configs``)."""
    if not BUNDLES_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLES_DIR.iterdir() if (p / "configs").is_dir())


def is_shipped_bundle(root: str | Path) -> bool:
    """Whether ``root`` is one of the package's own bundle folders (after resolving links)."""
    root = Path(root).resolve()
    return root.parent == BUNDLES_DIR.resolve() and root.name in shipped_bundles()


def check_trusted_bundle(root: str | Path, trust: bool = False) -> Path:
    """Refuse a bundle outside the package's own set unless ``trust`` (or ``$MONAI_MCRECON_TRUST_BUNDLES=1``).

    Bundle configs evaluate Python (``"$..."`` expressions, ``_target_`` of any importable callable),
    so running a bundle means running its author's code.

    Raises:
        PermissionError: naming the folder and the two ways to trust it.
    """
    import os

    root = Path(root).resolve()
    if is_shipped_bundle(root) or trust or os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes"):
        return root
    raise PermissionError(
        f"Bundle {str(root)!r} is not one of the package's bundles {shipped_bundles()}. Bundle configs run Python "
        "code ('$...' expressions), so only run bundles you trust: pass --trust-bundle (or set "
        f"{TRUST_ENV}=1) to run it anyway."
    )


def read_large_files(bundle_root: str | Path) -> dict[str, dict]:
    """``large_files.yml`` of a bundle as ``{relative path: entry}`` (entries keep ``hash_val`` and
    ``hash_type``); an empty dict when the bundle has none."""
    import yaml

    path = Path(bundle_root) / LARGE_FILES
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("large_files", []) if isinstance(data, dict) else []
    return {str(Path(e["path"])): dict(e) for e in entries if isinstance(e, dict) and "path" in e}


def write_large_files(bundle_root: str | Path, files: list[str] | None = None) -> Path:
    """(Re)write ``<bundle_root>/large_files.yml`` with the SHA-256 of ``files`` (relative paths;
    default every ``models/*.pt``), keeping the ``url`` of entries that had one. Returns the path."""
    from monai_mcrecon.safe_io import atomic_write_text, sha256_file

    root = Path(bundle_root)
    old = read_large_files(root)
    rels = sorted(files) if files is not None else sorted(str(p.relative_to(root)) for p in (root / "models").glob("*.pt"))
    lines = ["large_files:"]
    for rel in rels:
        url = old.get(str(Path(rel)), {}).get("url", "") or ""
        lines += [
            f"  - path: \"{rel}\"",
            f"    url: \"{url}\"",
            f"    hash_val: \"{sha256_file(root / rel)}\"",
            "    hash_type: \"sha256\"",
        ]
    return atomic_write_text(root / LARGE_FILES, "\n".join(lines) + "\n")


def _owning_bundle(path: Path) -> Path | None:
    """The bundle folder that lists ``path`` in its ``large_files.yml`` (walks up two levels)."""
    for parent in list(path.resolve().parents)[:3]:
        if (parent / LARGE_FILES).is_file():
            return parent
    return None


def verify_weights_file(path: str | Path, bundle_root: str | Path | None = None) -> str | None:
    """Check ``path`` against the SHA-256 (or MD5) that its bundle's ``large_files.yml`` records.

    Files that no ``large_files.yml`` lists (e.g. a checkpoint a user trained) are not checked.

    Returns:
        the verified hash, or ``None`` when the file is not listed.

    Raises:
        WeightsError: the file's hash differs from the recorded one (tampered, corrupted or replaced).
    """
    import hashlib

    from monai_mcrecon.safe_io import sha256_file

    path = Path(path).resolve()
    root = Path(bundle_root).resolve() if bundle_root is not None else _owning_bundle(path)
    if root is None:
        return None
    entries = read_large_files(root)
    try:
        rel = str(path.relative_to(root))
    except ValueError:
        return None
    entry = entries.get(rel)
    if entry is None:
        return None
    hash_type = str(entry.get("hash_type", "sha256")).lower()
    expected = str(entry.get("hash_val", "")).lower()
    if hash_type == "sha256":
        actual = sha256_file(path)
    elif hash_type == "md5":
        h = hashlib.md5()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        actual = h.hexdigest()
    else:
        raise WeightsError(f"{root / LARGE_FILES}: unsupported hash_type {hash_type!r} for {rel!r}; use sha256 or md5.")
    if actual != expected:
        raise WeightsError(
            f"Refusing to load {str(path)!r}: its {hash_type} is {actual} but {root / LARGE_FILES} records "
            f"{expected}. The file was modified or replaced (tampered, corrupted download). Restore the shipped "
            "file; if you replaced it on purpose with weights you trust, run `python tools/update_checksums.py "
            f"{root.name}`."
        )
    return actual


def load_weights(path: str | Path, map_location: Any = "cpu", bundle_root: str | Path | None = None) -> Any:
    """Load a checkpoint safely: it must exist and be non-empty, match its bundle's recorded hash
    (:func:`verify_weights_file`), and hold only tensors and plain containers
    (``torch.load(weights_only=True)``; pickled code is refused).

    Raises:
        FileNotFoundError: no file (a bundle run without weights): says how to get them.
        WeightsError: empty, truncated / corrupt, tampered, or a pickle with arbitrary objects.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No weights at {str(path)!r}. Train them first (python -m monai.bundle run --config_file "
            "<bundle>/configs/train.json) and pass --ckpt_path <output_dir>/model.pt, or restore the bundle's "
            "models/ folder."
        )
    if path.stat().st_size == 0:
        raise WeightsError(f"Weights file {str(path)!r} is empty (an interrupted copy or download?); restore it.")
    verify_weights_file(path, bundle_root)
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsError(
            f"Refusing to load {str(path)!r}: it holds pickled Python objects beyond tensors and plain containers, "
            f"which torch.load(weights_only=True) does not execute ({str(e).splitlines()[0]}). Load only weights "
            "files you trust; re-save a trusted checkpoint as a plain state_dict."
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsError(
            f"Cannot read weights file {str(path)!r}: it is truncated or not a PyTorch checkpoint "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). Restore or re-download it."
        ) from e


def check_state_dict(module: Any, state: Mapping[str, Any], what: str = "weights") -> None:
    """Raise a :class:`WeightsError` naming missing, unexpected and mis-shaped keys when ``state``
    does not fit ``module`` (typically weights saved for another preset or network)."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return

    def _few(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" ... ({len(items)} in all)" if len(items) > 5 else "")

    parts = []
    if shapes:
        parts.append(f"shape mismatch in {len(shapes)} tensor(s): {_few(shapes)}")
    if missing:
        parts.append(f"missing key(s): {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected key(s): {_few(unexpected)}")
    raise WeightsError(
        f"The {what} do not fit the {type(module).__name__} network: " + "; ".join(parts) + ". The weights were "
        "probably saved for another preset or network: set the bundle's 'preset' (e.g. --preset small) to the one "
        "they were trained with, or pass the matching --ckpt_path."
    )


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


# --------------------------------------------------------------------------------------------------
# resuming training
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# overrides and re-runs
# --------------------------------------------------------------------------------------------------

#: Arguments of ``monai.bundle.run`` that are not config ids.
RUN_ARGUMENTS = frozenset(
    {"run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "args_file",
     "workflow_type", "workflow_name", "properties_path"}
)


def _config_ids(config: Any, prefix: str = "") -> set[str]:
    ids: set[str] = set()
    if isinstance(config, Mapping):
        items = config.items()
    elif isinstance(config, list):
        items = ((str(i), v) for i, v in enumerate(config))
    else:
        return ids
    for k, v in items:
        key = f"{prefix}#{k}" if prefix else str(k)
        ids.add(key)
        if isinstance(v, Mapping) and "_target_" in v:
            ids.add(f"{key}#*")  # a component: any argument of its target may be added
        ids |= _config_ids(v, key)
    return ids


def check_overrides(config_files: str | Path | list, overrides: Mapping[str, Any]) -> None:
    """Refuse override keys that are no id of the bundle config(s): MONAI would add them silently
    and the run would ignore them (a typo such as ``acceleraton`` must not pass unnoticed). A new
    argument of a component (``network_def#fourier``) is allowed: its constructor refuses a misspelt one.

    Raises:
        KeyError: naming the unknown keys, the closest known ids, and where to look them up.
    """
    import difflib

    from monai.bundle import ConfigParser

    files = config_files if isinstance(config_files, (list, tuple)) else [config_files]
    ids: set[str] = set()
    for f in files:
        ids |= _config_ids(ConfigParser.load_config_file(str(f)))  # JSON or YAML

    def known(key: str) -> bool:
        key = key.replace("::", "#")
        return key in RUN_ARGUMENTS or key in ids or ("#" in key and key.rsplit("#", 1)[0] + "#*" in ids)

    unknown = [k for k in overrides if not known(k)]
    if unknown:
        tops = sorted(i for i in ids if "#" not in i)
        hints = []
        for k in unknown:
            pool = tops if "#" not in k and "::" not in k else sorted(i for i in ids if not i.endswith("#*"))
            close = difflib.get_close_matches(k, pool, n=3, cutoff=0.75)
            hints.append(f"{k!r}" + (f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""))
        raise KeyError(
            f"Unknown override(s) {', '.join(hints)} for {', '.join(Path(f).name for f in files)}; the configurable "
            f"top-level keys are {tops}."
        )


def skip_finished(data: list, output_dir: str, pattern: str, overwrite: bool | str = False) -> list:
    """The datalist items whose output ``<output_dir>/<pattern>`` does not exist yet (all of them
    with ``overwrite``); ``pattern`` is formatted with the item (e.g. ``"{case_id}/t2_recon.nii.gz"``).
    Used by the bundles' inference so that a re-run after an interruption does only what is left
    (outputs are written atomically, so an existing file is a complete one)."""
    import logging

    if isinstance(overwrite, str):
        overwrite = as_bool(overwrite)
    if overwrite:
        return list(data)
    todo, done = [], []
    for item in data:
        fields = {k: v for k, v in item.items() if isinstance(v, (str, int, float))} if isinstance(item, Mapping) else {}
        if "case_id" not in fields and isinstance(item, Mapping):
            src = next((v for v in item.values() if isinstance(v, str)), "case")
            fields["case_id"] = Path(src).name.split(".")[0]
        try:
            out = Path(output_dir) / pattern.format(**fields)
        except (KeyError, IndexError):
            todo.append(item)
            continue
        (done if out.is_file() else todo).append(item)
    if done:
        logging.getLogger(__name__).warning(
            f"Skipping {len(done)} finished case(s) whose output exists in {output_dir} (override overwrite=true to redo)."
        )
    return todo
