"""DICOM series in and out, with the geometry kept (and NIfTI beside it).

Reading uses SimpleITK's ``ImageSeriesReader`` (GDCM sorts the slices along the slice normal);
the series is returned as a numpy volume ``[X, Y, Z]`` (X along the DICOM rows, i.e. the column
index; Y the row index; Z the slice index), the layout of MONAI's readers, with its geometry. A
Siemens MOSAIC image (one file whose tiles are the slices) is unpacked with nibabel's
``MosaicWrapper`` and its geometry checked against the scanner protocol, or refused with the reason;
a damaged file is named in the error.

Geometry conventions (one :class:`SeriesGeometry` carries them):

* ``spacing`` ``(sx, sy, sz)`` mm, ``origin`` the centre of voxel ``(0, 0, 0)`` and ``direction``
  (3x3, columns are the unit directions of the X, Y, Z voxel axes), both in the DICOM / ITK patient
  frame **LPS**, as SimpleITK reports them.
* ``affine``: the MONAI convention, voxel index -> **RAS** mm (``diag(-1, -1, 1, 1) @ affine_lps``), what
  ``monai.transforms.LoadImage`` gives for the DICOM folder (``PydicomReader``) and for the NIfTI
  written by :func:`~monai_mcrecon.data.dicom_write.save_nifti_like` (``NibabelReader``).

Writing (:func:`~monai_mcrecon.data.dicom_write.write_dicom_series`, in :mod:`monai_mcrecon.data.dicom_write`) makes one MR Image Storage file per slice with pydicom: a
derived series (new SeriesInstanceUID and SOPInstanceUIDs; patient, study and frame of reference
copied from the input series; ``ImageType`` ``DERIVED\\SECONDARY``; a ``SeriesDescription`` naming
the model), whose ImagePositionPatient / ImageOrientationPatient / PixelSpacing /
SpacingBetweenSlices reproduce the geometry exactly (to the 16 characters of a DICOM decimal string);
SliceThickness is the source series' own when the slices are the same (it may differ from the spacing),
else the slice spacing.

Quantisation: integer-valued volumes that fit ``uint16`` / ``int16`` are stored exactly
(``RescaleSlope`` 1, ``RescaleIntercept`` 0). Any other volume is stored as ``uint16`` with
``RescaleIntercept = min`` and ``RescaleSlope = (max - min) / 65535``; every decoded value then
differs from the input by at most ``RescaleSlope / 2 = (max - min) / 131070`` (7.6e-6 of the
dynamic range), the bound reported as ``max_abs_error`` by the writer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk


__all__ = [
    "DEFAULT_SERIES_DESCRIPTION",
    "LPS_TO_RAS",
    "SeriesGeometry",
    "check_orthonormal_direction",
    "list_dicom_series",
    "read_dicom_series",
]

logger = logging.getLogger(__name__)

#: Default ``SeriesDescription`` of a derived series; pass ``description=`` to name the model.
DEFAULT_SERIES_DESCRIPTION = "MC-CDic recon (monai-mcrecon)"

#: ``diag(-1, -1, 1, 1)``: maps LPS (DICOM / ITK) to RAS (NIfTI / MONAI) coordinates and back.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

_TOL_ORTHO = 1e-4  # tolerance for an orthonormal direction matrix

# Tags returned by read_dicom_series (from the first slice).
_KEY_TAGS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime",
    "StudyDescription", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Modality",
    "FrameOfReferenceUID", "ImageType", "DerivationDescription", "Manufacturer", "MagneticFieldStrength",
    "RepetitionTime", "EchoTime", "SliceThickness", "SpacingBetweenSlices", "RescaleSlope", "RescaleIntercept",
)


@dataclass
class SeriesGeometry:
    """Voxel grid of a volume ``[X, Y, Z]`` in the patient frame.

    Attributes:
        spacing: voxel size ``(sx, sy, sz)`` in mm.
        origin: centre of voxel ``(0, 0, 0)``, LPS mm.
        direction: 3x3 matrix whose columns are the unit directions of the X, Y, Z voxel axes (LPS).
    """

    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray

    def __post_init__(self) -> None:
        self.spacing = np.array(self.spacing, dtype=np.float64).reshape(3)
        self.origin = np.array(self.origin, dtype=np.float64).reshape(3)
        self.direction = np.array(self.direction, dtype=np.float64).reshape(3, 3)
        if np.any(self.spacing <= 0):
            raise ValueError(f"Voxel spacing must be positive, got {self.spacing.tolist()} mm.")

    @property
    def affine_lps(self) -> np.ndarray:
        """4x4 voxel index -> LPS mm (the DICOM / ITK frame)."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction * self.spacing[None, :]
        affine[:3, 3] = self.origin
        return affine

    @property
    def affine(self) -> np.ndarray:
        """4x4 voxel index -> RAS mm: the affine MONAI's ``LoadImage`` and nibabel report."""
        return LPS_TO_RAS @ self.affine_lps

    @classmethod
    def from_affine(cls, affine: Any, lps: bool = False) -> SeriesGeometry:
        """Geometry of a 4x4 affine (MONAI / NIfTI RAS convention unless ``lps=True``)."""
        a = np.asarray(affine, dtype=np.float64)
        if a.shape != (4, 4):
            raise ValueError(f"Expected a 4x4 affine, got shape {a.shape}.")
        if not lps:
            a = LPS_TO_RAS @ a
        spacing = np.linalg.norm(a[:3, :3], axis=0)
        if np.any(spacing == 0):
            raise ValueError(f"The affine has a zero-length voxel axis:\n{a}")
        return cls(spacing, a[:3, 3], a[:3, :3] / spacing[None, :])

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> SeriesGeometry:
        """Geometry of a 3-D SimpleITK image."""
        if image.GetDimension() != 3:
            raise ValueError(f"Expected a 3-D SimpleITK image, got {image.GetDimension()}-D.")
        return cls(image.GetSpacing(), image.GetOrigin(), np.reshape(image.GetDirection(), (3, 3)))

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> SeriesGeometry:
        """Geometry from a metadata dict with ``"affine"`` (RAS, e.g. :func:`read_dicom_series` or MONAI)."""
        if "affine" not in meta:
            raise KeyError("The metadata has no 'affine'; read the series with read_dicom_series or MONAI LoadImage.")
        affine = np.asarray(meta["affine"], dtype=np.float64)
        return cls.from_affine(affine, lps=str(meta.get("space", "RAS")).upper() == "LPS")

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        """Set this geometry on a SimpleITK image (in place) and return it."""
        image.SetSpacing(self.spacing.tolist())
        image.SetOrigin(self.origin.tolist())
        image.SetDirection(self.direction.flatten().tolist())
        return image


