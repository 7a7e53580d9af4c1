"""Per-sample random degradations of the natural-image bundles (issue 24): drawn parameters stay in their
ranges and vary, seeding reproduces, rain and haze keep neutral colours neutral, blur kernels are PSFs, the
saturation option clips the intended fraction, random crop zooms keep stereo rows and scale flows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.transforms import Compose

from monai_mcrecon.data.natural import photos_datalist, training_datalist
from monai_mcrecon.data.video import strided_window_datalist
from monai_mcrecon.transforms.blur_kernels import (
    defocus_kernel,
    gaussian_kernel,
    random_blur_kernel,
    random_motion_kernel,
)
from monai_mcrecon.transforms.degradation import AddGaussianNoised, SaturatedMotionBlur, SaturatedMotionBlurd
from monai_mcrecon.transforms.video import RandCropFramesd, RandTemporalStrided
from monai_mcrecon.transforms.weather import (
    AddHaze,
    AddHazed,
    AddRainStreaks,
    AddRainStreaksd,
    depth_from_disparity,
    random_smooth_depth,
)

RAIN = dict(density=(0.001, 0.012), length=(5.0, 40.0), angle=(-40.0, 40.0), intensity=(0.4, 1.0),
            width=(0.2, 1.5), brightness=(0.5, 1.0), blend="achromatic")
DEPTH = {"grid": (2, 8), "ramp": (0.0, 1.0), "tilt": (-30.0, 30.0), "gamma": (0.5, 2.0)}


def _img(c=3, h=48, w=48, seed=0):
    return torch.rand(c, h, w, generator=torch.Generator().manual_seed(seed))


def _sky(h=48, w=48):
    t = torch.linspace(0, 1, h).view(1, h, 1)
    top, bottom = torch.tensor([0.12, 0.32, 0.80]).view(3, 1, 1), torch.tensor([0.45, 0.65, 0.95]).view(3, 1, 1)
    return (top * (1 - t) + bottom * t).expand(3, h, w).clone()


def _within(values, lo, hi):
    return min(values) >= lo and max(values) <= hi and np.std(values) > 0.1 * (hi - lo) / np.sqrt(12)


def test_noise_sigma_is_drawn_per_sample_in_range_and_seeded():
    t = AddGaussianNoised(sigma=(5, 50), seed=0)
    x = {"label": torch.full((1, 16, 16), 0.5)}
    sigmas = []
    for _ in range(40):
        t(x)
        sigmas.append(t.transform.last_sigma * 255)
    assert _within(sigmas, 5, 50)
    a, b, c = (AddGaussianNoised(sigma=(5, 50), seed=s)(x)["image"] for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("kind", ["motion", "gaussian", "defocus"])
def test_every_random_kernel_is_a_psf(kind):
    r = np.random.RandomState(0)
    for _ in range(20):
        k, got = random_blur_kernel(r, 31, {kind: 1.0}, (0.2, 1.0), (0.5, 4.0), (1.0, 7.0))
        assert got == kind and k.shape == (31, 31)
        assert k.min() >= 0 and abs(k.sum() - 1) < 1e-9


def test_kernel_mixture_draws_every_type_and_motion_lengths_span_the_range():
    r = np.random.RandomState(1)
    kinds = [random_blur_kernel(r, 15, {"motion": 0.5, "gaussian": 0.25, "defocus": 0.25})[1] for _ in range(200)]
    share = {k: kinds.count(k) / len(kinds) for k in ("motion", "gaussian", "defocus")}
    assert abs(share["motion"] - 0.5) < 0.1 and min(share.values()) > 0.15
    extents = []
    for _ in range(30):  # 7 to 31 px trajectories in a 31 px kernel: support extent in pixels
        rows, cols = np.nonzero(random_motion_kernel(r, 31, (0.2, 1.0)) > 1e-6)
        extents.append(max(np.ptp(rows), np.ptp(cols)) + 1)
    assert 5 <= min(extents) < 14 and 24 < max(extents) <= 31
    assert gaussian_kernel(0.0, 9).max() == pytest.approx(1.0) and defocus_kernel(0.0, 9).max() == pytest.approx(1.0)
    disk = defocus_kernel(4.0, 15)
    assert np.count_nonzero(disk > 1e-9) == pytest.approx(np.pi * 4.5**2, rel=0.25)  # covered area of the disk


@pytest.mark.parametrize("threshold", [None, 0.5])
def test_saturation_option_clips_the_intended_fraction(threshold):
    x = _img(h=64, w=64, seed=2) * 0.9  # nothing saturated before the boost
    t = SaturatedMotionBlur(kernel_size=7, gain=(1.0, 50.0), highlight_threshold=threshold, saturation=(0.0, 0.2),
                            noise_sigma=0.0, seed=0)
    fractions = []
    for _ in range(8):
        t(x)
        f = t.last_params["saturation"]
        clipped = (t.last_target.amax(0) >= 1 - 1e-6).float().mean().item()
        assert abs(clipped - f) <= 1.5 / x[0].numel()
        fractions.append(f)
    assert _within(fractions, 0.0, 0.2)


def test_blur_parameters_are_drawn_per_sample_and_seeded():
    kw = dict(kernel_size=15, kernel_types={"motion": 0.6, "gaussian": 0.2, "defocus": 0.2}, gain=(1.0, 4.0),
              saturation=(0.0, 0.05), noise_sigma=(0.0, 0.03), keys="label", target_key="label")
    t = SaturatedMotionBlurd(seed=0, **kw)
    x = {"label": _img(h=32, w=32)}
    sig, gains = [], []
    for _ in range(30):
        out = t(x)
        sig.append(t.transform.last_params["noise_sigma"])
        gains.append(t.transform.last_params["gain"])
        k = out["kernel"]
        assert k.min() >= 0 and abs(float(k.sum()) - 1) < 1e-5
    assert _within(sig, 0.0, 0.03) and 1.0 <= min(gains) <= max(gains) <= 4.0
    a, b, c = (SaturatedMotionBlurd(seed=s, **kw)(x) for s in (5, 5, 6))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["kernel"], b["kernel"])
    assert not torch.equal(a["image"], c["image"])


def test_rain_parameters_are_drawn_per_sample_in_their_ranges():
    t = AddRainStreaks(seed=0, **RAIN)
    params = []
    for _ in range(25):
        t(_img(h=40, w=40))
        params.append(t.last_params)
    for name in ("density", "length", "angle", "width", "brightness"):
        assert _within([p[name] for p in params], *RAIN[name]), name
    a, b, c = (AddRainStreaksd(seed=s, **RAIN)({"label": _sky()})["image"] for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("blend", ["screen", "add", "achromatic"])
def test_rain_keeps_a_neutral_grey_image_neutral(blend):
    grey = torch.full((3, 48, 48), 0.5)
    for seed in range(3):
        y = AddRainStreaks(seed=seed, **{**RAIN, "blend": blend})(grey)
        means = y.mean((1, 2))
        assert (y >= grey).all() and means.max() - means.min() < 1e-6 and means.mean() > 0.5


def test_achromatic_rain_adds_the_same_amount_to_every_channel_and_never_clips():
    sky = _sky()
    sky[:, :8] = torch.tensor([0.2, 0.4, 1.0]).view(3, 1, 1)  # a saturated blue band
    t = AddRainStreaks(seed=0, **RAIN)
    y = t(sky)
    added = y - sky
    assert added.abs().max() > 0.05  # there is rain
    assert (added - added[:1]).abs().max() < 1e-6  # achromatic: chroma differences y_c - y_c' are kept
    assert y.max() <= 1 + 1e-6 and torch.allclose(added[:, :8], torch.zeros(1))  # no clipping, none on saturation
    # the legacy screen blend adds R (1 - x): a residual in the complementary colour of the sky (orange)
    screen = AddRainStreaks(seed=0, **{**RAIN, "blend": "screen"})(sky) - sky
    assert screen[0].sum() > 2 * screen[2].sum()


def test_haze_keeps_grey_neutral_and_a_tinted_airlight_is_neutral_on_average():
    grey = torch.full((3, 32, 32), 0.4)
    y = AddHaze(beta=(0.3, 2.5), airlight=(0.6, 1.0), random_depth=DEPTH, seed=0)(grey)
    means = y.mean((1, 2))
    assert means.max() - means.min() < 1e-6 and means.mean() > 0.4
    t = AddHaze(beta=(0.3, 2.5), airlight=(0.6, 1.0), airlight_tint=0.08, random_depth=DEPTH, seed=0)
    colours = []
    for _ in range(200):
        t(grey[:, :8, :8])
        a = t.last_airlight_colour.flatten()
        assert ((a - t.last_airlight).abs() <= 0.08 * t.last_airlight + 1e-6).all() and a.max() <= 1
        colours.append(a / t.last_airlight)
    spread = torch.stack(colours).mean(0)
    assert spread.max() - spread.min() < 0.015  # zero-mean tint: the average airlight is neutral


def test_random_depth_maps_are_smooth_in_range_vary_and_are_seeded():
    maps = [random_smooth_depth(np.random.RandomState(s), 40, 56, **DEPTH) for s in range(6)]
    for d in maps:
        assert d.shape == (1, 40, 56) and d.min() >= 0 and d.max() <= 1 + 1e-6
        assert d.diff(dim=-1).abs().max() < 0.35  # low frequency: no jumps between neighbours
    assert min((a - b).abs().mean() for a, b in zip(maps, maps[1:])) > 0.02
    assert torch.equal(maps[0], random_smooth_depth(np.random.RandomState(0), 40, 56, **DEPTH))


def test_depth_from_disparity_inverts_and_puts_unknown_far():
    disp = np.array([[4.0, 2.0], [np.nan, 1.0]], np.float32)
    depth = depth_from_disparity(disp)
    assert torch.allclose(depth, torch.tensor([[0.25, 0.5], [1.0, 1.0]]))
    item = {"label": torch.full((3, 2, 2), 0.5), "disparity": disp}
    out = AddHazed(beta=1.0, airlight=1.0, disparity_key="disparity", transmission_key="t", seed=0)(item)
    assert torch.allclose(out["t"][0], torch.exp(-depth))  # depth normalised by its maximum (1)


def test_random_crop_zoom_keeps_stereo_rows_and_scales_flows():
    h, w = 48, 96
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    left = torch.stack([yy / h, torch.sin(xx / 3), torch.cos(yy / 5)])
    right = torch.roll(left, -4, dims=-1)  # a rectified pair: pure horizontal shift
    flow = torch.stack([torch.full((h, w), 2.0), torch.full((h, w), 1.0)])
    t = RandCropFramesd(["left", "right"], size=(16, 32), scale=(1.0, 2.0), flow_keys="flow", seed=0)
    windows = set()
    for _ in range(10):
        out = t({"left": left, "right": right, "flow": flow})
        (ch, cw), windows = t._window, windows | {t._window}
        assert out["left"].shape == out["right"].shape == (3, 16, 32) and out["flow"].shape == (2, 16, 32)
        assert torch.allclose(out["left"][0], out["right"][0], atol=1e-5)  # same rows: no vertical shift
        assert torch.allclose(out["flow"][0], torch.full((16, 32), 2.0 * 32 / cw))
        assert torch.allclose(out["flow"][1], torch.full((16, 32), 1.0 * 16 / ch))
    assert len(windows) > 3 and min(c for c, _ in windows) >= 16 and max(c for c, _ in windows) <= 32
    a, b = (RandCropFramesd(["left"], 16, scale=(0.5, 2.0), seed=3)({"left": left})["left"] for _ in range(2))
    assert torch.equal(a, b)


def test_random_temporal_stride_in_range_equally_spaced_and_seeded():
    frames = [f"f{i:02d}" for i in range(15)]
    t = RandTemporalStrided("frames", length=3, steps=(1, 3), output_keys=("frame0", "label", "frame1"),
                            step_key="gap", seed=0)
    gaps = []
    for _ in range(60):
        out = t({"frames": frames})
        i0, i1, i2 = (int(out[k][1:]) for k in ("frame0", "label", "frame1"))
        assert i1 - i0 == i2 - i1 == out["gap"]
        gaps.append(out["gap"])
    assert set(gaps) == {1, 2, 3}
    short = RandTemporalStrided("frames", length=3, steps=(1, 3), seed=0)({"frames": torch.arange(5)})
    assert short["frames"].tolist() in ([0, 1, 2], [1, 2, 3], [2, 3, 4], [0, 2, 4])  # step 3 does not fit
    seq = torch.arange(40)
    chain = [Compose([RandTemporalStrided("x", 4, (1, 4))]).set_random_state(s) for s in (7, 7, 8)]
    runs = [[c({"x": seq})["x"].tolist() for _ in range(5)] for c in chain]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    windows = strided_window_datalist([{"clip": "a", "frames": frames}, {"clip": "b", "frames": frames[:4]}], 3, 3)
    assert {len(w["frames"]) for w in windows} == {7, 4} and len(windows) == 9 + 1


def test_photo_datalist_is_used_when_present(tmp_path):
    (tmp_path / "a").mkdir()
    lists = {"training": [{"image": "a/x.jpg"}, {"image": "b/x.jpg"}], "validation": [{"image": "v.jpg"}]}
    (tmp_path / "datalist.json").write_text(json.dumps(lists))
    train = photos_datalist("training", tmp_path / "datalist.json")
    assert [d["case_id"] for d in train] == ["x", "x_2"] and train[0]["label"] == str(tmp_path / "a" / "x.jpg")
    assert photos_datalist("validation", tmp_path / "datalist.json")[0]["label"] == str(tmp_path / "v.jpg")
    assert len(training_datalist("train", use_photos="false")) == 7  # the shipped sample


def test_rain_with_several_blends_draws_each_and_keeps_a_single_blend_unchanged():
    from monai_mcrecon.transforms.weather import AddRainStreaks

    img = torch.full((3, 48, 48), 0.4)
    img[2] = 0.9  # a blue image: screen and achromatic rain differ there
    mixed = AddRainStreaks(density=0.01, blend=("screen", "achromatic"), seed=3)
    drawn = []
    for _ in range(12):
        mixed(img)
        drawn.append(mixed.last_params["blend"])
    assert set(drawn) == {"screen", "achromatic"}
    single, again = AddRainStreaks(density=0.01, seed=3), AddRainStreaks(density=0.01, blend=["screen"], seed=3)
    assert torch.equal(single(img), again(img))  # a one-blend list draws nothing extra
    with pytest.raises(ValueError, match="use one of"):
        AddRainStreaks(blend=("screen", "multiply"))
