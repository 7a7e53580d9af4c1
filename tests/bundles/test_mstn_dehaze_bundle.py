"""The mstn_dehaze bundle as a user runs it: train (tiny, 2 iterations), evaluate, infer, verify.

``monai.bundle.run`` in-process with the ``tiny`` preset on the shipped natural sample; the shipped
``small`` weights are checked against the acceptance bar (3 dB above the hazy input) when present.
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
from monai_mcrecon.data.natural import natural_sample_datalist
from monai_mcrecon.transforms.degradation import AddHazed
from monai_mcrecon.transforms.natural import LoadNaturalImaged

BUNDLE = "mstn_dehaze"
EVALUATE = ("inference.json", "evaluate.json")  # evaluate.json is an overlay: run on top of inference.json
TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "iterations_per_epoch": 2, "val_interval": 1,
              "use_photos": "false"}  # the shipped sample, whether or not the photo collection is installed
SHIPPED = Path(bundle_dir(BUNDLE)) / "models" / "model.pt"
TEST_CASES = ["camera", "chelsea", "coins", "motorcycle_left"]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def evaluated(tiny_checkpoint, tmp_path_factory, cfg) -> Path:
    out = tmp_path_factory.mktemp("evaluate")
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(out))
    return out


def test_training_chain_draws_haze_free_pairs_and_rotated_hues(check_clean_pairs_and_hues):
    """--haze_free_prob and --hue_prob (the conftest fixture says what is checked)."""
    check_clean_pairs_and_hues("haze_free_prob")


def test_training_writes_checkpoints_run_info_and_tensorboard(tiny_checkpoint):
    out = tiny_checkpoint.parent
    assert (out / "model_final.pt").exists() and tiny_checkpoint.exists()
    assert list(out.glob("events.out.tfevents*"))
    info = json.loads((out / "training_info.json").read_text())
    assert info["preset"] == "tiny" and info["iterations"] == 2 and info["loss"].startswith("L1")
    state = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    assert "Output.conv2d.weight" in state and "f1_2.sk.fcs.1.bias" in state  # release parameter names


def test_evaluate_writes_metrics_figures_and_pngs(evaluated, read_rows):
    tmp_path = evaluated
    rows = read_rows(tmp_path / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", *TEST_CASES]
    for col in ("psnr", "ssim", "psnr_input", "ssim_input"):
        values = [float(r[col]) for r in rows]
        assert np.isfinite(values).all()
        assert values[0] == pytest.approx(np.mean(values[1:]), abs=1e-4)
    # the hazy input is the fixed-seed AddHazed of each clean image, the motorcycle with its real depth
    load = LoadNaturalImaged(keys="label", channels=3)
    with_depth = AddHazed(depth_key="depth", seed=0, case_seed_key="case_id")
    without_depth = AddHazed(seed=0, case_seed_key="case_id")
    for row, item in zip(rows[1:], natural_sample_datalist("test")):
        d = with_depth(load(item))
        assert float(row["psnr_input"]) == pytest.approx(_psnr(d["image"], d["label"]), abs=1e-3)
        size = d["label"].shape[-2:]
        png = np.asarray(Image.open(tmp_path / "dehazed" / f"{item['case_id']}_dehazed.png"))
        assert png.shape == (*size, 3)
        assert (tmp_path / "figures" / f"{item['case_id']}.png").stat().st_size > 10_000
    moto = load(natural_sample_datalist("test")[3])
    assert "depth" in moto
    assert _psnr(without_depth(moto)["image"], moto["label"]) != pytest.approx(float(rows[4]["psnr_input"]), abs=0.05)
    assert 10 < float(rows[0]["psnr_input"]) < 20  # the synthetic haze of the sample is strong


def test_inference_default_matches_evaluate_and_accepts_a_folder(tiny_checkpoint, evaluated, tmp_path, cfg):
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), output_dir=str(tmp_path / "a"))
    for case in TEST_CASES:  # same fixed-seed haze on the sample's test split
        a = np.asarray(Image.open(tmp_path / "a" / f"{case}_dehazed.png"))
        b = np.asarray(Image.open(evaluated / "dehazed" / f"{case}_dehazed.png"))
        np.testing.assert_array_equal(a, b)
    # a plain folder of hazy photos: any size, gray or RGB
    folder = tmp_path / "hazy"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((37, 50, 3)) * 255).astype(np.uint8)).save(folder / "odd.png")
    Image.fromarray((rng.random((20, 23)) * 255).astype(np.uint8)).save(folder / "gray.jpg")
    run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(folder),
        output_dir=str(tmp_path / "b"))
    assert np.asarray(Image.open(tmp_path / "b" / "odd_dehazed.png")).shape == (37, 50, 3)
    assert np.asarray(Image.open(tmp_path / "b" / "gray_dehazed.png")).shape == (20, 23, 3)


def test_evaluate_on_a_folder_of_clean_images(tiny_checkpoint, tmp_path, cfg, read_rows):
    folder = tmp_path / "clean"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, shape in (("a", (40, 33, 3)), ("b", (31, 45))):
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(folder / f"{name}.png")
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=str(tiny_checkpoint), dataset_dir=str(folder),
        output_dir=str(tmp_path / "out"), save_images=False)
    rows = read_rows(tmp_path / "out" / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "a", "b"]
    assert not (tmp_path / "out" / "dehazed").exists()


def test_empty_folder_is_named(tiny_checkpoint, tmp_path, cfg):
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception) as info:
        run(config_file=cfg("inference.json"), preset="tiny", ckpt_path=str(tiny_checkpoint),
            dataset_dir=str(tmp_path / "empty"), output_dir=str(tmp_path / "out"))
    text = " ".join(str(e) for e in (info.value, info.value.__cause__, info.value.__context__) if e)
    assert "No image found" in text


def test_metadata_verifies_offline(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))


def test_net_in_out_verifies(cfg):
    verify_net_in_out(
        net_id="network_def", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny", n=2
    )


def test_metadata_matches_network_contract(cfg, bundle_root):
    meta = json.loads((bundle_root / "configs" / "metadata.json").read_text())
    fmt = meta["network_data_format"]
    for names in (("train.json",), EVALUATE, ("inference.json",)):
        net = ConfigParser.load_config_files(cfg(*names))["network_def"]
        assert net["_target_"] == "monai_mcrecon.networks.nets.mstn.MSTN.from_preset"
    assert fmt["inputs"]["image"]["num_channels"] == 3 == fmt["outputs"]["pred"]["num_channels"]


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_small_weights_beat_the_hazy_input_and_the_dark_channel_prior(tmp_path, cfg, read_rows):
    from monai_mcrecon.baselines import dark_channel_dehaze
    from monai_mcrecon.networks.nets.mstn import MSTN

    state = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    MSTN.from_preset("small", residual_prior=True).load_state_dict(state)
    run(config_file=cfg(*EVALUATE), output_dir=str(tmp_path), save_images=False)
    rows = read_rows(tmp_path / "metrics.csv")
    mean = rows[0]
    assert float(mean["psnr"]) >= float(mean["psnr_input"]) + 3.0
    # measured (docs/README.md): 21.28 dB / SSIM 0.927 vs hazy 15.30 / 0.815 and the dark channel prior 19.03 / 0.919
    assert float(mean["psnr"]) == pytest.approx(21.28, abs=0.05)
    assert float(mean["ssim"]) == pytest.approx(0.927, abs=0.005)
    # the classical prior that the network refines, on the same hazy images (the bundle's haze, fixed seeds)
    load, haze = LoadNaturalImaged(keys="label", channels=3), AddHazed(depth_key="depth", seed=0, case_seed_key="case_id")
    hazed = [haze(load(item)) for item in natural_sample_datalist("test")]
    dcp = [_psnr(dark_channel_dehaze(d["image"]), d["label"]) for d in hazed]
    assert float(mean["psnr"]) > sum(dcp) / len(dcp) + 1.0
