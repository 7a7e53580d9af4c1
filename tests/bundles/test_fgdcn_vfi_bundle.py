"""The fgdcn_vfi bundle as a user runs it: train (tiny, 2 iterations), evaluate, infer, verify.

``monai.bundle`` runs in-process with the ``tiny`` preset on small synthetic clips (a texture panning by
one pixel per frame, sizes that are not multiples of 16); the shipped ``small`` weights are exercised when
present.
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
from monai_mcrecon.networks.nets.fgdcn import FGDCN

BUNDLE = "fgdcn_vfi"
EVALUATE = ("inference.json", "evaluate.json")  # evaluate.json is an overlay: run on top of inference.json
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "iterations_per_epoch": 2, "patch_size": [32, 32], "batch_size": 2,
              "val_interval": 1, "use_clips": "false"}  # the shipped sample, whether or not the clip collection is installed


def _load(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Clip ``pan`` (5 frames 40x53, moving right by 1 px per frame) and clip ``tilt`` (3 frames 36x40)."""
    root = tmp_path_factory.mktemp("clips")
    y, x = np.mgrid[0:48, 0:80]
    tex = np.stack([0.5 + 0.3 * np.sin(x / 3.0 + c) * np.cos(y / 4.0) + 0.15 * np.sin((x + 2 * y) / 5.0) for c in range(3)], -1)
    tex = (np.clip(tex, 0, 1) * 255).round().astype(np.uint8)
    for name, n, crop in (("pan", 5, lambda a, i: np.roll(a, i, axis=1)[:40, 10:63]),
                          ("tilt", 3, lambda a, i: np.roll(a, i, axis=0)[4:40, :40])):
        (root / name).mkdir()
        for i in range(n):
            Image.fromarray(crop(tex, i)).save(root / name / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def tiny_train(clips) -> dict:
    """TINY_TRAIN, validated on the clips (model_key_metric.pt)."""
    return {**TINY_TRAIN, "val_dataset_dir": str(clips)}


def test_training_writes_checkpoints_tensorboard_and_recipe(tiny_checkpoint):
    out = tiny_checkpoint.parent
    assert list(out.glob("events.out.tfevents*")), "TensorBoard events missing"
    net = FGDCN.from_preset("tiny")
    net.load_state_dict(torch.load(tiny_checkpoint, map_location="cpu", weights_only=True))
    info = json.loads((out / "training_info.json").read_text())
    assert info["network"] == "FGDCN" and info["preset"] == "tiny" and info["iterations"] == 2
    assert info["parameters"] == sum(p.numel() for p in net.parameters()) == 152_214
    assert info["teacher"] is None and info["loss_weights"]["census_weight"] == 2.0
    assert info["loss_weights"]["anchor_weight"] == info["loss_weights"]["refined_flow_weight"] == 0.0
    # the validation run (val_interval 1) kept the weights with the best validation PSNR
    best = torch.load(out / "model_key_metric.pt", map_location="cpu", weights_only=True)
    assert set(best) == set(net.state_dict())


def test_training_with_precomputed_teacher_flows_caches_one_flow_per_triplet(clips, tmp_path, cfg):
    """--precompute_teacher: TV-L1 runs once per training triplet (PersistentDataset), crops carry the flows."""
    out, cache = tmp_path / "train", tmp_path / "cache"
    run(config_file=cfg("train.json"), preset="tiny", max_epochs=2, iterations_per_epoch=2, patch_size=[32, 32],
        batch_size=2, val_interval=10, dataset_dir=str(clips), precompute_teacher=True, teacher_cache_dir=str(cache),
        loss_weights={"flow_weight": 1.0}, output_dir=str(out))
    # clips: pan (5 frames -> 3 triplets) and tilt (3 frames -> 1 triplet); 8 samples drawn, 4 distinct
    cached = sorted(cache.glob("*.pt"))
    assert len(cached) == 4
    item = torch.load(cached[0], weights_only=True)
    assert item["teacher_flow"].shape == (4, *item["label"].shape[-2:])
    info = json.loads((out / "training_info.json").read_text())
    assert info["precompute_teacher"] is True and info["teacher"] == "TVL1FlowTeacher"


def test_flow_step_warm_up_with_synthetic_motion_trains_only_the_flow_step(tiny_checkpoint, tmp_path, cfg):
    """train.json + train_flow.json, --synthetic_motion 0.5: half the items are synthetic triplets with exact flows;
    only network.flow_net changes and the saved checkpoint is a whole FGDCN."""
    root = tmp_path / "clips" / "wide"
    root.mkdir(parents=True)
    y, x = np.mgrid[0:48, 0:72]
    for i in range(3):
        img = np.stack([0.5 + 0.4 * np.sin((x + i) / 2.5 + c) * np.cos(y / 3.0) for c in range(3)], -1)
        Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(root / f"{i:04d}.png")
    out = tmp_path / "train"
    run(config_file=[cfg("train.json"), cfg("train_flow.json")], preset="tiny", max_epochs=1, iterations_per_epoch=2,
        patch_size=[32, 32], batch_size=2, val_interval=10, dataset_dir=str(root.parent), precompute_teacher=True,
        teacher_cache_dir=str(tmp_path / "cache"), synthetic_motion=0.5, init_ckpt=str(tiny_checkpoint),
        output_dir=str(out))
    before = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    after = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    FGDCN.from_preset("tiny").load_state_dict(after)  # a whole network
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("flow_net.") for k in changed)
    assert any(k.startswith("flow_net.block0.") for k in changed) and any(k.startswith("flow_net.refine.") for k in changed)
    info = json.loads((out / "training_info.json").read_text())
    assert info["loss"].startswith("FlowStepLoss") and info["trained"].startswith("flow step only")
    assert info["synthetic_motion"] == 0.5 and info["synthetic_motion_args"]["max_object_motion"] == 8.0
    # one real triplet, repeated to fill the epoch, and as many synthetic items
    parser = ConfigParser()
    parser.read_config([cfg("train.json"), cfg("train_flow.json")])
    parser.update({"dataset_dir": str(root.parent), "precompute_teacher": True, "synthetic_motion": 0.5,
                   "output_dir": str(tmp_path / "parse"), "teacher_cache_dir": str(tmp_path / "cache")})
    assert parser.get_parsed_content("train#synthetic#count") == len(parser.get_parsed_content("train#real_dataset"))
    with pytest.raises(RuntimeError) as refused:  # monai.bundle wraps the error of a config expression
        run(config_file=cfg("train.json"), preset="tiny", max_epochs=1, iterations_per_epoch=1, patch_size=[32, 32],
            dataset_dir=str(root.parent), synthetic_motion=0.5, output_dir=str(tmp_path / "refused"))
    assert "--precompute_teacher true" in str(refused.value.__cause__)


