import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Lambdad

from monai_mcrecon.data import SAMPLE_DIR, SPLITS, VolumeSliceDataset, build_datalist, load_datalist, sample_datalist

# --- build_datalist / load_datalist ---------------------------------------------------------------


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "root"
    layout = {"case_b": ["t1.nii.gz", "t2.nii"], "case_a": ["t1.nii.gz", "t2.nii.gz", "notes.txt"], "case_c": ["t1.nii.gz"]}
    for case, files in layout.items():
        (root / case).mkdir(parents=True)
        for f in files:
            (root / case / f).write_bytes(b"")
    (root / "empty_case").mkdir()
    (root / "readme.md").write_text("not a case")
    return root


def test_build_datalist_sorted_absolute_paths(data_root):
    items = build_datalist(data_root)
    assert [i["case_id"] for i in items] == ["case_a", "case_b", "case_c"]
    assert items[0] == {
        "case_id": "case_a",
        "t1": str((data_root / "case_a" / "t1.nii.gz").resolve()),
        "t2": str((data_root / "case_a" / "t2.nii.gz").resolve()),
    }
    assert items[1]["t2"] == str((data_root / "case_b" / "t2.nii").resolve())
    assert set(items[2]) == {"case_id", "t1"}
    for item in items:
        for c in ("t1", "t2"):
            if c in item:
                assert Path(item[c]).is_absolute() and Path(item[c]).is_file()


def test_build_datalist_missing_contrast_names_case(data_root):
    with pytest.raises(FileNotFoundError, match=r"'case_c' has no 't2' contrast \(it has \['t1'\]\)"):
        build_datalist(data_root, contrasts=["t2", "t1"])
    assert len(build_datalist(data_root, contrasts=["t1"])) == 3


