"""DICOM series in -> derived DICOM series and NIfTI out, with the geometry of the input."""

from __future__ import annotations

import shutil
import warnings

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from monai.transforms import LoadImage

from monai_mcrecon.data import (
    LPS_TO_RAS,
    SeriesGeometry,
    list_dicom_series,
    make_test_series,
    read_dicom_series,
    save_nifti_like,
    write_dicom_series,
)

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)

GEOM_TOL = 1e-4  # mm (and unitless for direction cosines)
SPACING, ORIGIN, ANGLES = (0.9, 1.1, 3.0), (-18.5, -22.25, 31.0), (12.0, -7.0, 20.0)
MODEL = "MC-CDic x4 recon (monai-mcrecon)"


def _rotation(angles_deg):
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _load_monai(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optional GPU decoder plugins absent
        reader = "PydicomReader" if path.is_dir() else "NibabelReader"
        return LoadImage(reader=reader, image_only=True)(str(path))


def _headers(folder):
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(folder.glob("*.dcm"))]


@pytest.fixture(scope="module")
def input_series(tmp_path_factory):
    """A synthetic oblique T2 series (integer phantom) and the volume written."""
    folder = tmp_path_factory.mktemp("dicom") / "t2_input"
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 3000, size=(40, 36, 12)).astype(np.float32)
    make_test_series(folder, volume, spacing=SPACING, origin=ORIGIN, angles_deg=ANGLES)
    return folder, volume


@pytest.fixture(scope="module")
def derived(input_series, tmp_path_factory):
    """The input read, a float 'reconstruction' written as a derived series and as NIfTI."""
    folder, _ = input_series
    volume, meta = read_dicom_series(folder)
    recon = volume * 0.0371 + np.linspace(-3, 5, volume.size, dtype=np.float32).reshape(volume.shape)
    out = tmp_path_factory.mktemp("out")
    info = write_dicom_series(recon, out / "recon_dicom", reference_dir=folder, description=MODEL)
    nifti = save_nifti_like(recon, meta, out / "recon.nii.gz")
    return {"meta": meta, "recon": recon, "info": info, "dir": out / "recon_dicom", "nifti": nifti}


# --- reading --------------------------------------------------------------------------------------


def test_read_series_returns_volume_and_oblique_geometry(input_series):
    folder, written = input_series
    volume, meta = read_dicom_series(folder)
    assert volume.shape == (40, 36, 12) and volume.dtype == np.float32
    np.testing.assert_array_equal(volume, written)  # integer phantom stored exactly
    np.testing.assert_allclose(meta["spacing"], SPACING, atol=1e-9)
    np.testing.assert_allclose(meta["origin"], ORIGIN, atol=1e-9)
    np.testing.assert_allclose(meta["direction"], _rotation(ANGLES), atol=1e-9)
    expected = SeriesGeometry(SPACING, ORIGIN, _rotation(ANGLES)).affine
    np.testing.assert_allclose(meta["affine"], expected, atol=1e-9)
    np.testing.assert_allclose(meta["affine"], LPS_TO_RAS @ meta["affine_lps"])
    # MONAI's own DICOM reader agrees on the affine and the voxels
    monai_img = _load_monai(folder)
    np.testing.assert_allclose(np.asarray(monai_img.affine), meta["affine"], atol=GEOM_TOL)
    np.testing.assert_array_equal(np.asarray(monai_img), written)
    assert meta["tags"]["PatientID"] == "MCRECON-0001" and meta["tags"]["Modality"] == "MR"
    assert meta["tags"]["ImageType"] == ["ORIGINAL", "PRIMARY"]


def test_read_a_file_of_the_series(input_series):
    folder, _ = input_series
    volume, meta = read_dicom_series(sorted(folder.glob("*.dcm"))[3])
    assert volume.shape == (40, 36, 12) and meta["filename_or_obj"] == str(folder)


# --- derived DICOM series -------------------------------------------------------------------------


def test_derived_series_geometry_equals_input(derived):
    meta = derived["meta"]
    back, back_meta = read_dicom_series(derived["dir"])  # SimpleITK
    assert back.shape == derived["recon"].shape
    for key in ("spacing", "origin", "direction", "affine"):
        np.testing.assert_allclose(back_meta[key], meta[key], atol=GEOM_TOL, err_msg=key)
    monai_img = _load_monai(derived["dir"])  # MONAI PydicomReader
    np.testing.assert_allclose(np.asarray(monai_img.affine), meta["affine"], atol=GEOM_TOL)
    np.testing.assert_allclose(derived["info"]["affine"], meta["affine"], atol=GEOM_TOL)


