"""The unikd_classification and unikd_mccdic bundles as a user runs them: the teacher trained first
when no checkpoint is given, then the student distilled (1-2 iterations), the plain and vanilla-KD
students, evaluation (metrics.csv, deterministic), inference, metadata and network in/out checks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import run, verify_metadata, verify_net_in_out
from PIL import Image

from monai_mcrecon.bundle import METADATA_SCHEMA
from monai_mcrecon.bundle.locate import bundle_dir, config_files

CLS = Path(bundle_dir("unikd_classification"))
MCC = Path(bundle_dir("unikd_mccdic"))
# evaluate.json is an overlay: [inference.json, evaluate.json]
CLS_EVALUATE, MCC_EVALUATE = ([str(f) for f in config_files(b, "evaluate.json")] for b in (CLS, MCC))
TINY_CLS = {"preset": "tiny", "teacher_preset": "teacher_tiny", "max_epochs": 1, "teacher_max_epochs": 1, "epoch_length": 2}
TINY_MCC = {"max_epochs": 1, "epoch_length": 1, "val_interval": 1}
NO_FIGURES = {"handlers#4#_disabled_": True, "save_nifti": False}


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def cls_runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cls")
    run(config_file=str(CLS / "configs" / "train.json"), method="unikd", output_dir=str(root / "unikd"), **TINY_CLS)
    teacher = str(root / "unikd" / "teacher_model.pt")
    run(config_file=str(CLS / "configs" / "train.json"), method="kd", teacher_ckpt=teacher, output_dir=str(root / "kd"), **TINY_CLS)
    run(config_file=str(CLS / "configs" / "train.json"), method="alone", output_dir=str(root / "alone"), **TINY_CLS)
    return {k: root / k for k in ("unikd", "kd", "alone")}


def test_classification_trains_the_teacher_first_then_distils(cls_runs):
    out = cls_runs["unikd"]
    teacher, student = _state(out / "teacher_model.pt"), _state(out / "model_final.pt")
    assert teacher["stages.0.0.0.weight"].shape[0] == 16 and student["stages.0.0.0.weight"].shape[0] == 8
    assert not any(k.startswith(("aggregator", "student_heads", "teacher_heads")) for k in student)  # heads discarded
    info = json.loads((out / "training_info.json").read_text())
    assert info["method"] == "unikd" and info["loss"].startswith("UniKD: CE + warm-up * DKD") and info["iterations"] == 2
    assert info["teacher"].startswith("trained first")
    assert not (cls_runs["kd"] / "teacher_model.pt").exists()  # a given teacher is not retrained
    assert json.loads((cls_runs["kd"] / "training_info.json").read_text())["loss"].startswith("CE + warm-up * KD_T")
    assert json.loads((cls_runs["alone"] / "training_info.json").read_text())["teacher"] is None
    a, k, u = (_state(cls_runs[m] / "model_final.pt") for m in ("alone", "kd", "unikd"))
    assert a.keys() == k.keys() == u.keys()
    assert any(not torch.equal(a[n], k[n]) for n in a) and any(not torch.equal(k[n], u[n]) for n in a)


def test_classification_rejects_an_unknown_method(tmp_path):
    with pytest.raises(Exception) as info:
        run(config_file=str(CLS / "configs" / "train.json"), method="fitnet", output_dir=str(tmp_path), **TINY_CLS)
    chain, e = [], info.value
    while e is not None:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    assert any("method must be 'unikd', 'kd' or 'alone'" in m for m in chain)


def test_classification_evaluate_writes_per_image_accuracy_deterministically(cls_runs, tmp_path, read_rows):
    ckpt = str(cls_runs["unikd"] / "model_final.pt")
    for name in ("a", "b"):
        run(config_file=CLS_EVALUATE, preset="tiny", ckpt_path=ckpt, output_dir=str(tmp_path / name))
    rows = read_rows(tmp_path / "a" / "metrics.csv")
    assert rows[0]["case_id"] == "mean" and len(rows) == 1 + 540
    values = np.array([float(r["accuracy"]) for r in rows[1:]])
    assert set(np.unique(values)) <= {0.0, 1.0}
    assert float(rows[0]["accuracy"]) == pytest.approx(values.mean(), abs=1e-6)
    assert read_rows(tmp_path / "b" / "metrics.csv") == rows


def test_classification_inference_labels_a_folder_of_images(cls_runs, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    (tmp_path / "imgs").mkdir()
    for i in (0, 1):
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).resize((48, 48)).save(tmp_path / "imgs" / f"d{i}.png")
    run(
        config_file=str(CLS / "configs" / "inference.json"), preset="tiny", ckpt_path=str(cls_runs["unikd"] / "model_final.pt"),
        dataset_dir=str(tmp_path / "imgs"), output_dir=str(tmp_path / "out"),
    )
    rows = list(csv.reader(open(tmp_path / "out" / "predictions.csv")))
    assert [r[0] for r in rows] == ["d0", "d1"] and all(0 <= float(r[1]) <= 9 for r in rows)


@pytest.mark.skipif(not (CLS / "models" / "model.pt").exists(), reason="shipped weights not present")
def test_shipped_classification_weights_beat_chance_by_far(tmp_path, read_rows):
    run(config_file=CLS_EVALUATE, output_dir=str(tmp_path))
    assert float(read_rows(tmp_path / "metrics.csv")[0]["accuracy"]) > 0.95
    run(config_file=CLS_EVALUATE, preset="teacher_small", ckpt_path=str(CLS / "models" / "teacher.pt"), output_dir=str(tmp_path / "t"))
    assert float(read_rows(tmp_path / "t" / "metrics.csv")[0]["accuracy"]) > 0.97


def test_mccdic_distils_from_the_shipped_teacher_and_trains_alone(tmp_path, read_rows):
    run(config_file=str(MCC / "configs" / "train.json"), distill=True, output_dir=str(tmp_path / "d"), **TINY_MCC)
    run(config_file=str(MCC / "configs" / "train.json"), distill=False, output_dir=str(tmp_path / "a"), **TINY_MCC)
    d, a = _state(tmp_path / "d" / "model_final.pt"), _state(tmp_path / "a" / "model_final.pt")
    assert d.keys() == a.keys() and not any("heads" in k for k in d)
    assert any(not torch.equal(d[k], a[k]) for k in d)  # distillation changes the update
    info = json.loads((tmp_path / "d" / "training_info.json").read_text())
    assert info["teacher_parameters"] >= 4 * info["student_parameters"]
    assert info["teacher"].endswith("mc_cdic_recon/models/model.pt") and info["loss"].startswith("UniKD restoration")
    assert json.loads((tmp_path / "a" / "training_info.json").read_text())["teacher"] is None
    run(config_file=MCC_EVALUATE, ckpt_path=str(tmp_path / "d" / "model_final.pt"), output_dir=str(tmp_path / "e"), **NO_FIGURES)
    rows = read_rows(tmp_path / "e" / "metrics.csv")
    assert [r["case_id"] for r in rows] == ["mean", "icbm_test_a", "icbm_test_b"]
    assert all(np.isfinite(float(r["psnr"])) for r in rows)


def test_mccdic_trains_a_teacher_first_without_a_checkpoint(tmp_path):
    run(
        config_file=str(MCC / "configs" / "train.json"), teacher_ckpt="", teacher_preset="tiny", teacher_max_epochs=1,
        output_dir=str(tmp_path), max_epochs=1, epoch_length=1, val_interval=2,
    )
    teacher = _state(tmp_path / "teacher_model.pt")
    assert teacher["lift_x.weight"].shape[0] == 8 and (tmp_path / "model_final.pt").exists()


@pytest.mark.parametrize("bundle", [CLS, MCC])
def test_metadata_and_network_in_out_verify(bundle):
    verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(METADATA_SCHEMA))
    verify_net_in_out(net_id="network_def", meta_file=str(bundle / "configs" / "metadata.json"), config_file=str(bundle / "configs" / "inference.json"), n=2)


@pytest.mark.skipif(not (MCC / "models" / "model.pt").exists(), reason="shipped weights not present")
def test_shipped_mccdic_student_loads_and_has_at_least_4x_fewer_parameters():
    from monai.bundle import ConfigParser

    from monai_mcrecon.bundle.weights import load_weights
    from monai_mcrecon.networks.nets.mc_cdic import MCCDic

    parser = ConfigParser()
    parser.read_config(str(MCC / "configs" / "inference.json"))
    student = parser.get_parsed_content("network_def")
    student.load_state_dict(load_weights(MCC / "models" / "model.pt"))
    n_student = sum(p.numel() for p in student.parameters() if p.requires_grad)
    n_teacher = sum(p.numel() for p in MCCDic.from_preset("small").parameters() if p.requires_grad)
    assert n_student == 120_357 and n_teacher == 491_889 and n_teacher >= 4 * n_student
    with torch.no_grad():
        out = student.eval()(torch.rand(1, 2, 32, 32))
    assert out.shape == (1, 1, 32, 32) and torch.isfinite(out).all()
