"""Writing DICOM: a derived MR series from a volume with its geometry kept (:func:`write_dicom_series`), a
synthetic test series (:func:`make_test_series`), and NIfTI beside a DICOM series (:func:`save_nifti_like`).

One MR Image Storage file per slice with pydicom: a derived series (new SeriesInstanceUID and SOPInstanceUIDs;
patient, study and frame of reference copied from the input series; ``ImageType`` ``DERIVED\\SECONDARY``; a
``SeriesDescription`` naming the model), whose ImagePositionPatient / ImageOrientationPatient / PixelSpacing /
SpacingBetweenSlices reproduce the geometry exactly (to the 16 characters of a DICOM decimal string).
Quantisation and geometry conventions: see :mod:`monai_mcrecon.data.dicom`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds

from monai_mcrecon.data.dicom import (
    DEFAULT_SERIES_DESCRIPTION,
    SeriesGeometry,
    check_orthonormal_direction,
    read_dicom_series,
)
from monai_mcrecon.safe_io import PARTIAL_MARK, atomic_path

logger = logging.getLogger(__name__)

__all__ = ["make_test_series", "save_nifti_like", "write_dicom_series"]


# Tags copied from the input series into a derived series (when present there).
_PATIENT_TAGS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "PatientSize", "PatientWeight",
)


_STUDY_TAGS = (
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
    "StudyDescription",
)


_FRAME_TAGS = ("FrameOfReferenceUID", "PositionReferenceIndicator")


_SERIES_TAGS = ("BodyPartExamined", "PatientPosition", "InstitutionName")


_MR_TAGS = (
    "ScanningSequence", "SequenceVariant", "ScanOptions", "MRAcquisitionType", "SequenceName", "RepetitionTime",
    "EchoTime", "InversionTime", "EchoTrainLength", "FlipAngle", "MagneticFieldStrength", "ImagingFrequency",
    "ImagedNucleus", "ReceiveCoilName", "AcquisitionDate", "AcquisitionTime",
)


# Type 2 attributes (must be present, may be empty) of the MR image IOD.
_TYPE2_EMPTY = (
    "ScanOptions", "MRAcquisitionType", "EchoTime", "EchoTrainLength", "PatientName", "PatientID", "PatientBirthDate",
    "PatientSex", "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
    "PositionReferenceIndicator",
)


def _ds(value: float) -> str:
    """A DICOM decimal string (at most 16 characters) as precise as the format allows."""
    return format_number_as_ds(float(value)) if value != 0 else "0"


def _as_volume_and_geometry(volume: Any) -> tuple[np.ndarray, SeriesGeometry | None]:
    """numpy ``[X, Y, Z]`` (a 2-D array is one slice, a leading channel of 1 is dropped) and, for a
    SimpleITK image, its geometry."""
    if isinstance(volume, sitk.Image):
        if volume.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError("write_dicom_series writes scalar images; got a multi-component SimpleITK image.")
        if volume.GetDimension() == 2:
            volume = sitk.JoinSeries(volume)
        return sitk.GetArrayFromImage(volume).T, SeriesGeometry.from_sitk(volume)
    if hasattr(volume, "detach"):  # torch tensor / MetaTensor
        volume = volume.detach().cpu().numpy()
    arr = np.asarray(volume)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(
            f"Expected a volume [X, Y, Z] (or [1, X, Y, Z], or one slice [X, Y]); got shape {arr.shape}."
        )
    if np.iscomplexobj(arr):
        raise ValueError("DICOM MR images store real values; take the magnitude of the complex image first.")
    return arr, None


def _quantise(arr: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Stored integers, RescaleSlope, RescaleIntercept and the largest decoding error."""
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The volume holds {int((~np.isfinite(arr)).sum())} NaN / infinite values; fix them first.")
    lo, hi = float(arr.min()), float(arr.max())
    integral = np.issubdtype(arr.dtype, np.integer) or bool(np.all(arr == np.round(arr)))
    if integral and lo >= 0 and hi <= 65535:
        return arr.astype(np.uint16), 1.0, 0.0, 0.0
    if integral and lo >= -32768 and hi <= 32767:
        return arr.astype(np.int16), 1.0, 0.0, 0.0
    intercept = float(_ds(lo))
    slope = float(_ds((hi - lo) / 65535.0)) if hi > lo else 1.0
    while hi > lo and (hi - intercept) / slope > 65535.49:  # the 16-character slope was rounded down
        slope = float(_ds(slope * (1 + 1e-9)))
    stored = np.clip(np.round((arr.astype(np.float64) - intercept) / slope), 0, 65535).astype(np.uint16)
    return stored, slope, intercept, slope / 2.0




