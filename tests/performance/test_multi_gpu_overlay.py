"""The MRI bundles' multi_gpu_train.json overlays write (logs, TensorBoard, checkpoints) on rank 0 only.

The overlay is parsed in this process on top of train.json with a one-process gloo group and
``torch.distributed.get_rank`` / ``get_world_size`` patched to play rank 1 of 2 (or rank 0 of 1):
``initialize`` builds the trainer, the evaluator and the checkpointing as ``torchrun`` would.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

import pytest
from monai.bundle import ConfigParser

from monai_mcrecon.bundle.locate import bundle_dir

WRITERS = {"StatsHandler", "TensorBoardStatsHandler", "CheckpointSaver", "ProgressBar", "_OutputHandler"}


def _owners(engine) -> set[str]:
    """Class names of the objects whose methods are attached to ``engine``'s events."""
    names = set()
    for handlers in engine._event_handlers.values():
        for h in handlers:
            f = h[0]
            owner = getattr(f, "__self__", None)
            if owner is None and hasattr(f, "_parent"):  # ignite's wrapper of a filtered event
                owner = f._parent()
            owner = getattr(owner, "__self__", owner)
            names.add(type(owner if owner is not None else f).__name__)
    return names


@pytest.fixture
def fake_rank(tmp_path, monkeypatch):
    """A one-process gloo group; ``set(rank, world)`` patches what the configs read and returns the
    list of the times ignite was asked to build its distributed context (``idist.sync``: collectives
    under torchrun, so every rank must do it at the same point; recorded, not run, here)."""
    import ignite.distributed as idist
    import ignite.distributed.utils as idist_utils

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    syncs: list = []

    def set_rank(rank: int, world: int) -> list:
        monkeypatch.setattr(dist, "get_rank", lambda *a, **k: rank)
        monkeypatch.setattr(dist, "get_world_size", lambda *a, **k: world)
        monkeypatch.setattr(idist_utils, "sync", lambda *a, **k: syncs.append(a or k))
        return syncs

    yield set_rank
    monkeypatch.undo()
    dist.destroy_process_group()
    idist.sync()  # ignite back to its serial (non-distributed) model for the other tests


def _build(bundle: str, out, **overrides):
    root = bundle_dir(bundle)
    parser = ConfigParser()
    parser.read_config([f"{root}/configs/train.json", f"{root}/configs/multi_gpu_train.json"])
    parser.update({"bundle_root": root, "output_dir": str(out), "preset": "tiny", **overrides})
    parser.get_parsed_content("initialize")
    return parser.get_parsed_content("train#trainer"), parser.get_parsed_content("validate#evaluator")


@pytest.mark.parametrize("bundle", ["mc_cdic_recon", "mc_cdic_sr", "clgnet_recon"])
def test_rank_1_attaches_no_writer_and_writes_nothing(fake_rank, tmp_path, bundle):
    syncs = fake_rank(1, 2)
    ckpt = tmp_path / "resume_from.pt"
    ckpt.write_bytes(b"")  # only its existence is checked before the run starts
    trainer, evaluator = _build(bundle, tmp_path / "out", resume_from=str(ckpt))
    train_handlers, val_handlers = _owners(trainer), _owners(evaluator)
    assert not train_handlers & WRITERS, train_handlers
    assert not val_handlers & WRITERS, val_handlers
    # still on rank 1: validation, LR schedule, and the resume from the same checkpoint as rank 0
    assert {"ValidationHandler", "LrScheduleHandler", "CheckpointLoader"} <= train_handlers
    assert type(trainer.data_loader.sampler).__name__ == "DistributedSampler"
    assert (trainer.data_loader.sampler.rank, trainer.data_loader.sampler.num_replicas) == (1, 2)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # no TensorBoard event file, no run_info
    # rank 0's checkpoint savers build ignite's distributed context; rank 1 has none and must build it too
    assert syncs, "rank 1 never builds ignite's distributed context: rank 0 would wait for it forever"


def test_rank_0_keeps_every_handler(fake_rank, tmp_path):
    fake_rank(0, 1)
    trainer, evaluator = _build("mc_cdic_recon", tmp_path / "out")
    assert {"StatsHandler", "TensorBoardStatsHandler", "CheckpointSaver", "ProgressBar", "ValidationHandler",
            "LrScheduleHandler"} <= _owners(trainer)
    assert {"StatsHandler", "TensorBoardStatsHandler", "CheckpointSaver"} <= _owners(evaluator)
    assert isinstance(trainer.network, torch.nn.parallel.DistributedDataParallel)
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "out").iterdir())


def test_weight_average_under_the_overlay_averages_the_unwrapped_network(fake_rank, tmp_path):
    """--ema_momentum with the overlay: the average follows the network inside DistributedDataParallel (the keys a
    single-process run saves), the checkpoints carry it, and validation and model.pt use it."""
    fake_rank(0, 1)
    root = bundle_dir("mc_cdic_recon")
    parser = ConfigParser()
    parser.read_config([f"{root}/configs/train.json", f"{root}/configs/multi_gpu_train.json"])
    parser.update({"bundle_root": root, "output_dir": str(tmp_path / "out"), "preset": "tiny", "ema_momentum": 0.01})
    parser.get_parsed_content("initialize")
    trainer, evaluator = parser.get_parsed_content("train#trainer"), parser.get_parsed_content("validate#evaluator")
    ema, inner = parser.get_parsed_content("ema"), parser.get_parsed_content("network_def")
    objects = parser.get_parsed_content("checkpoint_objects")
    assert "WeightEMA" in _owners(trainer)
    assert objects["model"] is inner and objects["ema_model"] is ema.ema_model
    assert evaluator.network is ema.ema_model
    assert set(ema.ema_model.state_dict()) == set(inner.state_dict())
