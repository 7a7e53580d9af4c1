"""Security: weights load as tensors only, shipped weights are verified against recorded hashes,
only trusted bundles run from the command, and the MONAI Label server binds to loopback and checks
request parameters (the validation functions are tested here, in the main venv)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monai_mcrecon.bundle.locate import BUNDLES_DIR, TRUST_ENV, check_trusted_bundle
from monai_mcrecon.bundle.weights import WeightsError, load_weights, read_large_files, verify_weights_file
from monai_mcrecon.cli import main

PACKAGE = Path(__file__).resolve().parents[2] / "monai_mcrecon"
REPO = PACKAGE.parent


class _Payload:
    """Unpickling this calls ``Path.touch`` on a marker file: code execution from a weights file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_every_torch_load_in_the_package_is_weights_only():
    offenders = []
    for py in PACKAGE.rglob("*.py"):
        tree = ast.parse(py.read_text(), filename=str(py))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load" and getattr(
                getattr(node.func, "value", None), "id", None
            ) == "torch":
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    offenders.append(f"{py.relative_to(REPO)}:{node.lineno}")
    assert offenders == [], f"torch.load without weights_only=True: {offenders}"


def test_pickle_payload_is_refused_and_not_executed(tmp_path, capsys):
    marker = tmp_path / "pwned"
    bad = tmp_path / "model.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "extra": _Payload(str(marker))}, bad)
    with pytest.raises(WeightsError, match=r"holds pickled Python objects beyond tensors.*weights_only=True"):
        load_weights(bad)
    assert not marker.exists()
    # the same through a bundle as a user runs it: refused, status 1, nothing executed
    rc = main(["run-bundle", "mc_cdic_recon", "--config", "inference", "--ckpt_path", str(bad),
               "--output_dir", str(tmp_path / "out"), "--device", "cpu"])
    assert rc == 1 and not marker.exists()
    assert "holds pickled Python objects" in capsys.readouterr().err


@pytest.fixture()
def bundle_copy(tmp_path) -> Path:
    dst = tmp_path / "mc_cdic_recon_copy"
    shutil.copytree(BUNDLES_DIR / "mc_cdic_recon", dst, ignore=shutil.ignore_patterns("train_output", "__pycache__"))
    return dst


def test_tampered_weights_are_refused(bundle_copy, capsys):
    weights = bundle_copy / "models" / "model.pt"
    assert verify_weights_file(weights) == read_large_files(bundle_copy)["models/model.pt"]["hash_val"]
    state = torch.load(weights, weights_only=True)
    key = next(k for k, v in state.items() if torch.is_floating_point(v))
    state[key] = state[key] + 0.01  # a subtly altered, still loadable, file
    torch.save(state, weights)
    with pytest.raises(WeightsError, match=r"Refusing to load .*model\.pt.*its sha256 is [0-9a-f]{64} but .*large_files\.yml"):
        load_weights(weights)
    # through the command (a trusted copy of the bundle): refused with the same message, status 1
    rc = main(["run-bundle", str(bundle_copy), "--trust-bundle", "--config", "inference", "--device", "cpu",
               "--output_dir", str(bundle_copy / "out")])
    assert rc == 1 and "Refusing to load" in capsys.readouterr().err
    assert not (bundle_copy / "out").exists() or not list((bundle_copy / "out").rglob("*.nii.gz"))


def test_update_checksums_rewrites_and_checks(bundle_copy, monkeypatch):
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import update_checksums
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(update_checksums, "BUNDLES_DIR", bundle_copy.parent)
    name = bundle_copy.name
    monkeypatch.setattr(update_checksums, "shipped_bundles", lambda: [name])
    assert update_checksums.main(["--check", name]) == 0
    weights = bundle_copy / "models" / "model.pt"
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert update_checksums.main(["--check", name]) == 1
    assert update_checksums.main([name]) == 0  # after new weights land
    assert update_checksums.main(["--check", name]) == 0
    assert verify_weights_file(weights) is not None


def test_md5_entries_are_verified_too(bundle_copy):
    import hashlib

    weights = bundle_copy / "models" / "model.pt"
    md5 = hashlib.md5(weights.read_bytes()).hexdigest()
    (bundle_copy / "large_files.yml").write_text(
        f'large_files:\n  - path: "models/model.pt"\n    url: ""\n    hash_val: "{md5}"\n    hash_type: "md5"\n'
    )
    assert verify_weights_file(weights) == md5
    (bundle_copy / "large_files.yml").write_text(
        'large_files:\n  - path: "models/model.pt"\n    url: ""\n    hash_val: "0"\n    hash_type: "md5"\n'
    )
    with pytest.raises(WeightsError, match="its md5 is"):
        load_weights(weights)


