"""The clgnet_recon bundle as a user runs it (tiny preset): train, evaluate, inference, metadata."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import run, verify_metadata, verify_net_in_out

from monai_mcrecon.bundle import METADATA_SCHEMA
from monai_mcrecon.data import SAMPLE_DIR

BUNDLE = "clgnet_recon"
# one epoch cut to 2 iterations (the trainer's epoch_length), then the validation pass
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "train#trainer#epoch_length": 2, "val_interval": 1, "patch_size": [32, 32]}


def test_training_records_the_contrastive_extractor(tiny_checkpoint):
    info = json.loads((tiny_checkpoint.parent / "training_info.json").read_text())
    assert info["contrastive_extractor"] == "pyramid" and info["beta"] == 0.1 and info["network"] == "CLGNet"
    assert tiny_checkpoint.exists()


def test_missing_vgg_weights_fail_clearly_instead_of_switching(tmp_path, cfg):
    with pytest.raises(Exception) as info:
        run(config_file=cfg("train.json"), preset="tiny", max_epochs=1, extractor="vgg19", output_dir=str(tmp_path))
    chain, e = [], info.value
    while e is not None:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    assert any("pyramid" in m and "vgg19" in m.lower() for m in chain), chain


def test_evaluate_and_inference_single_contrast(tiny_checkpoint, tmp_path, cfg, read_rows):
    run(config_file=cfg("inference.json", "evaluate.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path / "eval"))
    rows = read_rows(tmp_path / "eval" / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "icbm_test_a", "icbm_test_b"]
    assert 20 < float(rows[0]["psnr_input"]) < 32
    assert (tmp_path / "eval" / "figures" / "icbm_test_b.png").exists()
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path / "inf"))
    out = nib.load(tmp_path / "inf" / "icbm_test_a" / "t2_recon.nii.gz")
    src = nib.load(SAMPLE_DIR / "icbm_test_a" / "t2.nii.gz")
    assert out.shape == src.shape
    np.testing.assert_array_equal(out.affine, src.affine)


def test_metadata_and_network_verify(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))
    verify_net_in_out(net_id="network_def", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny", n=2)
