"""Export and deployment (issue 23, item 4): every image-to-image bundle exports with MONAI's ``onnx_export``
(dynamic height and width) and ONNX Runtime reproduces PyTorch within 1e-4 relative at two sizes, one odd (the
three MC-CDic bundles share one graph, exported once);
``verify_net_in_out`` passes for every bundle with the command line's defaults.

The export runs exactly as docs/export.md's command (``network_export``, ``converter_kwargs`` with the names and
the dynamic axes, the exporter's default graph optimisation, which once dropped FGDCN's ``+ 1e-12``), on the
``tiny`` presets (some trimmed further to keep the run short) with seeded random weights; the shipped weights are
checked by ``benchmarks/onnx_export_check.py``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, onnx_export, verify_net_in_out

from monai_mcrecon.bundle.locate import bundle_dir

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

BUNDLES = Path(bundle_dir("mc_cdic_recon")).parent
# bundle -> (input channels, two (H, W) sizes for ONNX Runtime, config overrides)
# (the export example is 64 x 64: one size below it, odd, one above it, so that a graph fixed to 64 would fail)
SIZES = [(33, 41), (72, 80)]
SMALLER_SSRDE = {f"network_def#{k}": v for k, v in {"rdg_blocks": 1, "rdg_layers": 1, "fusion_layers": 1, "feedback_layers": 1,
                                                  "pam_blocks": 1, "lr_pools": [4], "hr_pools": [2]}.items()}
EXPORT = {
    "mc_cdic_recon": (2, SIZES, {"preset": "tiny", "network_def#widths": [8, 8], "network_def#rcabs_per_scale": [1, 1]}),
    "mc_cdic_sr": (2, SIZES, {"preset": "tiny", "network_def#widths": [8, 8], "network_def#rcabs_per_scale": [1, 1]}),
    "unikd_mccdic": (2, SIZES, {"student#widths": [16, 12], "student#rcabs_per_scale": [1, 1]}),
    "clgnet_recon": (1, SIZES, {"preset": "tiny"}),
    "mdrn_denoise": (1, SIZES, {"preset": "tiny"}),
    "deep_rl_deblur": (4, SIZES, {"preset": "tiny"}),
    "spdnet_derain": (3, SIZES, {"preset": "tiny"}),
    # the dark-channel prior is part of the graph (MSTN residual_prior); its guided filter's radius (32) fits 33
    "mstn_dehaze": (3, SIZES, {"preset": "tiny"}),
    # the x2 cost volume needs an even LR size (2 H divisible by 4)
    "ssrde_stereo_sr": (6, [(34, 42), (72, 80)], {"preset": "tiny", **SMALLER_SSRDE}),
    "fgdcn_vfi": (6, SIZES, {"preset": "tiny", "network_def#ifblock_channels": [8], "network_def#ifblock_scales": [4]}),
    "bvfi_blurry_vfi": (12, SIZES, {"preset": "tiny"}),
}
SINGLE_INPUT = ["mc_cdic_recon", "mc_cdic_sr", "unikd_mccdic", "clgnet_recon", "mdrn_denoise", "spdnet_derain",
                "mstn_dehaze", "bvfi_blurry_vfi", "unikd_classification"]
CONVERTER = {"input_names": ["image"], "output_names": ["pred"], "dynamic_axes": {"image": {2: "height", 3: "width"}}}


def _files(bundle: str) -> dict[str, str]:
    configs = BUNDLES / bundle / "configs"
    return {"meta_file": str(configs / "metadata.json"), "config_file": str(configs / "inference.json")}


def _network(bundle: str, overrides: dict) -> torch.nn.Module:
    parser = ConfigParser()
    parser.read_config(_files(bundle)["config_file"])
    parser.read_meta(_files(bundle)["meta_file"])
    for key, value in overrides.items():
        parser[key] = value
    torch.manual_seed(0)
    return parser.get_parsed_content("network_export").eval()


def _input(bundle: str, channels: int, size: tuple[int, int], seed: int) -> torch.Tensor:
    x = torch.rand(1, channels, *size, generator=torch.Generator().manual_seed(seed))
    if bundle == "deep_rl_deblur":  # the kernel rides in the top-left 15 x 15 corner of channel 3
        kernel = torch.rand(15, 15, generator=torch.Generator().manual_seed(seed + 1))
        x[:, 3] = 0
        x[:, 3, :15, :15] = kernel / kernel.sum()
    return x


#: bundles whose exported graph is mc_cdic_recon's (same network_export, same network class, other sizes of it):
#: exported once, through mc_cdic_recon (about 20 s of CPU each); benchmarks/onnx_export_check.py exports all
SAME_GRAPH_AS_MC_CDIC_RECON = ["mc_cdic_sr", "unikd_mccdic"]


def test_the_mc_cdic_bundles_export_the_same_graph():
    def spec(bundle):
        c = ConfigParser.load_config_file(_files(bundle)["config_file"])
        return c["network_export"], c["network_def"]["_target_"]

    for bundle in SAME_GRAPH_AS_MC_CDIC_RECON:
        assert spec(bundle) == spec("mc_cdic_recon"), bundle


@pytest.mark.parametrize("bundle", sorted(set(EXPORT) - set(SAME_GRAPH_AS_MC_CDIC_RECON)))
def test_onnx_export_with_dynamic_size_matches_pytorch_in_onnx_runtime(bundle, tmp_path, capfd):
    channels, sizes, overrides = EXPORT[bundle]
    net = _network(bundle, overrides)
    with torch.no_grad():  # zero-initialised layers (e.g. residual tails) would hide half the graph
        for p in net.parameters():
            if not p.any():
                p.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(p.numel()))
    ckpt = tmp_path / "model.pt"
    torch.save(net.network.state_dict(), ckpt)  # the bundles' checkpoints hold network_def's keys
    onnx_file = tmp_path / f"{bundle}.onnx"
    logging.disable(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx_export(net_id="network_export", filepath=str(onnx_file), ckpt_file=str(ckpt),
                        input_shape=[1, channels, 64, 64], converter_kwargs=CONVERTER, **_files(bundle), **overrides)
    finally:
        logging.disable(logging.NOTSET)
    # the exporter prints each graph capture it tries; a failed one ("❌") means it fell back to a capture that may
    # fix sizes to the example's (torch.export with Dim.DYNAMIC succeeded first time for every bundle)
    log = capfd.readouterr().out
    assert "torch.export.export" in log and "❌" not in log, log[-2000:]
    net.load_state_dict(torch.load(ckpt, weights_only=True))  # the same weights, loaded like the export did
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for i, size in enumerate(sizes):
        x = _input(bundle, channels, size, seed=i)
        with torch.no_grad():
            expected = net(x).numpy()
        out = session.run(None, {"image": x.numpy()})[0]
        assert out.shape == expected.shape
        assert np.linalg.norm(expected) > 0
        rel = float(np.linalg.norm(out - expected) / np.linalg.norm(expected))
        assert rel < 1e-4, f"{bundle} at {size}: ONNX Runtime differs from PyTorch by {rel:.2e} (relative)"


@pytest.mark.parametrize(
    "bundle, net_id",
    [(b, "network_export") for b in sorted(EXPORT)] + [(b, "network_def") for b in SINGLE_INPUT],
)
def test_verify_net_in_out_passes_with_the_command_line_defaults(bundle, net_id):
    # as `python -m monai.bundle verify_net_in_out <net_id> --meta_file ... --config_file ...` (p = n = any = 1)
    verify_net_in_out(net_id=net_id, device="cpu", **_files(bundle))


def test_multi_input_bundles_describe_one_stacked_input():
    # deep_rl_deblur, fgdcn_vfi, ssrde_stereo_sr: metadata describes network_export, whose single input stacks
    # what network_def takes as several arguments
    for bundle, channels, out_channels in [("deep_rl_deblur", 4, 3), ("fgdcn_vfi", 6, 3), ("ssrde_stereo_sr", 6, 7)]:
        fmt = ConfigParser.load_config_file(_files(bundle)["meta_file"])["network_data_format"]
        assert list(fmt["inputs"]) == ["image"] and list(fmt["outputs"]) == ["pred"]
        assert fmt["inputs"]["image"]["num_channels"] == channels
        assert fmt["outputs"]["pred"]["num_channels"] == out_channels
