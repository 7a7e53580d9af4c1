"""The bvfi_blurry_vfi bundle as a user runs it: train (tiny, 2 iterations), evaluate, infer, verify.

``monai.bundle`` runs in-process with the ``tiny`` preset on the shipped video sample; the shipped ``small``
weights are exercised when present.
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
from monai_mcrecon.networks.nets.bvfi import BVFI

BUNDLE = "bvfi_blurry_vfi"
EVALUATE = ("inference.json", "evaluate.json")  # evaluate.json is an overlay: run on top of inference.json
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "iterations_per_epoch": 2, "patch_size": [32, 32],
              "use_clips": "false"}  # the shipped sample, whether or not the clip collection is installed
SHIPPED = Path(bundle_dir(BUNDLE)) / "models" / "model.pt"
TIMES = ("t0.25", "t0.50", "t0.75")
BASE_COLUMNS = ("psnr", "ssim", "psnr_input", "ssim_input")


def test_training_writes_checkpoints_tensorboard_and_recipe(tiny_checkpoint):
    out = tiny_checkpoint.parent
    assert list(out.glob("events.out.tfevents*")), "TensorBoard events missing"
    net = BVFI.from_preset("tiny")
    net.load_state_dict(torch.load(tiny_checkpoint, map_location="cpu", weights_only=True))
    info = json.loads((out / "training_info.json").read_text())
    assert info["network"] == "BVFI" and info["preset"] == "tiny" and info["iterations"] == 2
    assert info["parameters"] == sum(p.numel() for p in net.parameters())
    # windows for 15 frames at a temporal step of up to 2 (29 frames, or the whole clip when shorter) in the sample's
    # 9 training clips (40, 40, 47, 24, 24, 30, 22, 37, 32 frames): 12 + 12 + 19 + 1 + 1 + 2 + 1 + 9 + 4
    assert info["window_length"] == 15 and info["training_windows"] == 61
    assert info["blur"] == {"period": 4, "exposure": 3, "noise_sigma": 0.0, "quantize": True}


def test_training_can_start_from_a_checkpoint(tiny_checkpoint, tmp_path, cfg):
    # with a zero learning rate, one fine-tuning step must return exactly the weights it started from
    run(config_file=cfg("train.json"), preset="tiny", max_epochs=1, iterations_per_epoch=1, patch_size=[32, 32],
        output_dir=str(tmp_path), init_ckpt=str(tiny_checkpoint), learning_rate=0.0, min_learning_rate=0.0)
    start = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    end = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)
    assert start.keys() == end.keys() and all(torch.equal(start[k], end[k]) for k in start)
    assert json.loads((tmp_path / "training_info.json").read_text())["init_ckpt"] == str(tiny_checkpoint)


def test_training_validates_on_held_apart_clips_and_keeps_the_best_weights(tiny_checkpoint, tmp_path, cfg):
    """--val_interval 1 on a user folder: one 16-frame clip gives 2 windows of 15 frames (every one with
    --val_stride 1); the validation PSNR is logged and model_key_metric.pt holds the validated weights."""
    folder = tmp_path / "val" / "clip"
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:32, 0:40]
    for i in range(16):
        img = np.stack([0.5 + 0.3 * np.sin((x + i) / 3.0 + c) * np.cos(y / 4.0) for c in range(3)], -1)
        Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(folder / f"{i:04d}.png")
    out = tmp_path / "train"
    parser = ConfigParser()
    parser.read_config(cfg("train.json"))
    parser.update({"val_dataset_dir": str(folder.parent), "val_stride": 1, "output_dir": str(out)})
    assert len(parser.get_parsed_content("validate#datalist")) == 2
    run(config_file=cfg("train.json"), preset="tiny", max_epochs=1, iterations_per_epoch=1, patch_size=[32, 32],
        init_ckpt=str(tiny_checkpoint), learning_rate=0.0, min_learning_rate=0.0, val_interval=1, val_stride=1,
        val_dataset_dir=str(folder.parent), output_dir=str(out))
    best = torch.load(out / "model_key_metric.pt", map_location="cpu", weights_only=True)
    start = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    assert all(torch.equal(best[k], start[k]) for k in start)  # learning rate 0: the validated weights are the start
    info = json.loads((out / "training_info.json").read_text())
    assert info["val_interval"] == 1 and info["val_dataset_dir"] == str(folder.parent)
    # the default: every 2nd epoch on the sample's val split, every 4th window
    defaults = ConfigParser()
    defaults.read_config(cfg("train.json"))
    defaults.update({"output_dir": str(tmp_path / "d")})
    assert defaults["val_interval"] == 2 and len(defaults.get_parsed_content("validate#datalist")) == 19


def test_evaluate_writes_overall_and_per_time_metrics_and_figures(tiny_checkpoint, tmp_path, cfg, read_rows):
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path),
        window_stride=10)
    rows = read_rows(tmp_path / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "bikes_c_0000", "carphone_b_0000"]
    per_time = [f"{m}{s}_{t}" for t in TIMES for m in ("psnr", "ssim") for s in ("", "_input")]
    assert list(rows[0])[1:] == [*BASE_COLUMNS, *per_time]
    for col in (*BASE_COLUMNS, *per_time):
        values = [float(r[col]) for r in rows]
        assert np.isfinite(values).all()
        assert values[0] == pytest.approx(np.mean(values[1:]), abs=1e-5)
    # the averaging baseline on the held-out clips sits in a known band (bikes pans fast, carphone is slow)
    assert 21 < float(rows[1]["psnr_input"]) < 26 and 30 < float(rows[2]["psnr_input"]) < 37
    # the pooled PSNR over the three times lies between the per-time extremes
    for r in rows[1:]:
        per_t = [float(r[f"psnr_input_{t}"]) for t in TIMES]
        assert min(per_t) - 1e-6 <= float(r["psnr_input"]) <= max(per_t) + 1e-6
    for case in ("bikes_c_0000", "carphone_b_0000"):
        strip = Image.open(tmp_path / "figures" / f"{case}_strip.png")
        assert strip.size[1] == 4 * (136 if case.startswith("bikes") else 144) + 12
        assert Image.open(tmp_path / "figures" / f"{case}.gif").n_frames == 3


def _clip_folder(root: Path, n: int, h: int, w: int, seed: int) -> Path:
    """A smooth pattern translating by one pixel per frame, saved as ``root/<clip>/NNNN.png``."""
    rng = np.random.default_rng(seed)
    base = rng.random((h + 8, w + n + 8, 3))
    base = (base + np.roll(base, 1, 0) + np.roll(base, 1, 1) + np.roll(base, (1, 1), (0, 1))) / 4
    for clip in ("walk", "pan"):
        (root / clip).mkdir(parents=True)
        for i in range(n):
            frame = base[4 : 4 + h, 4 + i : 4 + i + w] if clip == "pan" else base[4 : 4 + h, 4 : 4 + w] * (0.5 + i / (2 * n))
            Image.fromarray((frame * 255).round().astype(np.uint8)).save(root / clip / f"{i:04d}.png")
    return root


def test_evaluate_is_deterministic_on_a_user_folder(tiny_checkpoint, tmp_path, cfg, read_rows):
    folder = _clip_folder(tmp_path / "clips", 16, 20, 27, seed=0)
    for name in ("a", "b"):
        run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(folder),
            output_dir=str(tmp_path / name), save_images=False)
    rows_a, rows_b = read_rows(tmp_path / "a" / "metrics.csv"), read_rows(tmp_path / "b" / "metrics.csv")
    assert [r["case_id"] for r in rows_a] == ["mean", "pan_0000", "pan_0001", "walk_0000", "walk_0001"]
    assert rows_a == rows_b
    short = _clip_folder(tmp_path / "short", 10, 20, 27, seed=1)
    with pytest.raises(Exception) as info:
        run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(short),
            output_dir=str(tmp_path / "c"), save_images=False)
    chain, e = [], info.value
    while e is not None:
        chain.append(str(e))
        e = e.__cause__
    assert any("has 10 frame(s) but at least 15 are needed" in m for m in chain)


def test_inference_on_a_folder_of_blurry_clips(tiny_checkpoint, tmp_path, cfg):
    folder = _clip_folder(tmp_path / "blurry", 5, 18, 23, seed=2)
    out = tmp_path / "out"
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(folder),
        output_dir=str(out), times=[0.5, 0.25])
    names = sorted(p.name for p in out.glob("*.png"))
    assert len(names) == 2 * 4 * 2  # 2 clips x 4 intervals x 2 times
    assert "pan_0000_t0.25.png" in names and "walk_0003_t0.50.png" in names
    # the written frame equals the network applied to (B_-1 = B_0 repeated, B_0, B_1, B_2) of the clip
    net = BVFI.from_preset("tiny").eval()
    net.load_state_dict(torch.load(tiny_checkpoint, map_location="cpu", weights_only=True))
    load = lambda i: torch.from_numpy(np.asarray(Image.open(folder / "pan" / f"{i:04d}.png"), dtype=np.float32) / 255)  # noqa: E731
    window = torch.stack([load(i).permute(2, 0, 1) for i in (0, 0, 1, 2)])[None]
    with torch.no_grad():
        ref = net(window, [0.5, 0.25])[0].clamp(0, 1)
    for i, t in enumerate(("t0.50", "t0.25")):
        written = np.asarray(Image.open(out / f"pan_0000_{t}.png"), dtype=np.float64) / 255
        assert written.shape == (18, 23, 3)
        assert np.abs(written - ref[i].permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6


def test_inference_default_simulates_blur_on_the_sample(tiny_checkpoint, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path),
        times=[0.5])
    # windows of 15 sharp frames every 4 frames: starts 0, 4, 8 in each 24-frame test clip
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        f"{c}_{i:04d}_t0.50.png" for c in ("bikes_c", "carphone_b") for i in (0, 4, 8)
    ]


def test_metadata_verifies_offline(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))


def test_net_in_out_verifies_with_the_times_as_extra_argument(cfg):
    verify_net_in_out(
        net_id="network_def", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny",
        any=32, extra_forward_args={"t": torch.tensor([[0.5]])},
    )


def test_configs_share_the_network_and_the_blur_protocol(cfg, bundle_root):
    cfgs = {n[-1]: ConfigParser.load_config_files(cfg(*n)) for n in (("train.json",), EVALUATE, ("inference.json",))}
    for config in cfgs.values():
        assert config["network_def"]["_target_"] == "monai_mcrecon.networks.nets.bvfi.BVFI.from_preset"
        assert config["blur"] == cfgs["train.json"]["blur"] and config["times"] == [0.25, 0.5, 0.75]
    fmt = json.loads((bundle_root / "configs" / "metadata.json").read_text())["network_data_format"]
    assert fmt["inputs"]["image"]["num_channels"] == 12 and fmt["outputs"]["pred"]["num_channels"] == 3


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_small_weights_against_frame_averaging(tmp_path, cfg, read_rows):
    """The shipped weights (README "Shipped weights and results"): clearly better than averaging at t = 0.25 and
    0.75 and in SSIM; at t = 0.5 on par in PSNR (+0.02 dB on all 20 windows, benchmarks/results/bvfi_quality.md;
    this test evaluates every 9th window only, where the sign of so small a margin is not stable)."""
    state = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    BVFI.from_preset("small").load_state_dict(state)
    run(config_file=cfg(*EVALUATE), output_dir=str(tmp_path), save_images=False, device="cpu", window_stride=9)
    mean = read_rows(tmp_path / "metrics.csv")[0]
    for t in ("t0.25", "t0.75"):
        assert float(mean[f"psnr_{t}"]) > float(mean[f"psnr_input_{t}"]) + 1.0
    for t in TIMES:
        assert float(mean[f"ssim_{t}"]) >= float(mean[f"ssim_input_{t}"])
    assert abs(float(mean["psnr_t0.50"]) - float(mean["psnr_input_t0.50"])) < 0.3
