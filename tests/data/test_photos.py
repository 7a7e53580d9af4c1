"""The photograph and clip collections (``data/photos``, ``data/clips``): counts, disjoint splits, readable RGB."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_mcrecon.data.natural import photos_datalist_file
from monai_mcrecon.data.natural import photos_datalist as _photos
from monai_mcrecon.data.video import (
    clips_datalist_file,
    collection_clips,
    frame_folder_clips,
    triplet_datalist,
    window_datalist,
)

pytestmark = pytest.mark.skipif(photos_datalist_file() is None, reason="collections not in this checkout")
_SPLITS = {"train": "training", "val": "validation"}


def photos_dir() -> Path:
    return photos_datalist_file().parent


def clips_dir() -> Path:
    return clips_datalist_file().parent


def photos_datalist(split: str) -> list[dict]:
    return _photos(_SPLITS[split])


def clips_datalist(split: str) -> list[dict]:
    return collection_clips(_SPLITS[split])


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _source_file(source: str) -> str:
    """``package==version:member[range]`` -> ``package:member`` (the source file, whatever the range)."""
    package, member = source.split(":", 1)
    return package.split("==")[0] + ":" + member.split("[")[0]


def test_photo_counts_and_disjoint_splits():
    train, val = photos_datalist("train"), photos_datalist("val")
    assert len(train) >= 70 and len(val) >= 12
    assert {d["case_id"] for d in train}.isdisjoint(d["case_id"] for d in val)
    assert {_sha(d["label"]) for d in train}.isdisjoint(_sha(d["label"]) for d in val)
    sources = json.loads((photos_dir() / "datalist.json").read_text())["sources"]
    by_split = {s: {_source_file(sources[str(Path(d["label"]).relative_to(photos_dir()))]) for d in photos_datalist(s)}
                for s in ("train", "val")}
    assert len(by_split["train"]) == len(train) and len(by_split["val"]) == len(val)  # one photograph per source file
    assert by_split["train"].isdisjoint(by_split["val"])
    # the natural sample's held-out test images stay out of both splits
    held_out = {f"skimage/data/{n}" for n in ("camera.png", "chelsea.png", "coins.png", "motorcycle_left.png")}
    assert not any(s.split(":", 1)[1] in held_out for s in sources.values())


def test_every_photo_is_rgb_and_small():
    for item in photos_datalist("train") + photos_datalist("val"):
        path = item.get("label", item.get("image"))
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.mode == "RGB", path
            assert max(img.size) <= 512, path
            assert np.asarray(img).shape == (img.size[1], img.size[0], 3)


def test_clips_disjoint_footage_and_readable():
    train, val = clips_datalist("train"), clips_datalist("val")
    assert len(train) >= 2 and len(val) >= 2
    sources = json.loads((clips_dir() / "datalist.json").read_text())["sources"]
    files = {s: {_source_file(sources[f"{s}/{c['clip']}"]) for c in clips_datalist(s)} for s in ("train", "val")}
    assert files["train"].isdisjoint(files["val"])  # validation footage comes from other video files
    train_hashes = {_sha(f) for c in train for f in c["frames"]}
    assert train_hashes.isdisjoint(_sha(f) for c in val for f in c["frames"])
    for clip in train + val:
        assert len(clip["frames"]) >= 15  # a BVFI window (4 blurry inputs, period 4, exposure 3)
        for f in clip["frames"][:: len(clip["frames"]) - 1]:
            with Image.open(f) as img:
                assert img.mode == "RGB" and max(img.size) <= 448
    # the video readers take the layout as it is
    assert [c["clip"] for c in frame_folder_clips(clips_dir() / "val")] == sorted(c["clip"] for c in val)
    assert len(triplet_datalist(val)) > 0 and len(window_datalist(val, 15)) > 0


def test_unknown_split():
    with pytest.raises(ValueError, match="has no 'test' list"):
        _photos("test")
    with pytest.raises(ValueError, match="has no 'test' list"):
        collection_clips("test")
