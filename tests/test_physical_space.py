"""Volumes are paired and compared in physical space, never by array index (issue 22, item 1).

The real T1 volume nibabel ships for its tests (``anatomical.nii``: 33x41x25, 2 mm, a left-handed
LAS grid) is stored again on RAS and LPS grids, as DICOM series in both slice orders, and as a
simulated fastMRI h5 acquisition; every route must find the same voxels in the same place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_mcrecon.data import FastMRIVolume, read_dicom_series, write_dicom_series, write_fastmri_h5
from monai_mcrecon.data.grid import match_to_grid, voxel_correspondence
from monai_mcrecon.commands.evaluate import evaluate
from monai_mcrecon.commands.pairing import INDEX_PAIRING_WARNING, resample_reference
from monai_mcrecon.commands.restore import run_model
from monai_mcrecon.commands.simulate import simulate
from monai_mcrecon.data.volume import Volume, load_volume

ANATOMICAL = Path(os.path.dirname(nib.__file__)) / "tests" / "data" / "anatomical.nii"


def _flip_axes(arr: np.ndarray, affine: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels stored with ``axes`` reversed (another handedness / slice order)."""
    f = np.eye(4)
    for a in axes:
        f[a, a], f[a, 3] = -1.0, arr.shape[a] - 1
    return np.ascontiguousarray(np.flip(arr, axes)), affine @ f


@pytest.fixture(scope="module")
def t1() -> Volume:
    img = nib.load(str(ANATOMICAL))
    arr = np.asarray(img.dataobj, dtype=np.float32)
    assert arr.shape == (33, 41, 25) and nib.aff2axcodes(img.affine) == ("L", "A", "S")
    return Volume(arr, np.asarray(img.affine, dtype=np.float64), "nifti", ANATOMICAL)


@pytest.fixture(scope="module")
def grids(t1, tmp_path_factory) -> dict[str, Path]:
    """The T1 as NIfTI on LAS (as shipped), RAS and LPS grids, and as DICOM in both slice orders."""
    root = tmp_path_factory.mktemp("grids")
    files = {}
    for name, axes in (("las", ()), ("ras", (0,)), ("lps", (1,)), ("las_feet_first", (2,))):
        arr, aff = _flip_axes(t1.array, t1.affine, axes)
        files[name] = root / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(arr, aff), str(files[name]))
    for name, axes in (("dicom_head_first", ()), ("dicom_feet_first", (2,))):
        arr, aff = _flip_axes(t1.array, t1.affine, axes)
        write_dicom_series(arr, root / name, affine=aff)
        files[name] = root / name
    return files


def test_voxel_correspondence_finds_flips_and_permutations(t1):
    for axes in ((0,), (1,), (2,), (0, 2), (0, 1, 2)):
        arr, aff = _flip_axes(t1.array, t1.affine, axes)
        match = voxel_correspondence(arr.shape, aff, t1.array.shape, t1.affine)
        assert match is not None and sorted(d for d, f in enumerate(match[1]) if f) == sorted(axes)
        back, how = match_to_grid(arr, aff, t1.array.shape, t1.affine)
        assert how.startswith("reordered") and np.array_equal(back, t1.array)
    shifted = t1.affine.copy()
    shifted[0, 3] += 0.5  # half a voxel: other voxel centres
    assert voxel_correspondence(t1.array.shape, shifted, t1.array.shape, t1.affine) is None


def test_dicom_in_both_slice_orders_reads_back_in_place(t1, grids):
    for name in ("dicom_head_first", "dicom_feet_first"):
        arr, meta = read_dicom_series(grids[name])
        back, _ = match_to_grid(arr, np.asarray(meta["affine"]), t1.array.shape, t1.affine)
        # DICOM stores 16-bit integers: a quantisation error well below 0.1 % of the range
        assert np.abs(back - t1.array).max() < 1e-3 * float(t1.array.max()), name


@pytest.mark.parametrize("pred_name", ["ras", "lps", "las_feet_first", "dicom_feet_first", "dicom_head_first"])
def test_evaluate_compares_in_physical_space(grids, pred_name, tmp_path):
    """The truth against the same voxels stored on another grid: no error at all (NIfTI) or only
    DICOM quantisation; comparing by array index would give a low PSNR."""
    rows = evaluate(grids[pred_name], grids["las"], tmp_path / "m", log=lambda *_: None)
    pred = {r["name"]: r for r in rows}["prediction"]
    assert pred["nmse"] < 1e-6 and pred["ssim"] > 0.999, pred
    assert "physical space" in (tmp_path / "m" / "metrics.md").read_text()


def test_evaluate_resamples_another_sampling(t1, tmp_path):
    """A prediction on a grid shifted by one voxel along X (another field of view): resampled by
    the affines, so the overlapping voxels match exactly."""
    shifted = t1.affine.copy()
    shifted[:3, 3] += shifted[:3, 0]  # voxel i of the new grid is voxel i + 1 of the truth's
    pred = np.zeros_like(t1.array)
    pred[:-1] = t1.array[1:]
    nib.save(nib.Nifti1Image(pred, shifted), str(tmp_path / "pred.nii.gz"))
    truth = t1.array.copy()
    truth[0] = 0  # the one X plane outside the prediction's field of view
    nib.save(nib.Nifti1Image(truth, t1.affine), str(tmp_path / "truth.nii.gz"))
    rows = evaluate(tmp_path / "pred.nii.gz", tmp_path / "truth.nii.gz", tmp_path / "m", log=lambda *_: None)
    assert rows[0]["nmse"] < 1e-10, rows  # index pairing: NMSE about 0.3


