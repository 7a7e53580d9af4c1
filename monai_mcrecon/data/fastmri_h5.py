"""Lazy reader and writer for fastMRI raw-data HDF5 files (Zbontar et al. 2018, arXiv:1811.08839).

The fastMRI layout, one file per volume:

* ``kspace``: complex64, ``[slices, coils, H, W]`` (multi-coil) or ``[slices, H, W]`` (single-coil,
  emulated from the multi-coil data). k-space is centred (DC at ``(H // 2, W // 2)``) and relates to
  the image by the project's centred orthonormal :func:`monai_mcrecon.kspace.fft.ifft2c` (fastMRI's
  own convention). Phase encoding runs along the last axis ``W``.
* ``reconstruction_rss`` (multi-coil) or ``reconstruction_esc`` (single-coil; single-coil files also
  carry ``reconstruction_rss``): float32 ``[slices, h, w]``, the target images at the recon matrix
  size (e.g. 320x320), centre-cropped. Absent in test / challenge files.
* ``mask``: only in test / challenge files, the 1-D column sampling mask ``[W]`` that produced the
  (already undersampled) ``kspace``; its file attrs ``acceleration`` and ``num_low_frequency``.
* ``ismrmrd_header``: a scalar bytes dataset holding the ISMRMRD XML header
  (namespace ``http://www.ismrm.org/ISMRMRD``); the reader uses ``encoding/encodedSpace/matrixSize``
  (the k-space grid, ``y`` = ``W``), ``encoding/reconSpace/matrixSize`` (the target size) and
  ``encoding/encodingLimits/kspace_encoding_step_1`` (``center``, ``maximum``), which locate the
  acquired phase-encoding lines inside the zero-padded width:
  ``padding_left = enc_y // 2 - center`` and ``padding_right = padding_left + maximum + 1``.
* file attrs: ``acquisition`` (e.g. ``CORPD_FBK``, ``AXT2``), ``max`` and ``norm`` (maximum and L2
  norm of the reconstruction volume), ``patient_id``.
* the attr :data:`PATIENT_AFFINE_ATTR` (this package's addition; fastMRI readers ignore it): the
  4x4 voxel -> RAS mm affine of the image volume ``[H, W, slices]`` when the file was simulated from
  an image that had one (``monai-mcrecon simulate``). Raw fastMRI files have no patient position;
  with this attr the volume pairs with other scans in physical space
  (:attr:`FastMRIVolume.patient_affine`).

Everything here is lazy: :class:`FastMRIVolume` and :class:`FastMRISliceDataset` read one slice at
a time with h5py hyperslab selection (``dataset[i]``), never the whole array, and
:class:`FastMRISliceDataset` opens and closes the file for every item, so it is safe with
``DataLoader`` worker processes and never holds file handles between items. (MONAI's
``monai.apps.reconstruction.fastmri_reader.FastMRIReader`` loads whole volumes instead.)

Layout of what the reader returns (channel-first, MONAI style, and consistent with
:mod:`monai_mcrecon.kspace`, which works on ``[..., H, W]`` complex tensors):

* k-space: complex64 ``[C, H, W]``; ``C`` is the number of coils, ``C = 1`` for single-coil files.
* target: float32 ``[1, h, w]``.
* mask: float32 ``[1, W]`` (the 1-D Cartesian mask shape of :mod:`monai_mcrecon.kspace.masks`;
  broadcasts against the k-space).

:func:`write_fastmri_h5` writes files in exactly this layout (used by the tests, tutorials and
simulation); the reader is checked against ``fastmri.data.SliceDataset`` on such files.

Over 600 lines by design: the reader, the writer and the slice dataset of one file format share its layout
rules (keys, header parsing, geometry attribute) and are tested together against the real fastMRI layout.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from monai.transforms import apply_transform

__all__ = [
    "H5_SUFFIXES",
    "ISMRMRD_NAMESPACE",
    "PATIENT_AFFINE_ATTR",
    "FastMRISliceDataset",
    "FastMRIVolume",
    "parse_ismrmrd_header",
    "write_fastmri_h5",
]

#: File name endings of fastMRI-layout raw-data files.
H5_SUFFIXES = (".h5", ".hdf5")
ISMRMRD_NAMESPACE = "http://www.ismrm.org/ISMRMRD"
#: File attr holding the 4x4 voxel -> RAS affine of the ``[H, W, slices]`` image volume (optional).
PATIENT_AFFINE_ATTR = "mcrecon_affine_ras"
_RECON_KEYS = {"multicoil": "reconstruction_rss", "singlecoil": "reconstruction_esc"}
_CHALLENGE_NDIM = {"multicoil": 4, "singlecoil": 3}

# --------------------------------------------------------------------------------------------------
# ISMRMRD header
# --------------------------------------------------------------------------------------------------


def _build_ismrmrd_header(
    encoding_size: Sequence[int],
    recon_size: Sequence[int],
    limits: Sequence[int],  # kspace_encoding_step_1 (minimum, center, maximum)
    num_coils: int,
    encoding_fov_mm: Sequence[float],
    recon_fov_mm: Sequence[float],
    num_slices: int,
) -> bytes:
    """ISMRMRD XML header (element order of the ISMRMRD schema) for a Cartesian 2-D acquisition."""
    ns = ISMRMRD_NAMESPACE

    def sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ns}}}{tag}")
        if text is not None:
            el.text = str(text)
        return el

    def xyz(parent: ET.Element, tag: str, values: Sequence[Any]) -> None:
        el = sub(parent, tag)
        for axis, v in zip("xyz", values):
            sub(el, axis, v)

    def limit(parent: ET.Element, tag: str, minimum: int, maximum: int, center: int) -> None:
        el = sub(parent, tag)
        sub(el, "minimum", minimum)
        sub(el, "maximum", maximum)
        sub(el, "center", center)

    root = ET.Element(f"{{{ns}}}ismrmrdHeader")
    system = sub(root, "acquisitionSystemInformation")
    sub(system, "receiverChannels", num_coils)
    conditions = sub(root, "experimentalConditions")
    sub(conditions, "H1resonanceFrequency_Hz", 127_750_000)  # 3 T proton frequency; informative only
    encoding = sub(root, "encoding")
    encoded = sub(encoding, "encodedSpace")
    xyz(encoded, "matrixSize", encoding_size)
    xyz(encoded, "fieldOfView_mm", encoding_fov_mm)
    recon = sub(encoding, "reconSpace")
    xyz(recon, "matrixSize", recon_size)
    xyz(recon, "fieldOfView_mm", recon_fov_mm)
    limits_el = sub(encoding, "encodingLimits")
    limit(limits_el, "kspace_encoding_step_0", 0, int(encoding_size[0]) - 1, int(encoding_size[0]) // 2)
    minimum, center, maximum = limits
    limit(limits_el, "kspace_encoding_step_1", minimum, maximum, center)
    limit(limits_el, "kspace_encoding_step_2", 0, 0, 0)
    limit(limits_el, "slice", 0, max(num_slices - 1, 0), 0)
    sub(encoding, "trajectory", "cartesian")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=ns)


def parse_ismrmrd_header(xml: bytes | str) -> dict[str, Any]:
    """Read the fields of an ISMRMRD XML header that fastMRI uses.

    Args:
        xml: the header, as stored in a fastMRI file's ``ismrmrd_header`` dataset.

    Returns:
        dict with ``encoding_size`` and ``recon_size`` (``(x, y, z)`` matrix sizes; ``y`` of the
        encoding is the k-space width), ``encoding_fov_mm`` / ``recon_fov_mm`` (``(x, y, z)``, None
        if absent), ``enc_limits_min`` / ``enc_limits_center`` / ``enc_limits_max`` (the
        ``kspace_encoding_step_1`` limits, the ISMRMRD ``maximum`` as stored), ``padding_left`` /
        ``padding_right`` (as fastMRI: ``encoding_size[1] // 2 - center`` and
        ``padding_left + maximum + 1``: the acquired columns are ``[padding_left, padding_right)``)
        and ``receiver_channels`` (None if absent).

    Raises:
        ValueError: the text is not XML, or a required element is missing.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise ValueError(f"ismrmrd_header is not valid XML ({e}); expected an ISMRMRD XML header.") from e
    # Real fastMRI headers use the ISMRMRD namespace; accept a namespace-less header too.
    uri = f"{{{ISMRMRD_NAMESPACE}}}" if root.tag.startswith(f"{{{ISMRMRD_NAMESPACE}}}") else ""

    def find(path: str, required: bool = True) -> str | None:
        el = root.find("./" + "/".join(uri + p for p in path.split("/")))
        if el is None or el.text is None:
            if required:
                raise ValueError(
                    f"ISMRMRD header has no <{path}>; a fastMRI header needs encoding/encodedSpace/matrixSize, "
                    "encoding/reconSpace/matrixSize and encoding/encodingLimits/kspace_encoding_step_1 "
                    f"(namespace {ISMRMRD_NAMESPACE}). Write files with write_fastmri_h5."
                )
            return None
        return el.text.strip()

    def triple(path: str, cast: Callable, required: bool = True) -> tuple | None:
        values = [find(f"{path}/{a}", required) for a in "xyz"]
        return None if any(v is None for v in values) else tuple(cast(v) for v in values)

    enc = triple("encoding/encodedSpace/matrixSize", int)
    rec = triple("encoding/reconSpace/matrixSize", int)
    lims = "encoding/encodingLimits/kspace_encoding_step_1"
    center = int(find(f"{lims}/center"))
    maximum = int(find(f"{lims}/maximum"))
    minimum = find(f"{lims}/minimum", required=False)
    channels = find("acquisitionSystemInformation/receiverChannels", required=False)
    padding_left = enc[1] // 2 - center
    return {
        "encoding_size": enc,
        "recon_size": rec,
        "encoding_fov_mm": triple("encoding/encodedSpace/fieldOfView_mm", float, required=False),
        "recon_fov_mm": triple("encoding/reconSpace/fieldOfView_mm", float, required=False),
        "enc_limits_min": int(minimum) if minimum is not None else None,
        "enc_limits_center": center,
        "enc_limits_max": maximum,
        "padding_left": padding_left,
        "padding_right": padding_left + maximum + 1,
        "receiver_channels": int(channels) if channels is not None else None,
    }


