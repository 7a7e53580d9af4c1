"""The deep_rl_deblur bundle as a user runs it: train (tiny, 2 iterations), evaluate, infer, verify.

``monai.bundle`` runs in-process with the ``tiny`` preset on the shipped natural sample; the shipped
``small`` weights are exercised when present.
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
from monai_mcrecon.ops.blur import blur
from monai_mcrecon.data.natural import blurred_folder_datalist
from monai_mcrecon.transforms.natural import load_blur_kernel
from monai_mcrecon.networks.nets.deep_rl import DeepRL

BUNDLE = "deep_rl_deblur"
EVALUATE = ("inference.json", "evaluate.json")  # evaluate.json is an overlay: run on top of inference.json
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "iterations_per_epoch": 2, "patch_size": [32, 32],
              "use_photos": "false"}  # the shipped sample, whether or not the photo collection is installed
SHIPPED = Path(bundle_dir(BUNDLE)) / "models" / "model.pt"
TEST_CASES = ["camera", "chelsea", "coins", "motorcycle_left"]
COLUMNS = ("psnr", "ssim", "psnr_input", "ssim_input", "psnr_rl", "ssim_rl")


def test_training_writes_checkpoints_tensorboard_and_recipe(tiny_checkpoint):
    out = tiny_checkpoint.parent
    assert list(out.glob("events.out.tfevents*")), "TensorBoard events missing"
    state = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    net = DeepRL.from_preset("tiny")
    net.load_state_dict(state)  # the best-metric checkpoint is the plain state dict of the tiny preset
    info = json.loads((out / "training_info.json").read_text())
    assert info["network"] == "DeepRL" and info["preset"] == "tiny" and info["iterations"] == 2
    assert info["parameters"] == sum(p.numel() for p in net.parameters())
    assert info["num_stages"] == 2 and info["iterations_per_stage"] == 1
    assert info["initial_lambdas"] == pytest.approx([0.01, 0.01])


def test_evaluate_writes_metrics_figures_and_restored_images(tiny_checkpoint, tmp_path, cfg, read_rows, bundle_root):
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path),
        rl_num_iter=3)
    rows = read_rows(tmp_path / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", *TEST_CASES]
    for col in COLUMNS:
        values = [float(r[col]) for r in rows]
        assert np.isfinite(values).all()
        assert values[0] == pytest.approx(np.mean(values[1:]), abs=1e-5)
    # the fixed-seed saturated blur of the sample sits in a known band, and RL (3 it.) improves on it
    assert 20 < float(rows[0]["psnr_input"]) < 30
    assert float(rows[0]["psnr_rl"]) > float(rows[0]["psnr_input"])
    for case in TEST_CASES:
        assert (tmp_path / "figures" / f"{case}.png").stat().st_size > 10_000
        restored = Image.open(tmp_path / "restored" / f"{case}_restored.png")
        src = Image.open(next((bundle_root.parents[1] / "data" / "natural_sample").rglob(f"{case}.png")))
        assert restored.size == src.size and restored.mode == "RGB"


def test_evaluate_is_deterministic_and_accepts_a_plain_folder(tiny_checkpoint, tmp_path, cfg, read_rows):
    rng = np.random.default_rng(0)
    folder = tmp_path / "clean"
    folder.mkdir()
    Image.fromarray((rng.random((40, 53, 3)) * 255).astype(np.uint8)).save(folder / "rgb_odd.png")
    Image.fromarray((rng.random((37, 48)) * 255).astype(np.uint8)).save(folder / "gray.jpg")
    for name in ("a", "b"):
        run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint),
            dataset_dir=str(folder), output_dir=str(tmp_path / name), save_images=False, rl_num_iter=2)
    rows_a, rows_b = read_rows(tmp_path / "a" / "metrics.csv"), read_rows(tmp_path / "b" / "metrics.csv")
    assert [r["case_id"] for r in rows_a] == ["mean", "gray", "rgb_odd"]
    assert rows_a == rows_b  # fixed seed per case: identical degradations and results


def _blurred_folder(tmp_path: Path) -> tuple[Path, dict]:
    """Two blurred images with kernels stored as .npy and as .png (kernel peak scaled to 255)."""
    folder = tmp_path / "blurred"
    folder.mkdir()
    rng = np.random.default_rng(1)
    k1 = np.zeros((9, 9))
    k1[4, 1:8] = 1.0  # horizontal streak
    k2 = np.zeros((7, 7))
    np.fill_diagonal(k2, 1.0)
    np.save(folder / "one_kernel.npy", k1)
    Image.fromarray((k2 * 255).astype(np.uint8)).save(folder / "two_kernel.png")
    images = {}
    for name, k, shape in (("one", k1, (45, 50)), ("two", k2, (38, 41))):
        sharp = torch.from_numpy(rng.random((1, 3, *shape))).float()
        b = blur(sharp, torch.from_numpy(k / k.sum()).float()[None], "reflect")[0].clamp(0, 1)
        Image.fromarray((b.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"{name}.png")
        images[name] = shape
    return folder, images


def test_inference_on_a_folder_of_blurred_images_with_kernel_files(tiny_checkpoint, tmp_path, cfg):
    folder, images = _blurred_folder(tmp_path)
    out = tmp_path / "out"
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(folder),
        output_dir=str(out))
    assert sorted(p.name for p in out.glob("*.png")) == ["one_restored.png", "two_restored.png"]
    # the written image equals the network applied to the loaded image and kernel (up to 8-bit rounding)
    net = DeepRL.from_preset("tiny", padding="reflect")
    net.load_state_dict(torch.load(tiny_checkpoint, map_location="cpu", weights_only=True))
    for name, shape in images.items():
        written = np.asarray(Image.open(out / f"{name}_restored.png"), dtype=np.float64) / 255
        assert written.shape == (*shape, 3)
        item = blurred_folder_datalist(folder)[0 if name == "one" else 1]
        img = torch.from_numpy(np.asarray(Image.open(item["image"]), dtype=np.float32) / 255).permute(2, 0, 1)
        with torch.no_grad():
            ref = net.eval()(img[None], load_blur_kernel(item["kernel"])[None])[0].clamp(0, 1)
        assert np.abs(written - ref.permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6


def test_inference_default_simulates_blur_on_the_sample(tiny_checkpoint, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [f"{c}_restored.png" for c in TEST_CASES]


def test_kernel_files_are_read_and_normalised(tmp_path):
    folder, _ = _blurred_folder(tmp_path)
    items = blurred_folder_datalist(folder)
    pairs = [(i["case_id"], Path(i["kernel"]).name) for i in items]
    assert pairs == [("one", "one_kernel.npy"), ("two", "two_kernel.png")]
    k1, k2 = load_blur_kernel(items[0]["kernel"]), load_blur_kernel(items[1]["kernel"])
    assert k1.shape == (1, 9, 9) and k2.shape == (1, 7, 7)
    assert float(k1.sum()) == pytest.approx(1.0) and float(k2.sum()) == pytest.approx(1.0)
    np.testing.assert_allclose(k2[0].numpy(), np.eye(7) / 7, atol=1e-7)
    # one kernel file for every image
    shared = blurred_folder_datalist(folder, kernel=folder / "one_kernel.npy")
    assert {Path(i["kernel"]).name for i in shared} == {"one_kernel.npy"}


def test_missing_and_malformed_kernels_are_named(tmp_path):
    folder, _ = _blurred_folder(tmp_path)
    (folder / "two_kernel.png").unlink()
    with pytest.raises(FileNotFoundError, match="two_kernel.npy or two_kernel.png"):
        blurred_folder_datalist(folder)
    np.save(tmp_path / "even.npy", np.ones((4, 4)))
    with pytest.raises(ValueError, match="must be odd"):
        load_blur_kernel(tmp_path / "even.npy")
    np.save(tmp_path / "neg.npy", -np.ones((3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        load_blur_kernel(tmp_path / "neg.npy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No blurred image"):
        blurred_folder_datalist(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        blurred_folder_datalist(tmp_path / "nowhere")


def test_metadata_verifies_offline(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))


def test_net_in_out_verifies_with_the_kernel_in_a_fourth_channel(cfg):
    # network_def takes (image, kernel); network_export (what metadata.json describes) takes one 4-channel tensor
    verify_net_in_out(
        net_id="network_export", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny",
    )


def test_metadata_matches_network_contract(cfg, bundle_root):
    meta = json.loads((bundle_root / "configs" / "metadata.json").read_text())
    fmt = meta["network_data_format"]
    for names in (("train.json",), EVALUATE, ("inference.json",)):
        net = ConfigParser.load_config_files(cfg(*names))["network_def"]
        assert net["_target_"] == "monai_mcrecon.networks.nets.deep_rl.DeepRL.from_preset"
    assert fmt["inputs"]["image"]["num_channels"] == 4 and list(fmt["inputs"]) == ["image"]  # RGB + the kernel channel
    assert fmt["outputs"]["pred"]["num_channels"] == 3


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_small_weights_beat_richardson_lucy(tmp_path, cfg, read_rows):
    state = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    DeepRL.from_preset("small").load_state_dict(state)
    run(config_file=cfg(*EVALUATE), output_dir=str(tmp_path), save_images=False, device="cpu")
    mean = read_rows(tmp_path / "metrics.csv")[0]
    assert float(mean["psnr"]) > float(mean["psnr_rl"]) > float(mean["psnr_input"])
