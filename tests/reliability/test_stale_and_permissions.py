"""Nothing silently stale, nothing unreadable (issue 22, item 4).

* a finished run is reused only when its inputs and options are the same (``run_info.json``
  fingerprint); otherwise the re-run is refused, naming what differs;
* output files get the permissions of the umask (not ``mkstemp``'s 0600);
* a failed run removes what it created, and nothing else;
* the README's MONAI Label command listens on loopback only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_mcrecon.cli import main
from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.data.dicom_write import write_dicom_series
from monai_mcrecon.bundle.run_info import RUN_INFO
from monai_mcrecon.commands.batch import run_many
from monai_mcrecon.commands.evaluate import evaluate
from monai_mcrecon.commands.restore import run_model
from monai_mcrecon.commands.simulate import simulate
from monai_mcrecon.data.volume import save_nifti
from monai_mcrecon.run_record import fingerprint_differences, remove_new_on_failure
from monai_mcrecon.safe_io import atomic_write_text

REPO = Path(__file__).resolve().parents[2]
FAST = {"device": "cpu", "progress": False, "log": lambda s: None}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """64 x 64 x 2 crops of the sample's two test cases (t2 targets, t1 references) and a damaged target."""
    root = tmp_path_factory.mktemp("inputs")
    for case in ("icbm_test_a", "icbm_test_b"):
        for c in ("t1", "t2"):
            img = nib.load(str(Path(SAMPLE_DIR) / case / f"{c}.nii.gz"))
            arr = np.asarray(img.dataobj, dtype=np.float32)[60:124, 80:144, 7:9]
            nib.save(nib.Nifti1Image(arr, img.affine), str(root / f"{case[-1]}_{c}.nii.gz"))
    data = (root / "a_t2.nii.gz").read_bytes()
    (root / "broken_t2.nii.gz").write_bytes(data[: len(data) // 2])
    return root


@pytest.fixture(scope="module")
def finished(inputs, tmp_path_factory) -> Path:
    """A finished ``reconstruct`` run (mc_cdic_recon, target a_t2, reference a_t1)."""
    out = tmp_path_factory.mktemp("finished") / "out"
    run_model(inputs / "a_t2.nii.gz", out, reference=inputs / "a_t1.nii.gz", **FAST)
    return out


def _stamp(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


# --------------------------------------------------------------------------------------------------
# 1. a finished run is reused only for the same inputs and options
# --------------------------------------------------------------------------------------------------


def test_same_inputs_and_options_skip_and_record_a_fingerprint(inputs, finished):
    info = json.loads((finished / RUN_INFO).read_text())
    fp = info["fingerprint"]
    assert fp["bundle"]["name"] == "mc_cdic_recon" and len(fp["weights"]["sha256"]) == 64
    assert fp["target"]["path"] == str((inputs / "a_t2.nii.gz").resolve()) and fp["target"]["sha256"]
    assert fp["reference"]["path"] == str((inputs / "a_t1.nii.gz").resolve())
    assert fp["options"]["task"] == "recon" and fp["options"]["register"] is True
    before = _stamp(finished)
    again = run_model(inputs / "a_t2.nii.gz", finished, reference=inputs / "a_t1.nii.gz", **FAST)
    assert again["skipped"] is True and _stamp(finished) == before


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"bundle": "clgnet_recon"}, r"bundle: 'mc_cdic_recon' -> 'clgnet_recon'"),
        ({"reference": "b_t1.nii.gz"}, r"reference: '.*a_t1\.nii\.gz' -> '.*b_t1\.nii\.gz'"),
        ({"target": "b_t2.nii.gz"}, r"target: '.*a_t2\.nii\.gz' -> '.*b_t2\.nii\.gz'"),
        ({"register": False}, r"register: True -> False"),
        ({"data_consistency": False}, r"data_consistency: True -> False"),
        ({"tile": (32, 32), "tile_margin": 4}, r"inference_options: \{\} -> \{'tile_size': \[32, 32\]"),
        ({"dicom": True}, r"dicom_output: False -> True"),
        ({"ckpt": "clgnet"}, r"weights: '.*mc_cdic_recon.*model\.pt' -> '.*clgnet_recon.*model\.pt'"),
    ],
)
def test_other_inputs_or_options_are_refused_naming_the_difference(inputs, finished, change, expected):
    kwargs = {"target": inputs / "a_t2.nii.gz", "reference": inputs / "a_t1.nii.gz", **FAST}
    for key in ("reference", "target"):
        if key in change:
            kwargs[key] = inputs / change[key]
    for key, value in change.items():
        if key not in ("reference", "target"):
            kwargs[key] = value
    if change.get("ckpt") == "clgnet":  # other weights for the same bundle (the file's content decides)
        kwargs["ckpt"] = REPO / "bundles" / "clgnet_recon" / "models" / "model.pt"
    before = _stamp(finished)
    refused = rf"finished run made from other inputs or options \(.*{expected}.*--overwrite.*--output"
    with pytest.raises(FileExistsError, match=refused):
        run_model(output=finished, **kwargs)
    assert _stamp(finished) == before  # the old result is untouched