def _copy_tags(src: pydicom.Dataset, dst: pydicom.Dataset, keywords: Sequence[str]) -> None:
    for kw in keywords:
        if kw in src:
            dst[kw] = src[kw]


def _now() -> tuple[str, str]:
    now = datetime.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")


def _write_series(
    volume: np.ndarray,
    geometry: SeriesGeometry,
    out_dir: Path,
    *,
    template: pydicom.Dataset | None,
    source_refs: list[tuple[str, str]] | None,
    image_type: Sequence[str],
    description: str,
    series_number: int,
    derivation_description: str | None,
    tags: Mapping[str, Any],
    filename_prefix: str,
    overwrite: bool,
    slice_thickness: Any = None,
) -> dict[str, Any]:
    """Write the series (see :func:`write_dicom_series`); ``slice_thickness``: SliceThickness when it is
    not the slice spacing (the source's, for the same slices), else the spacing is written."""
    check_orthonormal_direction(geometry.direction)
    stored, slope, intercept, max_err = _quantise(volume)
    geometry = SeriesGeometry(geometry.spacing, geometry.origin, geometry.direction)  # a copy: may be flipped
    normal = np.cross(geometry.direction[:, 0], geometry.direction[:, 1])
    if float(normal @ geometry.direction[:, 2]) < 0:
        # DICOM readers stack slices along row x column; a left-handed grid is written slice-reversed
        # (the same voxels at the same positions, read back as a right-handed grid).
        logger.warning("Left-handed voxel grid: writing the slices in reverse order (same physical positions).")
        stored = stored[:, :, ::-1]
        geometry.origin = geometry.origin + geometry.direction[:, 2] * geometry.spacing[2] * (stored.shape[2] - 1)
        geometry.direction[:, 2] = -geometry.direction[:, 2]
        source_refs = source_refs[::-1] if source_refs else source_refs

    out_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(out_dir.glob("*.dcm"))
    if existing:
        if not overwrite:
            raise FileExistsError(
                f"{str(out_dir)!r} already holds {len(existing)} .dcm files; write each series to its own empty "
                "folder or pass overwrite=True to replace them."
            )
        for f in existing:
            f.unlink()
    for f in out_dir.glob(f".*{PARTIAL_MARK}*"):  # leftovers of an interrupted write
        f.unlink(missing_ok=True)

    series_uid = generate_uid()
    date, time = _now()
    nx, ny, nz = stored.shape
    sx, sy, sz = geometry.spacing
    row_dir, col_dir = geometry.direction[:, 0], geometry.direction[:, 1]
    files = []
    for k in range(nz):
        sop_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        path = out_dir / f"{filename_prefix}{k + 1:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SpecificCharacterSet = template.get("SpecificCharacterSet", "ISO_IR 192") if template else "ISO_IR 192"
        if template is not None:
            for group in (_PATIENT_TAGS, _STUDY_TAGS, _FRAME_TAGS, _SERIES_TAGS, _MR_TAGS):
                _copy_tags(template, ds, group)
        ds.ImageType = list(image_type)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.Modality = "MR"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.SeriesDate = ds.ContentDate = ds.InstanceCreationDate = date
        ds.SeriesTime = ds.ContentTime = ds.InstanceCreationTime = time
        ds.InstanceNumber = k + 1
        ds.SoftwareVersions = _software_version()
        if derivation_description:
            ds.DerivationDescription = derivation_description[:1024]
        if source_refs:
            ref = pydicom.Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = source_refs[k]
            ds.SourceImageSequence = DicomSequence([ref])
        for kw, default in (("ScanningSequence", "RM"), ("SequenceVariant", "NONE"), ("PatientPosition", "HFS")):
            if kw not in ds:
                setattr(ds, kw, default)
        for kw in _TYPE2_EMPTY:
            if kw not in ds:
                setattr(ds, kw, "")
        if "StudyInstanceUID" not in ds:
            ds.StudyInstanceUID = generate_uid()
        if "FrameOfReferenceUID" not in ds:
            ds.FrameOfReferenceUID = generate_uid()
        for kw, value in tags.items():
            setattr(ds, kw, value)

        position = geometry.origin + geometry.direction[:, 2] * sz * k
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [_ds(sy), _ds(sx)]  # (row spacing, column spacing)
        if "SliceThickness" in tags:
            ds.SliceThickness = tags["SliceThickness"]
        elif slice_thickness is not None and str(slice_thickness).strip():
            ds.SliceThickness = slice_thickness
        else:
            ds.SliceThickness = _ds(sz)
        ds.SpacingBetweenSlices = _ds(sz)
        ds.SliceLocation = _ds(float(position @ normal))
        ds.Rows, ds.Columns = ny, nx
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if stored.dtype == np.int16 else 0
        ds.RescaleIntercept = _ds(intercept)
        ds.RescaleSlope = _ds(slope)
        ds.RescaleType = "US"
        lo, hi = float(volume.min()), float(volume.max())
        ds.WindowCenter = _ds((lo + hi) / 2)
        ds.WindowWidth = _ds(max(hi - lo, 1e-6))
        # rows (Y) x columns (X), little endian as the transfer syntax says
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T, dtype=stored.dtype.newbyteorder("<")).tobytes()
        with atomic_path(path, suffix=".tmp") as tmp:  # never a half-written .dcm under the final name
            try:
                ds.save_as(tmp, enforce_file_format=True)  # pydicom >= 3
            except TypeError:
                ds.save_as(tmp, write_like_original=False)  # pydicom 2.x
        files.append(str(path))
    logger.info(
        "wrote DICOM series %s (%d slices, %r) to %s; quantisation error <= %.3g",
        series_uid, nz, description, out_dir, max_err,
    )
    return {
        "series_uid": series_uid,
        "files": files,
        "rescale_slope": slope,
        "rescale_intercept": intercept,
        "max_abs_error": max_err,
        "affine": SeriesGeometry(geometry.spacing, geometry.origin, geometry.direction).affine,
    }


