"""Colour safety of the shipped single-image restoration networks (issue 24, item 4).

A restoration network given a *clean* image must give it back with its colours: a saturated blue sky
(a colour the 7 training photographs of the natural sample hardly contain) is run through each bundle's
shipped ``models/model.pt``, built and loaded as the bundle's ``inference.json`` does (its ``network`` and its
``CheckpointLoader`` handler), on the CPU. Deep RL gets the delta kernel (nothing to deblur); MDRN is a
grayscale denoiser (``in_channels=1``), so it is run on each colour channel as a gray image, the usual way to
apply a gray denoiser to colour. The output (clamped to [0, 1] like the bundles' post-processing) must keep

- the mean colour: every channel mean within ``MEAN_TOLERANCE`` of the input's, and
- every pixel: mean RGB Euclidean distance to the input below ``PIXEL_TOLERANCE``.

Shipped weights that fail today are marked ``xfail(strict=True)`` with the measured error: once retrained weights
pass, the strict xfail fails and the mark must be removed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ignite.engine import Engine
from monai.bundle import ConfigParser

from monai_mcrecon.bundle.locate import bundle_dir

MEAN_TOLERANCE = 0.02  # 5 / 255 per channel mean
PIXEL_TOLERANCE = 0.05  # mean per-pixel RGB distance, about 13 / 255


def blue_sky(size: int = 96) -> torch.Tensor:
    """``[3, size, size]`` saturated blue sky: RGB (0.15, 0.38, 0.85) at the top to (0.30, 0.55, 0.95) at the
    bottom (mean about (0.22, 0.47, 0.90)), a smooth vertical gradient."""
    t = torch.linspace(0.0, 1.0, size).view(1, size, 1)
    top, bottom = torch.tensor([0.15, 0.38, 0.85]).view(3, 1, 1), torch.tensor([0.30, 0.55, 0.95]).view(3, 1, 1)
    return (top * (1 - t) + bottom * t).expand(3, size, size).contiguous()


def shipped_network(bundle: str) -> tuple[torch.nn.Module, ConfigParser]:
    """The bundle's inference network on the CPU with its shipped weights, through inference.json."""
    parser = ConfigParser()
    parser.read_config(str(Path(bundle_dir(bundle)) / "configs" / "inference.json"))
    parser["device"] = "$torch.device('cpu')"
    network = parser.get_parsed_content("network")
    loaders = [h for h in parser.get_parsed_content("handlers") if type(h).__name__ == "CheckpointLoader"]
    assert len(loaders) == 1, f"{bundle}: inference.json should load its weights with one CheckpointLoader"
    loaders[0](Engine(lambda engine, batch: None))
    return network.eval(), parser


def restore_clean(bundle: str, clean: torch.Tensor) -> torch.Tensor:
    network, parser = shipped_network(bundle)
    with torch.no_grad():
        if bundle == "mdrn_denoise":
            out = network(clean[:, None])[:, 0]  # each channel as a gray image
        elif bundle == "deep_rl_deblur":
            size = int(parser.get_parsed_content("blur#kernel_size"))
            delta = torch.zeros(1, 1, size, size)
            delta[..., size // 2, size // 2] = 1.0
            out = network(clean[None], delta)[0]
        else:
            out = network(clean[None])[0]
    return out.clamp(0.0, 1.0)


def colour_errors(out: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    """(largest per-channel mean difference, mean per-pixel RGB Euclidean distance)."""
    mean_error = (out.mean((1, 2)) - clean.mean((1, 2))).abs().max().item()
    pixel_error = (out - clean).pow(2).sum(0).sqrt().mean().item()
    return mean_error, pixel_error


@pytest.mark.parametrize(
    "bundle",
    [
        "mdrn_denoise",
        "deep_rl_deblur",
        # retrained on the photo collection with light and rain-free samples (0.3.0), then with hue rotations (0.3.1):
        # the mean colour error fell from 0.130 to 0.049 to 0.032 (bundle docs)
        pytest.param("spdnet_derain", marks=pytest.mark.xfail(strict=True, reason="a clear sky comes back more saturated (red 0.199 for 0.225)")),
        # the dark channel prior that the retrained MSTN refines takes a clear sky for haze; the refinement
        # repairs a third of it (mean colour error 0.15 -> 0.11, docs of the bundle)
        pytest.param("mstn_dehaze", marks=pytest.mark.xfail(strict=True, reason="the dark channel prior darkens a clear sky")),
    ],
)
def test_shipped_network_keeps_the_colour_of_a_clean_blue_sky(bundle):
    clean = blue_sky()
    out = restore_clean(bundle, clean)
    assert out.shape == clean.shape
    mean_error, pixel_error = colour_errors(out, clean)
    means = [round(v, 3) for v in out.mean((1, 2)).tolist()]
    assert mean_error < MEAN_TOLERANCE and pixel_error < PIXEL_TOLERANCE, (
        f"{bundle}: output channel means {means} for input {[round(v, 3) for v in clean.mean((1, 2)).tolist()]}; "
        f"mean colour error {mean_error:.4f} (limit {MEAN_TOLERANCE}), per-pixel RGB error {pixel_error:.4f} "
        f"(limit {PIXEL_TOLERANCE})"
    )


def test_the_sky_is_a_saturated_blue_gradient():
    sky = blue_sky()
    means = sky.mean((1, 2))
    assert means[2] > 0.85 and means[0] < 0.25 and (sky[:, 1:] >= sky[:, :-1]).all()
    assert colour_errors(sky, sky) == (0.0, 0.0)
