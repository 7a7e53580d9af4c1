"""The mdrn_denoise bundle as a user runs it: teacher, plain student and HMDS student (tiny, 2
iterations), evaluation with fixed-seed noise, inference on a folder, the MRI (Rician) configuration,
metadata checks and the shipped weights."""

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

BUNDLE = "mdrn_denoise"
EVALUATE = ("inference.json", "evaluate.json")  # evaluate.json is an overlay: run on top of inference.json
SHIPPED = Path(bundle_dir(BUNDLE)) / "models" / "model.pt"
NO_FIGURES = {"handlers#4#_disabled_": True}  # the RestorationFigureWriter entry of evaluate.json
TINY = {"preset": "tiny", "teacher_preset": "tiny", "max_epochs": 1, "iterations_per_epoch": 2, "val_interval": 1,
        "use_photos": "false"}  # the shipped sample, whether or not the photo collection is installed


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, cfg) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    run(config_file=cfg("train.json"), train_teacher=True, output_dir=str(root / "teacher"), **TINY)
    run(config_file=cfg("train.json"), output_dir=str(root / "plain"), **TINY)
    run(
        config_file=cfg("train.json"),
        distill=True,
        teacher_ckpt=str(root / "teacher" / "model_final.pt"),
        output_dir=str(root / "hmds"),
        **TINY,
    )
    return {k: root / k for k in ("teacher", "plain", "hmds")}


def test_teacher_student_and_hmds_runs_write_checkpoints_and_recipes(checkpoints):
    teacher = torch.load(checkpoints["teacher"] / "model_final.pt", map_location="cpu", weights_only=True)
    assert any(k.startswith("hidden.") for k in teacher)  # DnCNN teacher
    for run_name in ("plain", "hmds"):
        out = checkpoints[run_name]
        state = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
        assert any(k.startswith("blocks.") for k in state)  # MDRN student; adapters are not saved
        assert not any("adapter" in k for k in state)
        assert list(out.glob("events.out.tfevents*"))
    info = {k: json.loads((checkpoints[k] / "training_info.json").read_text()) for k in checkpoints}
    assert info["teacher"]["network"] == "DnCNN" and info["plain"]["network"] == "MDRN"
    assert info["plain"]["loss"] == "L1(pred, label)" and info["hmds"]["loss"].startswith("HMDS")
    assert info["hmds"]["iterations"] == info["plain"]["iterations"] == 2


def test_hmds_student_differs_from_plain_student_with_the_same_seed(checkpoints):
    plain = torch.load(checkpoints["plain"] / "model_final.pt", map_location="cpu", weights_only=True)
    hmds = torch.load(checkpoints["hmds"] / "model_final.pt", map_location="cpu", weights_only=True)
    assert plain.keys() == hmds.keys()
    assert any(not torch.equal(plain[k], hmds[k]) for k in plain)


def test_distill_without_teacher_checkpoint_names_the_fix(tmp_path, cfg):
    with pytest.raises(Exception) as info:
        run(config_file=cfg("train.json"), distill=True, output_dir=str(tmp_path), **TINY)
    assert "--teacher_ckpt" in "".join(str(e) for e in _chain(info.value))


def test_evaluate_writes_metrics_figures_and_restored_pngs(checkpoints, tmp_path, cfg, read_rows):
    ckpt = str(checkpoints["plain"] / "model_final.pt")
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=ckpt, output_dir=str(tmp_path / "a"))
    rows = read_rows(tmp_path / "a" / "metrics.csv")
    cases = ["camera", "chelsea", "coins", "motorcycle_left"]
    assert [r["case_id"] for r in rows] == ["mean", *cases]
    for col in ("psnr", "ssim", "psnr_input", "ssim_input"):
        values = [float(r[col]) for r in rows]
        assert np.isfinite(values).all()
        assert values[0] == pytest.approx(np.mean(values[1:]), abs=1e-4)
    # unclipped AWGN at sigma 25/255 has PSNR 20*log10(255/25) = 20.17 dB
    assert float(rows[0]["psnr_input"]) == pytest.approx(20.17, abs=0.15)
    for item in natural_sample_datalist("test"):
        case = item["case_id"]
        assert (tmp_path / "a" / "figures" / f"{case}.png").stat().st_size > 5_000
        restored = np.asarray(Image.open(tmp_path / "a" / "restored" / f"{case}_restored.png"))
        clean = np.asarray(Image.open(item["label"]).convert("L"))
        assert restored.shape == clean.shape  # any H, W is restored at full size
    # the noise is fixed by the seed and the case id: a second run (figures off) gives the same numbers
    run(config_file=cfg(*EVALUATE), preset="tiny", ckpt_path=ckpt, output_dir=str(tmp_path / "b"), **NO_FIGURES)
    assert read_rows(tmp_path / "b" / "metrics.csv") == rows


