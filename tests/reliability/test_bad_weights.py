"""Bad weights: weights of another preset (the loader and a bundle run), a bundle run without weights,
empty and truncated weights files, and the shipped weights listed with their sha256 in large_files.yml,
kept when a bundle is copied (docs/reliability.md, "Configuration"; tampered and pickled weights are in
test_security.py)."""

from __future__ import annotations

import shutil

import pytest
from monai.bundle import run

from monai_mcrecon.bundle.locate import BUNDLES_DIR
from monai_mcrecon.bundle.weights import WeightsError, load_weights
from monai_mcrecon.handlers.checkpoint import CheckpointLoader

def test_weights_of_another_preset_are_named(tmp_path):
    from monai_mcrecon.networks.nets import MCCDic

    shipped = BUNDLES_DIR / "mc_cdic_recon" / "models" / "model.pt"
    net = MCCDic.from_preset("tiny")
    with pytest.raises(WeightsError, match=r"do not fit the MCCDic network: shape mismatch .*preset"):
        CheckpointLoader(str(shipped), {"model": net})(type("E", (), {"state": type("S", (), {"max_epochs": None, "epoch": 0})()})())
    # the same through the bundle, as a user runs it (tiny preset, small weights)
    with pytest.raises(Exception) as err:
        run(
            config_file=str(BUNDLES_DIR / "mc_cdic_recon" / "configs" / "inference.json"),
            preset="tiny", output_dir=str(tmp_path), device="cpu",
        )
    chain = []
    e = err.value
    while e is not None:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    assert any("do not fit the MCCDic network" in m and "shape mismatch" in m and "preset" in m for m in chain)
    assert not list(tmp_path.rglob("*.nii.gz"))


def test_bundle_run_without_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No weights at .*nowhere\.pt.*train\.json"):
        load_weights(tmp_path / "nowhere.pt")
    with pytest.raises(Exception) as err:
        run(
            config_file=str(BUNDLES_DIR / "mc_cdic_recon" / "configs" / "inference.json"),
            ckpt_path=str(tmp_path / "nowhere.pt"), output_dir=str(tmp_path), device="cpu",
        )
    e, found = err.value, False
    while e is not None and not found:
        found = isinstance(e, FileNotFoundError) and "No weights at" in str(e)
        e = e.__cause__ or e.__context__
    assert found
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"empty\.pt' is empty"):
        load_weights(tmp_path / "empty.pt")


def test_truncated_weights_file(tmp_path):
    data = (BUNDLES_DIR / "mc_cdic_recon" / "models" / "model.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match=r"cut\.pt': it is truncated or not a PyTorch checkpoint"):
        load_weights(tmp_path / "cut.pt")


def test_shipped_weights_files_are_listed_with_hashes():
    """Every bundle this issue covers ships large_files.yml entries for all its weights."""
    from monai_mcrecon.bundle.weights import read_large_files, verify_weights_file

    for name in ("mc_cdic_recon", "mc_cdic_sr", "clgnet_recon", "mdrn_denoise", "deep_rl_deblur", "spdnet_derain", "mstn_dehaze"):
        root = BUNDLES_DIR / name
        listed = read_large_files(root)
        weights = sorted(str(p.relative_to(root)) for p in (root / "models").glob("*.pt"))
        assert sorted(listed) == weights, name
        for rel in weights:
            assert listed[rel]["hash_type"] == "sha256" and len(listed[rel]["hash_val"]) == 64
            assert verify_weights_file(root / rel) == listed[rel]["hash_val"]


def test_copying_a_bundle_keeps_its_checks(tmp_path):
    """A bundle copied elsewhere keeps large_files.yml, so its weights stay verified there."""
    dst = tmp_path / "mc_cdic_recon"
    shutil.copytree(BUNDLES_DIR / "mc_cdic_recon", dst, ignore=shutil.ignore_patterns("train_output", "__pycache__"))
    from monai_mcrecon.bundle.weights import verify_weights_file

    assert verify_weights_file(dst / "models" / "model.pt") is not None
