"""Natural sample, folder datalists and the PNG/JPEG loader/saver."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from monai_mcrecon.data.natural import (
    image_folder_datalist,
    natural_sample_datalist,
    natural_sample_dir,
    stereo_sample,
)
from monai_mcrecon.transforms.natural import LoadNaturalImage, LoadNaturalImaged, SaveNaturalImage, SaveNaturalImaged


def test_sample_is_small_and_splits_are_disjoint():
    root = natural_sample_dir()
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert size < 3e6
    ids = {s: [it["case_id"] for it in natural_sample_datalist(s)] for s in ("train", "val", "test")}
    assert len(ids["train"]) >= 6 and len(ids["val"]) >= 1 and len(ids["test"]) >= 3
    all_ids = sum(ids.values(), [])
    assert len(all_ids) == len(set(all_ids))
    for split in ("train", "val", "test"):
        for item in natural_sample_datalist(split):
            assert set(item) <= {"label", "case_id", "depth"}
            assert Image.open(item["label"]).size[0] > 100
    assert (root / "LICENSE").is_file() and (root / "README.md").is_file()
    assert json.loads((root / "splits.json").read_text())["test"]


def test_test_split_has_rgb_and_gray_and_a_depth_map():
    items = natural_sample_datalist("test")
    modes = {Image.open(it["label"]).mode for it in items}
    assert {"L", "RGB"} <= modes
    with_depth = [it for it in items if "depth" in it]
    assert [it["case_id"] for it in with_depth] == ["motorcycle_left"]
    depth = np.load(with_depth[0]["depth"])
    h, w = Image.open(with_depth[0]["label"]).size[::-1]
    assert depth.shape == (h, w) and depth.dtype == np.float16
    assert np.isfinite(depth).all() and 1.5 < depth.min() < depth.max() < 6.0  # metres


def test_stereo_sample_disparity_matches_depth():
    st = stereo_sample()
    left, right = Image.open(st["left"]), Image.open(st["right"])
    assert left.size == right.size == (370, 250)
    disp = np.load(st["disparity"]).astype(np.float64)
    depth = np.load(st["depth"]).astype(np.float64)
    assert disp.shape == depth.shape == (250, 370)
    known = np.isfinite(disp)
    assert 0.9 < known.mean() < 1.0  # unknown pixels kept as inf
    # Z = baseline * f / (d + doffs) at half the skimage resolution (all three halve)
    z = 193.001 * (994.978 / 2) / (disp[known] + 31.086 / 2) / 1000
    interior = np.abs(z - depth[known]) / z
    assert np.median(interior) < 0.01


def test_unknown_split_raises():
    with pytest.raises(ValueError, match="Unknown split"):
        natural_sample_datalist("training")


def test_image_folder_datalist(tmp_path):
    for name in ("b.png", "a.JPG", "c.tif", "notes.txt"):
        if name.endswith(".txt"):
            (tmp_path / name).write_text("x")
        else:
            Image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / name)
    items = image_folder_datalist(tmp_path)
    assert [it["case_id"] for it in items] == ["a", "b", "c"]
    assert items[0]["label"] == str(tmp_path / "a.JPG")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_folder_datalist(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No image found"):
        image_folder_datalist(tmp_path / "empty")


def test_load_orientation_and_value_range(tmp_path):
    arr = np.zeros((4, 7, 3), np.uint8)  # 4 rows, 7 columns
    arr[0, 6] = (255, 0, 0)  # top-right pixel red
    arr[3, 0] = (0, 0, 255)  # bottom-left pixel blue
    Image.fromarray(arr).save(tmp_path / "x.png")
    img = LoadNaturalImage(channels=None)(tmp_path / "x.png")
    assert img.shape == (3, 4, 7) and img.dtype == torch.float32
    assert img[0, 0, 6] == 1.0 and img[2, 3, 0] == 1.0 and img.sum() == 2.0


def test_load_channel_conversion_and_bit_depths(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    gray = LoadNaturalImage(channels=1)(tmp_path / "rgb.png")
    ref = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255
    np.testing.assert_allclose(gray[0].numpy(), ref, atol=1e-6)
    rgba = np.concatenate([rgb, np.full((5, 6, 1), 7, np.uint8)], -1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    back = LoadNaturalImage(None)(tmp_path / "rgba.png")
    np.testing.assert_allclose(back.permute(1, 2, 0).numpy(), rgb / 255, atol=1e-6)
    g = np.arange(30, dtype=np.uint8).reshape(5, 6)
    Image.fromarray(g).save(tmp_path / "g.png")
    g3 = LoadNaturalImage(channels=3)(tmp_path / "g.png")
    assert g3.shape == (3, 5, 6) and torch.equal(g3[0], g3[2])
    g16 = (np.arange(30, dtype=np.uint16).reshape(5, 6) * 2000)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    img16 = LoadNaturalImage(channels=None)(tmp_path / "g16.png")
    assert img16.shape == (1, 5, 6)
    np.testing.assert_allclose(img16[0].numpy(), g16 / 65535, atol=1e-6)
    Image.fromarray(rgb).save(tmp_path / "x.jpg", quality=95)
    assert LoadNaturalImage(channels=3)(tmp_path / "x.jpg").shape == (3, 5, 6)


def test_load_errors(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not an image"):
        LoadNaturalImage()(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError):
        LoadNaturalImage()(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="channels"):
        LoadNaturalImage(channels=2)


def test_save_load_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    for c in (1, 3):
        img = (torch.randint(0, 256, (c, 9, 13), generator=g).float() / 255)
        path = SaveNaturalImage(tmp_path, "restored")(img, f"case{c}")
        assert path.endswith(f"case{c}_restored.png")
        back = LoadNaturalImage(channels=None)(path)
        assert back.shape == (c, 9, 13)
        torch.testing.assert_close(back, img, atol=1e-6, rtol=0)
    # clamping and rounding to 8 bit
    out = SaveNaturalImage(tmp_path, "")(torch.tensor([[[-0.5, 0.5, 2.0]]]), "clamp")
    assert np.asarray(Image.open(out)).tolist() == [[0, 128, 255]]


def test_dictionary_versions(tmp_path):
    item = natural_sample_datalist("test")[0]
    d = LoadNaturalImaged(keys="label", channels=3)(item)
    assert d["label"].shape[0] == 3 and 0 <= d["label"].min() and d["label"].max() <= 1
    d["pred"] = d["label"]
    d = SaveNaturalImaged(keys="pred", output_dir=tmp_path, output_postfix="restored")(d)
    assert d["pred_path"] == str(tmp_path / f"{item['case_id']}_restored.png")
    torch.testing.assert_close(LoadNaturalImage(3)(d["pred_path"]), d["label"], atol=1e-6, rtol=0)


def test_disparity_is_left_referenced():
    st = stereo_sample()
    left = np.asarray(Image.open(st["left"]), np.float64)
    right = np.asarray(Image.open(st["right"]), np.float64)
    d = np.load(st["disparity"]).astype(np.float64)
    yy, xx = np.mgrid[: d.shape[0], : d.shape[1]]
    errors = []
    for sign in (-1, 1):  # left[y, x] <-> right[y, x - d]
        xr = np.round(xx + sign * np.where(np.isfinite(d), d, 0)).astype(int)
        ok = np.isfinite(d) & (xr >= 0) & (xr < d.shape[1])
        errors.append(np.abs(left[yy[ok], xx[ok]] - right[yy[ok], xr[ok]]).mean())
    assert errors[0] < 15 and errors[0] < errors[1] / 3


def test_sample_is_reproducible_from_installed_skimage(tmp_path):
    import importlib.util
    from pathlib import Path

    tool = Path(__file__).resolve().parents[2] / "tools" / "make_natural_sample.py"
    spec = importlib.util.spec_from_file_location("make_natural_sample", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    root = natural_sample_dir()
    assert json.loads((tmp_path / "splits.json").read_text()) == json.loads((root / "splits.json").read_text())
    for f in sorted(root.rglob("*.png")):
        rel = f.relative_to(root)
        assert np.array_equal(np.asarray(Image.open(f)), np.asarray(Image.open(tmp_path / rel))), rel
    for f in sorted(root.rglob("*.npy")):
        assert np.array_equal(np.load(f), np.load(tmp_path / f.relative_to(root)), equal_nan=True)