def test_weight_average_is_validated_and_saved_and_starts_from_init_ckpt(tiny_checkpoint, clips, tmp_path, cfg):
    """--ema_momentum: validation and model.pt / model_key_metric.pt use the moving average of the weights, which
    starts from --init_ckpt (a tiny momentum keeps it there) while the trained weights move on."""
    out = tmp_path / "train"
    run(config_file=cfg("train.json"), preset="tiny", max_epochs=1, iterations_per_epoch=2, patch_size=[32, 32],
        batch_size=2, learning_rate=1e-2, val_interval=1, dataset_dir=str(clips), val_dataset_dir=str(clips),
        init_ckpt=str(tiny_checkpoint), ema_momentum=1e-9, output_dir=str(out))
    init = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    averaged = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    best = torch.load(out / "model_key_metric.pt", map_location="cpu", weights_only=True)
    trained = torch.load(out / "model_final.pt", map_location="cpu", weights_only=True)["model"]
    assert all(torch.allclose(averaged[k], init[k], atol=1e-6) for k in init)
    assert all(torch.equal(best[k], averaged[k]) for k in init)
    moved = max((trained[k] - init[k]).abs().max().item() for k in init)
    assert moved > 1e-3
    assert json.loads((out / "training_info.json").read_text())["ema_momentum"] == 1e-9


