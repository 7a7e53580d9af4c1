"""The mc_cdic_recon bundle as a user runs it: train (tiny, one epoch), evaluate, infer, verify.

These call ``monai.bundle`` in-process with the ``tiny`` preset on the embedded sample; the shipped
``small`` weights are exercised by the evaluation test when present.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, run, verify_metadata, verify_net_in_out

from monai_mcrecon.bundle import METADATA_SCHEMA
from monai_mcrecon.bundle.locate import bundle_dir
from monai_mcrecon.data import SAMPLE_DIR

BUNDLE = "mc_cdic_recon"
# one epoch cut to 2 iterations (the trainer's epoch_length), then the validation pass
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "train#trainer#epoch_length": 2, "val_interval": 1, "patch_size": [32, 32]}
SHIPPED = Path(bundle_dir(BUNDLE)) / "models" / "model.pt"
SAMPLE = Path(SAMPLE_DIR)


def test_training_writes_checkpoints_and_tensorboard(tiny_checkpoint):
    out = tiny_checkpoint.parent
    assert list(out.glob("events.out.tfevents*")), "TensorBoard events missing"
    state = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    # the best-metric checkpoint is a plain state dict (MONAI saves a single object unwrapped)
    assert any(k.startswith("dict_x") for k in state) and "step_size_x" in state


def test_evaluate_writes_metrics_figures_and_nifti(tiny_checkpoint, tmp_path, cfg, read_rows):
    run(config_file=cfg("inference.json", "evaluate.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path))
    rows = read_rows(tmp_path / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "icbm_test_a", "icbm_test_b"]
    for col in ("psnr", "ssim", "nmse", "psnr_input", "ssim_input", "nmse_input"):
        values = [float(r[col]) for r in rows]
        assert np.isfinite(values).all()
        assert values[0] == pytest.approx(np.mean(values[1:]), abs=1e-5)
    # the 4x zero-filled input of the sample sits in a known band (fastMRI PSNR on whole volumes)
    assert 20 < float(rows[0]["psnr_input"]) < 32
    for case in ("icbm_test_a", "icbm_test_b"):
        assert (tmp_path / "figures" / f"{case}.png").stat().st_size > 10_000
        out = nib.load(tmp_path / case / "t2_recon.nii.gz")
        src = nib.load(SAMPLE / case / "t2.nii.gz")
        assert out.shape == src.shape
        np.testing.assert_array_equal(out.affine, src.affine)
        assert out.header.get_zooms() == src.header.get_zooms()


def test_inference_reconstructs_every_volume_with_input_geometry(tiny_checkpoint, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path))
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.nii.gz"))
    assert written == ["icbm_test_a/t2_recon.nii.gz", "icbm_test_b/t2_recon.nii.gz"]
    out = nib.load(tmp_path / written[0]).get_fdata()
    src = nib.load(SAMPLE / "icbm_test_a" / "t2.nii.gz").get_fdata()
    # written back in the input's intensity units (the volume was scaled to [0, 1] for the network)
    assert 0.5 * src.max() < out.max() < 1.5 * src.max()


def test_metadata_verifies_offline(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))


def test_net_in_out_verifies(cfg):
    verify_net_in_out(
        net_id="network_def", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny", n=2
    )


def test_metadata_matches_network_contract(cfg, bundle_root):
    meta = json.loads((bundle_root / "configs" / "metadata.json").read_text())
    fmt = meta["network_data_format"]
    net = ConfigParser.load_config_file(cfg("inference.json"))["network_def"]
    assert net["_target_"] == "monai_mcrecon.networks.nets.mc_cdic.MCCDic.from_preset"
    assert fmt["inputs"]["image"]["num_channels"] == 2 and fmt["outputs"]["pred"]["num_channels"] == 1


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_weights_load_into_the_small_preset():
    from monai_mcrecon.networks.nets import MCCDic

    net = MCCDic.from_preset("small")
    state = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    net.load_state_dict(state)


# --- bad input gets a clear error -------------------------------------------------------------


def _case(root: Path, name: str, t2: np.ndarray | None, t1: np.ndarray | None) -> None:
    (root / name).mkdir(parents=True)
    for contrast, data in (("t2", t2), ("t1", t1)):
        if data is not None:
            nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), root / name / f"{contrast}.nii.gz")


def _evaluate(cfg, tmp_path, tiny_checkpoint, dataset_dir, **overrides):
    run(
        config_file=cfg("inference.json", "evaluate.json"),
        preset="tiny",
        ckpt_path=str(tiny_checkpoint),
        dataset_dir=str(dataset_dir),
        output_dir=str(tmp_path / "out"),
        **overrides,
    )


def _raises_with(match: str, fn, *args, **kwargs):
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    text = "".join(str(e) for e in _chain(info.value))
    assert match in text, text


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def test_missing_contrast_file_is_named(tmp_path, tiny_checkpoint, cfg):
    rng = np.random.default_rng(0)
    _case(tmp_path / "data", "case1", rng.random((32, 32, 2)), None)
    _raises_with("has no 't1' contrast", _evaluate, cfg, tmp_path, tiny_checkpoint, tmp_path / "data")


def test_shape_mismatch_is_named(tmp_path, tiny_checkpoint, cfg):
    rng = np.random.default_rng(0)
    _case(tmp_path / "data", "case1", rng.random((32, 32, 2)), rng.random((32, 30, 2)))
    _raises_with("different shapes", _evaluate, cfg, tmp_path, tiny_checkpoint, tmp_path / "data")


def test_nan_in_volume_is_named(tmp_path, tiny_checkpoint, cfg):
    rng = np.random.default_rng(0)
    t2 = rng.random((32, 32, 2))
    t2[3, 4, 1] = np.nan
    _case(tmp_path / "data", "case1", t2, rng.random((32, 32, 2)))
    _raises_with("NaN", _evaluate, cfg, tmp_path, tiny_checkpoint, tmp_path / "data")


def test_unknown_mask_name_lists_valid_ones(tmp_path, tiny_checkpoint, cfg):
    _raises_with("valid names are", _evaluate, cfg, tmp_path, tiny_checkpoint, SAMPLE / "datalist.json", mask_type="spiral")


def test_acceleration_below_one_is_rejected(tmp_path, tiny_checkpoint, cfg):
    _raises_with(">= 1", _evaluate, cfg, tmp_path, tiny_checkpoint, SAMPLE / "datalist.json", acceleration=0.5)