def test_evaluate_sigma_is_overridable(checkpoints, tmp_path, cfg, read_rows):
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.full((96, 80), 128, dtype=np.uint8)).save(tmp_path / "imgs" / "flat.png")
    for sigma in (15, 50):
        run(
            config_file=cfg(*EVALUATE),
            preset="tiny",
            ckpt_path=str(checkpoints["plain"] / "model_final.pt"),
            dataset_dir=str(tmp_path / "imgs"),
            output_dir=str(tmp_path / str(sigma)),
            sigma=sigma,
            **NO_FIGURES,
        )
        mean = read_rows(tmp_path / str(sigma) / "metrics.csv")[0]
        assert float(mean["psnr_input"]) == pytest.approx(20 * np.log10(255 / sigma), abs=0.15)


def test_evaluate_accepts_a_plain_folder_of_rgb_and_gray_images(checkpoints, tmp_path, cfg, read_rows):
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    Image.fromarray(rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)).save(tmp_path / "imgs" / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (30, 21), dtype=np.uint8)).save(tmp_path / "imgs" / "gray.jpg")
    run(
        config_file=cfg(*EVALUATE),
        preset="tiny",
        ckpt_path=str(checkpoints["plain"] / "model_final.pt"),
        dataset_dir=str(tmp_path / "imgs"),
        output_dir=str(tmp_path / "out"),
        **NO_FIGURES,
    )
    rows = read_rows(tmp_path / "out" / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "gray", "rgb"]
    assert np.asarray(Image.open(tmp_path / "out" / "restored" / "rgb_restored.png")).shape == (37, 45)


def test_inference_restores_every_image_of_a_folder(checkpoints, tmp_path, cfg):
    rng = np.random.default_rng(1)
    (tmp_path / "noisy").mkdir()
    for name, shape in (("a", (33, 50)), ("b", (64, 64))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / "noisy" / f"{name}.png")
    run(
        config_file=cfg("inference.json"),
        preset="tiny",
        ckpt_path=str(checkpoints["plain"] / "model_final.pt"),
        dataset_dir=str(tmp_path / "noisy"),
        output_dir=str(tmp_path / "out"),
    )
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert written == ["a_restored.png", "b_restored.png"]
    assert np.asarray(Image.open(tmp_path / "out" / "a_restored.png")).shape == (33, 50)


def test_mri_configuration_trains_and_evaluates_with_rician_noise(tmp_path, cfg, read_rows):
    run(config_file=cfg("train.json", "mri_common.json", "train_mri.json"), output_dir=str(tmp_path / "train"), **TINY)
    ckpt = tmp_path / "train" / "model_final.pt"
    assert ckpt.exists()
    info = json.loads((tmp_path / "train" / "training_info.json").read_text())
    assert info["in_channels"] == 1
    run(
        config_file=cfg(*EVALUATE, "mri_common.json", "evaluate_mri.json"),
        preset="tiny",
        ckpt_path=str(ckpt),
        output_dir=str(tmp_path / "eval"),
        **NO_FIGURES,
    )
    rows = read_rows(tmp_path / "eval" / "metrics.csv")
    assert rows[0]["case_id"] == "mean" and len(rows) == 1 + 32  # 2 test slabs x 16 axial slices
    assert rows[1]["case_id"] == "icbm_test_a_z000"
    # Rician noise of sigma 0.05 on [0, 1] slices: the error std is about 0.05 in the brain and larger
    # (Rayleigh bias sigma * sqrt(pi / 2) = 0.063) in the background, so the input PSNR lies near 20 log10(1 / 0.05) = 26 dB
    psnr_in = float(rows[0]["psnr_input"])
    assert 22 < psnr_in < 27


def test_metadata_verifies_offline(cfg):
    verify_metadata(meta_file=cfg("metadata.json"), filepath=str(METADATA_SCHEMA))


def test_net_in_out_verifies(cfg):
    verify_net_in_out(
        net_id="network_def", meta_file=cfg("metadata.json"), config_file=cfg("inference.json"), preset="tiny", n=5
    )


def test_metadata_matches_network_contract(cfg, bundle_root):
    meta = json.loads((bundle_root / "configs" / "metadata.json").read_text())
    fmt = meta["network_data_format"]
    net = ConfigParser.load_config_file(cfg("inference.json"))["network_def"]
    assert net["_target_"] == "monai_mcrecon.networks.nets.mdrn.MDRN.from_preset"
    assert fmt["inputs"]["image"]["num_channels"] == 1 and fmt["outputs"]["pred"]["num_channels"] == 1


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped weights not present")
def test_shipped_weights_load_into_the_small_preset_and_denoise():
    from monai_mcrecon.networks.nets.mdrn import MDRN

    net = MDRN.from_preset("small")
    net.load_state_dict(torch.load(SHIPPED, map_location="cpu", weights_only=True))
    g = torch.Generator().manual_seed(0)
    clean = torch.linspace(0, 1, 64).repeat(64, 1)[None, None]  # smooth ramp
    noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=g)
    with torch.no_grad():
        out = net(noisy).clamp(0, 1)
    mse_in = ((noisy - clean) ** 2).mean()
    mse_out = ((out - clean) ** 2).mean()
    assert mse_out < 0.25 * mse_in  # > 6 dB gain on a smooth image


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