def test_robust_distillation_option_reaches_the_loss(tmp_path, cfg):
    parser = ConfigParser()
    parser.read_config(cfg("train.json"))
    assert parser.get_parsed_content("loss").distill.robust_beta == 0.0  # the release's plain EPE by default
    parser.update({"distill_robust_beta": 0.3, "output_dir": str(tmp_path)})
    assert parser.get_parsed_content("loss").distill.robust_beta == 0.3


def test_evaluate_writes_metrics_with_both_baselines_and_figures(tiny_checkpoint, clips, tmp_path, cfg, read_rows):
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(clips),
        output_dir=str(tmp_path))
    rows = read_rows(tmp_path / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "pan_0000", "pan_0001", "pan_0002", "tilt_0000"]
    for col in ("psnr", "ssim", "psnr_input", "ssim_input", "psnr_tvl1", "ssim_tvl1"):
        values = [float(r[col]) for r in rows]
        assert np.isfinite(values).all()
        assert values[0] == pytest.approx(np.mean(values[1:]), abs=1e-5)
    # psnr_input is the average of the two outer frames against the middle one
    f0, gt, f1 = (_load(clips / "pan" / f"{i:04d}.png") for i in range(3))
    mse = float(((0.5 * (f0 + f1) - gt) ** 2).mean())
    assert float(rows[1]["psnr_input"]) == pytest.approx(10 * np.log10(1 / mse), abs=1e-3)
    # on a smooth 1-pixel pan TV-L1 warping beats averaging
    assert float(rows[0]["psnr_tvl1"]) > float(rows[0]["psnr_input"])
    figures = tmp_path / "figures"
    assert sorted(p.name for p in figures.glob("*.png")) == ["pan_0000.png", "pan_0001.png", "pan_0002.png", "tilt_0000.png"]
    gif = Image.open(figures / "pan.gif")
    assert gif.n_frames == 3 and gif.size == (3 * 53 + 8, 40)
    assert Image.open(figures / "tilt.gif").size == (3 * 40 + 8, 36)


def test_evaluate_without_tvl1_has_the_four_standard_columns(tiny_checkpoint, clips, tmp_path, cfg, read_rows):
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(clips),
        output_dir=str(tmp_path), tvl1_baseline=False, save_figures=False, stride=2)
    rows = read_rows(tmp_path / "metrics.csv")
    assert list(rows[0]) == ["case_id", "psnr", "ssim", "psnr_input", "ssim_input"]
    assert [r["case_id"] for r in rows] == ["mean", "pan_0000", "pan_0002", "tilt_0000"]
    assert not (tmp_path / "figures").exists()


def test_inference_doubles_the_frame_rate(tiny_checkpoint, clips, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(clips),
        output_dir=str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "pan").glob("*.png")) == [f"{i:04d}.png" for i in range(9)]
    assert sorted(p.name for p in (tmp_path / "tilt").glob("*.png")) == [f"{i:04d}.png" for i in range(5)]
    for i in range(5):  # the input frames are written back unchanged at the even positions
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "pan" / f"{2 * i:04d}.png")),
                                      np.asarray(Image.open(clips / "pan" / f"{i:04d}.png")))
    net = FGDCN.from_preset("tiny").eval()
    net.load_state_dict(torch.load(tiny_checkpoint, map_location="cpu", weights_only=True))
    f0, f1 = _load(clips / "pan" / "0001.png"), _load(clips / "pan" / "0002.png")
    with torch.no_grad():
        ref = net(f0[None], f1[None])[0].clamp(0, 1)
    written = _load(tmp_path / "pan" / "0003.png")
    assert float((written - ref).abs().max()) <= 0.5 / 255 + 1e-6


def test_missing_dataset_folder_is_named(tiny_checkpoint, tmp_path, cfg):
    with pytest.raises(RuntimeError) as err:  # monai.bundle wraps the loader's error
        run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint),
            dataset_dir=str(tmp_path / "nowhere"), output_dir=str(tmp_path / "out"))
    cause = err.value.__cause__
    assert isinstance(cause, FileNotFoundError) and "<folder>/<clip>/NNNN.png" in str(cause)


def test_metadata_verifies_offline(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))


def test_net_in_out_verifies_with_the_frames_stacked_along_the_channels(cfg):
    # network_def takes (frame0, frame1); network_export (what metadata.json describes) takes them stacked
    verify_net_in_out(
        net_id="network_export", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny",
        any=37,
    )


