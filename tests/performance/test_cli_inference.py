"""The inference options of ``monai-mcrecon reconstruct`` (``--amp``, ``--channels-last``, ``--compile``,
``--tile``) give the plain run's outputs within the tolerances stated in docs/performance.md.

Runs the command in-process on 2 slices of 128x128 from the embedded sample with the shipped
MC-CDic weights (preset ``small``), on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_mcrecon.cli import main
from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.metrics.functional import psnr


def _read(path: Path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _psnr(truth: np.ndarray, img: np.ndarray) -> float:
    t = lambda a: torch.from_numpy(np.moveaxis(a, -1, 0)).double()  # noqa: E731
    return float(psnr(t(truth), t(img)))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("case")
    for c in ("t1", "t2"):
        img = nib.load(str(Path(SAMPLE_DIR) / "icbm_test_a" / f"{c}.nii.gz"))
        arr = np.asarray(img.dataobj, dtype=np.float32)[32:160, 50:178, 7:9]  # 2 slices of 128x128
        nib.save(nib.Nifti1Image(arr, img.affine), str(root / f"{c}.nii.gz"))
    out = tmp_path_factory.mktemp("study") / "study"
    assert main(["simulate", "-i", str(root / "t2.nii.gz"), "-r", str(root / "t1.nii.gz"), "-o", str(out)]) == 0
    return out


def _reconstruct(study: Path, out: Path, *flags: str) -> tuple[np.ndarray, dict]:
    rc = main(["reconstruct", "-t", str(study / "target_degraded.nii.gz"), "-r", str(study / "reference.nii.gz"),
               "-o", str(out), "--device", "cpu", "--batch-size", "2", "--no-progress", *flags])
    assert rc == 0
    return _read(out / "target_degraded_recon.nii.gz"), json.loads((out / "run_info.json").read_text())


@pytest.fixture(scope="module")
def plain(study, tmp_path_factory) -> np.ndarray:
    pred, info = _reconstruct(study, tmp_path_factory.mktemp("plain") / "out")
    assert info["inference_options"] == {}
    return pred


def test_channels_last_equals_the_plain_run_within_1e_5(study, plain, tmp_path):
    pred, info = _reconstruct(study, tmp_path / "out", "--channels-last")
    assert info["inference_options"] == {"channels_last": True}
    assert _rel(pred, plain) < 1e-5  # measured about 1e-7 (another summation order in oneDNN)


def test_amp_on_cpu_is_a_noted_no_op(study, plain, tmp_path, capsys):
    pred, info = _reconstruct(study, tmp_path / "out", "--amp")
    assert "--amp (float16 autocast) only acts on CUDA devices" in capsys.readouterr().out
    assert info["inference_options"] == {"amp": True}
    np.testing.assert_array_equal(pred, plain)


def test_compile_is_wired_to_the_network(study, plain, tmp_path, monkeypatch):
    # torch.compile itself is checked against the eager forward in test_inference.py (eager backend);
    # here: the flag reaches the bundle's OptimizedInferer, which compiles the network once. Compiling
    # MC-CDic for real takes > 20 s on this CPU (inductor: > 180 s; dynamo tracing alone: 10 s).
    compiled = []

    def fake_compile(module, **kwargs):
        compiled.append(type(module).__name__)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    pred, info = _reconstruct(study, tmp_path / "out", "--compile")
    assert compiled == ["MCCDic"]
    assert info["inference_options"] == {"compile": True}
    np.testing.assert_array_equal(pred, plain)


def test_one_tile_covering_the_slice_is_exact(study, plain, tmp_path):
    pred, info = _reconstruct(study, tmp_path / "out", "--tile", "128", "128")
    assert info["inference_options"] == {"tile_size": [128, 128], "tile_margin": 32}
    assert _rel(pred, plain) < 1e-6


def test_smaller_tiles_approximate_the_global_network(study, plain, tmp_path):
    # MC-CDic's receptive field is global: 64x64 tiles with 16-pixel margins change the output
    # (measured 3.3e-3 relative) but not the reconstruction quality (PSNR 0.001 dB from the plain run's)
    pred, _ = _reconstruct(study, tmp_path / "out", "--tile", "64", "64", "--tile-margin", "16")
    truth = _read(study / "truth.nii.gz")
    assert 1e-4 < _rel(pred, plain) < 2e-2
    assert abs(_psnr(truth, pred) - _psnr(truth, plain)) < 0.1


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--tile", "48", "48"], "leaves no centre inside its two 32-pixel margins"),
        (["--tile", "0", "64"], "--tile takes two positive integers"),
        (["--tile", "64", "64", "--tile-margin", "-1"], "--tile-margin must be a non-negative integer"),
    ],
)
def test_bad_tiles_are_refused_before_running(study, tmp_path, capsys, flags, message):
    rc = main(["reconstruct", "-t", str(study / "target_degraded.nii.gz"), "-r", str(study / "reference.nii.gz"),
               "-o", str(tmp_path / "out"), "--device", "cpu", "--no-progress", *flags])
    assert rc == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "run_info.json").exists()


# --------------------------------------------------------------------------------------------------
# the bundles' inference.json
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bundle", ["mc_cdic_recon", "mc_cdic_sr", "clgnet_recon"])
def test_inference_json_defaults_to_the_plain_path_and_takes_the_options(bundle):
    from monai.bundle import ConfigParser
    from monai.inferers import SliceInferer

    from monai_mcrecon.bundle.locate import bundle_dir
    from monai_mcrecon.inference import OptimizedInferer, TiledInferer

    def inferer(**overrides):
        parser = ConfigParser()
        parser.read_config(f"{bundle_dir(bundle)}/configs/inference.json")
        parser.update(overrides)
        return parser.get_parsed_content("inferer")

    plain = inferer()
    assert isinstance(plain, OptimizedInferer) and isinstance(plain.inferer, SliceInferer)
    assert (plain.amp, plain.channels_last, plain.compile, plain.tile) == (False, False, False, None)
    assert plain.inferer.sw_batch_size == 4  # slice_batch_size
    fast = inferer(amp=True, channels_last=True, compile=True, compile_kwargs={"mode": "reduce-overhead"},
                   tile_size=[96, 80], tile_margin=8, slice_batch_size=2)
    assert (fast.amp, fast.channels_last, fast.compile) == (True, True, True)
    assert fast.compile_kwargs == {"mode": "reduce-overhead"}
    assert isinstance(fast.tile, TiledInferer) and list(fast.tile.roi_size) == [96, 80] and fast.tile.margin == 8
    assert fast.inferer.sw_batch_size == 2


def test_bundle_compile_with_the_eager_backend_keeps_the_outputs(tmp_path, monkeypatch):
    # CLGNet tiny, random weights, 2 slices of 48x48: dynamo traces the network (about 2 s)
    import monai.bundle

    calls, compile_ = [], torch.compile

    def spy(module, **kwargs):
        calls.append((type(module).__name__, kwargs))
        return compile_(module, **kwargs)

    monkeypatch.setattr(torch, "compile", spy)

    from monai_mcrecon.bundle.locate import bundle_dir
    from monai_mcrecon.networks.nets import CLGNet

    torch.manual_seed(0)
    torch.save(CLGNet.from_preset("tiny").state_dict(), tmp_path / "tiny.pt")
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "case").mkdir(parents=True)
    volume = nib.Nifti1Image(rng.random((48, 48, 2)).astype(np.float32), np.eye(4))
    nib.save(volume, str(tmp_path / "data" / "case" / "t2.nii.gz"))
    root = bundle_dir("clgnet_recon")
    outputs = {}
    for name, options in {"plain": {}, "compiled": {"compile": True, "compile_kwargs": {"backend": "eager"}}}.items():
        monai.bundle.run(
            config_file=f"{root}/configs/inference.json", bundle_root=root, preset="tiny",
            ckpt_path=str(tmp_path / "tiny.pt"), dataset_dir=str(tmp_path / "data"), output_dir=str(tmp_path / name),
            device="cpu", **options,
        )
        (pred,) = (tmp_path / name / "case").glob("*_recon.nii.gz")
        outputs[name] = _read(pred)
    assert calls == [("CLGNet", {"backend": "eager"})]
    assert outputs["plain"].shape == (48, 48, 2) and np.abs(outputs["plain"]).max() > 0
    np.testing.assert_allclose(outputs["compiled"], outputs["plain"], rtol=1e-6, atol=1e-6)