def test_derived_series_values_within_quantisation_bound(derived):
    recon, info = derived["recon"], derived["info"]
    bound = info["max_abs_error"]
    span = float(recon.max() - recon.min())
    assert bound == pytest.approx(span / 131070, rel=1e-6)
    back, _ = read_dicom_series(derived["dir"], dtype=np.float64)
    assert np.abs(back - recon).max() <= bound * (1 + 1e-6)
    monai_img = np.asarray(_load_monai(derived["dir"]), dtype=np.float64)  # float32 rescaling in MONAI
    assert np.abs(monai_img - recon).max() <= bound + 1e-6 * np.abs(recon).max()


def test_derived_series_tags(input_series, derived):
    src, out = _headers(input_series[0]), _headers(derived["dir"])
    assert len(out) == len(src) == 12
    first = out[0]
    assert first.SeriesInstanceUID != src[0].SeriesInstanceUID
    assert first.SeriesInstanceUID == derived["info"]["series_uid"]
    assert len({h.SeriesInstanceUID for h in out}) == 1
    uids = {h.SOPInstanceUID for h in out}
    assert len(uids) == 12 and not uids & {h.SOPInstanceUID for h in src}
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
               "StudyID", "AccessionNumber", "FrameOfReferenceUID", "RepetitionTime", "EchoTime"):
        assert first[kw].value == src[0][kw].value, kw
    assert first.SeriesDescription == MODEL
    assert list(first.ImageType) == ["DERIVED", "SECONDARY"]
    assert MODEL in first.DerivationDescription and src[0].SeriesInstanceUID in first.DerivationDescription
    assert first.SOPClassUID == pydicom.uid.MRImageStorage and first.Modality == "MR"
    assert int(first.SeriesNumber) == int(src[0].SeriesNumber) + 1000
    # each slice references the input slice at the same position
    src_by_pos = {tuple(np.round(np.asarray(h.ImagePositionPatient, float), 3)): h.SOPInstanceUID for h in src}
    for h in out:
        assert h.SourceImageSequence[0].ReferencedSOPInstanceUID == src_by_pos[
            tuple(np.round(np.asarray(h.ImagePositionPatient, float), 3))
        ]


def test_integer_volume_is_stored_exactly(tmp_path, derived):
    vol = np.arange(-500, -500 + 40 * 36 * 12, dtype=np.int32).reshape(40, 36, 12) % 4000 - 1000
    info = write_dicom_series(vol, tmp_path / "s", affine=derived["meta"]["affine"])
    assert info["max_abs_error"] == 0 and info["rescale_slope"] == 1.0
    back, meta = read_dicom_series(tmp_path / "s")
    np.testing.assert_array_equal(back, vol)
    np.testing.assert_allclose(meta["affine"], derived["meta"]["affine"], atol=GEOM_TOL)


def test_write_sitk_image_and_explicit_geometry(tmp_path):
    direction = _rotation((0.0, 25.0, -10.0))
    img = sitk.GetImageFromArray(np.random.default_rng(1).random((5, 20, 24)).astype(np.float32))
    SeriesGeometry((0.7, 0.8, 2.5), (10.0, -5.0, 3.0), direction).apply_to(img)
    write_dicom_series(img, tmp_path / "a", description="UniKD recon (monai-mcrecon)")
    back, meta = read_dicom_series(tmp_path / "a")
    assert back.shape == (24, 20, 5)
    np.testing.assert_allclose(meta["spacing"], (0.7, 0.8, 2.5), atol=GEOM_TOL)
    np.testing.assert_allclose(meta["origin"], (10.0, -5.0, 3.0), atol=GEOM_TOL)
    np.testing.assert_allclose(meta["direction"], direction, atol=GEOM_TOL)
    assert meta["tags"]["SeriesDescription"] == "UniKD recon (monai-mcrecon)"


