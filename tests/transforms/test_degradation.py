"""Degradation transforms: seeding, statistics and physical invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai.transforms import Compose

from monai_mcrecon.ops.blur import blur
from monai_mcrecon.transforms.degradation import (
    AddGaussianNoise,
    AddGaussianNoised,
    AddHaze,
    AddHazed,
    AddRainStreaks,
    AddRainStreaksd,
    AddRicianNoise,
    AddRicianNoised,
    SaturatedMotionBlur,
    SaturatedMotionBlurd,
    line_kernel,
    random_motion_kernel,
)


def _img(c=3, h=64, w=72, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(c, h, w, generator=g)


def test_gaussian_noise_std_matches_sigma_and_is_seeded():
    x = torch.full((3, 128, 128), 0.5)
    y = AddGaussianNoise(sigma=25.0, seed=1)(x)
    std = (y - x).std().item()
    assert abs(std - 25 / 255) / (25 / 255) < 0.02
    assert abs((y - x).mean().item()) < 3 * (25 / 255) / math.sqrt(x.numel())
    assert torch.equal(y, AddGaussianNoise(sigma=25.0, seed=1)(x))
    assert not torch.equal(y, AddGaussianNoise(sigma=25.0, seed=2)(x))
    assert AddGaussianNoise(sigma=50, clip=True, seed=0)(x).min() >= 0
    # sigma in [0, 1] units with scale=1, and a blind range
    assert abs((AddGaussianNoise(0.1, scale=1.0, seed=0)(x) - x).std().item() - 0.1) < 0.003
    t = AddGaussianNoise(sigma=(5, 50), seed=0)
    sig = []
    for _ in range(20):
        t(x[:, :4, :4])
        sig.append(t.last_sigma * 255)
    assert 5 <= min(sig) < max(sig) <= 50


def test_rician_noise_bias():
    s = 0.05
    zero = AddRicianNoise(sigma=s, seed=0)(torch.zeros(1, 256, 256))
    assert (zero >= 0).all()
    assert abs(zero.mean().item() - s * math.sqrt(math.pi / 2)) < 0.02 * s * math.sqrt(math.pi / 2)
    bright = AddRicianNoise(sigma=s, seed=0)(torch.full((1, 256, 256), 0.8))
    assert abs(bright.mean().item() - math.sqrt(0.8**2 + s**2)) < 1e-3
    assert abs(bright.std().item() - s) < 0.003


def test_random_motion_kernels_are_normalised_nonnegative_and_varied():
    r = np.random.RandomState(0)
    ks = [random_motion_kernel(r, 15) for _ in range(10)]
    for k in ks:
        assert k.shape == (15, 15) and (k >= 0).all() and abs(k.sum() - 1) < 1e-12
        # centroid within one pixel of the centre (no global shift of the blurred image)
        rr, cc = np.mgrid[:15, :15]
        assert abs((k * rr).sum() - 7) < 1 and abs((k * cc).sum() - 7) < 1
        assert (k > 1e-3).sum() >= 3  # a streak, not a delta
    assert len({k.tobytes() for k in ks}) == 10


def test_line_kernel_geometry():
    k = line_kernel(9, 0.0)
    assert k.max() == 1.0
    cols = k.sum(0)
    assert cols.argmax() == k.shape[1] // 2 and cols.max() / cols.sum() > 0.9  # vertical
    kh = line_kernel(9, 90.0)
    assert kh.sum(1).max() / kh.sum() > 0.9  # horizontal


def test_saturated_motion_blur():
    x = _img()
    t = SaturatedMotionBlur(kernel_size=11, gain=2.0, noise_sigma=0.0, seed=3)
    y, k = t(x)
    assert y.shape == x.shape and k.shape == (1, 11, 11)
    assert abs(k.sum().item() - 1) < 1e-5 and (k >= 0).all()
    assert 0 <= y.min() and y.max() <= 1
    # without noise the output is exactly clip(blur(boost(x), k))
    torch.testing.assert_close(y, blur(t.boost(x, 2.0)[None], k)[0].clamp(0, 1))
    torch.testing.assert_close(t.last_target, t.boost(x, 2.0).clamp(0, 1))
    y2, k2 = SaturatedMotionBlur(kernel_size=11, gain=2.0, noise_sigma=0.0, seed=3)(x)
    assert torch.equal(y, y2) and torch.equal(k, k2)


def test_saturated_fraction_increases_with_gain():
    x = _img(h=96, w=96, seed=1)
    fractions = []
    for g in (1.0, 2.0, 4.0):
        y, _ = SaturatedMotionBlur(kernel_size=9, gain=g, highlight_threshold=None, noise_sigma=0.0, seed=0)(x)
        fractions.append((y >= 1.0).float().mean().item())
    assert fractions[0] < fractions[1] < fractions[2]
    assert fractions[0] == 0.0


def test_given_kernel_is_used_and_normalised():
    k = np.zeros((5, 5))
    k[2, 2] = 4.0
    x = _img(c=1)
    y, kk = SaturatedMotionBlur(kernel=k, gain=1.0, noise_sigma=0.0, seed=0)(x)
    torch.testing.assert_close(y, x)  # delta kernel, gain 1: identity
    assert kk.shape == (1, 5, 5) and kk.sum() == 1
    with pytest.raises(ValueError, match="odd"):
        SaturatedMotionBlur(kernel=np.ones((4, 4)))
    with pytest.raises(ValueError, match="gain"):
        SaturatedMotionBlur(gain=0.5)


def test_rain_adds_only_nonnegative_energy():
    x = _img()
    for blend in ("screen", "add"):
        t = AddRainStreaks(blend=blend, seed=5)
        y = t(x)
        assert y.shape == x.shape and (y - x).min() >= 0 and y.max() <= 1
        assert (y - x).mean() > 0.005
        assert torch.equal(y, AddRainStreaks(blend=blend, seed=5)(x))
        rain = t.last_rain
        assert rain.shape == (1, 64, 72) and 0 <= rain.min() and rain.max() <= 1
        # the layer is the same on every channel: the added energy is explained by it
        if blend == "screen":
            torch.testing.assert_close(y, 1 - (1 - x) * (1 - rain))
    # more drops, more rain
    light = AddRainStreaks(density=0.001, seed=0).rain_layer(64, 64).mean()
    heavy = AddRainStreaks(density=0.01, seed=0).rain_layer(64, 64).mean()
    assert heavy > 3 * light


def test_rain_streaks_follow_the_angle():
    layer = AddRainStreaks(density=0.003, length=25, angle=0.0, width=0.0, seed=0).rain_layer(96, 96)[0].double()
    dy = (layer[1:] - layer[:-1]).abs().sum()
    dx = (layer[:, 1:] - layer[:, :-1]).abs().sum()
    assert dx > 4 * dy  # vertical streaks vary across columns, not along rows


def test_haze_limits_and_model():
    x = _img()
    assert torch.equal(AddHaze(beta=0.0, airlight=0.9, seed=0)(x), x)  # t = 1
    thick = AddHaze(beta=50.0, airlight=0.8, seed=0)(x, torch.ones(10, 12))
    torch.testing.assert_close(thick, torch.full_like(x, 0.8), atol=1e-6, rtol=0)
    t = AddHaze(beta=1.0, airlight=0.9, seed=0)
    depth = torch.linspace(0.1, 2.0, 64)[:, None].expand(64, 72)
    y = t(x, depth)
    tr = t.last_transmission
    expected = torch.exp(-depth / depth.max())[None]
    torch.testing.assert_close(tr, expected)
    torch.testing.assert_close(y, x * tr + 0.9 * (1 - tr))
    # a random smooth depth when none is given; output is a convex combination of x and A
    y = AddHaze(beta=1.0, airlight=1.0, seed=1)(x)
    assert (y >= x - 1e-6).all() and y.max() <= 1


def test_haze_depth_resize_and_holes():
    x = _img(h=32, w=40)
    depth = np.ones((16, 20), np.float32)
    depth[0, 0] = np.inf
    t = AddHaze(beta=1.0, airlight=1.0, seed=0)
    t(x, depth)
    torch.testing.assert_close(t.last_transmission, torch.full((1, 32, 40), math.exp(-1.0)))
    with pytest.raises(ValueError, match="2-D"):
        t(x, np.ones((2, 3, 4)))


def test_dictionary_versions_keep_the_clean_image(tmp_path):
    x = _img()
    depth_path = tmp_path / "d.npy"
    np.save(depth_path, np.ones((8, 8), np.float16))
    item = {"label": x.clone(), "case_id": "a", "depth": str(depth_path)}
    pipeline = Compose([
        AddGaussianNoised(sigma=25),
        AddRicianNoised(output_key="rician"),
        SaturatedMotionBlurd(output_key="blurred", kernel_size=7),
        AddRainStreaksd(output_key="rainy", rain_key="rain"),
        AddHazed(output_key="hazy", depth_key="depth", transmission_key="t"),
    ]).set_random_state(seed=0)
    d = pipeline(dict(item))
    assert torch.equal(d["label"], x)
    for k in ("image", "rician", "blurred", "rainy", "hazy"):
        assert d[k].shape == x.shape and not torch.equal(d[k], x)
    assert d["kernel"].shape == (1, 7, 7) and d["rain"].shape == (1, 64, 72) and d["t"].shape == (1, 64, 72)
    d2 = Compose([AddGaussianNoised(sigma=25)]).set_random_state(seed=0)(dict(item))
    assert torch.equal(d["image"], d2["image"])
    with pytest.raises(ValueError, match="must differ"):
        AddGaussianNoised(keys="label", output_key="label")


def test_case_seed_makes_degradation_order_independent():
    a = {"label": _img(seed=1), "case_id": "a"}
    b = {"label": _img(seed=2), "case_id": "b"}
    t1 = AddGaussianNoised(seed=7, case_seed_key="case_id")
    t2 = AddGaussianNoised(seed=7, case_seed_key="case_id")
    ya, yb = t1(a)["image"], t1(b)["image"]
    assert torch.equal(t2(b)["image"], yb) and torch.equal(t2(a)["image"], ya)
    assert torch.equal(t1(a)["image"], ya)  # the same case twice: the same noise
    other = AddGaussianNoised(seed=8, case_seed_key="case_id")(a)["image"]
    assert not torch.equal(other, ya)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        AddGaussianNoise()(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="blend"):
        AddRainStreaks(blend="multiply")
    with pytest.raises(ValueError, match="airlight"):
        AddHaze(airlight=1.5)


def test_dark_channel_priord_stores_the_prior_of_the_whole_image():
    from monai_mcrecon.ops.dehaze import dark_channel_prior
    from monai_mcrecon.transforms.weather import DarkChannelPriord

    img = torch.rand(3, 30, 40, generator=torch.Generator().manual_seed(0))
    out = DarkChannelPriord("image", "prior", radius=6)({"image": img, "case_id": "a"})
    assert torch.equal(out["image"], img) and out["case_id"] == "a"
    torch.testing.assert_close(out["prior"], dark_channel_prior(img[None], radius=6)[0])
    assert not torch.allclose(out["prior"], img)
    with pytest.raises(ValueError, match="one key"):
        DarkChannelPriord(["image", "label"])