def test_changed_input_content_is_refused_but_a_new_time_alone_is_not(inputs, finished, tmp_path):
    target = tmp_path / "a_t2.nii.gz"
    shutil.copy(inputs / "a_t2.nii.gz", target)
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    info = json.loads((out / RUN_INFO).read_text())
    info["fingerprint"]["target"]["path"] = str(target.resolve())  # as if the run had read this copy
    (out / RUN_INFO).write_text(json.dumps(info))
    os.utime(target, ns=(1, 1))  # the same bytes with another time: the content hash decides, still the same input
    assert run_model(target, out, reference=inputs / "a_t1.nii.gz", **FAST)["skipped"] is True
    arr = np.asarray(nib.load(str(target)).dataobj) * 2  # the same name, other voxels
    nib.save(nib.Nifti1Image(arr, nib.load(str(target)).affine), str(target))
    with pytest.raises(FileExistsError, match=r"target '.*a_t2\.nii\.gz' changed since the finished run"):
        run_model(target, out, reference=inputs / "a_t1.nii.gz", **FAST)


def test_a_finished_run_without_fingerprint_is_refused(inputs, finished, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(finished, out)
    info = json.loads((out / RUN_INFO).read_text())
    del info["fingerprint"]  # written by an older version
    (out / RUN_INFO).write_text(json.dumps(info))
    with pytest.raises(FileExistsError, match=r"records no fingerprint.*--overwrite.*--output"):
        run_model(inputs / "a_t2.nii.gz", out, reference=inputs / "a_t1.nii.gz", **FAST)
    assert "fingerprint" not in json.loads((out / RUN_INFO).read_text())


def test_cli_rerun_with_another_bundle_exits_non_zero(inputs, finished, capsys):
    before = _stamp(finished)
    argv = ["reconstruct", "-t", str(inputs / "a_t2.nii.gz"), "-r", str(inputs / "a_t1.nii.gz"), "-o", str(finished),
            "--bundle", "clgnet_recon", "--device", "cpu", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "bundle: 'mc_cdic_recon' -> 'clgnet_recon'" in err and "--overwrite" in err
    assert _stamp(finished) == before


def test_fingerprint_differences_of_tuples_and_lists_are_none():
    fp = {"version": 1, "command": "reconstruct", "options": {"tile": [32, 32]}}
    assert fingerprint_differences(json.loads(json.dumps(fp)), fp) == []
    assert fingerprint_differences(None, fp) and fingerprint_differences({**fp, "version": 0}, fp)


# --------------------------------------------------------------------------------------------------
# 2. output files honour the umask
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    vol = np.random.default_rng(0).random((8, 6, 3)).astype(np.float32)
    old = os.umask(umask)
    try:
        files = [save_nifti(vol, np.eye(4), tmp_path / "v.nii.gz"), atomic_write_text(tmp_path / "info.json", "{}\n")]
        files += [Path(f) for f in write_dicom_series(vol * 100, tmp_path / "dicom", affine=np.eye(4))["files"]]
        simulate(tmp_path / "v.nii.gz", tmp_path / "study", mask_type="equispaced", log=lambda s: None)
        files += sorted((tmp_path / "study").iterdir())  # NIfTI, mask.npy, JSON
    finally:
        os.umask(old)
    assert {p.suffix for p in files} >= {".gz", ".json", ".dcm", ".npy"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: oct(mode) for p in files}


# --------------------------------------------------------------------------------------------------
# 3. a failed run removes what it created, and only that
# --------------------------------------------------------------------------------------------------


def test_failed_run_leaves_no_output_folder(inputs, tmp_path):
    out = tmp_path / "new" / "nested" / "out"
    with pytest.raises(ValueError, match="truncated"):
        run_model(inputs / "broken_t2.nii.gz", out, reference=inputs / "a_t1.nii.gz", **FAST)
    assert not (tmp_path / "new").exists()  # the folders it created are gone too
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failed_run_keeps_what_was_there_before(inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "broken_t2_recon.nii.gz").write_bytes(b"from an interrupted run")
    with pytest.raises(ValueError, match="truncated"):
        run_model(inputs / "broken_t2.nii.gz", out, reference=inputs / "a_t1.nii.gz", **FAST)
    assert sorted(p.name for p in out.iterdir()) == ["broken_t2_recon.nii.gz"]
    assert (out / "broken_t2_recon.nii.gz").read_bytes() == b"from an interrupted run"


def test_failure_after_writing_removes_the_written_files(inputs, tmp_path, monkeypatch):
    import monai_mcrecon.data.dicom_write as dicom_module

    def broken_writer(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(dicom_module, "write_dicom_series", broken_writer)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        run_model(inputs / "a_t2.nii.gz", out, reference=inputs / "a_t1.nii.gz", dicom=True, **FAST)
    assert not out.exists()  # the NIfTI written before the failure is removed with the folder


def test_run_many_removes_a_failed_case_folder_and_reports_it(inputs, tmp_path):
    out = tmp_path / "batch"
    report = run_many([inputs / "broken_t2.nii.gz"], out, references=[inputs / "a_t1.nii.gz"], **FAST)
    assert list(report["failed"]) == ["broken_t2"] and "truncated" in report["failed"]["broken_t2"]
    assert sorted(p.name for p in out.iterdir()) == ["batch_report.json"]
    assert json.loads((out / "batch_report.json").read_text())["failed"] == report["failed"]


def test_failed_simulate_and_evaluate_leave_no_folder(inputs, tmp_path):
    with pytest.raises(ValueError, match="2-D"):  # fails after truth / target / mask were written
        simulate(inputs / "a_t2.nii.gz", tmp_path / "sim", mask_type="poisson2d", coils=2, log=lambda s: None)
    assert not (tmp_path / "sim").exists()
    small = tmp_path / "small.nii.gz"
    save_nifti(np.ones((4, 4, 2), np.float32), np.eye(4), small)
    with pytest.raises(ValueError):  # another grid than the truth's
        evaluate(small, inputs / "a_t2.nii.gz", tmp_path / "eval", log=lambda s: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.nii.gz"]


def test_remove_new_on_failure_keeps_old_entries_and_removes_new_ones(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("x")
    with pytest.raises(RuntimeError), remove_new_on_failure(tmp_path) as folder:
        (folder / "old" / "new.txt").write_text("y")
        (folder / "sub").mkdir()
        (folder / "sub" / "f").write_text("z")
        raise RuntimeError("boom")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["old", "old/keep.txt"]
    with remove_new_on_failure(tmp_path / "ok") as folder:  # success: nothing is removed
        folder.mkdir()
    assert (tmp_path / "ok").is_dir()


# --------------------------------------------------------------------------------------------------
# 5. the README's MONAI Label command binds to loopback
# --------------------------------------------------------------------------------------------------


def _label_commands(text: str) -> list[list[str]]:
    """Shell commands of fenced code blocks that start a MONAI Label server (continuation lines joined)."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):  # a fence opens or closes a block
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    commands = []
    for block in blocks:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if "start_server" in line or "monai_mcrecon.label.validation" in line:
                commands.append(shlex.split(line, comments=True))
    return commands


def _binds_to_loopback(argv: list[str]) -> bool:
    import ipaddress

    hosts = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--host", "-h")]
    hosts += [a.split("=", 1)[1] for a in argv if a.startswith("--host=")]
    def is_loopback(host: str) -> bool:
        try:
            return host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:  # another host name
            return False

    loopback = all(is_loopback(h) for h in hosts)
    if "monai_mcrecon.label.validation" in argv:  # the package's launcher: loopback unless told otherwise
        return "--allow-remote" not in argv and loopback
    return bool(hosts) and loopback


def test_readme_monai_label_command_listens_on_loopback():
    commands = _label_commands((REPO / "README.md").read_text())
    assert commands, "the README shows no command that starts the MONAI Label server"
    for argv in commands:
        assert _binds_to_loopback(argv), f"README command binds to every interface: {' '.join(argv)}"
    # the check itself: monailabel's default (no --host) is 0.0.0.0
    assert not _binds_to_loopback(shlex.split("monailabel start_server --app a --studies s"))
    assert not _binds_to_loopback(shlex.split("monailabel start_server --app a --host 0.0.0.0"))
    assert _binds_to_loopback(shlex.split("python -m monai_mcrecon.label.validation --studies s"))
