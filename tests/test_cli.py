"""Tests of the ``monai-mcrecon`` command (in-process through ``main``) and :mod:`monai_mcrecon.commands`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from monai_mcrecon.cli import main
from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.kspace import create_mask_func, ifft2c, rss, undersample_image
from monai_mcrecon.metrics.functional import nmse, psnr, ssim
from monai_mcrecon.commands.pairing import resample_reference
from monai_mcrecon.data.volume import Volume, load_volume

SLICES = slice(6, 9)  # 3 axial slices of the sample's test case


def _slices(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(arr, -1, 0))).double()


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    """3 slices of icbm_test_a (t2 target, t1 reference) with the sample's affine."""
    root = tmp_path_factory.mktemp("case")
    for c in ("t1", "t2"):
        img = nib.load(str(Path(SAMPLE_DIR) / "icbm_test_a" / f"{c}.nii.gz"))
        arr = np.asarray(img.dataobj, dtype=np.float32)[:, :, SLICES]
        nib.save(nib.Nifti1Image(arr, img.affine), str(root / f"{c}.nii.gz"))
    return root


@pytest.fixture(scope="module")
def study(case, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "study"
    rc = main(
        ["simulate", "-i", str(case / "t2.nii.gz"), "-r", str(case / "t1.nii.gz"), "-o", str(out), "--coils", "4", "--snr-db", "40"]
    )
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def recon(study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("recon") / "recon"
    rc = main(
        [
            "reconstruct", "-t", str(study / "target_degraded.nii.gz"), "-r", str(study / "reference.nii.gz"),
            "-o", str(out), "--device", "cpu", "--batch-size", "2", "--no-progress",
        ]
    )
    assert rc == 0
    return out


def test_help_of_every_subcommand(capsys):
    assert main(["--help"]) == 0
    assert "reconstruct" in capsys.readouterr().out
    expected = {
        "reconstruct": ["--target", "--reference", "--bundle", "--device", "--batch-size", "--no-register", "--dicom",
                        "--coil-combine", "--crop-to-recon-size", "--overwrite", "--ckpt", "example:", "mc_cdic_recon"],
        "super-resolve": ["--target", "--reference", "--bundle", "--batch-size", "mc_cdic_sr", "example:"],
        "simulate": ["--task", "--mask-type", "--acceleration", "--seed", "--coils", "--snr-db", "--scale", "--lr-grid",
                     "--reference", "example:", "default: 4.0"],
        "evaluate": ["--pred", "--truth", "--input", "--output", "metrics.csv", "comparison.png", "example:"],
    }
    for cmd, words in expected.items():
        assert main([cmd, "--help"]) == 0
        text = capsys.readouterr().out
        for w in words:
            assert w in text, (cmd, w)


def test_simulate_recon_files_and_zero_filled_psnr(case, study):
    truth, affine = _load(study / "truth.nii.gz")
    t2, t2_affine = _load(case / "t2.nii.gz")
    np.testing.assert_array_equal(truth, t2)
    np.testing.assert_allclose(affine, t2_affine)
    degraded, d_affine = _load(study / "target_degraded.nii.gz")
    assert degraded.shape == (193, 229, 3)
    np.testing.assert_allclose(d_affine, t2_affine)
    mask = np.load(study / "mask.npy")
    assert mask.shape == (1, 229)
    info = json.loads((study / "mask.json").read_text())
    assert info["mask_type"] == "mc_cdic" and info["realised_acceleration"] == pytest.approx(229 / mask.sum())
    # the same mask as the project's mask function, and the same zero-filled image as undersample_image
    expected_mask = create_mask_func("mc_cdic", 4.0)((193, 229), seed=42).mask
    np.testing.assert_array_equal(mask, expected_mask.numpy())
    _, zf = undersample_image(_slices(t2), expected_mask.double())
    np.testing.assert_allclose(_slices(degraded), zf, atol=1e-3)
    assert float(psnr(_slices(t2), _slices(degraded))) == pytest.approx(float(psnr(_slices(t2), zf)), abs=1e-3)
    ref, _ = _load(study / "reference.nii.gz")
    np.testing.assert_array_equal(ref, _load(case / "t1.nii.gz")[0])


def test_simulate_multicoil_h5(study):
    with h5py.File(study / "target_kspace.h5", "r") as f:
        k = f["kspace"][()]
        assert k.shape == (3, 4, 193, 229)
        mask = f["mask"][()]
        np.testing.assert_array_equal(mask, np.load(study / "mask.npy")[0].astype(bool))
        assert np.all(k[..., ~mask] == 0)
        assert f["reconstruction_rss"].shape == (3, 193, 229)
        truth = f["reconstruction_rss"][()]
    t2, _ = _load(study / "truth.nii.gz")
    # RSS-normalised maps: the fully sampled RSS is the truth up to the 40 dB k-space noise
    assert float(psnr(_slices(t2), torch.from_numpy(truth).double())) > 35
    vol = load_volume(study / "target_kspace.h5", coil_combine="rss", log=lambda s: None)
    assert vol.array.shape == (193, 229, 3) and vol.kind == "h5"
    expected = rss(ifft2c(torch.from_numpy(k[1])))
    np.testing.assert_allclose(vol.array[:, :, 1], expected.numpy(), rtol=1e-5, atol=1e-4)


def test_reconstruct_beats_zero_filled_and_keeps_affine(study, recon):
    out = recon / "target_degraded_recon.nii.gz"
    pred, affine = _load(out)
    truth, t_affine = _load(study / "truth.nii.gz")
    assert pred.shape == truth.shape
    np.testing.assert_allclose(affine, t_affine, atol=1e-5)
    zf, _ = _load(study / "target_degraded.nii.gz")
    p_pred, p_zf = float(psnr(_slices(truth), _slices(pred))), float(psnr(_slices(truth), _slices(zf)))
    assert p_pred > p_zf + 3, (p_pred, p_zf)
    info = json.loads((recon / "run_info.json").read_text())
    assert info["bundle"] == "mc_cdic_recon" and info["batch_size"] == 2 and info["dicom"] is None


def test_reconstruct_h5_one_output_slice_per_h5_slice(study, tmp_path):
    out = tmp_path / "recon_h5"
    rc = main(
        [
            "reconstruct", "-t", str(study / "target_kspace.h5"), "-r", str(study / "reference.nii.gz"), "-o", str(out),
            "--device", "cpu", "--coil-combine", "sense", "--no-progress",
        ]
    )
    assert rc == 0
    pred, affine = _load(out / "target_kspace_recon.nii.gz")
    with h5py.File(study / "target_kspace.h5", "r") as f:
        num_slices = f["kspace"].shape[0]
    assert pred.shape == (193, 229, num_slices)
    # an h5 file has no patient position: the same-size reference's affine is used
    np.testing.assert_allclose(affine, _load(study / "reference.nii.gz")[1], atol=1e-5)
    assert np.isfinite(pred).all() and pred.max() > 0


def test_reconstruct_dicom_target_writes_derived_series(tmp_path):
    from monai_mcrecon.data.dicom import read_dicom_series
    from monai_mcrecon.data.dicom_write import make_test_series

    geometry = {"shape": (48, 40, 3), "spacing": (0.9, 1.1, 3.0)}
    tgt_dir = make_test_series(tmp_path / "t2", **geometry, seed=0)
    rng = np.random.default_rng(1)
    ref_vol = np.round(rng.uniform(0, 500, size=geometry["shape"]))
    ref_dir = make_test_series(tmp_path / "t1", ref_vol, spacing=geometry["spacing"], series_description="T1")
    out = tmp_path / "out"
    rc = main(["reconstruct", "-t", str(tgt_dir), "-r", str(ref_dir), "-o", str(out), "--device", "cpu", "--no-progress"])
    assert rc == 0
    vol_in, meta_in = read_dicom_series(tgt_dir)
    vol_out, meta_out = read_dicom_series(out / "dicom")
    assert vol_out.shape == vol_in.shape
    np.testing.assert_allclose(meta_out["affine"], meta_in["affine"], atol=1e-4)
    assert "mc_cdic_recon" in meta_out["tags"]["SeriesDescription"]
    assert meta_out["tags"]["StudyInstanceUID"] == meta_in["tags"]["StudyInstanceUID"]
    assert meta_out["series_uid"] != meta_in["series_uid"]
    nifti, affine = _load(out / "t2_recon.nii.gz")
    np.testing.assert_allclose(affine, meta_in["affine"], atol=1e-4)
    np.testing.assert_allclose(vol_out, nifti, atol=float(nifti.max() - nifti.min()) / 65535 + 1e-3)


def test_resample_reference_without_registration(case):
    t1 = load_volume(case / "t1.nii.gz")
    t2 = load_volume(case / "t2.nii.gz")
    # the reference covers rows 2.. only: its grid is shifted by 2 voxels along X
    shifted = Volume(t1.array[2:].copy(), t1.affine @ np.array([[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]),
                     "nifti", t1.path)
    messages = []
    out, info = resample_reference(shifted, t2, register=False, log=messages.append)
    assert out.array.shape == t2.array.shape
    np.testing.assert_allclose(out.affine, t2.affine)
    np.testing.assert_allclose(out.array[2:], t1.array[2:], atol=1e-3)
    assert np.all(out.array[:2] == 0)
    assert info["action"].startswith("resampled") and "resampled" in messages[0]


def test_simulate_sr_lr_grid_and_super_resolve(case, tmp_path):
    study = tmp_path / "sr"
    assert main(["simulate", "--task", "sr", "--scale", "2", "--lr-grid", "-i", str(case / "t2.nii.gz"),
                 "-r", str(case / "t1.nii.gz"), "-o", str(study)]) == 0
    lr, lr_affine = _load(study / "target_degraded.nii.gz")
    t2, affine = _load(case / "t2.nii.gz")
    assert lr.shape == (96, 114, 3)
    # LR voxels are twice as large in-plane; the field of view centre is kept
    np.testing.assert_allclose(np.diag(lr_affine)[:3], [193 / 96, 229 / 114, 1.0])
    out = tmp_path / "sr_out"
    assert main(["super-resolve", "-t", str(study / "target_degraded.nii.gz"), "-r", str(study / "reference.nii.gz"),
                 "-o", str(out), "--device", "cpu", "--no-progress"]) == 0
    pred, pred_affine = _load(out / "target_degraded_sr.nii.gz")
    assert pred.shape == t2.shape
    np.testing.assert_allclose(pred_affine, affine, atol=1e-5)
    hr = tmp_path / "sr_hr"
    assert main(["simulate", "--task", "sr", "--scale", "2", "-i", str(case / "t2.nii.gz"), "-o", str(hr)]) == 0
    zero_padded, _ = _load(hr / "target_degraded.nii.gz")
    assert float(psnr(_slices(t2), _slices(pred))) > float(psnr(_slices(t2), _slices(zero_padded)))


def test_evaluate_writes_table_and_figure(study, recon, tmp_path):
    out = tmp_path / "eval"
    pred_path = recon / "target_degraded_recon.nii.gz"
    rc = main(["evaluate", "-p", str(pred_path), "--truth", str(study / "truth.nii.gz"),
               "-i", str(study / "target_degraded.nii.gz"), "-o", str(out)])
    assert rc == 0
    truth, pred, zf = (_slices(_load(p)[0]) for p in (study / "truth.nii.gz", pred_path, study / "target_degraded.nii.gz"))
    with open(out / "metrics.csv") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"input", "prediction"}
    assert float(rows["prediction"]["psnr"]) == pytest.approx(float(psnr(truth, pred)), abs=1e-6)
    assert float(rows["prediction"]["ssim"]) == pytest.approx(float(ssim(truth, pred)), abs=1e-6)
    assert float(rows["input"]["nmse"]) == pytest.approx(float(nmse(truth, zf)), rel=1e-6)
    md = (out / "metrics.md").read_text()
    assert f"| prediction | {float(psnr(truth, pred)):.2f} |" in md
    assert (out / "comparison.png").stat().st_size > 1000
    # a second run refuses to replace the results
    assert main(["evaluate", "-p", str(pred_path), "--truth", str(study / "truth.nii.gz"), "-o", str(out)]) == 1


def test_clear_errors_leave_files_untouched(study, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    target = str(study / "target_degraded.nii.gz")
    rc = main(["reconstruct", "-t", target, "-r", str(study / "reference.nii.gz"), "-o", str(out), "--device", "cpu"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and str(out) in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"

    rc = main(["reconstruct", "-t", target, "-o", str(tmp_path / "new"), "--device", "cpu"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "needs the reference" in err and "--reference" in err
    assert not (tmp_path / "new").exists()

    assert main(["reconstruct", "-t", target, "-r", target, "-o", str(tmp_path / "x"), "--bundle", "nope"]) == 1
    err = capsys.readouterr().err
    assert "Unknown bundle" in err and "mc_cdic_recon" in err
    assert main(["reconstruct", "-t", str(tmp_path / "missing.nii.gz"), "-r", target, "-o", str(tmp_path / "y")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["super-resolve", "-t", target, "-r", target, "-o", str(tmp_path / "z"), "--bundle", "mc_cdic_recon"]) == 1
    assert "monai-mcrecon reconstruct" in capsys.readouterr().err
    assert main(["simulate", "-i", target, "-o", str(out)]) == 1
    assert (out / "keep.txt").read_text() == "precious"


def test_nifti_target_with_dicom_reference_keeps_patient_and_study(tmp_path):
    """A non-DICOM target takes patient, study and frame of reference (not the acquisition) from a DICOM reference."""
    from monai_mcrecon.data.dicom import read_dicom_series
    from monai_mcrecon.data.dicom_write import make_test_series, save_nifti_like

    geometry = {"shape": (48, 40, 3), "spacing": (0.9, 1.1, 3.0)}
    rng = np.random.default_rng(2)
    ref_dir = make_test_series(tmp_path / "t1", np.round(rng.uniform(0, 500, size=geometry["shape"])),
                               spacing=geometry["spacing"], series_description="T1")
    ref_vol, ref_meta = read_dicom_series(ref_dir)
    target = save_nifti_like(rng.uniform(0, 1, size=geometry["shape"]).astype(np.float32), ref_meta, tmp_path / "t2.nii.gz")
    out = tmp_path / "out"
    rc = main(["reconstruct", "-t", str(target), "-r", str(ref_dir), "--dicom", "-o", str(out), "--device", "cpu",
               "--no-progress"])
    assert rc == 0
    _, meta_out = read_dicom_series(out / "dicom")
    for tag in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID"):
        assert str(meta_out["tags"][tag]) == str(ref_meta["tags"][tag]) != ""
    assert meta_out["series_uid"] != ref_meta["series_uid"]
    assert "guided by the reference series" in str(meta_out["tags"]["DerivationDescription"])
    np.testing.assert_allclose(meta_out["affine"], ref_meta["affine"], atol=1e-4)
