"""The shipped video sample, clip/triplet/window datalists and the frame transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from monai_mcrecon.baselines import average_interpolate, tvl1_interpolate
from monai_mcrecon.data.video import (
    frame_folder_clips,
    triplet_datalist,
    video_sample_clips,
    window_datalist,
)
from monai_mcrecon.transforms.video import (
    LoadFramesd,
    RandCropFramesd,
    RandFlipFramesd,
    StackFramesd,
    average_frames,
)


def test_shipped_clips_split_and_sizes():
    train, val, test = video_sample_clips("train"), video_sample_clips("val"), video_sample_clips("test")
    assert [c["clip"] for c in train] == ["bbb_a", "bbb_b", "bbb_c", "bikes_a", "bikes_b", "bikes_d", "bikes_e", "bikes_f",
                                          "carphone_a"]
    assert [c["clip"] for c in val] == ["bikes_g", "carphone_c"]
    assert [c["clip"] for c in test] == ["bikes_c", "carphone_b"]
    assert [len(c["frames"]) for c in train + val + test] == [40, 40, 47, 24, 24, 30, 22, 37, 32, 50, 52, 24, 24]
    assert [len(triplet_datalist(s)) for s in (train, val, test)] == [278, 98, 44]
    frames = LoadFramesd("frames")({"frames": test[0]["frames"][:3]})["frames"]
    assert frames.shape == (3, 3, 136, 320) and frames.dtype == torch.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    bbb = LoadFramesd("frames")({"frames": train[0]["frames"][:2]})["frames"]
    assert bbb.shape == (2, 3, 180, 320)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_no_shipped_frame_repeats_the_one_before(split):
    """A repeated frame (Big Buck Bunny repeats one every 25) would make triplets with a middle frame equal to an end;
    the repeats of the source differ from the frame before by at most 0.1 / 255 (mean absolute, re-encoded); the
    smallest real step among the shipped frames is 0.27 / 255 (bbb_c, a near-still moment)."""
    for clip in video_sample_clips(split):
        frames = LoadFramesd("frames")({"frames": clip["frames"]})["frames"]
        steps = (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3)) * 255
        assert float(steps.min()) > 0.2, (clip["clip"], int(steps.argmin()) + 1)
    # consecutive frames differ (real motion) but are related
    assert 0.005 < (frames[1] - frames[0]).abs().mean() < 0.2
    with pytest.raises(ValueError, match="Unknown split"):
        video_sample_clips("validation")


def test_triplets_and_windows():
    clips = [{"clip": "c", "frames": [f"{i:04d}.png" for i in range(7)]}]
    t = triplet_datalist(clips, gap=2)
    assert [x["case_id"] for x in t] == ["c_0000", "c_0001", "c_0002"]
    assert (t[1]["frame0"], t[1]["label"], t[1]["frame1"]) == ("0001.png", "0003.png", "0005.png")
    w = window_datalist(clips, length=4, stride=3)
    assert [x["frames"][0] for x in w] == ["0000.png", "0003.png"] and all(len(x["frames"]) == 4 for x in w)
    with pytest.raises(ValueError, match="shorter window"):
        window_datalist(clips, length=8)
    with pytest.raises(ValueError, match="triplet"):
        triplet_datalist(clips, gap=4)


def test_frame_folder_clips_layout_and_errors(tmp_path):
    for clip in ("b", "a"):
        (tmp_path / clip).mkdir()
        for i in (2, 0, 1):
            Image.fromarray(np.full((5, 6, 3), 10 * i, np.uint8)).save(tmp_path / clip / f"{i:04d}.png")
    clips = frame_folder_clips(tmp_path)
    assert [c["clip"] for c in clips] == ["a", "b"]
    assert [p[-8:] for p in clips[0]["frames"]] == ["0000.png", "0001.png", "0002.png"]
    with pytest.raises(ValueError, match="at least 5"):
        frame_folder_clips(tmp_path, min_frames=5)
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(flat / "0000.png")
    with pytest.raises(ValueError, match="own sub-folder"):
        frame_folder_clips(flat)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        frame_folder_clips(tmp_path / "nope")


def test_shared_crop_and_flip_keep_frames_aligned():
    seq = torch.arange(2 * 3 * 10 * 12, dtype=torch.float32).reshape(2, 3, 10, 12)
    single = seq[0].clone()
    d = RandCropFramesd(["seq", "img"], size=(4, 5), seed=3)({"seq": seq, "img": single})
    assert d["seq"].shape == (2, 3, 4, 5) and d["img"].shape == (3, 4, 5)
    assert torch.equal(d["seq"][0], d["img"])
    flip = RandFlipFramesd(["seq", "img"], prob=1.0, seed=0)({"seq": seq, "img": single})
    assert torch.equal(flip["img"], single.flip(-1, -2)) and torch.equal(flip["seq"][0], flip["img"])
    with pytest.raises(ValueError, match="larger than the frames"):
        RandCropFramesd("img", size=20)({"img": single})
    with pytest.raises(ValueError, match="different frame sizes"):
        RandCropFramesd(["a", "b"], size=2)({"a": single, "b": single[..., :5]})
    st = StackFramesd(["a", "b"], "image")({"a": single, "b": single + 1})
    assert st["image"].shape == (2, 3, 10, 12)


def test_average_frames_is_window_mean():
    frames = torch.arange(7, dtype=torch.float32).view(7, 1, 1, 1).expand(7, 1, 2, 2)
    avg = average_frames(frames, 3)
    assert avg.shape == (2, 1, 2, 2) and torch.equal(avg[:, 0, 0, 0], torch.tensor([1.0, 4.0]))
    with pytest.raises(ValueError, match="window"):
        average_frames(frames, 8)


def test_interpolation_baselines_on_a_translation():
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 48, 72, generator=g), 5, 1, 2)[0]
    f0, mid, f1 = base[..., 8:56], base[..., 10:58], base[..., 12:60]  # 2 px per frame
    def psnr(a, b):
        return float(10 * torch.log10(1 / ((a - b)[..., 6:-6, 6:-6] ** 2).mean()))
    avg = average_interpolate(f0, f1)
    assert torch.allclose(avg, 0.5 * (f0 + f1))
    tv = tvl1_interpolate(f0, f1, t=0.5)
    assert tv.shape == f0.shape
    assert psnr(tv, mid) > psnr(avg, mid) + 5
    with pytest.raises(ValueError, match="differ in shape"):
        average_interpolate(f0, f1[..., :-1])
