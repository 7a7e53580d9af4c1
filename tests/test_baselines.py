"""Classical baselines improve PSNR on their degradation and keep shapes, dtypes and ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_mcrecon.baselines import (
    dark_channel_dehaze,
    guided_filter,
    nl_means_denoise,
    richardson_lucy_deblur,
    wavelet_denoise,
)
from monai_mcrecon.data.natural import natural_sample_datalist
from monai_mcrecon.ops.blur import blur
from monai_mcrecon.transforms.degradation import AddGaussianNoise, AddHaze, random_motion_kernel
from monai_mcrecon.transforms.natural import LoadNaturalImage


def _psnr(a, b):
    return float(10 * torch.log10(1 / ((a.clamp(0, 1) - b) ** 2).mean()))


def _test_image(case, channels=None, size=96):
    item = next(it for it in natural_sample_datalist("test") if it["case_id"] == case)
    img = LoadNaturalImage(channels)(item["label"])
    h0, w0 = (img.shape[1] - size) // 2, (img.shape[2] - size) // 2
    return img[:, h0 : h0 + size, w0 : w0 + size], item


@pytest.mark.parametrize("case,denoiser", [("camera", nl_means_denoise), ("chelsea", nl_means_denoise),
                                           ("camera", wavelet_denoise), ("chelsea", wavelet_denoise)])
def test_denoisers_raise_psnr_at_sigma_25(case, denoiser):
    clean, _ = _test_image(case)
    noisy = AddGaussianNoise(sigma=25, seed=0)(clean)
    out = denoiser(noisy, 25 / 255)
    assert out.shape == clean.shape and out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1
    gain = _psnr(out, clean) - _psnr(noisy, clean)
    assert gain > 3.0, gain  # measured: NLM 6.2-7.7 dB, wavelet 3.9-6.3 dB on these crops


def test_richardson_lucy_improves_a_blurred_image():
    clean, _ = _test_image("chelsea", size=128)
    k = torch.from_numpy(random_motion_kernel(np.random.RandomState(3), 11)).float()
    blurred = blur(clean[None], k[None], padding="reflect")[0]
    blurred = (blurred + 0.002 * torch.randn(blurred.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    out = richardson_lucy_deblur(blurred, k, num_iter=30)
    assert out.shape == clean.shape and 0 <= out.min() and out.max() <= 1
    # compare away from the borders, where zero-padded RL rings
    inner = (slice(None), slice(12, -12), slice(12, -12))
    assert _psnr(out[inner], clean[inner]) > _psnr(blurred[inner], clean[inner]) + 1.5


def test_dark_channel_dehaze_improves_a_hazed_image():
    item = next(it for it in natural_sample_datalist("test") if "depth" in it)
    clean = LoadNaturalImage(3)(item["label"])
    hazy = AddHaze(beta=1.2, airlight=0.9, seed=0)(clean, item["depth"])
    out = dark_channel_dehaze(hazy)
    assert out.shape == clean.shape and 0 <= out.min() and out.max() <= 1
    assert _psnr(out, clean) > _psnr(hazy, clean) + 3.0


def test_guided_filter_properties():
    rng = np.random.default_rng(0)
    guide = rng.random((40, 50))
    # a source that is an affine function of the guide is reproduced (a = 2, b = 0.1), eps -> 0
    np.testing.assert_allclose(guided_filter(guide, 2 * guide + 0.1, 3, 1e-8), 2 * guide + 0.1, atol=1e-4)
    # a huge eps gives a box-filtered source (a -> 0)
    from scipy.ndimage import uniform_filter

    src = rng.random((40, 50))
    ref = uniform_filter(uniform_filter(src, 7, mode="reflect"), 7, mode="reflect")
    np.testing.assert_allclose(guided_filter(guide, src, 3, 1e6), ref, atol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="C = 1 or 3"):
        wavelet_denoise(torch.zeros(2, 8, 8), 0.1)
    with pytest.raises(ValueError, match="kernel"):
        richardson_lucy_deblur(torch.zeros(1, 8, 8), -torch.ones(3, 3))