def test_build_datalist_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty" / "case").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="No case folders"):
        build_datalist(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_datalist(tmp_path / "absent")


def test_load_datalist_json_with_relative_paths(data_root):
    datalist = {
        "training": [{"case_id": "case_a", "t1": "case_a/t1.nii.gz", "t2": "case_a/t2.nii.gz", "slices": [0, 4]}],
        "test": [{"t1": "case_b/t1.nii.gz", "t2": str((data_root / "case_b" / "t2.nii").resolve())}],
    }
    path = data_root / "datalist.json"
    path.write_text(json.dumps(datalist))
    train = load_datalist(path, split="training", contrasts=["t1", "t2"])
    assert train == [
        {
            "case_id": "case_a",
            "t1": str((data_root / "case_a" / "t1.nii.gz").resolve()),
            "t2": str((data_root / "case_a" / "t2.nii.gz").resolve()),
            "slices": [0, 4],
        }
    ]
    test = load_datalist(path, split="test")
    assert test[0]["case_id"] == "test_000"
    assert test[0]["t1"] == str((data_root / "case_b" / "t1.nii.gz").resolve())
    assert test[0]["t2"] == str((data_root / "case_b" / "t2.nii").resolve())
    with pytest.raises(KeyError, match=r"no 'validation' list.*\['test', 'training'\]"):
        load_datalist(path, split="validation")


def test_load_datalist_json_missing_file_raises(tmp_path):
    path = tmp_path / "datalist.json"
    path.write_text(json.dumps({"test": [{"case_id": "x", "t1": "x/t1.nii.gz"}]}))
    with pytest.raises(FileNotFoundError, match=r"'x'.*'t1' file"):
        load_datalist(path, split="test", contrasts=["t1"])


def test_load_datalist_folder(data_root):
    assert load_datalist(data_root, split="ignored") == build_datalist(data_root)
    with pytest.raises(FileNotFoundError, match="neither a data folder"):
        load_datalist(data_root / "missing.json")


# --- the embedded sample --------------------------------------------------------------------------


def _z_range(path):
    """World z of the first and last slice of a volume whose third axis is z (the sample's layout)."""
    img = nib.load(path)
    affine = img.affine
    assert np.allclose(affine[:3, :3], np.eye(3))  # axis-aligned 1 mm grid
    return affine[2, 3], affine[2, 3] + (img.shape[2] - 1) * affine[2, 2]


def test_sample_splits_files_and_pairing():
    counts = {}
    for split in SPLITS:
        items = sample_datalist(split)
        counts[split] = len(items)
        for item in items:
            assert item["case_id"].startswith("icbm_")
            t1, t2 = nib.load(item["t1"]), nib.load(item["t2"])
            assert Path(item["t1"]).is_file() and Path(item["t2"]).is_file()
            assert Path(item["t1"]).parent == SAMPLE_DIR / item["case_id"]
            assert t1.shape == t2.shape
            assert t1.shape[:2] == (193, 229)
            np.testing.assert_array_equal(t1.affine, t2.affine)
            start, stop = item["slices"]
            assert stop - start == t1.shape[2]
    assert counts == {"training": 2, "validation": 1, "test": 2}
    with pytest.raises(ValueError, match="Unknown split"):
        sample_datalist("train")


def test_sample_splits_are_spatially_disjoint_with_gaps():
    slabs = {split: [] for split in SPLITS}
    origins = set()
    for split in SPLITS:
        for item in sample_datalist(split):
            start, stop = item["slices"]
            z0, z1 = _z_range(item["t2"])
            origins.add(z0 - start)  # the template origin: the same for every slab
            slabs[split].append((start, stop, z0, z1))
    assert len(origins) == 1
    for train in slabs["training"]:
        for split in ("validation", "test"):
            for other in slabs[split]:
                # "slices" entries are [start, stop) in template slices; gaps of at least 4 slices
                assert train[1] + 4 <= other[0] or other[1] + 4 <= train[0]
                # the NIfTI geometry agrees: closed z ranges in mm are 5 mm or more apart
                assert train[3] + 5 <= other[2] or other[3] + 5 <= train[2]
    for a in slabs["validation"]:
        for b in slabs["test"]:
            assert a[3] < b[2] or b[3] < a[2]


# --- VolumeSliceDataset ---------------------------------------------------------------------------


def _volume_transform():
    return Compose([LoadImaged(keys=["t1", "t2"], image_only=True), EnsureChannelFirstd(keys=["t1", "t2"])])


def test_volume_slice_dataset_items():
    items = sample_datalist("test")
    ds = VolumeSliceDataset(
        items,
        _volume_transform(),
        slice_keys=["t1", "t2"],
        transform=Lambdad(keys="t2", func=lambda x: 2 * x + 1),
        progress=False,
    )
    n_slices = [nib.load(i["t1"]).shape[2] for i in items]
    assert len(ds) == sum(n_slices) == 32
    t1_b = np.asarray(nib.load(items[1]["t1"]).dataobj, dtype=np.float32)
    t2_b = np.asarray(nib.load(items[1]["t2"]).dataobj, dtype=np.float32)
    for i, (case, s) in {0: (0, 0), 15: (0, 15), 16: (1, 0), 21: (1, 5), 31: (1, 15)}.items():
        item = ds[i]
        assert item["slice_index"] == s
        assert item["case_id"] == items[case]["case_id"]
        assert item["t1"].shape == item["t2"].shape == (1, 193, 229)
    item = ds[21]
    np.testing.assert_array_equal(item["t1"][0].numpy(), t1_b[:, :, 5])
    np.testing.assert_array_equal(item["t2"][0].numpy(), 2 * t2_b[:, :, 5] + 1)
    assert float(item["t2"].max()) > 1  # the slice is not empty


def test_volume_slice_dataset_without_cache_and_empty_list():
    ds = VolumeSliceDataset(sample_datalist("validation"), _volume_transform(), slice_keys=["t2"], cache=False)
    assert len(ds) == 8
    item = ds[7]
    assert item["slice_index"] == 7 and item["t2"].shape == (1, 193, 229)
    assert isinstance(item["t1"], torch.Tensor) and item["t1"].shape == (1, 193, 229, 8)  # not sliced
    with pytest.raises(ValueError, match="empty datalist"):
        VolumeSliceDataset([], _volume_transform(), slice_keys=["t2"])
