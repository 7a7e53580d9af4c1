"""Bad volume files given to the command's reader (``load_volume``) and the DICOM reader: a missing
input of every kind; empty, truncated, corrupt, complex-valued and 4-D NIfTI files; DICOM series with
empty, truncated or corrupt files; empty folders and folders holding several series. Each asserts the
error type and message (docs/reliability.md, "Files")."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.data.dicom import read_dicom_series
from monai_mcrecon.data.dicom_write import make_test_series, write_dicom_series
from monai_mcrecon.data.volume import load_volume

SAMPLE_T2 = Path(SAMPLE_DIR) / "icbm_test_a" / "t2.nii.gz"

QUIET = {"log": lambda s: None}


def _nifti(path: Path, arr: np.ndarray, affine=None) -> Path:
    nib.save(nib.Nifti1Image(arr, np.eye(4) if affine is None else affine), str(path))
    return path


@pytest.mark.parametrize("name", ["t2.nii.gz", "t2.nii", "series_folder", "file.h5"])
def test_missing_input_of_every_kind(tmp_path, name):
    with pytest.raises(FileNotFoundError, match=r"^Input '.*" + name.replace(".", r"\.") + r"' does not exist; check the path"):
        load_volume(tmp_path / name, **QUIET)


def test_empty_nifti(tmp_path):
    (tmp_path / "e.nii.gz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e\.nii\.gz' is empty \(0 bytes\)"):
        load_volume(tmp_path / "e.nii.gz", **QUIET)


def test_truncated_compressed_nifti(tmp_path):
    data = SAMPLE_T2.read_bytes()
    (tmp_path / "t.nii.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"t\.nii\.gz': it is truncated or corrupt \(EOFError"):
        load_volume(tmp_path / "t.nii.gz", **QUIET)


def test_truncated_uncompressed_nifti(tmp_path):
    raw = gzip.decompress(SAMPLE_T2.read_bytes())
    (tmp_path / "t.nii").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"truncated or corrupt \(OSError: Expected \d+ bytes, got \d+"):
        load_volume(tmp_path / "t.nii", **QUIET)


def test_corrupt_nifti(tmp_path):
    (tmp_path / "c.nii.gz").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"truncated or corrupt \(ImageFileError: .*not a gzip file"):
        load_volume(tmp_path / "c.nii.gz", **QUIET)


def test_complex_nifti_is_a_wrong_dtype(tmp_path):
    _nifti(tmp_path / "z.nii.gz", (np.ones((4, 4, 2)) + 1j).astype(np.complex64))
    with pytest.raises(ValueError, match="holds complex64 voxels; expected real-valued magnitude"):
        load_volume(tmp_path / "z.nii.gz", **QUIET)


def test_four_d_nifti_where_a_volume_is_expected(tmp_path):
    _nifti(tmp_path / "v4.nii.gz", np.zeros((8, 8, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"has shape \(8, 8, 2, 3\); expected a 3-D volume"):
        load_volume(tmp_path / "v4.nii.gz", **QUIET)
    # a trailing singleton axis is not an error: it is squeezed
    _nifti(tmp_path / "v1.nii.gz", np.ones((8, 8, 2, 1), np.float32))
    assert load_volume(tmp_path / "v1.nii.gz", **QUIET).array.shape == (8, 8, 2)


@pytest.fixture()
def series(tmp_path) -> Path:
    vol = np.random.default_rng(1).random((8, 8, 3)).astype(np.float32) * 100
    write_dicom_series(vol, tmp_path / "s", affine=np.eye(4))
    return tmp_path / "s"


def test_dicom_series_with_an_empty_file(series):
    first = sorted(series.glob("*.dcm"))[0]
    first.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"\['{first.name}'\] are not readable DICOM images"):
        read_dicom_series(series)


def test_dicom_series_with_a_truncated_header(series):
    f = sorted(series.glob("*.dcm"))[1]
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(ValueError, match=rf"\['{f.name}'\] are not readable DICOM images"):
        read_dicom_series(series)


def test_dicom_series_with_truncated_pixel_data(series):
    f = sorted(series.glob("*.dcm"))[2]
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(ValueError, match=rf"{f.name}.*(not readable DICOM|truncated)"):
        read_dicom_series(series)


def test_folder_of_corrupt_dicom_files(tmp_path):
    (tmp_path / "x.dcm").write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(FileNotFoundError, match="No DICOM series found"):
        read_dicom_series(tmp_path)


def test_intact_series_still_reads(series):
    vol, meta = read_dicom_series(series)
    assert vol.shape == (8, 8, 3) and len(meta["files"]) == 3


def test_empty_dicom_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"^No DICOM series found in '.*empty' \(the folder is searched"):
        load_volume(tmp_path / "empty", **QUIET)


def test_dicom_folder_with_mixed_series(tmp_path):
    a = make_test_series(tmp_path / "a", shape=(8, 6, 3), seed=0)
    b = make_test_series(tmp_path / "b", shape=(8, 6, 3), seed=1, series_description="T1 (synthetic)", series_number=4)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, folder in enumerate((a, b)):
        for f in Path(folder).glob("*.dcm"):
            shutil.copy(f, mixed / f"{i}_{f.name}")
    with pytest.raises(ValueError, match=r"holds 2 DICOM series: .*Pick one with series_uid="):
        read_dicom_series(mixed)
    with pytest.raises(ValueError, match=r"holds 2 DICOM series"):
        load_volume(mixed, **QUIET)  # the command's reader says the same
