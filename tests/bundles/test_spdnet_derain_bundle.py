"""The spdnet_derain bundle as a user runs it: train (tiny, two iterations), evaluate, infer, verify.

``monai.bundle.run`` in-process with the ``tiny`` preset; the shipped ``small`` weights are checked
against the acceptance criterion (at least 3 dB above the rainy input on the held-out images).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, run, verify_metadata, verify_net_in_out
from PIL import Image

from monai_mcrecon.bundle import METADATA_SCHEMA
from monai_mcrecon.bundle.locate import bundle_dir
from monai_mcrecon.networks.nets.spdnet import SPDNet, SPDNetOutput

BUNDLE = "spdnet_derain"
EVALUATE = ("inference.json", "evaluate.json")  # evaluate.json is an overlay: run on top of inference.json
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "iterations_per_epoch": 2, "batch_size": 2, "patch_size": [32, 32],
              "use_photos": "false"}  # the shipped sample, whether or not the photo collection is installed
SHIPPED = Path(bundle_dir(BUNDLE)) / "models" / "model.pt"


@pytest.fixture(scope="module")
def clean_folder(tmp_path_factory) -> Path:
    """Clean images of odd sizes: an RGB PNG, a grayscale PNG and an RGB JPEG."""
    root = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:45, 0:61]
    smooth = (0.5 + 0.4 * np.sin(xx / 7.0) * np.cos(yy / 5.0))
    rgb = np.stack([smooth, smooth[::-1], 0.3 + 0.2 * rng.random(smooth.shape)], -1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(root / "a_rgb.png")
    Image.fromarray((smooth * 255).astype(np.uint8)).save(root / "b_gray.png")
    Image.fromarray((rgb[:33, :50] * 255).astype(np.uint8)).save(root / "c_rgb.jpg", quality=95)
    return root


def test_training_writes_checkpoints_run_info_and_tensorboard(tiny_checkpoint):
    out = tiny_checkpoint.parent
    assert list(out.glob("events.out.tfevents*"))
    state = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    SPDNet.from_preset("tiny").load_state_dict(state)  # the best-PSNR checkpoint is a plain state dict
    info = json.loads((out / "training_info.json").read_text())
    assert info["network"] == "SPDNet" and info["preset"] == "tiny" and info["parameters"] == 78_533
    assert info["iterations"] == 2 and info["batch_size"] == 2


def test_weight_average_is_validated_saved_and_resumed(check_weight_average, tmp_path):
    """--ema_momentum (the conftest fixture says what is checked)."""
    check_weight_average(tmp_path)


def test_training_loss_is_the_release_sum_of_three_mse(cfg):
    parser = ConfigParser()
    parser.read_config(cfg("train.json"))
    loss = parser.get_parsed_content("loss")
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 8, 8, generator=g)
    outs = SPDNetOutput(*(torch.rand(2, 3, 8, 8, generator=g) for _ in range(3)))
    expected = sum(((o - gt) ** 2).mean() for o in outs)
    assert loss(outs, gt).item() == pytest.approx(expected.item(), rel=1e-6)


def test_training_chain_draws_rain_free_pairs_and_rotated_hues(check_clean_pairs_and_hues):
    """--rain_free_prob and --hue_prob (the conftest fixture says what is checked)."""
    check_clean_pairs_and_hues("rain_free_prob", channel_shuffle_prob=0.0)


def test_evaluate_on_a_folder_writes_metrics_figures_and_restored_images(tiny_checkpoint, clean_folder, tmp_path, cfg, read_rows):
    for out in (tmp_path / "run1", tmp_path / "run2"):
        run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint),
            dataset_dir=str(clean_folder), output_dir=str(out))
    rows = read_rows(tmp_path / "run1" / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "a_rgb", "b_gray", "c_rgb"]
    for col in ("psnr", "ssim", "psnr_input", "ssim_input"):
        values = [float(r[col]) for r in rows]
        assert np.isfinite(values).all()
        assert values[0] == pytest.approx(np.mean(values[1:]), abs=1e-5)
    # rain only brightens and is synthesised with a fixed seed: a finite input PSNR, identical across runs
    assert all(5 < float(r["psnr_input"]) < 40 for r in rows)
    assert read_rows(tmp_path / "run2" / "metrics.csv") == rows
    for case, size in (("a_rgb", (61, 45)), ("b_gray", (61, 45)), ("c_rgb", (50, 33))):
        restored = Image.open(tmp_path / "run1" / "restored" / f"{case}_restored.png")
        assert restored.size == size and restored.mode == "RGB"
        assert (tmp_path / "run1" / "figures" / f"{case}.png").stat().st_size > 1000


def test_inference_on_a_folder_of_rainy_images_keeps_their_size(tiny_checkpoint, clean_folder, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint),
        dataset_dir=str(clean_folder), output_dir=str(tmp_path))
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == ["a_rgb_restored.png", "b_gray_restored.png", "c_rgb_restored.png"]
    assert Image.open(tmp_path / "c_rgb_restored.png").size == (50, 33)


def test_inference_without_dataset_dir_derains_the_synthetic_sample(tiny_checkpoint, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "camera_restored.png", "chelsea_restored.png", "coins_restored.png", "motorcycle_left_restored.png"]


def test_metadata_verifies_offline(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))


@pytest.mark.parametrize("size", [13, 32])
def test_net_in_out_verifies_for_any_size(size, cfg):
    verify_net_in_out(
        net_id="network_def", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny", any=size
    )


def test_metadata_matches_network_contract(cfg, bundle_root):
    meta = json.loads((bundle_root / "configs" / "metadata.json").read_text())
    fmt = meta["network_data_format"]
    for names in (("train.json",), EVALUATE, ("inference.json",)):
        net = ConfigParser.load_config_files(cfg(*names))["network_def"]
        assert net["_target_"] == "monai_mcrecon.networks.nets.spdnet.SPDNet.from_preset"
    assert fmt["inputs"]["image"]["num_channels"] == 3 and fmt["outputs"]["pred"]["num_channels"] == 3


def test_missing_dataset_folder_is_named(tiny_checkpoint, tmp_path, cfg):
    with pytest.raises(Exception) as info:
        run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint),
            dataset_dir=str(tmp_path / "nope"), output_dir=str(tmp_path / "out"))
    text = "".join(str(e) for e in _chain(info.value))
    assert "does not exist" in text and "nope" in text


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_small_weights_gain_3_db_over_the_rainy_input(tmp_path, cfg, read_rows):
    net = SPDNet.from_preset("small")
    net.load_state_dict(torch.load(SHIPPED, map_location="cpu", weights_only=True))
    run(config_file=cfg(*EVALUATE), output_dir=str(tmp_path), save_images=False, device="cpu")
    mean = read_rows(tmp_path / "metrics.csv")[0]
    assert mean["case_id"] == "mean"
    assert float(mean["psnr"]) >= float(mean["psnr_input"]) + 3.0
    assert float(mean["ssim"]) > float(mean["ssim_input"])
