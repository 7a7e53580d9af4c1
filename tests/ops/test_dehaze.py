"""The dark channel prior in PyTorch (``monai_mcrecon.ops.dehaze``): SciPy's filters are the oracle for the
box mean and the dark channel; the whole method is checked on a hazed image, in a batch, and on a known
airlight."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import minimum_filter, uniform_filter

from monai_mcrecon.ops.dehaze import (
    _dark,
    box_mean,
    dark_channel_prior,
    default_guided_radius,
)


@pytest.mark.parametrize("radius", [1, 3, 11])
def test_box_mean_equals_scipy_uniform_filter_with_reflecting_borders(radius):
    x = np.random.default_rng(radius).random((23, 31))
    ref = uniform_filter(x, 2 * radius + 1, mode="reflect")
    np.testing.assert_allclose(box_mean(torch.from_numpy(x), radius).numpy(), ref, atol=1e-12)
    with pytest.raises(ValueError, match="exceeds the image size"):
        box_mean(torch.from_numpy(x), 24)


def test_dark_channel_equals_scipy_minimum_filter():
    x = np.random.default_rng(0).random((2, 3, 20, 27))
    ref = np.stack([minimum_filter(a.min(0), size=15, mode="nearest") for a in x])
    np.testing.assert_array_equal(_dark(torch.from_numpy(x), 15)[:, 0].numpy(), ref)


def test_dark_channel_prior_inverts_uniform_haze_with_a_known_airlight():
    # a scene whose dark channel is 0 everywhere (one channel is 0 in every patch), hazed with t = 0.6, A = 0.9:
    # the prior recovers t and A exactly beyond the reach of the sky edge
    rng = np.random.default_rng(1)
    clean = torch.from_numpy(rng.uniform(0.2, 0.8, (1, 3, 48, 64)))
    clean[:, 2] = 0
    t, a = 0.6, 0.9
    hazy = clean * t + a * (1 - t)
    hazy[..., :16, :16] = a  # a patch of pure airlight (the sky) makes A identifiable
    out = dark_channel_prior(hazy, omega=1.0, radius=4, eps=1e-8)
    assert float((out - clean)[..., 24:, :].abs().max()) < 1e-6
    # without the sky, the airlight is under-estimated and the image is not recovered
    hazy[..., :16, :16] = clean[..., :16, :16] * t + a * (1 - t)
    assert float((dark_channel_prior(hazy, omega=1.0, radius=4, eps=1e-8) - clean)[..., 24:, :].abs().max()) > 0.1


def test_dark_channel_prior_is_per_image_in_a_batch_and_clipped():
    rng = np.random.default_rng(2)
    imgs = torch.from_numpy(rng.random((3, 3, 40, 36)) * np.array([1.0, 0.6, 0.3])[:, None, None, None])
    batch = dark_channel_prior(imgs.float())
    for i in range(3):
        torch.testing.assert_close(batch[i : i + 1], dark_channel_prior(imgs[i : i + 1].float()), rtol=1e-5, atol=1e-5)
    assert 0 <= float(batch.min()) and float(batch.max()) <= 1
    assert default_guided_radius(400, 600) == 40 and default_guided_radius(40, 36) == 4
    with pytest.raises(ValueError, match="C = 1 or 3"):
        dark_channel_prior(torch.zeros(1, 2, 8, 8))
