"""ImagePSNR / ImageSSIM against scikit-image, inside an Ignite evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.handlers import from_engine
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from monai_mcrecon.metrics import ImagePSNR, ImageSSIM


def _pairs(c):
    g = torch.Generator().manual_seed(c)
    truth = torch.rand(3, c, 40, 52, generator=g)
    truth = torch.nn.functional.avg_pool2d(truth, 3, 1, 1)  # some structure
    pred = (truth + 0.05 * torch.randn(truth.shape, generator=g)).clamp(0, 1)
    return pred, truth


def _run(handler, pred, truth):
    engine = Engine(lambda e, b: {"pred": b[0], "label": b[1]})
    handler.attach(engine, "m")
    engine.run([(pred[i : i + 1], truth[i : i + 1]) for i in range(len(pred))], max_epochs=1)
    return engine.state.metrics["m"], engine.state.metric_details["m"]


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_matches_skimage(channels):
    pred, truth = _pairs(channels)
    mean, details = _run(ImagePSNR(output_transform=from_engine(["pred", "label"])), pred, truth)
    ref = [peak_signal_noise_ratio(t.numpy(), p.numpy(), data_range=1.0) for p, t in zip(pred, truth)]
    np.testing.assert_allclose(details.flatten().numpy(), ref, atol=1e-4)
    assert abs(mean - np.mean(ref)) < 1e-4


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_skimage(channels):
    pred, truth = _pairs(channels)
    mean, details = _run(ImageSSIM(output_transform=from_engine(["pred", "label"])), pred, truth)
    ref = [
        structural_similarity(t.numpy(), p.numpy(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                              data_range=1.0, channel_axis=0)
        for p, t in zip(pred, truth)
    ]
    np.testing.assert_allclose(details.flatten().numpy(), ref, atol=1e-4)
    assert abs(mean - np.mean(ref)) < 1e-4
    assert 0.3 < np.mean(ref) < 0.99


def test_identical_images_give_perfect_ssim_and_infinite_psnr():
    x = torch.rand(1, 3, 20, 20)
    assert _run(ImageSSIM(output_transform=from_engine(["pred", "label"])), x, x)[0] == pytest.approx(1.0, abs=1e-6)
    assert _run(ImagePSNR(output_transform=from_engine(["pred", "label"])), x, x)[0] == float("inf")
