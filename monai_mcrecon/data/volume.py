"""One home for volumes: read a NIfTI file, a DICOM series folder or a fastMRI h5 file as a float32 volume
``[X, Y, Z]`` (slices along Z) with its voxel -> RAS affine (:func:`load_volume`), check it, write it as
NIfTI with its geometry (:func:`save_nifti`), and the grid relations of k-space truncation (LR <-> HR affines).

fastMRI files are read one slice at a time (:class:`~monai_mcrecon.data.FastMRIVolume`) and give the
zero-filled image of every slice (multi-coil: RSS or a sensitivity-weighted combination). The 2-D slices
``[X, Y]`` map to k-space ``[H, W]`` with the phase encoding (column masks) along ``Y``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from monai_mcrecon.data.datalist import NIFTI_SUFFIXES
from monai_mcrecon.data.fastmri_h5 import H5_SUFFIXES
from monai_mcrecon.safe_io import atomic_path

__all__ = [
    "H5_SUFFIXES",
    "Log",
    "NIFTI_SUFFIXES",
    "Volume",
    "check_volume",
    "has_geometry",
    "hr_affine",
    "load_volume",
    "lr_affine",
    "save_nifti",
    "slices_volume",
    "volume_kind",
    "volume_slices",
]






Log = Callable[[str], None]


@dataclass
class Volume:
    """A volume and where it came from.

    Attributes:
        array: float32 ``[X, Y, Z]``.
        affine: 4x4 voxel -> RAS mm (MONAI / NIfTI convention).
        kind: ``"nifti"``, ``"dicom"`` or ``"h5"``.
        path: the file or folder read.
        info: reader details (h5: coil combination, cropping, header; DICOM: series UID, tags).
    """

    array: np.ndarray
    affine: np.ndarray
    kind: str
    path: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """File name without the extension (the folder name for DICOM)."""
        name = self.path.name
        for suffix in (*NIFTI_SUFFIXES, *H5_SUFFIXES):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name


def volume_kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir() or name.endswith(".dcm"):
        return "dicom"
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(H5_SUFFIXES):
        return "h5"
    raise ValueError(
        f"Unsupported input {str(path)!r}: give a NIfTI file (.nii / .nii.gz), a folder holding one DICOM series, "
        "or a fastMRI raw-data file (.h5)."
    )


def _as_3d(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(f"{str(path)!r} has shape {arr.shape}; expected a 3-D volume [X, Y, Z] (or one 2-D slice).")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _load_h5(
    path: Path, coil_combine: str, crop_to_recon_size: bool, progress: bool, log: Log
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from monai_mcrecon.data.zero_filled import read_zero_filled_volume

    volume, affine, info = read_zero_filled_volume(path, coil_combine, crop_to_recon_size, progress=progress)
    arr = np.ascontiguousarray(volume.numpy(), dtype=np.float32)  # [H, W, slices] = [X, Y, Z]
    multicoil, num_coils = info["multicoil"], info["num_coils"]
    log(
        f"Read {path.name}: {arr.shape[-1]} slices of {arr.shape[0]}x{arr.shape[1]}, "
        f"{'multi-coil (' + str(num_coils) + ' coils, ' + coil_combine + ')' if multicoil else 'single-coil'} zero-filled images."
    )
    return arr, affine, info


def load_volume(
    path: str | Path,
    coil_combine: str = "rss",
    crop_to_recon_size: bool = False,
    progress: bool = False,
    log: Log = print,
) -> Volume:
    """Read a NIfTI file, a DICOM series folder or a fastMRI h5 file as a volume ``[X, Y, Z]``.

    Args:
        path: ``.nii`` / ``.nii.gz`` file, folder of one DICOM series (or one of its files), or a
            fastMRI ``.h5`` file.
        coil_combine: multi-coil h5 only: ``"rss"`` (root sum of squares of the zero-filled coil
            images) or ``"sense"`` (sensitivity-weighted combination, maps estimated from the
            auto-calibration region with :func:`~monai_mcrecon.kspace.estimate_sensitivities`,
            ``method="lowres"``).
        crop_to_recon_size: h5 only: centre-crop every slice to the header's recon matrix.
        progress: progress bar over the h5 slices.
        log: where to print what was done.

    Returns:
        the :class:`Volume`; for h5 files the affine is synthetic (voxel size from the header FOV).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: unsupported file type, not a volume, or an unreadable h5 file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Input {str(path)!r} does not exist; check the path.")
    kind = volume_kind(path)
    if kind == "nifti":
        if path.stat().st_size == 0:
            raise ValueError(f"NIfTI file {str(path)!r} is empty (0 bytes): an interrupted copy? Restore it.")
        try:
            img = nib.load(str(path))
            data = np.asarray(img.dataobj)
        except Exception as e:  # noqa: BLE001 - nibabel / gzip / zlib errors of a damaged file
            raise ValueError(
                f"Cannot read NIfTI file {str(path)!r}: it is truncated or corrupt ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}). Restore or re-export it."
            ) from e
        if np.iscomplexobj(data) or data.dtype.names is not None or not np.issubdtype(data.dtype, np.number):
            raise ValueError(
                f"{str(path)!r} holds {data.dtype} voxels; expected real-valued magnitude images (for complex "
                "data, save the magnitude, or give the k-space as a fastMRI .h5 file)."
            )
        arr = _as_3d(data.astype(np.float32), path)
        return Volume(arr, np.asarray(img.affine, dtype=np.float64), kind, path, {})
    if kind == "dicom":
        from monai_mcrecon.data.dicom import read_dicom_series

        arr, meta = read_dicom_series(path)
        folder = Path(meta["filename_or_obj"])
        info = {"series_uid": meta.get("series_uid"), "tags": meta.get("tags", {}), "folder": str(folder)}
        return Volume(_as_3d(arr, path), np.asarray(meta["affine"], dtype=np.float64), kind, folder, info)
    arr, affine, info = _load_h5(path, coil_combine, crop_to_recon_size, progress, log)
    return Volume(arr, affine, kind, path, info)


