"""ONNX Runtime as an inference backend (monai_mcrecon.onnx_backend, OptimizedInferer(backend="onnxruntime")):
outputs within 1e-4 relative of PyTorch's, one export per network and weights, cached in a private folder."""

from __future__ import annotations

import os

import pytest
import torch
from monai.bundle import ConfigParser
from monai.inferers import SliceInferer

from monai_mcrecon import onnx_backend
from monai_mcrecon.bundle.locate import bundle_dir
from monai_mcrecon.inference import OptimizedInferer
from monai_mcrecon.networks.nets import CLGNet

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _slices() -> SliceInferer:
    return SliceInferer(spatial_dim=2, roi_size=[-1, -1], sw_batch_size=2, progress=False)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return CLGNet.from_preset("tiny", reference_channels=1).eval()  # Fourier layers: the FFTs export too


def test_onnxruntime_backend_matches_pytorch_and_exports_once(net, tmp_path, monkeypatch):
    volume = torch.rand(1, 2, 33, 41, 3, generator=torch.Generator().manual_seed(1))  # 3 slices: batches of 2 and 1
    expected = OptimizedInferer(_slices())(volume, net)
    inferer = OptimizedInferer(_slices(), backend="onnxruntime", onnx_cache_dir=str(tmp_path), onnx_threads=1)
    out = inferer(volume, net)
    assert out.shape == expected.shape and not out.is_inference()
    assert _rel(out, expected) < 1e-4
    files = sorted(tmp_path.glob("CLGNet-*.onnx"))
    assert len(files) == 1 and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial files left
    assert (os.stat(tmp_path).st_mode & 0o022) == 0  # the cache folder is checked private before it is trusted

    # a new inferer (a later run) loads the cached file instead of exporting
    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cached file fits")

    monkeypatch.setattr(onnx_backend, "export_onnx", no_export)
    again = OptimizedInferer(_slices(), backend="onnxruntime", onnx_cache_dir=str(tmp_path))(volume[..., :1], net)
    assert _rel(again, expected[..., :1]) < 1e-4


def test_changed_weights_are_exported_again(net, tmp_path):
    other = CLGNet.from_preset("tiny", reference_channels=1).eval()
    other.load_state_dict(net.state_dict())
    runner = onnx_backend.OnnxRuntimeNetwork(other, cache_dir=tmp_path, threads=1)
    x = torch.rand(2, 2, 24, 20, generator=torch.Generator().manual_seed(2))
    first = runner(x)
    with torch.no_grad():
        other.tail.bias.add_(0.5)  # an in-place update, as an optimiser step makes
        expected = other(x)
    second = runner(x)
    assert len(list(tmp_path.glob("CLGNet-*.onnx"))) == 2
    assert _rel(second, expected) < 1e-4 and float((second - first).abs().mean()) > 0.1


def test_options_that_do_not_apply_are_refused(tmp_path):
    with pytest.raises(ValueError, match="compile and channels_last"):
        OptimizedInferer(backend="onnxruntime", compile=True)
    with pytest.raises(ValueError, match="Unknown inference backend 'tensorrt'"):
        OptimizedInferer(backend="tensorrt")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(PermissionError, match="not private"):
        onnx_backend.OnnxRuntimeNetwork(torch.nn.Conv2d(1, 1, 3), cache_dir=shared).session(1)


@pytest.mark.parametrize("bundle", ["mc_cdic_recon", "mc_cdic_sr", "clgnet_recon"])
def test_mri_bundles_offer_the_backend_as_an_override(bundle, tmp_path):
    parser = ConfigParser()
    parser.read_config(os.path.join(bundle_dir(bundle), "configs", "inference.json"))
    assert parser["inference_backend"] == "torch"  # the default stays PyTorch
    parser["inference_backend"] = "onnxruntime"
    parser["onnx_cache_dir"] = str(tmp_path)
    inferer = parser.get_parsed_content("inferer")
    assert inferer.backend == "onnxruntime" and inferer.onnx_cache_dir == str(tmp_path)
