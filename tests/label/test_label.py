"""Tests of the MONAI Label app, against the real ``monailabel`` package.

``monailabel`` lives in its own venv (it pins numpy 1.26 / jsonschema 3.2); run these with
``OMP_NUM_THREADS=1 /work/venv-label/bin/python -m pytest -q tests/label`` (or ``tools/label_venv.sh``).
In the main venv the module is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("monailabel")

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from monai_mcrecon.data import SAMPLE_DIR  # noqa: E402
from monai_mcrecon.metrics import psnr  # noqa: E402

N_SLICES = 4
CASE = "icbm_test_a"


def _crop(src: Path, dst: Path, data: np.ndarray | None = None) -> np.ndarray:
    img = nib.load(str(src))
    arr = np.asarray(img.dataobj, dtype=np.float32)[..., 6 : 6 + N_SLICES] if data is None else data
    nib.save(nib.Nifti1Image(arr, img.affine), str(dst))
    return arr


def _degrade(volume: np.ndarray) -> np.ndarray:
    """Zero-filled magnitude of the recon bundle's fixed 4x mask (its evaluation degradation)."""
    from monai_mcrecon.transforms import KspaceUndersampled

    t = torch.as_tensor(volume).movedim(-1, 0)[None]  # [1, slices, H, W]
    out = KspaceUndersampled(keys="target", mask_type="mc_cdic", acceleration=4, fixed=True, kspace_key=None)(
        {"target": t}
    )["degraded"]
    return out[0].movedim(0, -1).numpy().astype(np.float32)


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> dict[str, Path]:
    """A 4-slice crop of one sample study as a MONAI Label local datastore (flat naming), the
    fully sampled T2 kept aside as truth."""
    root = tmp_path_factory.mktemp("label")
    store = root / "studies"
    store.mkdir()
    truth = _crop(SAMPLE_DIR / CASE / "t2.nii.gz", root / "truth_t2.nii.gz")
    _crop(SAMPLE_DIR / CASE / "t1.nii.gz", store / f"{CASE}_t1.nii.gz")
    _crop(SAMPLE_DIR / CASE / "t2.nii.gz", store / f"{CASE}_t2.nii.gz", _degrade(truth))
    return {"root": root, "store": store, "truth": root / "truth_t2.nii.gz", "image": store / f"{CASE}_t2.nii.gz"}


@pytest.fixture(scope="module")
def recon_task():
    from monai_mcrecon.label.infer import GuidedRestorationInfer

    return GuidedRestorationInfer("mc_cdic_recon")


def _psnr(truth: np.ndarray, x: np.ndarray) -> float:
    return float(psnr(torch.as_tensor(truth).movedim(-1, 0), torch.as_tensor(x).movedim(-1, 0)))


def test_lazy_import_and_reference_rule(studies):
    import monai_mcrecon.label as label
    from monai_mcrecon.label.infer import find_reference, split_contrast

    assert label.GuidedRestorationInfer.__name__ == "GuidedRestorationInfer"
    assert find_reference(str(studies["image"]), "t2", "t1") == str(studies["store"] / f"{CASE}_t1.nii.gz")
    assert find_reference(str(SAMPLE_DIR / CASE / "t2.nii.gz"), "t2", "t1") == str(SAMPLE_DIR / CASE / "t1.nii.gz")
    assert find_reference(str(studies["image"]), "t2", "t1", f"{CASE}_t1") == str(studies["store"] / f"{CASE}_t1.nii.gz")
    assert split_contrast(str(studies["image"]), ["t2"]) == (CASE, "t2", ".nii.gz")
    with pytest.raises(FileNotFoundError, match="reference"):
        find_reference(str(studies["truth"]), "t2", "pd")


def test_infer_task_info(recon_task):
    from monailabel.interfaces.tasks.infer_v2 import InferType

    info = recon_task.info()
    assert info["type"] == InferType.OTHERS and info["labels"] == [] and info["dimension"] == 3
    assert recon_task.is_valid()