# --------------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------------


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _low_frequency_run(mask: np.ndarray) -> int:
    """Length of the run of sampled columns that contains the centre column ``W // 2``."""
    c = mask.shape[0] // 2
    if not mask[c]:
        return 0
    lo, hi = c, c
    while lo > 0 and mask[lo - 1]:
        lo -= 1
    while hi < mask.shape[0] - 1 and mask[hi + 1]:
        hi += 1
    return hi - lo + 1


def write_fastmri_h5(
    path: str | PathLike,
    kspace: np.ndarray | torch.Tensor,
    *,
    reconstruction: np.ndarray | torch.Tensor | None = None,
    recon_key: str | None = None,
    mask: np.ndarray | torch.Tensor | None = None,
    encoding_size: Sequence[int] | None = None,
    recon_size: Sequence[int] | None = None,
    encoding_limits: Sequence[int] | None = None,
    encoding_fov_mm: Sequence[float] | None = None,
    recon_fov_mm: Sequence[float] | None = None,
    attrs: Mapping[str, Any] | None = None,
    affine: np.ndarray | Sequence[Sequence[float]] | None = None,
) -> Path:
    """Write one volume in the fastMRI raw-data layout (see the module docstring).

    Args:
        path: output ``.h5`` file (parent folders are created; an existing file is overwritten).
        kspace: complex ``[slices, coils, H, W]`` (multi-coil) or ``[slices, H, W]`` (single-coil),
            centred as :func:`monai_mcrecon.kspace.fft.fft2c` makes it; stored as complex64.
        reconstruction: optional target images, real ``[slices, h, w]``; stored as float32.
        recon_key: dataset name of ``reconstruction``; default ``"reconstruction_rss"`` for
            multi-coil and ``"reconstruction_esc"`` for single-coil k-space.
        mask: optional 1-D column mask ``[W]`` (as in fastMRI test / challenge files, where the
            stored k-space is already undersampled); also writes the attrs ``acceleration``
            (``round(W / sampled columns)``) and ``num_low_frequency`` (the fully sampled centre
            run), unless ``attrs`` gives them.
        encoding_size: ISMRMRD encoded matrix ``(x, y, z)``; default ``(H, W, 1)``.
        recon_size: ISMRMRD recon matrix ``(x, y, z)``; default ``(h, w, 1)`` of the
            reconstruction, else ``(H, W, 1)``.
        encoding_limits: ``kspace_encoding_step_1`` ``(minimum, center, maximum)``; default
            ``(0, W // 2, W - 1)`` (every column acquired: padding ``[0, W)``). Real fastMRI files
            often acquire fewer columns than ``W`` (e.g. ``(0, 168, 333)`` for ``W = 368``).
        encoding_fov_mm, recon_fov_mm: fields of view ``(x, y, z)`` in mm; default the matrix size
            (1 mm grid).
        attrs: file attributes overriding the defaults: ``acquisition`` (``"SIMULATED"``),
            ``patient_id`` (SHA-256 of the file stem), ``max`` / ``norm`` (maximum and L2 norm of
            the reconstruction volume, written only when there is one). Values must be scalars or
            strings.
        affine: the 4x4 voxel -> RAS mm affine of the image volume ``[H, W, slices]`` (the k-space
            grid), stored as the attr :data:`PATIENT_AFFINE_ATTR` so that the file keeps the patient
            geometry of the image it was simulated from.

    Returns:
        the path written.

    Raises:
        TypeError: ``kspace`` is not complex.
        ValueError: a rank or shape does not match the layout.
    """
    path = Path(path)
    k = _as_numpy(kspace)
    if not np.iscomplexobj(k):
        raise TypeError(f"kspace must be complex (got dtype {k.dtype}); pass e.g. fft2c(image) of the slices.")
    if k.ndim not in (3, 4):
        raise ValueError(
            f"kspace must be [slices, coils, H, W] (multi-coil) or [slices, H, W] (single-coil), got shape {k.shape}."
        )
    multicoil = k.ndim == 4
    num_slices, height, width = k.shape[0], k.shape[-2], k.shape[-1]
    num_coils = k.shape[1] if multicoil else 1

    recon = None
    if reconstruction is not None:
        recon = _as_numpy(reconstruction)
        if np.iscomplexobj(recon) or recon.ndim != 3 or recon.shape[0] != num_slices:
            raise ValueError(
                f"reconstruction must be real [slices={num_slices}, h, w], got shape {recon.shape} dtype {recon.dtype}."
            )
        recon = recon.astype(np.float32, copy=False)
    recon_key = recon_key or _RECON_KEYS["multicoil" if multicoil else "singlecoil"]

    mask_arr = None
    if mask is not None:
        mask_arr = _as_numpy(mask)
        if mask_arr.size != width or mask_arr.shape[-1] != width:
            raise ValueError(f"mask must be a 1-D column mask with W={width} entries, got shape {mask_arr.shape}.")
        mask_arr = mask_arr.reshape(-1)
        if not np.all((mask_arr == 0) | (mask_arr == 1)):
            raise ValueError("mask must be binary (0/1 or bool).")
        mask_arr = mask_arr.astype(bool)

    enc = tuple(int(v) for v in (encoding_size or (height, width, 1)))
    if recon_size is None:
        recon_size = (recon.shape[1], recon.shape[2], 1) if recon is not None else (height, width, 1)
    rec = tuple(int(v) for v in recon_size)
    if len(enc) != 3 or len(rec) != 3:
        raise ValueError(f"encoding_size and recon_size are (x, y, z) triples, got {enc} and {rec}.")
    limits = tuple(int(v) for v in (encoding_limits or (0, enc[1] // 2, enc[1] - 1)))
    if len(limits) != 3:
        raise ValueError(f"encoding_limits is (minimum, center, maximum), got {limits}.")
    header = _build_ismrmrd_header(
        enc,
        rec,
        limits,
        num_coils,
        encoding_fov_mm or tuple(float(v) for v in enc),
        recon_fov_mm or tuple(float(v) for v in rec),
        num_slices,
    )

    file_attrs: dict[str, Any] = {
        "acquisition": "SIMULATED",
        "patient_id": hashlib.sha256(path.stem.encode()).hexdigest(),
    }
    if recon is not None:
        file_attrs["max"] = float(recon.max())
        file_attrs["norm"] = float(np.linalg.norm(recon))
    if mask_arr is not None:
        file_attrs["acceleration"] = int(round(width / max(int(mask_arr.sum()), 1)))
        file_attrs["num_low_frequency"] = _low_frequency_run(mask_arr)
    file_attrs.update(attrs or {})
    if affine is not None:
        aff = np.asarray(affine, dtype=np.float64)
        if aff.shape != (4, 4) or not np.all(np.isfinite(aff)) or abs(np.linalg.det(aff[:3, :3])) < 1e-12:
            raise ValueError(f"affine must be a finite, invertible 4x4 voxel -> RAS matrix, got {aff.tolist()}.")
        file_attrs[PATIENT_AFFINE_ATTR] = aff

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as hf:
        hf.create_dataset("kspace", data=k.astype(np.complex64, copy=False))
        if recon is not None:
            hf.create_dataset(recon_key, data=recon)
        if mask_arr is not None:
            hf.create_dataset("mask", data=mask_arr)
        hf.create_dataset("ismrmrd_header", data=header, dtype=h5py.string_dtype("utf-8"))
        for key, value in file_attrs.items():
            hf.attrs[key] = value
    return path


# --------------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------------


def _python_scalar(value: Any) -> Any:
    """h5py attribute values (numpy scalars, bytes) as plain Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value


def _check_challenge(challenge: str | None) -> None:
    if challenge is not None and challenge not in _RECON_KEYS:
        raise ValueError(f"challenge must be 'multicoil', 'singlecoil' or None (from the k-space rank), got {challenge!r}.")


class FastMRIVolume:
    """One fastMRI h5 file, opened read-only; reads one slice at a time.

    Use it as a context manager (``with FastMRIVolume(path) as vol: vol.kspace(0)``) or call
    :meth:`close`. After closing, every read raises ``RuntimeError``.

    Args:
        path: the ``.h5`` file.
        challenge: ``"multicoil"`` or ``"singlecoil"`` to require that layout (and choose the target
            dataset as fastMRI does), or None to take both from the k-space rank.
        recon_key: the target dataset name, overriding the challenge's (``reconstruction_rss`` /
            ``reconstruction_esc``); e.g. ``"reconstruction_rss"`` for single-coil files.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not an HDF5 file, no ``kspace`` dataset, a k-space rank other than 3 or 4, or a
            rank that contradicts ``challenge``.
    """

    def __init__(self, path: str | PathLike, challenge: str | None = None, recon_key: str | None = None) -> None:
        _check_challenge(challenge)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"fastMRI file {str(self.path)!r} does not exist; check the path / dataset_dir.")
        try:
            self._file: h5py.File | None = h5py.File(self.path, "r")
        except OSError as e:
            raise ValueError(f"{str(self.path)!r} is not a readable HDF5 file ({e}); fastMRI data are .h5 files.") from e
        self._metadata: dict[str, Any] | None = None
        try:
            if "kspace" not in self._file:
                raise ValueError(
                    f"{self.path.name}: no 'kspace' dataset (found {sorted(self._file.keys())}); this is not a fastMRI "
                    "raw-data file. Write one with monai_mcrecon.data.write_fastmri_h5."
                )
            ds = self._file["kspace"]
            if ds.ndim not in (3, 4):
                raise ValueError(
                    f"{self.path.name}: 'kspace' has shape {ds.shape}; expected [slices, coils, H, W] (multi-coil) or "
                    "[slices, H, W] (single-coil)."
                )
            if challenge is not None and ds.ndim != _CHALLENGE_NDIM[challenge]:
                other = "singlecoil" if challenge == "multicoil" else "multicoil"
                raise ValueError(
                    f"{self.path.name}: 'kspace' has shape {ds.shape}, a {other} layout, but challenge={challenge!r}; "
                    f"use challenge={other!r} (or None to detect it)."
                )
            self._kspace = ds
            self.challenge = challenge or ("multicoil" if ds.ndim == 4 else "singlecoil")
            self.recon_key = recon_key or _RECON_KEYS[self.challenge]
        except Exception:
            self.close()
            raise

    # -- state ----------------------------------------------------------------------------------

    def __enter__(self) -> FastMRIVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: h5py may already be torn down
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"shape={self.shape}"
        return f"FastMRIVolume({str(self.path)!r}, {state})"

    def close(self) -> None:
        """Close the file (idempotent)."""
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
            self._file = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return getattr(self, "_file", None) is None

    def _open_file(self) -> h5py.File:
        if self._file is None:
            raise RuntimeError(
                f"FastMRIVolume({str(self.path)!r}) is closed; open it again with FastMRIVolume(path), "
                "or read inside its `with` block."
            )
        return self._file

    # -- shape and metadata -----------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the stored ``kspace`` dataset."""
        self._open_file()
        return tuple(self._kspace.shape)

    @property
    def num_slices(self) -> int:
        """Number of slices."""
        return self.shape[0]

    @property
    def is_multicoil(self) -> bool:
        """True for a 4-D ``[slices, coils, H, W]`` k-space."""
        return len(self.shape) == 4

    @property
    def num_coils(self) -> int:
        """Number of coils (1 for single-coil files)."""
        return self.shape[1] if self.is_multicoil else 1

    @property
    def has_target(self) -> bool:
        """Whether the file holds the target dataset ``recon_key``."""
        return self.recon_key in self._open_file()

    @property
    def metadata(self) -> dict[str, Any]:
        """The parsed ISMRMRD header (:func:`parse_ismrmrd_header`, None entries dropped), the file
        attrs (as Python scalars), ``num_slices`` and ``num_coils``; read once, then cached."""
        if self._metadata is None:
            f = self._open_file()
            if "ismrmrd_header" not in f:
                raise ValueError(
                    f"{self.path.name}: no 'ismrmrd_header' dataset; fastMRI files carry the ISMRMRD XML header there "
                    "(write_fastmri_h5 writes one)."
                )
            try:
                header = parse_ismrmrd_header(f["ismrmrd_header"][()])
            except ValueError as e:
                raise ValueError(f"{self.path.name}: {e}") from e
            meta = {k: v for k, v in header.items() if v is not None}
            meta.update({k: _python_scalar(v) for k, v in f.attrs.items()})
            meta["num_slices"] = self.num_slices
            meta["num_coils"] = self.num_coils
            self._metadata = meta
        return dict(self._metadata)

    # -- slice reads ------------------------------------------------------------------------------

    def _slice_index(self, i: int) -> int:
        n = self.num_slices
        if not -n <= int(i) < n:
            raise IndexError(f"slice {i} out of range for {self.path.name} with {n} slices.")
        return int(i) % n

    def kspace(self, i: int) -> torch.Tensor:
        """k-space of slice ``i`` (only that slice is read): complex64 ``[C, H, W]``, ``C = 1`` for
        single-coil files."""
        s = self._slice_index(i)
        data = self._kspace[s]
        t = torch.from_numpy(np.ascontiguousarray(data, dtype=np.complex64))
        return t if self.is_multicoil else t.unsqueeze(0)

    def target(self, i: int) -> torch.Tensor | None:
        """Target image of slice ``i`` (``recon_key``): float32 ``[1, h, w]``, or None when the file
        has no such dataset (test / challenge files)."""
        s = self._slice_index(i)
        f = self._open_file()
        if self.recon_key not in f:
            return None
        return torch.from_numpy(np.ascontiguousarray(f[self.recon_key][s], dtype=np.float32)).unsqueeze(0)

    @property
    def patient_affine(self) -> np.ndarray | None:
        """The 4x4 voxel -> RAS affine of the ``[H, W, slices]`` image volume recorded in the file
        (attr :data:`PATIENT_AFFINE_ATTR`, written by ``monai-mcrecon simulate``), or None: raw
        fastMRI files carry no patient position."""
        value = self._open_file().attrs.get(PATIENT_AFFINE_ATTR)
        if value is None:
            return None
        aff = np.asarray(value, dtype=np.float64)
        return aff if aff.shape == (4, 4) else None

    def mask(self) -> torch.Tensor | None:
        """The file's column mask as float32 ``[1, W]``, or None when absent (train / val files)."""
        f = self._open_file()
        if "mask" not in f:
            return None
        m = np.asarray(f["mask"][()], dtype=np.float32)
        return torch.from_numpy(m.reshape(1, -1))


class FastMRISliceDataset(torch.utils.data.Dataset):
    """Map-style dataset of the slices of fastMRI h5 files, read lazily.

    At construction every file is opened once to read its k-space shape and header, then closed.
    Item ``i`` opens its file, reads one slice, closes the file, and returns a dict:

    * ``kspace``: complex64 ``[C, H, W]`` (``C = 1`` for single-coil);
    * ``mask``: float32 ``[1, W]``, only when the file has one;
    * ``target``: float32 ``[1, h, w]``, only when the file has the target dataset;
    * ``metadata``: ``fname`` (file name), ``path``, ``slice_num``, the header fields
      (``encoding_size``, ``recon_size``, ``padding_left``, ``padding_right``, ...), the file attrs
      (``acquisition``, ``max``, ``norm``, ``patient_id``, ...) and ``num_coils``.

    ``transform`` (any MONAI dictionary transform or callable) is applied to that dict.

    Args:
        data: a ``.h5`` file, a directory (its ``*.h5`` files, sorted) or a sequence of files.
        challenge: ``"multicoil"`` / ``"singlecoil"`` to require that layout and read the target
            fastMRI reads for it (``reconstruction_rss`` / ``reconstruction_esc``), or None to decide
            per file from the k-space rank.
        transform: applied to each item dict.
        recon_key: target dataset name, overriding the challenge's.

    Raises:
        FileNotFoundError: a file or directory does not exist, or a directory has no ``.h5`` files.
        ValueError: a file is not in the fastMRI layout (see :class:`FastMRIVolume`).
    """

    def __init__(
        self,
        data: str | PathLike | Sequence[str | PathLike],
        challenge: str | None = None,
        transform: Callable | None = None,
        recon_key: str | None = None,
    ) -> None:
        _check_challenge(challenge)
        self.challenge = challenge
        self.recon_key = recon_key
        self.transform = transform
        self.files = self._list_files(data)
        self.file_metadata: dict[Path, dict[str, Any]] = {}
        self.samples: list[tuple[Path, int]] = []
        for path in self.files:
            with FastMRIVolume(path, challenge=challenge, recon_key=recon_key) as vol:
                self.file_metadata[path] = vol.metadata
                self.samples.extend((path, s) for s in range(vol.num_slices))

    @staticmethod
    def _list_files(data: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
        if isinstance(data, (str, PathLike)):
            root = Path(data)
            if root.is_dir():
                files = sorted(p for p in root.iterdir() if p.suffix == ".h5" and p.is_file())
                if not files:
                    raise FileNotFoundError(f"No .h5 files in {str(root)!r}; point data at a fastMRI folder or file.")
                return files
            paths = [root]
        else:
            paths = [Path(p) for p in data]
            if not paths:
                raise ValueError("FastMRISliceDataset got an empty file list.")
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"fastMRI file {str(p)!r} does not exist; check the path / dataset_dir.")
        return paths

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        path, s = self.samples[i]
        with FastMRIVolume(path, challenge=self.challenge, recon_key=self.recon_key) as vol:
            item: dict[str, Any] = {"kspace": vol.kspace(s)}
            mask = vol.mask()
            if mask is not None:
                item["mask"] = mask
            target = vol.target(s)
            if target is not None:
                item["target"] = target
        item["metadata"] = {**self.file_metadata[path], "fname": path.name, "path": str(path), "slice_num": s}
        return apply_transform(self.transform, item) if self.transform is not None else item
