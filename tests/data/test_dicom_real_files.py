"""DICOM files from real scanners, shipped with nibabel and pydicom (issue 22, item 4).

* Siemens MOSAIC images (one file whose tiles are the slices of a volume) are unpacked with their
  geometry, or refused with the reason, never read as one slice of tiles;
* a truncated file is named in the error;
* the slice thickness (0.8 mm) survives a read / write round trip.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest

from monai_mcrecon.data.dicom import read_dicom_series
from monai_mcrecon.data.dicom_write import make_test_series, write_dicom_series
from monai_mcrecon.data.volume import load_volume

NICOM_DATA = Path(nibabel.__file__).parent / "nicom" / "tests" / "data"
PYDICOM_DATA = Path(pydicom.__file__).parent / "data" / "test_files"

# nibabel's test of this file (test_dicomwrappers.EXPECTED_AFFINE): the voxel -> RAS affine of the
# Siemens DWI mosaic, checked against SPM's conversion, in this package's layout (X the column index)
SPM_AFFINE = np.array(
    [
        [-1.796875, 0, 0, 115],
        [0, -1.79684984, -0.01570896, 135.028779],
        [0, -0.0094084375, 2.99995887, -78.710481],
        [0, 0, 0, 1],
    ]
)


def _needs(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is not installed")
    return path


@pytest.fixture()
def mosaic_file(tmp_path) -> tuple[Path, np.ndarray]:
    """nibabel's real Siemens DWI mosaic (896 x 896 = 7 x 7 tiles of 128 x 128, 48 slices; its pixels
    are blank) with known slices drawn into the tiles, the slices ``[row, column, slice]``."""
    ds = pydicom.dcmread(gzip.open(_needs(NICOM_DATA / "siemens_dwi_0.dcm.gz")))
    slices = np.random.default_rng(0).integers(0, 4000, size=(128, 128, 48)).astype(np.uint16)
    mosaic = np.zeros((896, 896), np.uint16)
    for k in range(48):  # the tiles fill the picture row by row
        r, c = divmod(k, 7)
        mosaic[r * 128:(r + 1) * 128, c * 128:(c + 1) * 128] = slices[:, :, k]
    ds.PixelData = mosaic.astype("<u2").tobytes()
    folder = tmp_path / "dwi"
    folder.mkdir()
    ds.save_as(folder / "dwi_b0.dcm")
    return folder / "dwi_b0.dcm", slices


def test_mosaic_is_unpacked_into_its_slices_with_the_scanner_geometry(mosaic_file):
    path, slices = mosaic_file
    for source in (path.parent, path):  # the folder, or the file itself
        vol, meta = read_dicom_series(source)
        assert vol.shape == (128, 128, 48)
        np.testing.assert_array_equal(vol, slices.transpose(1, 0, 2))  # [X, Y, Z]: X along the rows
        np.testing.assert_allclose(meta["affine"], SPM_AFFINE, atol=1e-4)
        np.testing.assert_allclose(meta["spacing"], [1.796875, 1.796875, 3.0], atol=1e-5)  # SpacingBetweenSlices
        assert meta["mosaic"]["slices"] == 48 and "match the scanner protocol" in meta["mosaic"]["geometry_check"]
    vol2 = load_volume(path.parent, log=lambda s: None)  # the command reads it the same way
    assert vol2.array.shape == (128, 128, 48)


def test_derived_series_from_a_mosaic_keeps_geometry_and_thickness(mosaic_file, tmp_path):
    path, slices = mosaic_file
    vol, meta = read_dicom_series(path.parent)
    written = write_dicom_series(vol * 0.5, tmp_path / "derived", reference_dir=path.parent)
    assert len(written["files"]) == 48
    back, back_meta = read_dicom_series(tmp_path / "derived")
    np.testing.assert_allclose(back_meta["affine"], meta["affine"], atol=1e-4)
    np.testing.assert_allclose(back, vol * 0.5, atol=written["max_abs_error"] + 1e-6)
    first = pydicom.dcmread(written["files"][0])
    assert float(first.SliceThickness) == 2.5 and float(first.SpacingBetweenSlices) == pytest.approx(3.0, abs=1e-5)
    assert "MOSAIC" not in list(first.ImageType)


def test_a_mosaic_whose_position_contradicts_the_scanner_protocol_is_refused(mosaic_file):
    path, _ = mosaic_file
    ds = pydicom.dcmread(path)
    ds.ImagePositionPatient = [float(v) + 20.0 for v in ds.ImagePositionPatient]  # an edited header
    ds.save_as(path)
    with pytest.raises(ValueError, match=r"lie \d+\.\d+ mm from the positions the scanner protocol gives.*dcm2niix"):
        read_dicom_series(path.parent)


def test_a_folder_of_several_mosaic_volumes_is_refused(tmp_path):
    for name in ("0.dcm", "1.dcm"):  # two volumes (diffusion directions) of one series
        shutil.copy(_needs(NICOM_DATA / name), tmp_path / name)
    with pytest.raises(ValueError, match=r"Siemens MOSAIC series of 2 images.*giving one of its files"):
        read_dicom_series(tmp_path)


def test_a_mosaic_that_does_not_tile_is_refused(tmp_path):
    # nibabel's 0.dcm says 48 images in a mosaic, but holds 256 x 256 pixels: not a 7 x 7 grid of tiles
    shutil.copy(_needs(NICOM_DATA / "0.dcm"), tmp_path / "0.dcm")
    for source in (tmp_path, tmp_path / "0.dcm"):
        with pytest.raises(ValueError, match=r"0\.dcm.*MOSAIC of 48 slices.*256x256.*7x7 grid.*dcm2niix"):
            read_dicom_series(source)


def test_a_truncated_file_is_named(tmp_path):
    shutil.copy(_needs(PYDICOM_DATA / "MR_truncated.dcm"), tmp_path / "MR_truncated.dcm")
    for source in (tmp_path, tmp_path / "MR_truncated.dcm"):
        with pytest.raises(ValueError, match=r"MR_truncated\.dcm' is truncated: 8130 bytes of pixel data.*8192"):
            read_dicom_series(source)
    with pytest.raises(ValueError, match=r"MR_truncated\.dcm' is truncated"):
        load_volume(tmp_path, log=lambda s: None)


def test_a_garbage_file_is_named_in_the_no_series_error(tmp_path):
    (tmp_path / "x.dcm").write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(FileNotFoundError, match=r"No DICOM series found .*\['x\.dcm'\] are not readable DICOM"):
        read_dicom_series(tmp_path)


def test_single_slice_thickness_of_0_8_mm_round_trips(tmp_path):
    # a real one-slice MR file: SliceThickness 0.8, no SpacingBetweenSlices
    shutil.copy(_needs(PYDICOM_DATA / "MR_small.dcm"), tmp_path / "MR_small.dcm")
    vol, meta = read_dicom_series(tmp_path)
    assert vol.shape[2] == 1 and meta["spacing"][2] == pytest.approx(0.8)
    written = write_dicom_series(vol, tmp_path / "out", reference_dir=tmp_path)
    ds = pydicom.dcmread(written["files"][0])
    assert float(ds.SliceThickness) == pytest.approx(0.8) and float(ds.SpacingBetweenSlices) == pytest.approx(0.8)
    assert read_dicom_series(tmp_path / "out")[1]["spacing"][2] == pytest.approx(0.8)


def test_slice_thickness_is_kept_when_slices_have_a_gap(tmp_path):
    # 0.8 mm slices every 1.0 mm: the thickness is not the spacing and must not become it
    src = make_test_series(tmp_path / "src", shape=(16, 12, 4), spacing=(0.9, 1.1, 1.0))
    for f in src.glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.SliceThickness = "0.8"
        ds.save_as(f)
    vol, meta = read_dicom_series(src)
    written = write_dicom_series(vol, tmp_path / "out", reference_dir=src)
    for f in written["files"]:
        ds = pydicom.dcmread(f)
        assert float(ds.SliceThickness) == pytest.approx(0.8) and float(ds.SpacingBetweenSlices) == pytest.approx(1.0)
    # a series written from a 0.8 mm affine says 0.8 mm
    affine = np.diag([0.5, 0.5, 0.8, 1.0])
    written = write_dicom_series(vol, tmp_path / "from_affine", affine=affine)
    assert float(pydicom.dcmread(written["files"][0]).SliceThickness) == pytest.approx(0.8)
    assert read_dicom_series(tmp_path / "from_affine")[1]["spacing"][2] == pytest.approx(0.8)