def test_left_handed_grid_keeps_every_voxel_in_place(tmp_path):
    direction = np.diag([1.0, 1.0, -1.0])  # slices stacked towards feet: not a DICOM (right-handed) stack
    vol = np.random.default_rng(2).integers(0, 100, size=(8, 6, 4)).astype(np.float32)
    geometry = SeriesGeometry((1.0, 1.0, 2.0), (0.0, 0.0, 0.0), direction)
    write_dicom_series(vol, tmp_path / "lh", spacing=geometry.spacing, origin=geometry.origin, direction=direction)
    back, meta = read_dicom_series(tmp_path / "lh")
    np.testing.assert_array_equal(back, vol[:, :, ::-1])
    flip = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 3], [0, 0, 0, 1]], dtype=float)
    np.testing.assert_allclose(meta["affine"], geometry.affine @ flip, atol=GEOM_TOL)


# --- NIfTI ----------------------------------------------------------------------------------------


def test_nifti_geometry_equals_dicom_input(input_series, derived):
    meta = derived["meta"]
    img = nib.load(derived["nifti"])
    np.testing.assert_allclose(img.affine, meta["affine"], atol=GEOM_TOL)
    np.testing.assert_allclose(img.get_qform(), meta["affine"], atol=GEOM_TOL)
    # MONAI LoadImage: the NIfTI and the DICOM input folder give the same affine
    nifti_monai = _load_monai(derived["nifti"])
    dicom_monai = _load_monai(input_series[0])
    np.testing.assert_allclose(np.asarray(nifti_monai.affine), np.asarray(dicom_monai.affine), atol=GEOM_TOL)
    np.testing.assert_allclose(np.asarray(nifti_monai), derived["recon"], rtol=1e-6)
    # SimpleITK: the NIfTI's spacing / origin / direction are the DICOM's
    sitk_img = sitk.ReadImage(str(derived["nifti"]))
    np.testing.assert_allclose(sitk_img.GetSpacing(), meta["spacing"], atol=GEOM_TOL)
    np.testing.assert_allclose(sitk_img.GetOrigin(), meta["origin"], atol=GEOM_TOL)
    np.testing.assert_allclose(np.reshape(sitk_img.GetDirection(), (3, 3)), meta["direction"], atol=GEOM_TOL)


# --- errors ---------------------------------------------------------------------------------------


def test_missing_or_empty_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_dicom_series(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not DICOM")
    with pytest.raises(FileNotFoundError, match="No DICOM series"):
        read_dicom_series(tmp_path / "empty")


def test_several_series_are_named_and_one_can_be_picked(tmp_path, input_series, derived):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in input_series[0].glob("*.dcm"):
        shutil.copy(f, mixed / f"a_{f.name}")
    for f in derived["dir"].glob("*.dcm"):
        shutil.copy(f, mixed / f"b_{f.name}")
    input_uid = derived["meta"]["series_uid"]
    with pytest.raises(ValueError, match="series_uid=") as err:
        read_dicom_series(mixed)
    assert input_uid in str(err.value) and derived["info"]["series_uid"] in str(err.value)
    assert {s["series_uid"] for s in list_dicom_series(mixed)} == {input_uid, derived["info"]["series_uid"]}
    volume, meta = read_dicom_series(mixed, series_uid=input_uid)
    np.testing.assert_array_equal(volume, input_series[1])
    with pytest.raises(ValueError, match="is not in"):
        read_dicom_series(mixed, series_uid="1.2.3")


def test_write_errors(tmp_path, input_series, derived):
    folder = input_series[0]
    with pytest.raises(ValueError, match="reference series"):
        write_dicom_series(np.zeros((10, 10, 3)), tmp_path / "a", reference_dir=folder)
    with pytest.raises(ValueError, match="No geometry"):
        write_dicom_series(np.zeros((10, 10, 3)), tmp_path / "b")
    bad = derived["recon"].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_dicom_series(bad, tmp_path / "c", reference_dir=folder)
    with pytest.raises(ValueError, match="orthonormal"):
        write_dicom_series(np.zeros((4, 4, 2)), tmp_path / "d", spacing=(1, 1, 1), origin=(0, 0, 0),
                           direction=[[1, 0.3, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_dicom_series(derived["recon"], derived["dir"], reference_dir=folder)


def test_make_test_series_default_phantom(tmp_path):
    make_test_series(tmp_path / "s", patient_id="P42", series_description="T1 MPRAGE (synthetic)")
    volume, meta = read_dicom_series(tmp_path / "s")
    assert volume.shape == (40, 36, 12) and volume.max() > 500 and volume.min() >= 0
    assert meta["tags"]["PatientID"] == "P42" and meta["tags"]["SeriesDescription"] == "T1 MPRAGE (synthetic)"
    np.testing.assert_allclose(meta["direction"], _rotation(ANGLES), atol=1e-9)
