"""Readable volumes whose content or pairing is wrong: NaN / infinite and all-zero volumes and a reference
outside the target's field of view (refused by the command before the model runs), one --reference per
--target, and target and reference of different shape in a bundle's pipeline (docs/reliability.md,
"Content" and "Configuration")."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_mcrecon.cli import main
from monai_mcrecon.commands.restore import run_model
from monai_mcrecon.data import SAMPLE_DIR

QUIET = {"log": lambda s: None}


def _nifti(path: Path, arr: np.ndarray, affine=None) -> Path:
    nib.save(nib.Nifti1Image(arr, np.eye(4) if affine is None else affine), str(path))
    return path


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory) -> Path:
    """3 slices of the sample's t2 / t1 (the CLI's test case), for the checks that run before a bundle."""
    root = tmp_path_factory.mktemp("pair")
    for c in ("t1", "t2"):
        img = nib.load(str(Path(SAMPLE_DIR) / "icbm_test_a" / f"{c}.nii.gz"))
        _nifti(root / f"{c}.nii.gz", np.asarray(img.dataobj, dtype=np.float32)[:, :, 6:9], img.affine)
    return root


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_target_is_refused_before_the_model_runs(tmp_path, small_pair, bad):
    arr = np.asarray(nib.load(str(small_pair / "t2.nii.gz")).dataobj, dtype=np.float32).copy()
    arr[3, 4, 1] = bad
    arr[5, 5, 0] = bad
    target = _nifti(tmp_path / "t2.nii.gz", arr, nib.load(str(small_pair / "t2.nii.gz")).affine)
    with pytest.raises(ValueError, match=r"target .* has 2 NaN or infinite voxel\(s\)"):
        run_model(target, tmp_path / "out", reference=small_pair / "t1.nii.gz", device="cpu", **QUIET)
    assert not (tmp_path / "out" / "t2_recon.nii.gz").exists()


def test_all_zero_volumes_are_refused(tmp_path, small_pair):
    zero = _nifti(tmp_path / "t2.nii.gz", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"target .* is all zero: nothing to reconstruct"):
        run_model(zero, tmp_path / "a", reference=small_pair / "t1.nii.gz", device="cpu", **QUIET)
    with pytest.raises(ValueError, match=r"reference .* is all zero"):
        run_model(small_pair / "t2.nii.gz", tmp_path / "b", reference=zero, device="cpu", **QUIET)
    assert main(["simulate", "-i", str(zero), "-o", str(tmp_path / "c")]) == 1


def test_reference_outside_the_target_field_of_view(tmp_path, small_pair):
    img = nib.load(str(small_pair / "t1.nii.gz"))
    far = img.affine.copy()
    far[:3, 3] += 10_000.0  # 10 m away: no overlap
    ref = _nifti(tmp_path / "t1_far.nii.gz", np.asarray(img.dataobj, dtype=np.float32), far)
    with pytest.raises(ValueError, match="does not overlap the target's field of view"):
        run_model(small_pair / "t2.nii.gz", tmp_path / "o", reference=ref, register=False, device="cpu", **QUIET)


def test_cli_several_references_for_one_target(small_pair, tmp_path, capsys):
    t2, t1 = str(small_pair / "t2.nii.gz"), str(small_pair / "t1.nii.gz")
    assert main(["reconstruct", "-t", t2, "-r", t1, t1, "-o", str(tmp_path / "o")]) == 1
    assert "one --reference per --target" in capsys.readouterr().err
    assert main(["reconstruct", "-t", t2, t2, "-r", t1, t1, t1, "-o", str(tmp_path / "o")]) == 1
    assert "one --reference per --target" in capsys.readouterr().err


def test_target_and_reference_of_different_shape_in_a_bundle_pipeline():
    from monai_mcrecon.transforms import CheckPairedShaped

    d = {"case_id": "c3", "target": torch.zeros(1, 4, 5), "reference": torch.zeros(1, 4, 6)}
    with pytest.raises(ValueError, match=r"'c3'.*\(1, 4, 5\).*\(1, 4, 6\)"):
        CheckPairedShaped(keys=["target", "reference"])(d)