def test_infer_task_returns_float_volume_on_target_grid(studies, recon_task):
    request = {"image": str(studies["image"]), "truth": str(studies["truth"]), "device": "cpu"}
    out_file, result = recon_task(request)
    out = nib.load(out_file)
    target = nib.load(str(studies["image"]))
    assert out.get_data_dtype() == np.float32
    assert out.shape == target.shape
    np.testing.assert_allclose(out.affine, target.affine, atol=1e-5)
    truth = np.asarray(nib.load(str(studies["truth"])).dataobj, dtype=np.float32)
    degraded = np.asarray(target.dataobj, dtype=np.float32)
    restored = np.asarray(out.dataobj, dtype=np.float32)
    assert _psnr(truth, restored) > _psnr(truth, degraded) + 1.0
    assert result["output_grid"] == "target" and result["dtype"] == "float32"
    assert result["psnr"] > result["psnr_input"]
    os.remove(out_file)


def test_sr_task_simulated_and_lr_grid(studies, tmp_path):
    from monai_mcrecon.label.infer import GuidedRestorationInfer
    from monai_mcrecon.kspace import fft2c, kspace_to_image

    task = GuidedRestorationInfer("mc_cdic_sr")
    # fully sampled target, degradation simulated by the task (k-space truncation x2)
    hr = tmp_path / f"{CASE}_t2.nii.gz"
    _crop(SAMPLE_DIR / CASE / "t2.nii.gz", hr)
    ref = studies["store"] / f"{CASE}_t1.nii.gz"
    out_file, result = task({"image": str(hr), "reference": str(ref), "simulate_acquisition": True, "truth": str(hr)})
    out = nib.load(out_file)
    assert out.get_data_dtype() == np.float32 and out.shape == nib.load(str(hr)).shape
    assert result["psnr"] > result["psnr_input"]
    os.remove(out_file)

    # a genuinely low-resolution target (centre of k-space): output on the reference's grid
    vol = torch.as_tensor(np.asarray(nib.load(str(hr)).dataobj, dtype=np.float32)).movedim(-1, 0)
    k = fft2c(vol)
    h, w = vol.shape[-2:]
    lr = kspace_to_image(k[:, h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2], "magnitude").movedim(0, -1)
    lr_file = tmp_path / "lr" / f"{CASE}_t2.nii.gz"
    lr_file.parent.mkdir()
    lr_affine = nib.load(str(hr)).affine @ np.diag([2.0, 2.0, 1.0, 1.0])
    nib.save(nib.Nifti1Image(lr.numpy().astype(np.float32), lr_affine), str(lr_file))
    out_file, result = task({"image": str(lr_file), "reference": str(ref)})
    out = nib.load(out_file)
    assert result["output_grid"] == "reference" and result["sr_input"]["input_grid"] == "lr"
    assert out.shape == nib.load(str(ref)).shape and out.get_data_dtype() == np.float32
    np.testing.assert_allclose(out.affine, nib.load(str(ref)).affine, atol=1e-5)
    os.remove(out_file)


def test_a_user_error_of_a_task_becomes_a_422_answer_with_its_message(recon_task, tmp_path):
    """A 4-D image fails inside MONAI's transform chain (``RuntimeError: applying transform``); the app
    answers 422 with the message the ``monai-mcrecon`` command prints, not a bare 500."""
    from fastapi import HTTPException

    from monai_mcrecon.label.errors import http_error, user_errors_as_http
    from monai_mcrecon.data.volume import load_volume

    rng = np.random.default_rng(0)
    image = tmp_path / f"{CASE}_t2.nii.gz"
    nib.save(nib.Nifti1Image(rng.random((16, 16, 2, 3)).astype(np.float32), np.eye(4)), str(image))
    nib.save(nib.Nifti1Image(rng.random((16, 16, 2)).astype(np.float32), np.eye(4)), str(tmp_path / f"{CASE}_t1.nii.gz"))
    with pytest.raises(ValueError) as command:
        load_volume(image)
    with pytest.raises(HTTPException) as info:
        with user_errors_as_http():
            recon_task({"image": str(image), "device": "cpu"})
    assert info.value.status_code == 422 and info.value.detail == str(command.value)
    with pytest.raises(HTTPException) as info:
        with user_errors_as_http():
            recon_task({"image": str(tmp_path / "elsewhere_t2.nii.gz"), "device": "cpu"})
    assert info.value.status_code == 404 and "elsewhere_t2.nii.gz" in info.value.detail
    assert http_error(RuntimeError("a bug")) is None  # other errors stay 500 errors


