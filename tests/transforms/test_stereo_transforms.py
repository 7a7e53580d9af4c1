"""Stereo transforms: LR synthesis, stereo-aware flips, channel shuffle, padding and the evaluation outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.transforms.colour import RandChannelShuffled
from monai_mcrecon.transforms.stereo import (
    LoadDisparity,
    PadStereod,
    RandStereoFlipd,
    SaveDisparityd,
    StereoLowResolution,
    StereoLowResolutiond,
    StereoSROutputd,
    bicubic_downsample,
)
from monai_mcrecon.transforms.video import RandCropFramesd


def _pair(h=12, w=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, h, w, generator=g), torch.rand(3, h, w, generator=g)


def test_bicubic_downsample_is_antialiased_bicubic_rounded_to_8_bits():
    img = torch.rand(3, 16, 24, generator=torch.Generator().manual_seed(0))
    lr = bicubic_downsample(img, 2)
    ref = F.interpolate(img[None], size=(8, 12), mode="bicubic", align_corners=False, antialias=True)[0].clamp(0, 1)
    assert lr.shape == (3, 8, 12)
    assert torch.allclose(lr, ref, atol=0.5 / 255 + 1e-6)
    assert torch.allclose(lr * 255, (lr * 255).round(), atol=1e-4)
    flat = torch.full((3, 16, 24), 0.4)
    assert torch.allclose(bicubic_downsample(flat, 4, quantize=False), torch.full((3, 4, 6), 0.4), atol=1e-6)
    with pytest.raises(ValueError, match="not divisible"):
        bicubic_downsample(img[:, :15], 2)


def test_low_resolution_crops_hr_views_and_disparity_to_the_size_multiple():
    left, right = _pair(18, 27)
    disp = torch.rand(1, 18, 27)
    d = StereoLowResolutiond(["left", "right"], scale=2, upsampled_prefix="bicubic_")(
        {"left": left, "right": right, "disp": disp})
    assert d["left"].shape == (3, 16, 24) and d["lr_left"].shape == (3, 8, 12) and d["disp"].shape == (1, 16, 24)
    assert torch.equal(d["left"], left[:, :16, :24]) and torch.equal(d["disp"], disp[:, :16, :24])
    up = F.interpolate(d["lr_right"][None], scale_factor=2, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    assert torch.allclose(d["bicubic_right"], up)
    assert StereoLowResolution(4).multiple == 4 and StereoLowResolution(3).multiple == 12
    with pytest.raises(ValueError, match="smaller than the size multiple"):
        StereoLowResolution(2)(torch.rand(3, 3, 40))


def test_shared_random_crop_keeps_views_and_disparity_aligned():
    left, right = _pair(30, 40)
    disp = torch.arange(30 * 40, dtype=torch.float32).view(1, 30, 40)
    crop = RandCropFramesd(["left", "right", "disp"], (8, 16), seed=3)
    d = crop({"left": left, "right": right, "disp": disp})
    y, x = divmod(int(d["disp"][0, 0, 0]), 40)
    assert torch.equal(d["left"], left[:, y : y + 8, x : x + 16]) and torch.equal(d["right"], right[:, y : y + 8, x : x + 16])


def test_horizontal_flip_mirrors_and_swaps_the_views_and_forgets_the_disparity():
    left, right = _pair()
    disp = torch.rand(1, 12, 20)
    flip = RandStereoFlipd([("left", "right"), ("lr_left", "lr_right")], prob_h=1.0, prob_v=0.0)
    d = flip({"left": left, "right": right, "lr_left": left[:, ::2, ::2], "lr_right": right[:, ::2, ::2], "disp": disp})
    assert torch.equal(d["left"], right.flip(-1)) and torch.equal(d["right"], left.flip(-1))
    assert torch.equal(d["lr_left"], right[:, ::2, ::2].flip(-1))
    assert torch.isnan(d["disp"]).all()


def test_swapped_flipped_pair_keeps_positive_disparities():
    """A scene shifted by d: after the flip and swap the new left view still sees the new right at x - d."""
    scene = torch.rand(3, 6, 30, generator=torch.Generator().manual_seed(1))
    d = 4
    left, right = scene[..., :-d], scene[..., d:]  # left[x] = right[x - d]: positive disparity d
    assert torch.equal(left[..., d:], right[..., :-d])
    out = RandStereoFlipd(("left", "right"), disp_key=None, prob_h=1.0, prob_v=0.0)({"left": left, "right": right})
    assert torch.equal(out["left"][..., d:], out["right"][..., :-d])


def test_vertical_flip_keeps_the_views_and_flips_the_disparity():
    left, right = _pair()
    disp = torch.rand(1, 12, 20)
    d = RandStereoFlipd(("left", "right"), prob_h=0.0, prob_v=1.0)({"left": left, "right": right, "disp": disp})
    assert torch.equal(d["left"], left.flip(-2)) and torch.equal(d["right"], right.flip(-2))
    assert torch.equal(d["disp"], disp.flip(-2))


def test_random_flips_are_seeded_and_mixed():
    left, right = _pair()
    outcomes = set()
    flip = RandStereoFlipd(("left", "right"), disp_key=None, seed=0)
    for _ in range(40):
        d = flip({"left": left, "right": right})
        outcomes.add((torch.equal(d["left"], left), torch.equal(d["left"], right.flip(-1)), torch.equal(d["left"], left.flip(-2))))
    assert len(outcomes) >= 3
    a = [RandStereoFlipd(("left", "right"), disp_key=None, seed=5)({"left": left, "right": right})["left"] for _ in range(2)]
    assert torch.equal(a[0], a[1])
    with pytest.raises(ValueError, match="pairs"):
        RandStereoFlipd([("left", "right", "extra")])


def test_channel_shuffle_applies_one_permutation_to_every_key():
    left, right = _pair()
    shuffle = RandChannelShuffled(["left", "right"], prob=1.0, seed=2)
    seen = set()
    for _ in range(20):
        d = shuffle({"left": left, "right": right})
        perm = [int(torch.nonzero((left == d["left"][c]).all(-1).all(-1))[0]) for c in range(3)]
        assert torch.equal(d["right"], right[perm])
        seen.add(tuple(perm))
    assert len(seen) > 2
    d = RandChannelShuffled(["left", "right"], prob=0.0)({"left": left, "right": right})
    assert torch.equal(d["left"], left)


def test_pad_and_sr_output_crop_back_and_compute_the_epe_inputs(tmp_path):
    left, right = _pair(10, 21)
    d = PadStereod(["left", "right"], multiple=16)({"left": left, "right": right})
    assert d["left"].shape == (3, 16, 32) and d["lr_size"].tolist() == [10, 21]
    assert torch.equal(d["left"][:, :10, :21], left) and torch.equal(d["left"][:, 10:, :21], left[:, 9:10].expand(3, 6, 21))
    sr = torch.rand(3, 32, 64) * 1.4 - 0.2
    gt = torch.full((1, 20, 42), float("nan"))
    gt[:, :10] = 3.0
    pred = {"out4_left": sr, "out4_right": sr.flip(-1), "disp_hr2_left": torch.full((1, 32, 64), 5.0)}
    out = StereoSROutputd(scale=2, left_key="hr_l", right_key="hr_r")(
        {"pred": pred, "lr_size": d["lr_size"], "disp": gt, "hr_l": torch.rand(3, 20, 42), "hr_r": torch.rand(3, 20, 42)})
    assert out["sr_left"].shape == (3, 20, 42) and out["sr_left"].min() >= 0 and out["sr_left"].max() <= 1
    assert out["sr_both"].shape == (3, 20, 84) and out["hr_both"].shape == (3, 20, 84)
    epe = (out["disp_error"] - out["disp_zero"]).abs().mean()  # what MAEMetric computes
    assert epe.item() == pytest.approx(2.0)  # |5 - 3| over the known half only
    assert "baseline_both" not in out
    none_known = StereoSROutputd(scale=2, left_key=None, right_key=None)(
        {"pred": pred, "disp": torch.full((1, 32, 64), float("nan")), "case_id": "c"})
    assert torch.isnan(none_known["disp_error"]).all() and "hr_left" not in none_known
    saved = SaveDisparityd("disp_pred", output_dir=str(tmp_path))(none_known)
    assert np.load(saved["disp_pred_path"]).shape == (32, 64)
    with pytest.raises(TypeError, match="output_format='dict'"):
        StereoSROutputd()({"pred": sr})


def test_load_disparity_turns_inf_into_nan(tmp_path):
    arr = np.array([[1.0, np.inf], [np.nan, 2.0]], np.float32)
    np.save(tmp_path / "d.npy", arr)
    t = LoadDisparity()(tmp_path / "d.npy")
    assert t.shape == (1, 2, 2) and torch.isnan(t).sum() == 2 and t[0, 1, 1] == 2.0
    np.save(tmp_path / "bad.npy", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="float32 \\[H, W\\]"):
        LoadDisparity()(tmp_path / "bad.npy")
