"""Blurry-video synthesis for BVFI: the time convention, temporal reversal, the averaging baseline and the
per-time bookkeeping (the figures: tests/handlers/test_video.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from monai_mcrecon.data.video import video_sample_clips, window_datalist
from monai_mcrecon.transforms.blurry_video import (
    AddTimesd,
    BlurryWindowd,
    KeyFrameAveraged,
    RandReverseTimed,
    SaveTimeFramesd,
    SplitTimesd,
    blurry_clip_windows,
    synthesize_blurry_window,
    target_frame_indices,
    time_suffix,
    window_length,
)
from monai_mcrecon.transforms.video import LoadFramesd


def _ramp(n: int = 15, c: int = 3, h: int = 5, w: int = 6) -> torch.Tensor:
    """Frame k is the constant k / 20: every average and target is identifiable by its value."""
    return (torch.arange(n, dtype=torch.float32) / 20).view(n, 1, 1, 1).expand(n, c, h, w).clone()


def test_window_length_and_target_frames_follow_the_time_convention():
    assert window_length(4, 4, 3) == 15
    assert window_length(4, 8, 5) == 29
    # B_0 averages frames 4, 5, 6 (centre 5), B_1 frames 8, 9, 10 (centre 9): t = 0.25 -> frame 6
    assert target_frame_indices([0.0, 0.25, 0.5, 0.75, 1.0]) == [5, 6, 7, 8, 9]
    assert target_frame_indices([0.125, 0.5], period=8, exposure=5) == [11, 14]


def test_synthesis_averages_the_exposed_frames_and_picks_the_targets():
    blurry, sharp, times = synthesize_blurry_window(_ramp(), (0.25, 0.5, 0.75))
    # blurry frame i = mean of frames 4i, 4i+1, 4i+2 = (4i + 1) / 20
    np.testing.assert_allclose(blurry[:, 0, 0, 0].numpy(), [1 / 20, 5 / 20, 9 / 20, 13 / 20], rtol=1e-6)
    np.testing.assert_allclose(sharp[:, 0, 0, 0].numpy(), [6 / 20, 7 / 20, 8 / 20], rtol=1e-6)
    assert blurry.shape == (4, 3, 5, 6) and sharp.shape == (3, 3, 5, 6) and times.tolist() == [0.25, 0.5, 0.75]


def test_bad_windows_and_times_are_named():
    with pytest.raises(ValueError, match="T >= 15"):
        synthesize_blurry_window(_ramp(12))
    with pytest.raises(ValueError, match=r"valid times are \[0.0, 0.25, 0.5, 0.75, 1.0\]"):
        synthesize_blurry_window(_ramp(), (0.3,))
    with pytest.raises(ValueError, match="exposure must be between 1 and period"):
        window_length(4, 4, 5)
    with pytest.raises(ValueError, match="valid times"):
        BlurryWindowd(times=(0.1,))


def test_blurry_windowd_quantises_and_keeps_the_sharp_frames():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(15, 3, 8, 8, generator=g)
    d = BlurryWindowd(keys="frames")({"frames": frames})
    assert torch.equal(d["label"], frames[[6, 7, 8]])
    ref = frames[:3].mean(0)
    assert (d["blurry"][0] - ref).abs().max() <= 0.5 / 255 + 1e-7
    assert torch.allclose(d["blurry"] * 255, torch.round(d["blurry"] * 255), atol=1e-4)
    raw = BlurryWindowd(keys="frames", quantize=False)({"frames": frames})
    torch.testing.assert_close(raw["blurry"][0], ref)


def test_noise_is_reproducible_per_case():
    frames = _ramp(n=15, h=16, w=16)
    t = BlurryWindowd(keys="frames", noise_sigma=0.05, quantize=False, seed=3, case_seed_key="case_id")
    a1 = t({"frames": frames, "case_id": "a"})["blurry"]
    b = t({"frames": frames, "case_id": "b"})["blurry"]
    a2 = t({"frames": frames, "case_id": "a"})["blurry"]
    assert torch.equal(a1, a2) and not torch.equal(a1, b)
    clean = synthesize_blurry_window(frames)[0]
    assert 0.03 < float((a1 - clean).std()) < 0.07


def test_reversing_the_sharp_window_reverses_the_blurry_frames_and_maps_t_to_one_minus_t():
    g = torch.Generator().manual_seed(1)
    frames = torch.rand(15, 3, 4, 4, generator=g)
    fwd = BlurryWindowd(keys="frames", quantize=False)({"frames": frames})
    rev = BlurryWindowd(keys="frames", quantize=False)(RandReverseTimed(keys="frames", prob=1.0)({"frames": frames}))
    torch.testing.assert_close(rev["blurry"], fwd["blurry"].flip(0))
    torch.testing.assert_close(rev["label"], fwd["label"].flip(0))  # t = 0.25, 0.5, 0.75 <-> 0.75, 0.5, 0.25
    same = RandReverseTimed(keys="frames", prob=0.0)({"frames": frames})
    assert torch.equal(same["frames"], frames)
    draws = [bool(RandReverseTimed(keys="x", prob=0.5, seed=s)({"x": frames})["x"][0].equal(frames[-1]))
             for s in range(40)]
    assert 8 < sum(draws) < 32


def test_key_frame_average_and_split_by_time():
    g = torch.Generator().manual_seed(2)
    d = {"blurry": torch.rand(4, 3, 6, 6, generator=g), "times": torch.tensor([0.25, 0.5, 0.75])}
    d = KeyFrameAveraged()(d)
    assert d["average"].shape == (3, 3, 6, 6)
    for i in range(3):
        torch.testing.assert_close(d["average"][i], (d["blurry"][1] + d["blurry"][2]) / 2)
    d = SplitTimesd(keys="average", times=[0.25, 0.5, 0.75])(d)
    assert {k for k in d if k.startswith("average_t")} == {"average_t0.25", "average_t0.50", "average_t0.75"}
    assert time_suffix(0.5) == "t0.50"
    with pytest.raises(ValueError, match="2 times"):
        SplitTimesd(keys="average", times=[0.25, 0.5])(d)
    assert AddTimesd([0.5, 0.25])({})["times"].tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        AddTimesd([1.5])


def test_blurry_clip_windows_cover_every_interval():
    clips = [{"clip": "c", "frames": [f"f{i}" for i in range(5)]}, {"clip": "one", "frames": ["x"]}]
    items = blurry_clip_windows(clips)
    assert [i["case_id"] for i in items] == ["c_0000", "c_0001", "c_0002", "c_0003"]
    assert items[0]["blurry"] == ["f0", "f0", "f1", "f2"]  # B_-1 repeats the first frame
    assert items[-1]["blurry"] == ["f2", "f3", "f4", "f4"]
    assert [i["index"] for i in blurry_clip_windows(clips, pad_ends=False)] == [1, 2]
    with pytest.raises(ValueError, match="enough blurry frames"):
        blurry_clip_windows([{"clip": "one", "frames": ["x"]}])


def test_real_sample_windows_load_and_synthesise():
    items = window_datalist(video_sample_clips("test"), window_length())
    assert len(items) == 20  # two 24-frame clips, 10 windows each
    d = LoadFramesd(keys="frames")(items[0])
    d = BlurryWindowd(keys="frames")(d)
    assert d["blurry"].shape == (4, 3, 136, 320) and d["label"].shape == (3, 3, 136, 320)
    # real motion: the sharp middle frame differs from the average of the two key blurry frames
    avg = (d["blurry"][1] + d["blurry"][2]) / 2
    assert float((avg - d["label"][1]).abs().mean()) > 0.01


def test_saving_frames(tmp_path):
    g = torch.Generator().manual_seed(3)
    d = {"blurry": torch.rand(4, 3, 20, 24, generator=g), "pred": torch.rand(3, 3, 20, 24, generator=g),
         "label": torch.rand(3, 3, 20, 24, generator=g), "times": torch.tensor([0.25, 0.5, 0.75]), "case_id": "clip_0003"}
    d = KeyFrameAveraged()(d)
    d = SaveTimeFramesd(keys="pred", output_dir=tmp_path / "frames")(d)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == ["clip_0003_t0.25.png", "clip_0003_t0.50.png", "clip_0003_t0.75.png"]
    written = np.asarray(Image.open(tmp_path / "frames" / "clip_0003_t0.50.png"), dtype=np.float64) / 255
    assert np.abs(written - d["pred"][1].permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6
