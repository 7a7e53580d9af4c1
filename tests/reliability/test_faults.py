"""Faults: nothing lost.

* Training killed mid-run resumes from its last checkpoint (model, optimizer, scheduler, engine
  state, random states of torch / numpy / Python and of MONAI's random transforms) and ends with
  the same weights as an uninterrupted run with the same seed: the real ``mc_cdic_recon``
  ``train.json`` with ``resume=True`` (``--resume true``).
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

from monai_mcrecon.bundles import BUNDLES_DIR, RandomStates, latest_checkpoint, resume_path, skip_finished
from monai_mcrecon.cli import main
from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.safe_io import PARTIAL_MARK, atomic_path

TRAIN = str(BUNDLES_DIR / "mc_cdic_recon" / "configs" / "train.json")
# tiny preset on one 64 x 64 x 8 crop of the sample: 2 iterations of 4 slices per epoch, no validation run
TINY = dict(preset="tiny", max_epochs=2, val_interval=10, patch_size=[32, 32], batch_size=4, checkpoint_interval=1, device="cpu")


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train_data")
    (root / "case0").mkdir()
    for c in ("t1", "t2"):
        img = nib.load(str(Path(SAMPLE_DIR) / "icbm_test_a" / f"{c}.nii.gz"))
        arr = np.asarray(img.dataobj, dtype=np.float32)[60:124, 80:144, 4:12]
        nib.save(nib.Nifti1Image(arr, img.affine), str(root / "case0" / f"{c}.nii.gz"))
    return root


class Killed(Exception):
    """Stands for the process being killed (the handler raises it in the middle of an epoch)."""


def _workflow(out: Path, data: Path, kill_at: int | None = None, **overrides) -> tuple[ConfigWorkflow, list]:
    wf = ConfigWorkflow(
        config_file=TRAIN, workflow_type="train", output_dir=str(out), dataset_dir=str(data), **{**TINY, **overrides}
    )
    wf.initialize()
    trainer = wf.parser.get_parsed_content("train#trainer")
    seen: list = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def _record(engine):
        seen.append((engine.state.iteration, float(engine.state.output[0]["loss"])))
        if kill_at is not None and engine.state.iteration == kill_at:
            raise Killed(f"killed at iteration {kill_at}")

    return wf, seen


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
    from monai_mcrecon import pipeline

    arr = np.random.default_rng(0).random((6, 5, 2)).astype(np.float32)
    out = tmp_path / "pred.nii.gz"
    pipeline.save_nifti(arr, np.eye(4), out)
    before = out.read_bytes()
    monkeypatch.setattr(pipeline.nib, "save", _half_then_fail())
    with pytest.raises(OSError, match="No space left"):
        pipeline.save_nifti(arr * 2, np.eye(4), out)
    with pytest.raises(OSError):
        pipeline.save_nifti(arr, np.eye(4), tmp_path / "new.nii.gz")
    assert _listing(tmp_path) == ["pred.nii.gz"]  # no new.nii.gz, no temporary file
    assert out.read_bytes() == before  # the complete older file is intact
    monkeypatch.undo()
    np.testing.assert_array_equal(np.asarray(nib.load(str(out)).dataobj), arr)


def test_interrupted_dicom_series_leaves_only_complete_files(tmp_path, monkeypatch):
    import pydicom
    from pydicom.dataset import FileDataset

    from monai_mcrecon.data.dicom import write_dicom_series

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

    import monai_mcrecon.handlers.writers as writers

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
    from monai_mcrecon.pipeline import RUN_INFO, _finished_case

    out = tmp_path / "one"
    out.mkdir()
    (out / f".x_recon.nii.gz{PARTIAL_MARK}abc.nii.gz").write_bytes(b"half")  # left by a killed run
    assert _finished_case(out, overwrite=False, suffix="recon", log=lambda s: None) is None
    assert _listing(out) == []  # the leftover was removed, the case will be redone
    (out / "x_recon.nii.gz").write_bytes(b"complete")
    (out / RUN_INFO).write_text(json.dumps({"nifti": str(out / "x_recon.nii.gz")}))
    done = _finished_case(out, overwrite=False, suffix="recon", log=lambda s: None)
    assert done is not None and done["skipped"] is True
    assert _finished_case(out, overwrite=True, suffix="recon", log=lambda s: None) is None
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"already holds \['notes.txt'\].*--overwrite"):
        _finished_case(out, overwrite=False, suffix="recon", log=lambda s: None)
    assert os.path.exists(out / "notes.txt")


RESUMABLE = ("mc_cdic_recon", "mc_cdic_sr", "clgnet_recon", "deep_rl_deblur", "spdnet_derain", "mstn_dehaze")


@pytest.mark.parametrize("bundle", RESUMABLE)
def test_train_configs_checkpoint_everything_a_resume_needs(bundle):
    config = json.loads((BUNDLES_DIR / bundle / "configs" / "train.json").read_text())
    assert config["resume"] is False and config["resume_from"] is None and config["checkpoint_interval"] >= 1
    assert config["checkpoint_objects"] == {
        "model": "@network", "optimizer": "@optimizer", "lr_scheduler": "@lr_scheduler", "random_states": "@random_states"
    }
    assert config["random_states"]["_target_"] == "monai_mcrecon.bundles.RandomStates"
    assert any("attach_checkpointing(@train#trainer" in str(x) and "resume_path(" in str(x) for x in config["initialize"])
    handlers = json.dumps(config["train"]["handlers"])
    assert '"CheckpointSaver"' not in handlers and '"lr_scheduler": "@lr_scheduler"' in handlers


def test_killed_natural_image_training_resumes_to_the_same_weights(tmp_path):
    """The same on a natural-image bundle (MSTN dehazing, tiny preset, 2 x 2 iterations)."""
    config = str(BUNDLES_DIR / "mstn_dehaze" / "configs" / "train.json")
    common = dict(preset="tiny", max_epochs=2, iterations_per_epoch=2, batch_size=2, patch_size=[32, 32],
                  checkpoint_interval=1, val_interval=10, device="cpu")

    def workflow(out, kill_at=None, **kw):
        wf = ConfigWorkflow(config_file=config, workflow_type="train", output_dir=str(tmp_path / out), **{**common, **kw})
        wf.initialize()
        trainer = wf.parser.get_parsed_content("train#trainer")

        @trainer.on(Events.ITERATION_COMPLETED)
        def _kill(engine):
            if engine.state.iteration == kill_at:
                raise Killed("killed")

        return wf

    full = workflow("full")
    full.run()
    killed = workflow("run", kill_at=3)
    with pytest.raises(Exception):
        killed.run()
    resumed = workflow("run", resume=True)
    resumed.run()
    assert resumed.parser.get_parsed_content("train#trainer").state.iteration == 4
    a, b = _state(full), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