def test_reference_in_reverse_slice_order_is_reordered_not_index_paired(t1, grids):
    ref = load_volume(grids["dicom_feet_first"], log=lambda *_: None)
    assert not np.allclose(ref.affine, t1.affine)  # stored the other way round
    out, info = resample_reference(ref, Volume(t1.array.copy(), t1.affine.copy(), "nifti", ANATOMICAL), log=lambda *_: None)
    assert info["action"].startswith("reordered")
    assert np.abs(out.array - t1.array).max() < 1e-3 * float(t1.array.max())


def test_simulated_h5_records_geometry_and_pairs_with_a_dicom_reference(t1, grids, tmp_path):
    study = tmp_path / "study"
    simulate(ANATOMICAL, study, single_coil_h5=True, log=lambda *_: None)
    with FastMRIVolume(study / "target_kspace.h5") as vol:
        np.testing.assert_allclose(vol.patient_affine, t1.affine)
    tgt = load_volume(study / "target_kspace.h5", log=lambda *_: None)
    assert tgt.info["has_geometry"] and np.allclose(tgt.affine, t1.affine)
    assert json.loads((study / "simulation.json").read_text())["affine"] == t1.affine.tolist()
    ref = load_volume(grids["dicom_feet_first"], log=lambda *_: None)
    out, info = resample_reference(ref, tgt, log=lambda *_: None)
    assert info["action"].startswith("reordered") and "warning" not in info
    assert np.abs(out.array - t1.array).max() < 1e-3 * float(t1.array.max())


def test_h5_without_geometry_is_paired_by_index_with_a_warning(t1, tmp_path):
    from monai_mcrecon.kspace import fft2c

    import torch

    k = fft2c(torch.from_numpy(np.moveaxis(t1.array, -1, 0)).to(torch.complex64))
    write_fastmri_h5(tmp_path / "raw.h5", k)
    tgt = load_volume(tmp_path / "raw.h5", log=lambda *_: None)
    assert not tgt.info["has_geometry"]
    logged: list[str] = []
    _, info = resample_reference(
        Volume(t1.array, t1.affine, "nifti", ANATOMICAL), tgt, log=logged.append
    )
    assert info["action"] == "paired by index" and info["warning"] == INDEX_PAIRING_WARNING
    assert any(INDEX_PAIRING_WARNING in line for line in logged)


def test_readme_h5_with_dicom_reference_example_is_right_in_physical_space(t1, grids, tmp_path):
    """The README's ``reconstruct -t study/target_kspace.h5 -r t1_dicom/`` with the DICOM stored
    feet first: the output lies on the truth's grid and matches it (index pairing gave a head-foot
    reversed result)."""
    study = tmp_path / "study"
    simulate(ANATOMICAL, study, single_coil_h5=True, log=lambda *_: None)
    result = run_model(
        study / "target_kspace.h5", tmp_path / "recon", reference=grids["dicom_feet_first"], device="cpu",
        progress=False, log=lambda *_: None,
    )
    assert result["reference_handling"]["action"].startswith("reordered") and result["warnings"] == []
    rows = evaluate(result["nifti"], study / "truth.nii.gz", tmp_path / "m", log=lambda *_: None)
    reversed_truth = tmp_path / "reversed.nii.gz"
    nib.save(nib.Nifti1Image(t1.array[:, :, ::-1].copy(), t1.affine), str(reversed_truth))
    wrong = evaluate(result["nifti"], reversed_truth, tmp_path / "w", log=lambda *_: None)
    assert rows[0]["ssim"] > 0.8 and rows[0]["psnr"] > wrong[0]["psnr"] + 5, (rows, wrong)


def test_lr_grid_super_resolution_places_a_feet_first_reference_in_physical_space(t1, grids, tmp_path):
    study = tmp_path / "study"
    simulate(ANATOMICAL, study, task="sr", scale=2.0, lr_grid=True, log=lambda *_: None)
    result = run_model(
        study / "target_degraded.nii.gz", tmp_path / "sr", reference=grids["las_feet_first"], task="sr",
        device="cpu", progress=False, log=lambda *_: None,
    )
    assert "reordered" in result["reference_handling"]["reason"]
    np.testing.assert_allclose(result["affine"], t1.affine, atol=1e-6)  # the HR grid of the LR target
    rows = evaluate(result["nifti"], study / "truth.nii.gz", tmp_path / "m", log=lambda *_: None)
    assert rows[0]["ssim"] > 0.8, rows


def test_bundle_route_pairs_contrasts_in_physical_space(t1, grids, tmp_path):
    """The bundles' ``CheckPairedShaped``: a feet-first reference of the same matrix is re-indexed
    onto the target's grid; one elsewhere in space is refused with the command's advice."""
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

    from monai_mcrecon.transforms import CheckPairedShaped

    load = Compose([LoadImaged(["target", "reference"]), EnsureChannelFirstd(["target", "reference"])])
    d = CheckPairedShaped(["target", "reference"])(load({"target": grids["las"], "reference": grids["las_feet_first"]}))
    assert np.array_equal(d["reference"].numpy()[0], t1.array)
    np.testing.assert_allclose(d["reference"].affine.numpy(), d["target"].affine.numpy())
    moved = t1.affine.copy()
    moved[2, 3] += 4.0  # two slices higher: another place
    nib.save(nib.Nifti1Image(t1.array, moved), str(tmp_path / "moved.nii.gz"))
    with pytest.raises(ValueError, match="lies elsewhere in physical space.*monai-mcrecon reconstruct"):
        CheckPairedShaped(["target", "reference"])(load({"target": grids["las"], "reference": tmp_path / "moved.nii.gz"}))
