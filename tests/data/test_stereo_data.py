"""The shipped stereo sample and the stereo folder datalist."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monai_mcrecon.data.stereo import STEREO_SPLITS, stereo_folder_datalist, stereo_sample_dir, stereo_sample_pairs
from monai_mcrecon.transforms.stereo import LoadStereoPaird


def test_sample_splits_hold_real_crops_with_the_documented_sizes_and_disparities():
    sizes = {}
    for split in STEREO_SPLITS:
        for item in stereo_sample_pairs(split):
            d = LoadStereoPaird()(item)
            sizes[item["case_id"]] = (split, tuple(d["left"].shape), "disp" in item)
            assert d["left"].shape == d["right"].shape and d["left"].dtype.is_floating_point
            if "disp" in item:
                disp = d["disp"]
                assert disp.shape == (1, *d["left"].shape[-2:])
                known = disp[disp == disp]
                assert 5 < float(known.min()) and float(known.max()) < 61  # Motorcycle disparities at 741 px width
    assert sizes == {
        "motorcycle_top": ("train", (3, 264, 740), False),
        "motorcycle_mid": ("val", (3, 40, 740), True),
        "motorcycle_bottom_a": ("test", (3, 168, 368), True),
        "motorcycle_bottom_b": ("test", (3, 168, 368), True),
    }
    total = sum(p.stat().st_size for p in stereo_sample_dir().rglob("*") if p.is_file())
    assert total < 3 * 2**20


def test_held_out_rows_are_disjoint_from_the_training_rows():
    """The test crops are rows 332-499 of the skimage pair, the training crop rows 0-263."""
    from skimage.data import stereo_motorcycle

    left, right, disp = stereo_motorcycle()
    train = np.asarray(Image.open(stereo_sample_pairs("train")[0]["left"]))
    test_a = np.asarray(Image.open(stereo_sample_pairs("test")[0]["left"]))
    assert np.array_equal(train, left[:264, :740]) and np.array_equal(test_a, left[332:500, :368])
    gt = np.load(stereo_sample_pairs("test")[1]["disp"])
    ref = disp[332:500, 372:740]
    assert np.array_equal(np.isnan(gt), ~np.isfinite(ref))
    assert np.allclose(gt[np.isfinite(ref)], ref[np.isfinite(ref)])


def test_ground_truth_disparity_aligns_the_views():
    """Warping the right view by the shipped disparity reproduces the left view (where known)."""
    import torch

    from monai_mcrecon.ops.warp import disparity_warp

    d = LoadStereoPaird()(stereo_sample_pairs("test")[0])
    disp = d["disp"][None]
    xs = torch.arange(disp.shape[-1]).view(1, 1, 1, -1)
    known = torch.isfinite(disp) & (xs - torch.nan_to_num(disp) >= 1)  # known and matched inside the right crop
    warped = disparity_warp(d["right"][None], torch.nan_to_num(disp), view="left")
    err = (warped - d["left"][None]).abs().mean(1, keepdim=True)[known]
    shifted = (d["right"][None] - d["left"][None]).abs().mean(1, keepdim=True)[known]
    assert float(err.mean()) < 0.03 and float(shifted.mean()) > 3 * float(err.mean())


def _pair(folder, name, size=(8, 12), disp=None):
    sub = folder / name
    sub.mkdir(parents=True)
    img = (np.random.default_rng(0).random((*size, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(sub / "left.png")
    Image.fromarray(img[..., 0]).save(sub / "right.png")
    if disp is not None:
        np.save(sub / "disp.npy", disp)


def test_folder_datalist_items_and_optional_disparity(tmp_path):
    disp = np.full((8, 12), np.inf, dtype=np.float32)
    disp[2:, 3:] = 2.5
    _pair(tmp_path, "b_pair", disp=disp)
    _pair(tmp_path, "a_pair")
    (tmp_path / "notes").mkdir()  # folders without views are ignored
    items = stereo_folder_datalist(tmp_path)
    assert [i["case_id"] for i in items] == ["a_pair", "b_pair"]
    assert "disp" not in items[0] and items[1]["disp"].endswith("disp.npy")
    loaded = LoadStereoPaird()(items[1])
    assert loaded["right"].shape == (3, 8, 12)  # gray right view repeated to RGB
    assert int(torch_isnan(loaded["disp"]).sum()) == 8 * 12 - 6 * 9 and float(loaded["disp"][0, 5, 5]) == 2.5


def torch_isnan(t):
    return t != t


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stereo_folder_datalist(tmp_path / "missing")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "loose.png")
    with pytest.raises(ValueError, match="its own sub-folder"):
        stereo_folder_datalist(tmp_path)
    sub = tmp_path / "half"
    sub.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(sub / "left.png")
    with pytest.raises(ValueError, match="no right view"):
        stereo_folder_datalist(tmp_path)
    with pytest.raises(ValueError, match="Unknown split"):
        stereo_sample_pairs("validation")
    bad = tmp_path / "bad"
    _pair(bad, "p", disp=np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="must have the views' size"):
        LoadStereoPaird()(stereo_folder_datalist(bad)[0])