def _software_version() -> str:
    from monai_mcrecon import __version__

    return f"monai-mcrecon {__version__}"


def write_dicom_series(
    volume: Any,
    out_dir: str | Path,
    *,
    reference_dir: str | Path | None = None,
    reference_series_uid: str | None = None,
    spacing: Sequence[float] | None = None,
    origin: Sequence[float] | None = None,
    direction: Sequence[float] | np.ndarray | None = None,
    affine: Any = None,
    description: str = DEFAULT_SERIES_DESCRIPTION,
    series_number: int | None = None,
    derivation_description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    filename_prefix: str = "IM",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a volume as a derived MR DICOM series (one file per slice).

    The geometry is, in this order of precedence: ``affine`` (RAS, MONAI convention) or
    ``spacing`` / ``origin`` / ``direction`` (LPS, as SimpleITK); the geometry of ``volume`` when it is
    a SimpleITK image; the geometry of the reference series (``volume`` must then have its shape).
    Patient, study, frame of reference and the MR acquisition tags are copied from the reference
    series; the new series gets new Series/SOP Instance UIDs, ``ImageType`` ``DERIVED\\SECONDARY``,
    ``description`` as SeriesDescription and a DerivationDescription naming the source series. See
    the module docstring for the quantisation and its error bound.

    Args:
        volume: numpy ``[X, Y, Z]`` (or ``[1, X, Y, Z]``, or one slice ``[X, Y]``), a torch tensor of
            that shape, or a SimpleITK image.
        out_dir: folder for the series (created; must not hold ``.dcm`` files unless ``overwrite``).
        reference_dir: the input series the result is derived from (a folder, or one of its files).
        reference_series_uid: which series of ``reference_dir`` (when it holds several).
        spacing: voxel size ``(sx, sy, sz)`` mm, with ``origin`` and ``direction`` when not taken from
            elsewhere (``direction`` defaults to the identity).
        origin: LPS position of voxel ``(0, 0, 0)``.
        direction: 3x3 (or 9 numbers, row-major as SimpleITK) with the voxel axis directions as columns.
        affine: 4x4 voxel -> RAS affine (e.g. ``MetaTensor.affine``), instead of spacing / origin / direction.
        description: SeriesDescription, naming the model (e.g. ``"CLGNet x4 recon (monai-mcrecon)"``).
        series_number: SeriesNumber (default: the reference's + 1000, else 1000).
        derivation_description: DerivationDescription (default: names the model and the source series).
        tags: extra tags set last, keyword -> value (e.g. ``{"PatientName": "Anon"}``).
        filename_prefix: file names are ``{prefix}{instance:04d}.dcm``.
        overwrite: replace the ``.dcm`` files already in ``out_dir``.

    Returns:
        ``series_uid``, ``files``, ``rescale_slope``, ``rescale_intercept``, ``max_abs_error`` (the
        quantisation bound) and ``affine`` (RAS) of the written series.

    Raises:
        ValueError: no geometry is available, the volume's shape differs from the reference series, the
            volume holds NaN / infinite values, or the voxel axes are not orthogonal.
        FileExistsError: ``out_dir`` already holds ``.dcm`` files and ``overwrite`` is false.
    """
    arr, geometry = _as_volume_and_geometry(volume)
    if affine is not None and any(v is not None for v in (spacing, origin, direction)):
        raise ValueError("Pass either affine= or spacing= / origin= / direction=, not both.")
    if affine is not None:
        geometry = SeriesGeometry.from_affine(np.asarray(affine, dtype=np.float64)[:4, :4])
    elif spacing is not None or origin is not None or direction is not None:
        if spacing is None or origin is None:
            raise ValueError("Give both spacing= and origin= (and optionally direction=) to set the geometry.")
        geometry = SeriesGeometry(spacing, origin, np.eye(3) if direction is None else direction)

    template, source_refs, ref_desc, slice_thickness = None, None, None, None
    if reference_dir is not None:
        ref_volume, ref_meta = read_dicom_series(reference_dir, series_uid=reference_series_uid)
        ref_volume_shape = ref_volume.shape
        template = pydicom.dcmread(ref_meta["files"][0], stop_before_pixels=True)
        ref_geometry = SeriesGeometry.from_meta(ref_meta)
        if geometry is None:
            if tuple(arr.shape) != tuple(ref_volume_shape):
                raise ValueError(
                    f"The volume has shape {tuple(arr.shape)} but the reference series {ref_meta['series_uid']} has "
                    f"{tuple(ref_volume_shape)} ([X, Y, Z]); pass the volume's own geometry (affine= or spacing= / "
                    "origin= / direction=) or resample it onto the reference grid."
                )
            geometry = ref_geometry
        if tuple(arr.shape) == tuple(ref_volume_shape) and np.allclose(geometry.affine, ref_geometry.affine, atol=1e-4):
            source_refs = []
            for f in ref_meta["files"]:
                h = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
                source_refs.append((str(h.SOPClassUID), str(h.SOPInstanceUID)))
            if len(source_refs) == 1 and arr.shape[2] > 1:  # a MOSAIC image: every slice comes from that one image
                source_refs *= arr.shape[2]
        if "SliceThickness" in template and np.isclose(ref_geometry.spacing[2], geometry.spacing[2], rtol=1e-4):
            # the same slices as the source: its thickness (which may differ from the spacing, e.g. a gap) holds
            slice_thickness = template.SliceThickness
        ref_desc = f"series {ref_meta['series_uid']} ({str(template.get('SeriesDescription', '')) or 'no description'})"
    if geometry is None:
        raise ValueError(
            "No geometry for the DICOM series: pass reference_dir= (the input series), affine=, or spacing= and "
            "origin= (and direction=), or give a SimpleITK image."
        )
    if series_number is None:
        series_number = int(template.get("SeriesNumber", 0) or 0) + 1000 if template is not None else 1000
    if derivation_description is None:
        derivation_description = f"{description}" + (f", derived from {ref_desc}" if ref_desc else "")
    return _write_series(
        arr,
        geometry,
        Path(out_dir),
        template=template,
        source_refs=source_refs,
        image_type=("DERIVED", "SECONDARY"),
        description=description,
        series_number=series_number,
        derivation_description=derivation_description,
        tags=dict(tags or {}),
        filename_prefix=filename_prefix,
        overwrite=overwrite,
        slice_thickness=slice_thickness,
    )


def make_test_series(
    out_dir: str | Path,
    volume: np.ndarray | None = None,
    *,
    shape: Sequence[int] = (40, 36, 12),
    spacing: Sequence[float] = (0.9, 1.1, 3.0),
    origin: Sequence[float] = (-18.5, -22.25, 31.0),
    angles_deg: Sequence[float] = (12.0, -7.0, 20.0),
    patient_name: str = "Phantom^Synthetic",
    patient_id: str = "MCRECON-0001",
    series_description: str = "T2 TSE (synthetic)",
    series_number: int = 3,
    seed: int = 0,
) -> Path:
    """Write a synthetic *acquired* MR series (``ORIGINAL\\PRIMARY``) for tests and tutorials.

    The default volume is a smooth integer-valued phantom (stored exactly); the grid is oblique:
    its direction matrix is the rotation ``Rz(az) @ Ry(ay) @ Rx(ax)`` of ``angles_deg = (ax, ay, az)``.

    Args:
        out_dir: folder for the series (created).
        volume: ``[X, Y, Z]`` image (default: a phantom of ``shape``).
        shape: ``[X, Y, Z]`` of the default phantom.
        spacing: voxel size (mm).
        origin: LPS position of voxel ``(0, 0, 0)``.
        angles_deg: rotations about the LPS x, y, z axes (degrees) giving the slice orientation.
        patient_name: PatientName.
        patient_id: PatientID.
        series_description: SeriesDescription.
        series_number: SeriesNumber.
        seed: seed of the phantom's noise.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    if volume is None:
        rng = np.random.default_rng(seed)
        grid = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
        r2 = (grid[0] / 0.8) ** 2 + (grid[1] / 0.65) ** 2 + (grid[2] / 0.9) ** 2
        blob = ((grid[0] - 0.25) / 0.2) ** 2 + ((grid[1] + 0.1) / 0.3) ** 2 + (grid[2] / 0.5) ** 2
        img = 400.0 * (1 - np.tanh((r2 - 1) / 0.1)) + 300.0 * (1 - np.tanh((blob - 1) / 0.1))
        volume = np.round(img + rng.normal(0, 5, size=img.shape)).clip(0, None)
    ax, ay, az = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    date, time = _now()
    tags = {
        "PatientName": patient_name,
        "PatientID": patient_id,
        "PatientBirthDate": "19700101",
        "PatientSex": "O",
        "StudyDate": date,
        "StudyTime": time,
        "StudyID": "1",
        "StudyDescription": "monai-mcrecon synthetic study",
        "AccessionNumber": "MCR0001",
        "Manufacturer": "monai-mcrecon",
        "ScanningSequence": "SE",
        "SequenceVariant": "SK",
        "MRAcquisitionType": "2D",
        "RepetitionTime": "4000",
        "EchoTime": "90",
        "MagneticFieldStrength": "3",
    }
    _write_series(
        np.asarray(volume),
        SeriesGeometry(spacing, origin, rz @ ry @ rx),
        Path(out_dir),
        template=None,
        source_refs=None,
        image_type=("ORIGINAL", "PRIMARY"),
        description=series_description,
        series_number=series_number,
        derivation_description=None,
        tags=tags,
        filename_prefix="IM",
        overwrite=False,
    )
    return Path(out_dir)


def save_nifti_like(volume: Any, geometry: Any, path: str | Path) -> Path:
    """Write a volume as NIfTI whose affine equals the geometry's (MONAI / RAS convention).

    Both the qform and the sform hold the affine (code 1, scanner coordinates), so nibabel,
    MONAI's ``LoadImage`` and SimpleITK agree on it (to the float32 precision of the NIfTI header,
    about 1e-5 mm).

    Args:
        volume: ``[X, Y, Z]`` (or ``[1, X, Y, Z]``) numpy array or torch tensor; written as float32.
        geometry: a :class:`SeriesGeometry`, the ``meta`` of :func:`read_dicom_series` (or any dict with
            an RAS ``"affine"``), a 4x4 RAS affine, or a SimpleITK image.
        path: output file (``.nii`` or ``.nii.gz``; folders are created).

    Returns:
        The written path.

    Raises:
        ValueError: the volume is not 3-D.
    """
    import nibabel as nib

    arr, _ = _as_volume_and_geometry(volume)
    if isinstance(geometry, SeriesGeometry):
        affine = geometry.affine
    elif isinstance(geometry, sitk.Image):
        affine = SeriesGeometry.from_sitk(geometry).affine
    elif isinstance(geometry, Mapping):
        affine = SeriesGeometry.from_meta(geometry).affine
    else:
        affine = np.asarray(geometry, dtype=np.float64)[:4, :4]
    img = nib.Nifti1Image(arr.astype(np.float32), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path
