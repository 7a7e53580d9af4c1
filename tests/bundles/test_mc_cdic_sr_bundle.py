"""The mc_cdic_sr bundle as a user runs it (tiny preset): train, evaluate, inference on HR- and
LR-grid targets, metadata checks."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import torch
from monai.bundle import run, verify_metadata, verify_net_in_out

from monai_mcrecon.bundle import METADATA_SCHEMA
from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.kspace import truncate_image

BUNDLE = "mc_cdic_sr"
# one epoch cut to 2 iterations (the trainer's epoch_length), then the validation pass
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "train#trainer#epoch_length": 2, "val_interval": 1, "patch_size": [32, 32]}


def test_evaluate_reports_sr_against_kspace_zero_padding(tiny_checkpoint, tmp_path, cfg, read_rows):
    run(config_file=cfg("inference.json", "evaluate.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path), scale=2)
    rows = read_rows(tmp_path / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "icbm_test_a", "icbm_test_b"]
    assert set(rows[0]) == {"case_id", "psnr", "ssim", "nmse", "psnr_input", "ssim_input", "nmse_input"}
    # x2 k-space truncation of the smooth template keeps most of the energy: a high-PSNR baseline
    assert 30 < float(rows[0]["psnr_input"]) < 45
    assert (tmp_path / "figures" / "icbm_test_a.png").exists()
    assert (tmp_path / "icbm_test_a" / "t2_sr.nii.gz").exists()


def test_inference_on_an_hr_target_records_the_simulated_path(tiny_checkpoint, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path))
    info = json.loads((tmp_path / "icbm_test_a" / "t2_sr.json").read_text())
    assert info["input_grid"] == "hr" and info["scale"] == 2
    out = nib.load(tmp_path / "icbm_test_a" / "t2_sr.nii.gz")
    src = nib.load(SAMPLE_DIR / "icbm_test_a" / "t2.nii.gz")
    assert out.shape == src.shape
    np.testing.assert_array_equal(out.affine, src.affine)


def test_inference_on_an_lr_target_zero_pads_onto_the_reference_grid(tiny_checkpoint, tmp_path, cfg):
    t2 = nib.load(SAMPLE_DIR / "icbm_test_a" / "t2.nii.gz")
    t1 = nib.load(SAMPLE_DIR / "icbm_test_a" / "t1.nii.gz")
    vol = torch.tensor(t2.get_fdata()).permute(2, 0, 1)
    _, lr = truncate_image(vol, 2, grid="lr")
    affine = t2.affine.copy()
    affine[:3, :2] *= 2
    case = tmp_path / "data" / "scan1"
    case.mkdir(parents=True)
    nib.save(nib.Nifti1Image(lr.permute(1, 2, 0).numpy().astype(np.float32), affine), case / "t2.nii.gz")
    nib.save(t1, case / "t1.nii.gz")
    run(
        config_file=cfg("inference.json"),
        preset="tiny",
        ckpt_path=str(tiny_checkpoint),
        dataset_dir=str(tmp_path / "data"),
        output_dir=str(tmp_path / "out"),
    )
    info = json.loads((tmp_path / "out" / "scan1" / "t2_sr.json").read_text())
    assert info["input_grid"] == "lr"
    assert info["target_shape"] == [96, 114] and info["output_shape"] == [193, 229]
    out = nib.load(tmp_path / "out" / "scan1" / "t2_sr.nii.gz")
    assert out.shape == t1.shape  # the reference's (HR) grid and geometry
    np.testing.assert_array_equal(out.affine, t1.affine)


def test_metadata_and_network_verify(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))
    verify_net_in_out(net_id="network_def", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny", n=2)