def test_train_task_key_metric_is_psnr_and_one_epoch_runs(studies, tmp_path):
    from monai_mcrecon.label.train import GuidedRestorationTrain
    from monai_mcrecon.metrics import FastMRIPSNR, FastMRISSIM
    from monailabel.datastore.local import LocalDatastore
    from monailabel.tasks.train.basic_train import Context

    task = GuidedRestorationTrain(str(tmp_path / "model"), bundle="mc_cdic_recon", overrides={"patch_size": [32, 32]})
    ctx = Context()
    assert list(task.train_key_metric(ctx)) == ["train_psnr"]
    assert isinstance(task.val_key_metric(ctx)["val_psnr"], FastMRIPSNR)
    assert isinstance(task.val_additional_metrics(ctx)["val_ssim"], FastMRISSIM)

    # two fully sampled studies: one trains, one validates
    store = tmp_path / "studies"
    store.mkdir()
    for case in ("icbm_train_a", "icbm_val_a"):
        for c in ("t1", "t2"):
            _crop(SAMPLE_DIR / case / f"{c}.nii.gz", store / f"{case}_{c}.nii.gz")
    ds = LocalDatastore(str(store), extensions=("*.nii.gz",), auto_reload=False)
    pairs = task.pre_process({}, ds)
    assert [p["case_id"] for p in pairs] == ["icbm_train_a_t2", "icbm_val_a_t2"]

    stats = task(
        {"max_epochs": 1, "val_split": 0.5, "device": "cpu", "multi_gpu": False, "dataset": "Dataset",
         "dataloader": "DataLoader", "name": "t", "tracking": "None"},
        ds,
    )
    assert stats["epoch"] == 1
    assert stats["train"]["key_metric_name"] == "train_psnr"
    assert stats["eval"]["key_metric_name"] == "val_psnr"
    assert set(stats["eval"]["metrics"]) == {"val_psnr", "val_ssim"}
    assert stats["eval"]["metrics"]["val_psnr"] > 25.0  # dB, fine-tuning from the shipped weights
    assert 0.5 < stats["eval"]["metrics"]["val_ssim"] <= 1.0
    assert (tmp_path / "model" / "t" / "model.pt").exists()


def test_server_infer_request_on_loopback(studies, tmp_path):
    """Start ``monailabel start_server`` on 127.0.0.1 in a subprocess and POST /infer/mc_cdic_recon."""
    import socket
    import time
    import urllib.request

    from monai_mcrecon.label import APP_DIR

    # start_server creates model/ lib/ logs/ bin/ in the app folder: use a copy outside the repo
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text((Path(APP_DIR) / "main.py").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = str(Path(__file__).resolve().parents[2])
    pythonpath = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1", "MONAI_LABEL_DATASTORE_AUTO_RELOAD": "false",
           "MONAI_LABEL_TASKS_TRAIN": "false", "MONAI_LABEL_TASKS_SCORING": "false"}
    log = open(tmp_path / "server.log", "w")
    cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(app_dir), "--studies",
           str(studies["store"]), "--host", "127.0.0.1", "--port", str(port), "--conf", "models", "mc_cdic_recon",
           "--conf", "skip_trainers", "true", "--uvicorn_app", "monai_mcrecon.label.app:asgi_app"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        info = None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/info/", timeout=5) as r:
                    info = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.5)
        assert info is not None, (tmp_path / "server.log").read_text()[-3000:]
        assert "mc_cdic_recon" in info["models"] and info["models"]["mc_cdic_recon"]["type"] == "others"

        req = urllib.request.Request(
            f"{base}/infer/mc_cdic_recon?image={CASE}_t2&output=image", data=b"", method="POST"
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
        out_file = tmp_path / "out.nii.gz"
        out_file.write_bytes(body)
        out = nib.load(str(out_file))
        target = nib.load(str(studies["image"]))
        assert out.get_data_dtype() == np.float32
        assert out.shape == target.shape
        np.testing.assert_allclose(out.affine, target.affine, atol=1e-5)
        truth = np.asarray(nib.load(str(studies["truth"])).dataobj, dtype=np.float32)
        assert _psnr(truth, np.asarray(out.dataobj)) > _psnr(truth, np.asarray(target.dataobj, dtype=np.float32))

        # a user error of the task reaches the client as its message (before: 500 Internal Server Error)
        import urllib.error
        import urllib.parse

        form = urllib.parse.urlencode({"params": json.dumps({"slice_batch_size": 0})}).encode()
        req = urllib.request.Request(f"{base}/infer/mc_cdic_recon?image={CASE}_t2&output=image", data=form, method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=60)
        detail = json.loads(info.value.read())["detail"]
        assert info.value.code == 422, detail
        assert "'slice_batch_size'" in detail and "got 0" in detail
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