def test_cli_refuses_bundles_outside_the_package_unless_trusted(bundle_copy, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    with pytest.raises(PermissionError, match=r"not one of the package's bundles.*--trust-bundle"):
        check_trusted_bundle(bundle_copy)
    assert check_trusted_bundle(BUNDLES_DIR / "mc_cdic_recon") == (BUNDLES_DIR / "mc_cdic_recon").resolve()
    assert check_trusted_bundle(bundle_copy, trust=True) == bundle_copy.resolve()
    x = str(tmp_path / "x.nii.gz")
    rc = main(["reconstruct", "-t", x, "-r", x, "-o", str(tmp_path / "o"), "--bundle", str(bundle_copy)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "Bundle configs run Python code" in err and "--trust-bundle" in err
    assert main(["run-bundle", str(bundle_copy), "--config", "inference"]) == 1
    assert "--trust-bundle" in capsys.readouterr().err
    monkeypatch.setenv(TRUST_ENV, "1")
    assert check_trusted_bundle(bundle_copy) == bundle_copy.resolve()
    # a symlink into the package's folder does not make a foreign bundle trusted
    monkeypatch.delenv(TRUST_ENV)
    link = tmp_path / "link"
    os.symlink(bundle_copy, link)
    with pytest.raises(PermissionError):
        check_trusted_bundle(link)


# --------------------------------------------------------------------------------------------------
# MONAI Label
# --------------------------------------------------------------------------------------------------


def test_label_server_binds_to_loopback_by_default():
    from monai_mcrecon.label.validation import DEFAULT_HOST, server_command

    cmd = server_command("app", "studies")
    assert DEFAULT_HOST == "127.0.0.1" and cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert server_command("app", "studies", host="::1")[cmd.index("--host") + 1] == "::1"
    for host in ("0.0.0.0", "192.168.1.5", "example.org"):
        with pytest.raises(ValueError, match="Refusing to bind the MONAI Label server"):
            server_command("app", "studies", host=host)
    assert "0.0.0.0" in server_command("app", "studies", host="0.0.0.0", allow_remote=True)
    with pytest.raises(ValueError, match="port"):
        server_command("app", "studies", port=70000)


def test_label_infer_request_validation(tmp_path):
    from monai_mcrecon.label.validation import RequestError, validate_infer_request

    studies = tmp_path / "studies"
    studies.mkdir()
    image = str(studies / "c1_t2.nii.gz")
    ok = validate_infer_request(
        {"image": image, "reference": "c1_t1.nii.gz", "simulate_acquisition": "true", "slice_batch_size": "8",
         "device": "cuda:0", "result_extension": ".nii.gz"},
        studies=str(studies),
    )
    assert ok["simulate_acquisition"] is True and ok["slice_batch_size"] == 8 and ok["result_extension"] == ".nii.gz"
    bad = [
        ({"reference": "../../../etc/passwd"}, r"'reference' .* points outside the studies folder"),
        ({"truth": "/etc/shadow"}, r"'truth' .* points outside the studies folder"),
        ({"simulate_acquisition": "maybe"}, r"'simulate_acquisition' must be true or false"),
        ({"slice_batch_size": 0}, r"'slice_batch_size' must be in \[1, 1024\]"),
        ({"slice_batch_size": "4; rm -rf /"}, r"'slice_batch_size' must be a number"),
        ({"slice_batch_size": 2.5}, r"must be an integer"),
        ({"device": "cuda:0; import os"}, r"'device' must be 'cpu', 'cuda' or 'cuda:<n>'"),
        ({"reference": 42}, r"'reference' must be a file name or path"),
    ]
    for extra, match in bad:
        with pytest.raises(RequestError, match=match):
            validate_infer_request({"image": image, **extra}, studies=str(studies))
    with pytest.raises(RequestError, match="outside the studies folder"):
        validate_infer_request({"image": "/etc/passwd"}, studies=str(studies))
    with pytest.raises(RequestError, match="'image' must be the path"):
        validate_infer_request({"image": None})
    # without a studies folder (direct use of the task), types and ranges are still checked
    assert validate_infer_request({"image": image, "reference": str(tmp_path / "elsewhere.nii.gz")})["image"] == image


def test_label_train_request_validation():
    from monai_mcrecon.label.validation import RequestError, validate_train_request

    ok = validate_train_request({"learning_rate": "1e-4", "max_epochs": "3", "val_split": 0.2, "device": ["cuda:0"]})
    assert ok["learning_rate"] == pytest.approx(1e-4) and ok["max_epochs"] == 3
    for extra, match in [
        ({"learning_rate": -1}, "learning_rate"),
        ({"learning_rate": "nan"}, "learning_rate"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_epochs": True}, "max_epochs"),
        ({"train_batch_size": 10**6}, "train_batch_size"),
        ({"val_split": 1.5}, "val_split"),
        ({"device": "gpu please"}, "device"),
    ]:
        with pytest.raises(RequestError, match=match):
            validate_train_request(extra)


def test_label_modules_call_the_validation():
    """The MONAI Label tasks (run in their own venv, tools/label_venv.sh) use these functions."""
    infer = (PACKAGE / "label" / "infer.py").read_text()
    train = (PACKAGE / "label" / "train.py").read_text()
    assert infer.count("validate_infer_request(") >= 2 and "verify_weights_file(" in infer
    assert train.count("validate_train_request(") >= 2 and "verify_weights_file(" in train
    out = subprocess.run(
        [sys.executable, "-c", "import monai_mcrecon.label.validation as v; print(v.DEFAULT_HOST)"],
        capture_output=True, text=True, cwd=str(REPO), timeout=120,
    )
    assert out.stdout.strip() == "127.0.0.1"  # importable without monailabel