# --- reading --------------------------------------------------------------------------------------


def check_orthonormal_direction(direction: np.ndarray) -> None:
    if not np.allclose(direction.T @ direction, np.eye(3), atol=_TOL_ORTHO):
        raise ValueError(
            f"DICOM needs orthogonal voxel axes; the direction matrix is not orthonormal:\n{direction}\n"
            "Resample the volume onto an orthogonal grid first."
        )


def _series_ids(folder: Path) -> list[str]:
    return list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def list_dicom_series(folder: str | Path) -> list[dict[str, Any]]:
    """The DICOM series in a folder (not recursive).

    Args:
        folder: folder holding DICOM files.

    Returns:
        One dict per series: ``series_uid``, ``series_number``, ``description``, ``modality``,
        ``num_files``.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"DICOM folder {str(folder)!r} does not exist (or is not a folder).")
    out = []
    for uid in _series_ids(folder):
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        out.append(
            {
                "series_uid": uid,
                "series_number": ds.get("SeriesNumber", None),
                "description": str(ds.get("SeriesDescription", "")),
                "modality": str(ds.get("Modality", "")),
                "num_files": len(files),
            }
        )
    return out


def _tag_value(ds: pydicom.Dataset, keyword: str) -> Any:
    value = ds.get(keyword, None)
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        return [str(v) if isinstance(v, str) else float(v) for v in value]
    if isinstance(value, (pydicom.valuerep.DSfloat, float)):
        return float(value)
    if isinstance(value, (pydicom.valuerep.IS, int)):
        return int(value)
    return str(value)


def _dicom_file_problem(f: str | Path, images_only: bool = False) -> tuple[bool, str | None]:
    """What is wrong with a DICOM file, in a message naming it (``None``: nothing), and whether
    pydicom could parse it at all. Checked: readable by pydicom, and pixel data as long as its rows x
    columns x bits say (shorter: a truncated copy). ``images_only``: a readable file without image
    attributes (no ``Rows``, e.g. a DICOMDIR or a structured report) is not a problem."""
    try:
        ds = pydicom.dcmread(f)
    except Exception as e:  # noqa: BLE001 - any reader failure means a damaged file
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'}"
        return False, (
            f"DICOM file {str(f)!r} is empty, truncated or corrupt ({reason}); restore it (an interrupted copy?)."
        )
    if images_only and "Rows" not in ds:
        return True, None
    try:
        expected = (
            int(ds.Rows) * int(ds.Columns) * int(getattr(ds, "SamplesPerPixel", 1))
            * int(getattr(ds, "NumberOfFrames", 1) or 1) * int(ds.BitsAllocated) // 8
        )
        actual = len(ds.PixelData) if "PixelData" in ds else 0
        compressed = ds.file_meta.TransferSyntaxUID.is_compressed if "TransferSyntaxUID" in ds.file_meta else False
    except Exception as e:  # noqa: BLE001 - missing or malformed image attributes
        return True, f"DICOM file {str(f)!r} is damaged ({type(e).__name__}: {e}); restore it."
    if not compressed and actual < expected:
        return True, (
            f"DICOM file {str(f)!r} is truncated: {actual} bytes of pixel data where {ds.Rows}x{ds.Columns} pixels of "
            f"{ds.BitsAllocated} bits need {expected}. Restore the file (an interrupted copy?)."
        )
    return True, None


def _looks_like_dicom(p: Path) -> bool:
    """A ``.dcm`` / ``.ima`` file, or any file with the ``DICM`` mark after its 128-byte preamble."""
    if p.suffix.lower() in (".dcm", ".ima"):
        return True
    try:
        with open(p, "rb") as fh:
            return fh.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _check_series_files(folder: Path, ids: Sequence[str], files: Sequence[str]) -> None:
    """Refuse a series that would silently miss slices or hold damaged ones: a ``.dcm`` file of the
    folder that no series claims (empty, truncated header, not DICOM), or a file of the series whose
    pixel data is shorter than its rows x columns x bits say (a truncated copy)."""
    claimed = set()
    for uid in ids:
        claimed |= {str(Path(f).resolve()) for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)}
    stray = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in (".dcm", ".ima") and str(p.resolve()) not in claimed
    )
    if stray:
        names = [p.name for p in stray]
        first = _dicom_file_problem(stray[0])[1]
        raise ValueError(
            f"{str(folder)!r}: {names[:5]}{' ...' if len(names) > 5 else ''} are not readable DICOM images (empty, "
            f"truncated or corrupt files{': ' + first if first else ''}); the series would be read without them. "
            "Restore or remove them."
        )
    for f in files:
        problem = _dicom_file_problem(f)[1]
        if problem is not None:
            raise ValueError(problem)


def _no_series_error(folder: Path) -> Exception:
    """Why GDCM found no series in ``folder``: a DICOM file that pydicom reads but that is truncated
    or damaged (a :class:`ValueError` naming it), else :class:`FileNotFoundError` naming the files
    that are not readable DICOM at all, if any."""
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and _looks_like_dicom(p))
    unreadable = []
    for p in candidates:
        parsed, problem = _dicom_file_problem(p, images_only=True)
        if problem is not None and parsed:
            return ValueError(problem)
        if problem is not None:
            unreadable.append(p.name)
    detail = (
        f": {unreadable[:5]}{' ...' if len(unreadable) > 5 else ''} are not readable DICOM files (empty, truncated or "
        "corrupt); restore them, or"
        if unreadable
        else ";"
    )
    return FileNotFoundError(
        f"No DICOM series found in {str(folder)!r} (the folder is searched without sub-folders){detail} "
        "point to the folder that holds the .dcm files of one series."
    )


# --- Siemens MOSAIC -------------------------------------------------------------------------------


def _is_mosaic(ds: pydicom.Dataset) -> bool:
    """A Siemens MOSAIC image: ``ImageType`` says MOSAIC, or the private NumberOfImagesInMosaic
    (0019,100A) of the ``SIEMENS MR HEADER`` block is set."""
    image_type = ds.get("ImageType", None) or []
    if isinstance(image_type, str):
        image_type = image_type.split("\\")
    if any(str(v).strip().upper() == "MOSAIC" for v in image_type):
        return True
    try:
        n = ds.get_private_item(0x0019, 0x0A, "SIEMENS MR HEADER").value
        return int(n) > 1
    except (KeyError, TypeError, ValueError):
        return False


def _phoenix_slices(ds: pydicom.Dataset) -> list[np.ndarray] | None:
    """Centres (LPS mm) of the prescribed slices from the Siemens protocol (``MrPhoenixProtocol``
    of the series CSA header, ``sSliceArray.asSlice[k].sPosition``), or ``None`` when absent."""
    from nibabel.nicom import ascconv, csareader

    try:
        series = csareader.get_csa_header(ds, "series")
        text = series["tags"]["MrPhoenixProtocol"]["items"][0]
        begin, end = text.index("### ASCCONV BEGIN"), text.index("### ASCCONV END ###")
        protocol, _ = ascconv.parse_ascconv(text[begin: end + len("### ASCCONV END ###")], '""')
        slices = protocol["sSliceArray"]["asSlice"]
        return [
            np.array([float(s.get("sPosition", {}).get(k, 0.0)) for k in ("dSag", "dCor", "dTra")]) for s in slices
        ]
    except Exception:  # noqa: BLE001 - no CSA series header, no protocol, another layout
        return None


def _read_mosaic(
    folder: Path, series_uid: str, files: Sequence[str], given_file: Path | None, dtype: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """Unpack a Siemens MOSAIC image (one file holding every slice of a volume as tiles) with
    nibabel's :class:`~nibabel.nicom.dicomwrappers.MosaicWrapper` (slice count from the CSA header,
    the position of the first slice corrected for the tiling), checked against the slice positions of
    the scanner protocol when the file carries it. See :func:`read_dicom_series`."""
    import warnings

    if given_file is not None:
        chosen = [f for f in files if Path(f).resolve() == given_file.resolve()] or [str(given_file)]
    elif len(files) > 1:
        raise ValueError(
            f"{str(folder)!r}: series {series_uid} is a Siemens MOSAIC series of {len(files)} images, each a whole 3-D "
            "volume (a 4-D acquisition: time points or diffusion directions); read one volume by giving one of its "
            f"files (e.g. {str(files[0])!r}) instead of the folder."
        )
    else:
        chosen = list(files)
    f = chosen[0]
    ds = pydicom.dcmread(f)
    with warnings.catch_warnings():  # nibabel.nicom warns that its readers are experimental
        warnings.simplefilter("ignore")
        from nibabel.nicom import dicomwrappers

        try:
            wrapper = dicomwrappers.wrapper_from_data(ds)
        except Exception as e:  # noqa: BLE001 - a damaged CSA header
            wrapper, error = None, e
        else:
            error = None
    fix = "convert the series to single-slice images (e.g. with dcm2niix) and read those"
    if wrapper is None or not getattr(wrapper, "is_mosaic", False):
        why = f" ({type(error).__name__}: {error})" if error is not None else ""
        raise ValueError(
            f"DICOM file {str(f)!r} is a Siemens MOSAIC image (its slices are tiles of one picture), but its "
            f"Siemens CSA header gives no NumberOfImagesInMosaic{why}, so the tiles cannot be unpacked with a known "
            f"geometry; {fix}."
        )
    rows, cols, n, grid = int(ds.Rows), int(ds.Columns), int(wrapper.n_mosaic), int(wrapper.mosaic_size)
    if rows % grid or cols % grid:
        raise ValueError(
            f"DICOM file {str(f)!r} is a Siemens MOSAIC of {n} slices, but its {rows}x{cols} pixels do not divide "
            f"into a {grid}x{grid} grid of equal tiles: it cannot be unpacked (a damaged or re-encoded file?); {fix}."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = np.asarray(wrapper.get_data(), dtype=np.float64)  # [rows, columns, slices], rescaled
            affine_rc = np.asarray(wrapper.affine, dtype=np.float64)  # (row, column, slice) index -> LPS mm
    except Exception as e:  # noqa: BLE001 - missing orientation / position / spacing, or non-orthogonal axes
        raise ValueError(
            f"DICOM file {str(f)!r}: cannot unpack the Siemens MOSAIC with its geometry ({type(e).__name__}: {e}); "
            f"{fix}."
        ) from e
    # this module's layout: X along the DICOM rows (the column index), Y the row index
    volume = np.ascontiguousarray(data.transpose(1, 0, 2).astype(dtype, copy=False))
    geometry = SeriesGeometry.from_affine(affine_rc[:, [1, 0, 2, 3]], lps=True)
    check_orthonormal_direction(geometry.direction)
    check = "no scanner protocol in the file: the position of the first slice follows the mosaic rule"
    prescribed = _phoenix_slices(ds)
    if prescribed is not None and len(prescribed) == n:
        # Siemens slice positions are the centres of the field of view: voxel (N/2, M/2) of each slice (the
        # FFT centre; (N-1)/2 is accepted too), the first and last slice in either order
        affine = geometry.affine_lps
        nx, ny = cols // grid, rows // grid
        errors = []
        for cx, cy in ((nx // 2, ny // 2), ((nx - 1) / 2, (ny - 1) / 2)):
            centres = [(affine @ np.array([cx, cy, k, 1.0]))[:3] for k in (0, n - 1)]
            for a, b in ((prescribed[0], prescribed[-1]), (prescribed[-1], prescribed[0])):
                errors.append(max(np.linalg.norm(centres[0] - a), np.linalg.norm(centres[1] - b)))
        error_mm = float(min(errors))
        tolerance = 0.1 * float(geometry.spacing.min())
        if error_mm > tolerance:
            raise ValueError(
                f"DICOM file {str(f)!r}: the slices unpacked from the Siemens MOSAIC lie {error_mm:.2f} mm from the "
                f"positions the scanner protocol gives (tolerance {tolerance:.2f} mm), so the geometry would be "
                f"wrong; {fix}."
            )
        check = f"first and last slice centres match the scanner protocol within {error_mm:.3f} mm"
    first = pydicom.dcmread(f, stop_before_pixels=True)
    meta = _volume_meta(folder if given_file is None else given_file, series_uid, [str(f)], geometry, volume, first)
    meta["mosaic"] = {"slices": n, "grid": [grid, grid], "tile": [rows // grid, cols // grid], "geometry_check": check}
    return volume, meta


def read_dicom_series(
    folder: str | Path, series_uid: str | None = None, dtype: Any = np.float32
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one DICOM series with SimpleITK, keeping its geometry.

    Args:
        folder: folder holding the series, or one file of it (its series is read from its folder).
        series_uid: SeriesInstanceUID to read when the folder holds several series.
        dtype: numpy dtype of the returned volume (rescale slope / intercept applied).

    Returns:
        ``(volume, meta)``: ``volume`` ``[X, Y, Z]``; ``meta`` with ``spacing``, ``origin``,
        ``direction`` (LPS, see :class:`SeriesGeometry`), ``affine`` and ``original_affine`` (RAS,
        MONAI convention), ``affine_lps``, ``space`` (``"RAS"``, the frame of ``affine``),
        ``spatial_shape``, ``filename_or_obj`` (the folder), ``series_uid``, ``files`` (sorted along the
        slice normal) and ``tags`` (key tags of the first slice: patient, study, series, contrast).
        A Siemens MOSAIC image (``ImageType`` MOSAIC: one file whose tiles are the slices of a volume)
        is unpacked into its slices with nibabel's ``MosaicWrapper`` (slice count from the CSA header,
        corrected position of the first slice), its geometry checked against the slice positions of the
        scanner protocol when the file carries it; ``meta["mosaic"]`` says so. A series of several
        MOSAIC files (a 4-D acquisition) is read one volume at a time: pass one of its files. One slice
        without SpacingBetweenSlices gets its SliceThickness as the spacing across it.

    Raises:
        FileNotFoundError: the folder does not exist or holds no DICOM series.
        ValueError: the folder holds several series and ``series_uid`` is not given, or
            ``series_uid`` is not among them; a ``.dcm`` file that is empty, truncated or corrupt
            (named); a MOSAIC image that cannot be unpacked with a known geometry, or a folder of
            several MOSAIC volumes.
    """
    path = Path(folder)
    given_file = None
    if path.is_file():
        try:
            series_uid = series_uid or str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)
        except Exception as e:  # not DICOM, or no SeriesInstanceUID
            raise FileNotFoundError(f"{str(path)!r} is not a readable DICOM file ({e}).") from e
        given_file, path = path, path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"DICOM folder {str(path)!r} does not exist (or is not a folder).")
    ids = _series_ids(path)
    if not ids:
        raise _no_series_error(path)  # a damaged file is named
    if series_uid is None:
        if len(ids) > 1:
            listing = "; ".join(
                f"{s['series_uid']} (#{s['series_number']} {s['description']!r}, {s['num_files']} files)"
                for s in list_dicom_series(path)
            )
            raise ValueError(
                f"{str(path)!r} holds {len(ids)} DICOM series: {listing}. Pick one with series_uid=..."
            )
        series_uid = ids[0]
    elif series_uid not in ids:
        raise ValueError(f"Series {series_uid!r} is not in {str(path)!r}; the folder holds {ids}.")

    files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), series_uid))
    _check_series_files(path, ids, files)
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    if _is_mosaic(first):  # one file holds every slice as tiles: unpacked, or refused with the reason
        return _read_mosaic(path, series_uid, files, given_file, dtype)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.SetOutputPixelType(sitk.sitkFloat64)
    image = reader.Execute()
    volume = np.ascontiguousarray(sitk.GetArrayFromImage(image).T.astype(dtype, copy=False))
    geometry = SeriesGeometry.from_sitk(image)
    if volume.shape[2] == 1 and _tag_value(first, "SpacingBetweenSlices") is None:
        # one slice: ITK reports 1 mm across it; the slice's own thickness is the true extent
        thickness = _tag_value(first, "SliceThickness")
        if isinstance(thickness, (int, float)) and thickness > 0:
            geometry.spacing[2] = thickness
    return volume, _volume_meta(path, series_uid, files, geometry, volume, first)


# --- writing --------------------------------------------------------------------------------------


def _volume_meta(
    source: Any, series_uid: str | None, files: list, geometry: SeriesGeometry, volume: np.ndarray, first: Any
) -> dict[str, Any]:
    """The MONAI-style meta of a volume read from a DICOM series (or one MOSAIC file)."""
    return {
        "filename_or_obj": str(source),
        "series_uid": series_uid,
        "files": files,
        "spacing": geometry.spacing,
        "origin": geometry.origin,
        "direction": geometry.direction,
        "affine": geometry.affine,
        "original_affine": geometry.affine,
        "affine_lps": geometry.affine_lps,
        "space": "RAS",
        "spatial_shape": np.asarray(volume.shape),
        "tags": {k: v for k in _KEY_TAGS if (v := _tag_value(first, k)) is not None},
    }




# --- NIfTI ----------------------------------------------------------------------------------------