def check_volume(vol: Volume, name: str, allow_constant: bool = False) -> Volume:
    """Refuse a volume with NaN / Inf voxels, or (unless ``allow_constant``) an all-zero or constant
    one, naming the file and the count; returns ``vol``.

    Raises:
        ValueError: naming the problem and the file.
    """
    arr = vol.array
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ValueError(
            f"The {name} {str(vol.path)!r} has {bad} NaN or infinite voxel(s) of {arr.size}; fix the export or replace "
            "them (e.g. numpy.nan_to_num) before running."
        )
    if not allow_constant and arr.size and float(arr.max()) == float(arr.min()):
        what = "all zero" if float(arr.max()) == 0 else f"constant ({float(arr.max()):g})"
        raise ValueError(f"The {name} {str(vol.path)!r} is {what}: nothing to reconstruct; check the file.")
    return vol


def save_nifti(array: np.ndarray | torch.Tensor, affine: np.ndarray, path: str | Path) -> Path:
    """Write ``array`` ``[X, Y, Z]`` as float32 NIfTI with ``affine`` in both the qform and sform."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = torch.as_tensor(array).detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    img = nib.Nifti1Image(arr.astype(np.float32), np.asarray(affine, dtype=np.float64))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    with atomic_path(path) as tmp:  # never a half-written file under the final name
        nib.save(img, str(tmp))
    return path


def volume_slices(arr: np.ndarray) -> torch.Tensor:
    """``[X, Y, Z]`` -> ``[Z, X, Y]`` (slices first, k-space axes last)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(arr, -1, 0)))


def slices_volume(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(t.detach().cpu().numpy(), 0, -1))


def has_geometry(vol: Volume) -> bool:
    """Whether a volume's affine places it in the patient frame: NIfTI and DICOM always; an h5 file
    only when it records the geometry of the image it was simulated from (``monai-mcrecon simulate``)."""
    return vol.kind != "h5" or bool(vol.info.get("has_geometry"))


def lr_affine(affine: np.ndarray, hr: Sequence[int], lr: Sequence[int]) -> np.ndarray:
    """Affine of the LR grid that centred k-space cropping implies (shared centred-FFT origin):
    LR pixel ``j`` sits at HR index ``(j - n // 2) * N / n + N // 2`` along each in-plane axis."""
    return np.asarray(affine, dtype=np.float64) @ _lr_index_matrix(hr, lr)


def _lr_index_matrix(hr: Sequence[int], lr: Sequence[int]) -> np.ndarray:
    """LR voxel index -> HR voxel index of centred k-space cropping (in-plane axes only)."""
    m = np.eye(4)
    for a in range(2):
        f = hr[a] / lr[a]
        m[a, a] = f
        m[a, 3] = hr[a] // 2 - (lr[a] // 2) * f
    return m


def hr_affine(lr_affine: np.ndarray, lr: Sequence[int], hr: Sequence[int]) -> np.ndarray:
    """The HR-grid affine an LR grid zero-pads onto (the inverse of :func:`lr_affine`)."""
    return np.asarray(lr_affine, dtype=np.float64) @ np.linalg.inv(_lr_index_matrix(hr, lr))