def test_configs_build_the_same_network(cfg, bundle_root):
    meta = json.loads((bundle_root / "configs" / "metadata.json").read_text())
    for names in (("train.json",), EVALUATE, ("inference.json",)):
        net = ConfigParser.load_config_files(cfg(*names))["network_def"]
        assert net["_target_"] == "monai_mcrecon.networks.nets.fgdcn.FGDCN.from_preset"
    fmt = meta["network_data_format"]
    assert fmt["inputs"]["image"]["num_channels"] == 6 and list(fmt["inputs"]) == ["image"]  # two RGB frames stacked
    assert fmt["outputs"]["pred"]["num_channels"] == 3


def test_inference_self_ensemble_averages_flips_and_swapped_frames(tiny_checkpoint, clips, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(clips),
        output_dir=str(tmp_path), self_ensemble="true", self_ensemble_flips=["h"])
    net = FGDCN.from_preset("tiny").eval()
    net.load_state_dict(torch.load(tiny_checkpoint, map_location="cpu", weights_only=True))
    f0, f1 = _load(clips / "pan" / "0001.png")[None], _load(clips / "pan" / "0002.png")[None]
    with torch.no_grad():
        plain = net(f0, f1)[0].clamp(0, 1)
        ref = ((net(f0, f1) + net(f1, f0) + net(f0.flip(-1), f1.flip(-1)).flip(-1)
                + net(f1.flip(-1), f0.flip(-1)).flip(-1)) / 4)[0].clamp(0, 1)
    written = _load(tmp_path / "pan" / "0003.png")
    assert float((written - ref).abs().max()) <= 0.5 / 255 + 1e-6
    assert float((ref - plain).abs().max()) > 2 / 255  # the ensemble is not the plain output


SHIPPED = Path(bundle_dir(BUNDLE)) / "models" / "model.pt"


@pytest.fixture(scope="module")
def shipped_eval(cfg, read_rows):
    def evaluate(out, **overrides) -> dict:
        # every 4th held-out triplet keeps the test short (11 of 44; benchmarks/fgdcn_quality.py runs all)
        run(config_file=cfg(*EVALUATE), output_dir=str(out), save_figures=False, stride=4, device="cpu", **overrides)
        return {k: float(v) for k, v in read_rows(out / "metrics.csv")[0].items() if k != "case_id"}

    return evaluate


@pytest.fixture(scope="module")
def shipped_mean(shipped_eval, tmp_path_factory) -> dict:
    state = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    FGDCN.from_preset("small").load_state_dict(state)
    return shipped_eval(tmp_path_factory.mktemp("shipped"))


@pytest.fixture(scope="module")
def shipped_self_ensemble_mean(shipped_eval, tmp_path_factory) -> dict:
    return shipped_eval(tmp_path_factory.mktemp("shipped_se"), self_ensemble=True, tvl1_baseline=False)


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_small_weights_beat_frame_averaging(shipped_mean):
    """Issue 6, FGDCN acceptance against frame averaging, plain network (docs: 30.36 vs 30.10 dB on all 44 triplets;
    29.90 vs 29.68 dB on the 11 evaluated here)."""
    assert shipped_mean["psnr"] > shipped_mean["psnr_input"] + 0.1
    assert shipped_mean["ssim"] > shipped_mean["ssim_input"]


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_small_weights_with_self_ensemble_beat_tvl1_on_held_out_triplets(shipped_mean, shipped_self_ensemble_mean):
    """Issue 6, FGDCN acceptance against TV-L1 warping: met with the bundle's self-ensemble (docs: 30.61 vs 30.52 dB on
    all 44 triplets; 30.23 vs 30.10 dB on the 11 evaluated here). The plain network is below TV-L1 (30.36 on all 44)."""
    assert shipped_self_ensemble_mean["psnr"] > shipped_mean["psnr_tvl1"]
    assert shipped_self_ensemble_mean["psnr"] > shipped_mean["psnr"] + 0.1
    assert shipped_self_ensemble_mean["psnr_input"] == pytest.approx(shipped_mean["psnr_input"])
