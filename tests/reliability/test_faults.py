"""Faults: nothing lost.

* Training killed mid-run resumes from its last checkpoint (model, optimizer, scheduler, engine
  state, random states of torch / numpy / Python and of MONAI's random transforms) and ends with
  the same weights as an uninterrupted run with the same seed: the real ``mc_cdic_recon``
  ``train.json`` with ``resume=True`` (``--resume true``), and the natural-image bundles whose
  epochs are shorter than a data pass (the data order is restored from the trainer's iteration).
* Every writer writes a temporary file and renames it: a write that fails midway leaves nothing
  under the final name (and keeps an older complete file intact).
* A re-run skips finished cases unless told to overwrite; the command over several volumes goes on
  past a bad case, reports it at the end and exits non-zero.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigParser, ConfigWorkflow

from monai_mcrecon.bundle.locate import BUNDLES_DIR
from monai_mcrecon.bundle.run_info import skip_finished
from monai_mcrecon.cli import main
from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.engines.resume import RandomStates, latest_checkpoint, resume_path
from monai_mcrecon.safe_io import PARTIAL_MARK, atomic_path

TRAIN = str(BUNDLES_DIR / "mc_cdic_recon" / "configs" / "train.json")
# tiny preset on one 64 x 64 x 8 crop of the sample: 2 iterations of 4 slices per epoch, no validation run
TINY = dict(preset="tiny", max_epochs=2, val_interval=10, patch_size=[32, 32], batch_size=4, checkpoint_interval=1, device="cpu")


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory, write_sample_crop) -> Path:
    root = tmp_path_factory.mktemp("train_data")
    write_sample_crop(root / "case0", (slice(60, 124), slice(80, 144), slice(4, 12)))
    return root


class Killed(Exception):
    """Stands for the process being killed (the handler raises it in the middle of an epoch)."""


def _instrumented(wf: ConfigWorkflow, kill_at: int | None) -> list:
    """Initialise ``wf`` and record ``(iteration, loss)`` of its trainer, raising :class:`Killed` at ``kill_at``."""
    wf.initialize()
    trainer = wf.parser.get_parsed_content("train#trainer")
    seen: list = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def _record(engine):
        seen.append((engine.state.iteration, float(engine.state.output[0]["loss"])))
        if kill_at is not None and engine.state.iteration == kill_at:
            raise Killed(f"killed at iteration {kill_at}")

    return seen


def _workflow(out: Path, data: Path, kill_at: int | None = None, **overrides) -> tuple[ConfigWorkflow, list]:
    wf = ConfigWorkflow(
        config_file=TRAIN, workflow_type="train", output_dir=str(out), dataset_dir=str(data), **{**TINY, **overrides}
    )
    return wf, _instrumented(wf, kill_at)


def _state(wf: ConfigWorkflow) -> dict:
    return {k: v.detach().clone() for k, v in wf.parser.get_parsed_content("network").state_dict().items()}


def test_killed_training_resumes_to_the_same_weights(tmp_path, train_dir):
    full, full_seen = _workflow(tmp_path / "full", train_dir)
    full.run()
    epoch_length = full.parser.get_parsed_content("train#trainer").state.epoch_length
    assert epoch_length >= 2

    killed, _ = _workflow(tmp_path / "run", train_dir, kill_at=epoch_length + 1)  # in the middle of epoch 2
    with pytest.raises(Exception) as err:
        killed.run()
    assert "killed at iteration" in repr(err.value) or isinstance(err.value.__cause__, Killed)
    ckpt = latest_checkpoint(tmp_path / "run")
    assert ckpt is not None and ckpt.endswith("checkpoint_epoch=1.pt")  # the last complete epoch
    saved = torch.load(ckpt, weights_only=True)  # plain tensors and numbers only
    assert {"model", "optimizer", "lr_scheduler", "trainer", "random_states"} <= set(saved)
    assert saved["trainer"]["iteration"] == epoch_length

    resumed, resumed_seen = _workflow(tmp_path / "run", train_dir, resume=True)
    resumed.run()
    trainer = resumed.parser.get_parsed_content("train#trainer")
    # it went on from the checkpoint (iterations of epoch 2 only) ...
    assert [i for i, _ in resumed_seen] == list(range(epoch_length + 1, 2 * epoch_length + 1))
    assert trainer.state.epoch == 2 and trainer.state.iteration == 2 * epoch_length
    # ... saw the same batches (same losses) and ends on the same weights as the uninterrupted run
    assert [l for _, l in resumed_seen] == [l for i, l in full_seen if i > epoch_length]
    a, b = _state(full), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    sched = resumed.parser.get_parsed_content("lr_scheduler")
    assert sched.last_epoch == 2 * epoch_length
    assert (tmp_path / "run" / "model_final.pt").is_file()


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--resume true but .* holds no checkpoint_\*\.pt"):
        resume_path(tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match="--resume_from .* does not exist"):
        resume_path(tmp_path, resume_from=str(tmp_path / "nope.pt"))
    assert resume_path(tmp_path, resume=False) is None
    (tmp_path / "checkpoint_epoch=3.pt").write_bytes(b"x")
    (tmp_path / "checkpoint_epoch=12.pt").write_bytes(b"x")
    (tmp_path / f".checkpoint_epoch=20.pt{PARTIAL_MARK}x.pt").write_bytes(b"")
    assert resume_path(tmp_path, resume="true").endswith("checkpoint_epoch=12.pt")


def test_random_states_round_trip_restores_monai_random_transforms():
    from monai.transforms import Compose, RandGaussianNoised, RandSpatialCropd

    t = Compose([RandSpatialCropd(keys="x", roi_size=(4, 4), random_size=False), RandGaussianNoised(keys="x", prob=1.0)])
    t.set_random_state(3)
    states = RandomStates(t)
    assert len(states.randomizables()) >= 4  # Compose, the two dictionary transforms and their array transforms
    data = {"x": torch.arange(100.0).reshape(1, 10, 10)}
    saved = states.state_dict()
    torch_before, np_before = torch.rand(3), np.random.rand(3)
    first = t(dict(data))["x"]
    states.load_state_dict(saved)
    assert torch.equal(torch.rand(3), torch_before) and np.array_equal(np.random.rand(3), np_before)
    assert torch.equal(t(dict(data))["x"], first)


# --------------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------------


def _half_then_fail(real_write_target_arg: int = 1):
    """A writer that writes half a file to the path it was given, then fails (disk full, kill)."""

    def fake(*args, **kwargs):
        path = Path(args[real_write_target_arg])
        path.write_bytes(b"\x00" * 100)
        raise OSError(28, "No space left on device")

    return fake


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_interrupted_nifti_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    from monai_mcrecon.data import volume

    arr = np.random.default_rng(0).random((6, 5, 2)).astype(np.float32)
    out = tmp_path / "pred.nii.gz"
    volume.save_nifti(arr, np.eye(4), out)
    before = out.read_bytes()
    monkeypatch.setattr(volume.nib, "save", _half_then_fail())
    with pytest.raises(OSError, match="No space left"):
        volume.save_nifti(arr * 2, np.eye(4), out)
    with pytest.raises(OSError):
        volume.save_nifti(arr, np.eye(4), tmp_path / "new.nii.gz")
    assert _listing(tmp_path) == ["pred.nii.gz"]  # no new.nii.gz, no temporary file
    assert out.read_bytes() == before  # the complete older file is intact
    monkeypatch.undo()
    np.testing.assert_array_equal(np.asarray(nib.load(str(out)).dataobj), arr)


def test_interrupted_dicom_series_leaves_only_complete_files(tmp_path, monkeypatch):
    import pydicom
    from pydicom.dataset import FileDataset

    from monai_mcrecon.data.dicom_write import write_dicom_series

    real = FileDataset.save_as
    calls = {"n": 0}

    def flaky(self, filename, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            Path(filename).write_bytes(b"DICM" * 10)
            raise OSError(5, "Input/output error")
        return real(self, filename, *args, **kwargs)

    monkeypatch.setattr(FileDataset, "save_as", flaky)
    vol = np.random.default_rng(0).random((8, 8, 4)).astype(np.float32)
    with pytest.raises(OSError, match="Input/output"):
        write_dicom_series(vol, tmp_path / "s", affine=np.eye(4))
    files = _listing(tmp_path / "s")
    assert files == ["IM0001.dcm", "IM0002.dcm"]  # the third never appears half-written
    for f in files:
        assert pydicom.dcmread(tmp_path / "s" / f).pixel_array.shape == (8, 8)


def test_interrupted_png_and_csv_writes(tmp_path, monkeypatch):
    from PIL import Image

    from monai_mcrecon.handlers.writers import MetricsCSVWriter
    from monai_mcrecon.transforms.natural import SaveNaturalImage

    monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: (Path(fp).write_bytes(b"\x89PNG"), 1 / 0))
    with pytest.raises(ZeroDivisionError):
        SaveNaturalImage(tmp_path / "png")(torch.rand(3, 8, 8), "case")
    assert _listing(tmp_path / "png") == []
    monkeypatch.undo()

    from monai_mcrecon.handlers import writers

    class FlakyWriter:
        def __init__(self, f):
            self.f, self.rows = f, 0

        def writerow(self, row):
            self.rows += 1
            if self.rows == 3:
                raise OSError(28, "No space left on device")
            self.f.write(",".join(map(str, row)) + "\n")

    monkeypatch.setattr(writers.csv, "writer", FlakyWriter)
    engine = type("E", (), {})()
    engine.state = type("S", (), {"metric_details": {"psnr": torch.tensor([[30.0], [31.0]])}})()
    engine.logger = __import__("logging").getLogger("t")
    w = MetricsCSVWriter(str(tmp_path / "csv"), {"psnr": "psnr"})
    with pytest.raises(OSError):
        w(engine)
    assert _listing(tmp_path / "csv") == []
    monkeypatch.undo()
    w(engine)
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    assert [r["case_id"] for r in rows] == ["mean", "case_000", "case_001"] and float(rows[0]["psnr"]) == 30.5


def test_atomic_path_keeps_the_extension_and_cleans_up(tmp_path):
    with atomic_path(tmp_path / "a.nii.gz") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz") and PARTIAL_MARK in tmp.name
        tmp.write_bytes(b"data")
    assert (tmp_path / "a.nii.gz").read_bytes() == b"data"
    with pytest.raises(OSError, match="produced no data"):
        with atomic_path(tmp_path / "b.csv"):
            pass
    assert _listing(tmp_path) == ["a.nii.gz"]


# --------------------------------------------------------------------------------------------------
# re-runs and many volumes
# --------------------------------------------------------------------------------------------------


def test_bundle_inference_skips_finished_cases_unless_overwrite(tmp_path):
    data = [{"case_id": "a", "t2": "a/t2.nii.gz"}, {"case_id": "b", "t2": "b/t2.nii.gz"}]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "t2_recon.nii.gz").write_bytes(b"done")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / f".t2_recon.nii.gz{PARTIAL_MARK}x.nii.gz").write_bytes(b"half")  # interrupted: not finished
    assert [d["case_id"] for d in skip_finished(data, str(tmp_path), "{case_id}/t2_recon.nii.gz")] == ["b"]
    assert len(skip_finished(data, str(tmp_path), "{case_id}/t2_recon.nii.gz", overwrite="true")) == 2
    # wired into the bundle: the datalist of inference.json leaves out the finished sample case
    parser = ConfigParser()
    parser.read_config(str(BUNDLES_DIR / "mc_cdic_recon" / "configs" / "inference.json"))
    parser["output_dir"] = str(tmp_path / "out")
    (tmp_path / "out" / "icbm_test_a").mkdir(parents=True)
    (tmp_path / "out" / "icbm_test_a" / "t2_recon.nii.gz").write_bytes(b"done")
    todo = parser.get_parsed_content("dataset#data")
    assert [d["case_id"] for d in todo] == ["icbm_test_b"]
    parser["overwrite"] = True
    parser.parse()
    assert [d["case_id"] for d in parser.get_parsed_content("dataset#data")] == ["icbm_test_a", "icbm_test_b"]


@pytest.fixture(scope="module")
def small_cases(tmp_path_factory) -> Path:
    """Two 64 x 64 x 2 crops of the sample (t2 target, t1 reference) and one damaged target."""
    root = tmp_path_factory.mktemp("cases")
    for case in ("icbm_test_a", "icbm_test_b"):
        for c in ("t1", "t2"):
            img = nib.load(str(Path(SAMPLE_DIR) / case / f"{c}.nii.gz"))
            arr = np.asarray(img.dataobj, dtype=np.float32)[60:124, 80:144, 7:9]
            nib.save(nib.Nifti1Image(arr, img.affine), str(root / f"{case}_{c}.nii.gz"))
    data = (root / "icbm_test_a_t2.nii.gz").read_bytes()
    (root / "broken_t2.nii.gz").write_bytes(data[: len(data) // 2])
    return root


def test_cli_over_many_volumes_continues_past_a_bad_case(small_cases, tmp_path, capsys):
    r = small_cases
    targets = [str(r / "icbm_test_a_t2.nii.gz"), str(r / "broken_t2.nii.gz"), str(r / "icbm_test_b_t2.nii.gz")]
    refs = [str(r / "icbm_test_a_t1.nii.gz"), str(r / "icbm_test_a_t1.nii.gz"), str(r / "icbm_test_b_t1.nii.gz")]
    out = tmp_path / "out"
    argv = ["reconstruct", "-t", *targets, "-r", *refs, "-o", str(out), "--device", "cpu", "--no-progress"]
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert "1 case(s) failed" in captured.err and "broken_t2: ValueError" in captured.err and "truncated" in captured.err
    assert "2 done, 0 skipped" in captured.out
    report = json.loads((out / "batch_report.json").read_text())
    assert sorted(report["done"]) == ["icbm_test_a_t2", "icbm_test_b_t2"] and list(report["failed"]) == ["broken_t2"]
    for case in ("icbm_test_a_t2", "icbm_test_b_t2"):
        pred = nib.load(str(out / case / f"{case}_recon.nii.gz"))
        assert pred.shape == (64, 64, 2) and np.isfinite(np.asarray(pred.dataobj)).all()
    assert not list(out.rglob(f"*{PARTIAL_MARK}*"))
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*_recon.nii.gz")}

    # the re-run skips the finished cases (untouched files), tries the bad one again, still exits non-zero
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert "0 done, 2 skipped" in captured.out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*_recon.nii.gz")} == stamp


def test_rerun_of_one_case_skips_and_completes_interrupted_runs(small_cases, tmp_path, capsys):
    from monai_mcrecon.bundle.run_info import RUN_INFO
    from monai_mcrecon.bundle.run_info import finished_case as _finished_case

    out = tmp_path / "one"
    out.mkdir()
    fp = {"version": 1, "command": "reconstruct", "options": {"task": "recon"}}  # see tests/reliability/test_stale_and_permissions.py
    (out / f".x_recon.nii.gz{PARTIAL_MARK}abc.nii.gz").write_bytes(b"half")  # left by a killed run
    assert _finished_case(out, overwrite=False, suffix="recon", log=lambda s: None, fingerprint=fp) is None
    assert _listing(out) == []  # the leftover was removed, the case will be redone
    (out / "x_recon.nii.gz").write_bytes(b"complete")
    (out / RUN_INFO).write_text(json.dumps({"nifti": str(out / "x_recon.nii.gz"), "fingerprint": fp}))
    done = _finished_case(out, overwrite=False, suffix="recon", log=lambda s: None, fingerprint=fp)
    assert done is not None and done["skipped"] is True
    assert _finished_case(out, overwrite=True, suffix="recon", log=lambda s: None, fingerprint=fp) is None
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"already holds \['notes.txt'\].*--overwrite"):
        _finished_case(out, overwrite=False, suffix="recon", log=lambda s: None, fingerprint=fp)
    assert os.path.exists(out / "notes.txt")


# train.json files with --ema_momentum; spdnet_derain's bundle test runs it, the others share its wiring (below)
WEIGHT_AVERAGE = ("spdnet_derain", "mc_cdic_recon", "mc_cdic_sr", "clgnet_recon")
RESUMABLE = ("mc_cdic_recon", "mc_cdic_sr", "clgnet_recon", "deep_rl_deblur", "spdnet_derain", "mstn_dehaze", "mdrn_denoise")


@pytest.mark.parametrize("bundle", WEIGHT_AVERAGE)
def test_weight_average_is_what_validation_scores_and_model_pt_holds(bundle):
    """The --ema_momentum wiring that spdnet_derain's bundle test runs: off by default; on, the WeightEMA handler
    trains along, and the validation evaluator and its best-metric saver (model.pt) use @eval_network."""
    config = json.loads((BUNDLES_DIR / bundle / "configs" / "train.json").read_text())
    assert config["ema_momentum"] == 0.0
    assert config["ema"].startswith("$monai_mcrecon.handlers.checkpoint.WeightEMA(@network, momentum=@ema_momentum)")
    assert config["eval_network"] == "$@ema.ema_model if @ema is not None else @network"
    assert config["train"]["trainer"]["train_handlers"] == "$@train#handlers + ([@ema] if @ema is not None else [])"
    assert config["validate"]["evaluator"]["network"] == "@eval_network"
    savers = [h for h in config["validate"]["handlers"] if h.get("_target_") == "CheckpointSaver"]
    assert [s["save_dict"] for s in savers] == [{"model": "@eval_network"}]


@pytest.mark.parametrize("bundle", RESUMABLE)
def test_train_configs_checkpoint_everything_a_resume_needs(bundle):
    config = json.loads((BUNDLES_DIR / bundle / "configs" / "train.json").read_text())
    assert config["resume"] is False and config["resume_from"] is None and config["checkpoint_interval"] >= 1
    expected = {"model": "@network", "optimizer": "@optimizer", "lr_scheduler": "@lr_scheduler", "random_states": "@random_states"}
    if bundle == "mdrn_denoise":
        expected["loss"] = "@loss"  # the HMDS feature adapters train with the student
    if bundle in WEIGHT_AVERAGE:  # plus the moving average of the weights (--ema_momentum)
        assert config["checkpoint_objects"] == (
            "$dict(" + ", ".join(f"{k}={v}" for k, v in expected.items())
            + ", **({'ema_model': @ema.ema_model} if @ema is not None else {}))"
        )
    else:
        assert config["checkpoint_objects"] == expected
    assert config["random_states"]["_target_"] == "monai_mcrecon.engines.resume.RandomStates"
    assert any("attach_checkpointing(@train#trainer" in str(x) and "resume_path(" in str(x) for x in config["initialize"])
    handlers = config["train"]["handlers"]
    savers = [h for h in handlers if h.get("_target_") == "CheckpointSaver"]
    # mdrn_denoise keeps its model-only model_final.pt (the teacher file a distillation run loads)
    assert savers == ([] if bundle != "mdrn_denoise" else [{**savers[0], "save_dict": {"model": "@network"}, "save_interval": 0}])
    assert '"lr_scheduler": "@lr_scheduler"' in json.dumps(handlers)


def _toy_trainer(epoch_length: int, shuffle: bool = True, n: int = 7, batch_size: int = 2):
    from monai.data import DataLoader
    from monai.engines import SupervisedTrainer

    from monai_mcrecon.engines.resume import make_data_order_resumable

    net = torch.nn.Linear(1, 1)
    data = [{"image": torch.tensor([float(i)]), "label": torch.tensor([0.0])} for i in range(n)]
    loader = DataLoader(data, batch_size=batch_size, shuffle=shuffle, drop_last=True)
    trainer = SupervisedTrainer(
        device="cpu", max_epochs=4, train_data_loader=loader, epoch_length=epoch_length, network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.0), loss_function=torch.nn.MSELoss(),
    )
    sampler = make_data_order_resumable(trainer, seed=5)
    seen: list = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: seen.append([int(d["image"]) for d in e.state.batch])  # decollated
    )
    return trainer, sampler, seen


@pytest.mark.parametrize("shuffle", [True, False])
def test_data_order_resumes_inside_a_data_pass(shuffle):
    """Epochs of 2 batches over passes of 3 (7 items, batch 2, drop_last): a resume after any
    epoch sees the batches of the uninterrupted run; the order ignores the global torch state."""
    full, sampler, full_seen = _toy_trainer(2, shuffle)
    full.run()
    assert len(full_seen) == 8 and len(full.data_loader) == 3
    if shuffle:  # a new permutation every pass (drop_last leaves one of the 7 items out of each)
        passes = [sum(full_seen[i : i + 3], []) for i in (0, 3)]
        assert passes[0] != passes[1] and all(len(set(p)) == 6 for p in passes)
    else:
        assert full_seen[:4] == [[0, 1], [2, 3], [4, 5], [0, 1]]
    for epochs_done in (1, 2, 3):
        resumed, r_sampler, seen = _toy_trainer(2, shuffle)
        r_sampler.load_state_dict(sampler.state_dict())
        resumed.state.iteration, resumed.state.epoch = 2 * epochs_done, epochs_done
        torch.rand(5)  # the global generator moved on: the data order does not depend on it
        resumed.run()
        assert seen == full_seen[2 * epochs_done :], epochs_done


def test_data_order_state_names_a_different_data_set():
    from monai_mcrecon.bundle.weights import WeightsError
    from monai_mcrecon.engines.resume import ResumableSampler

    with pytest.raises(WeightsError, match="covers 7 training items but this configuration has 9"):
        ResumableSampler(9).load_state_dict(ResumableSampler(7).state_dict())
    with pytest.raises(ValueError, match="no batch: 1 item"):
        _toy_trainer(2, n=1)


# natural-image bundles, tiny presets, 2 epochs of 2 iterations, killed at iteration 3. The data set
# of spdnet_derain / deep_rl_deblur / mdrn_denoise is a longer pass than an epoch (7 sample images,
# batches of 2: passes of 3 iterations), so the resume starts inside a pass and crosses into the next.
NATURAL = dict(preset="tiny", max_epochs=2, iterations_per_epoch=2, batch_size=2, patch_size=[32, 32],
               checkpoint_interval=1, val_interval=10, device="cpu", use_photos=False)  # the sample: 3 batches a pass


def _natural_workflow(bundle: str, out: Path, kill_at: int | None = None, **kw) -> tuple[ConfigWorkflow, list]:
    config = str(BUNDLES_DIR / bundle / "configs" / "train.json")
    wf = ConfigWorkflow(config_file=config, workflow_type="train", output_dir=str(out), **{**NATURAL, **kw})
    return wf, _instrumented(wf, kill_at)


def _kill_and_resume(bundle: str, root: Path, **kw) -> tuple[ConfigWorkflow, list, ConfigWorkflow, list]:
    full, full_seen = _natural_workflow(bundle, root / "full", **kw)
    full.run()
    killed, _ = _natural_workflow(bundle, root / "run", kill_at=3, **kw)
    with pytest.raises(Exception):
        killed.run()
    assert latest_checkpoint(root / "run").endswith("checkpoint_epoch=1.pt")
    resumed, resumed_seen = _natural_workflow(bundle, root / "run", resume=True, **kw)
    resumed.run()
    return full, full_seen, resumed, resumed_seen


@pytest.mark.parametrize("bundle", ["mstn_dehaze", "spdnet_derain", "deep_rl_deblur", "mdrn_denoise", "mdrn_denoise_hmds"])
def test_killed_natural_image_training_resumes_to_the_same_weights(bundle, tmp_path):
    """Killed in the middle of epoch 2, resumed with ``resume=True``: the same per-iteration losses
    and bit-identical weights as the uninterrupted run with the same seed."""
    kw: dict = {}
    if bundle == "mdrn_denoise_hmds":  # the HMDS student: teacher from a 2-iteration run, adapters checkpointed
        bundle = "mdrn_denoise"
        teacher, _ = _natural_workflow(bundle, tmp_path / "teacher", train_teacher=True, teacher_preset="tiny",
                                       max_epochs=1)
        teacher.run()
        kw = dict(distill=True, teacher_preset="tiny", teacher_ckpt=str(tmp_path / "teacher" / "model_final.pt"))
    full, full_seen, resumed, resumed_seen = _kill_and_resume(bundle, tmp_path, **kw)
    trainer = resumed.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 4 and [i for i, _ in resumed_seen] == [3, 4]
    if bundle != "mstn_dehaze":
        assert len(trainer.data_loader) == 3  # the resume starts inside a data pass
    assert [l for _, l in resumed_seen] == [l for i, l in full_seen if i > 2]
    a, b = _state(full), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    if kw:
        la, lb = (wf.parser.get_parsed_content("loss").state_dict() for wf in (full, resumed))
        assert la and all(torch.equal(la[k], lb[k]) for k in la)  # the feature adapters too
        final = torch.load(tmp_path / "run" / "model_final.pt", weights_only=True)
        assert set(final) == set(a)  # model_final.pt stays a plain state dict of the student


def test_resume_inside_a_data_pass_differs_without_the_data_order(tmp_path, monkeypatch):
    """The control: with the data loader as the config builds it (its position in the pass not
    restored), the resumed spdnet_derain run sees other batches and ends on other weights."""
    from monai_mcrecon.handlers import checkpoint

    monkeypatch.setattr(checkpoint, "make_data_order_resumable", lambda *a, **k: None)
    full, full_seen, resumed, resumed_seen = _kill_and_resume("spdnet_derain", tmp_path)
    assert [l for _, l in resumed_seen] != [l for i, l in full_seen if i > 2]
    a, b = _state(full), _state(resumed)
    assert not all(torch.equal(a[k], b[k]) for k in a)
