"""The logic behind the ``monai-mcrecon`` command, importable and testable without argparse.

* :func:`load_volume`: a NIfTI file, a DICOM series folder or a fastMRI h5 file as a float32
  volume ``[X, Y, Z]`` (slices along Z) with its voxel -> RAS affine. fastMRI files are read one
  slice at a time (:class:`~monai_mcrecon.data.FastMRIVolume`) and give the zero-filled image of
  every slice (multi-coil: RSS or a sensitivity-weighted combination with maps estimated from the
  auto-calibration region).
* :func:`run_model`: the restoration of a target volume with a bundle (``reconstruct`` /
  ``super-resolve``). The target and the reference are written as NIfTI into a temporary dataset
  folder, and the bundle's own ``inference.json`` runs on it (as :func:`monai.bundle.run` does)
  (``simulate_acquisition=False``: the target *is* the degraded image), so the command uses the
  bundle's intensity scaling, slice axis, slice batching (``slice_batch_size``) and progress bars.
  A reference on another grid is registered (rigidly, :class:`~monai_mcrecon.transforms.registration.RegisterReference`)
  and resampled onto the target grid first. Outputs: NIfTI (the target's affine), and a derived
  DICOM series for DICOM targets (or on request). A single-coil fastMRI h5 target (not cropped)
  goes through the bundle's ``kspace_file`` route instead, so that its acquired k-space reaches the
  bundle's output data consistency; ``run_info.json`` records whether data consistency was applied
  and, when not, why (a magnitude image carries no acquired k-space).
* :func:`simulate`: a retrospective study from a fully sampled volume (undersampling with a mask,
  optionally multi-coil or single-coil fastMRI h5 k-space, or k-space truncation for
  super-resolution).
* :func:`evaluate`: fastMRI PSNR / SSIM / NMSE per volume as CSV and Markdown, plus a figure.

Volumes are ``[X, Y, Z]`` arrays; the 2-D slices ``[X, Y]`` map to k-space ``[H, W]`` with the
phase encoding (column masks) along ``Y``, as in the bundles (which move ``Z`` first).
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from monai_mcrecon.safe_io import PARTIAL_MARK, atomic_path, atomic_write_text
from monai_mcrecon.run_record import fingerprint_differences, removes_new_outputs_on_failure, run_fingerprint

__all__ = [
    "BUNDLE_NAMES",
    "RUN_INFO",
    "Volume",
    "bundle_info",
    "check_output_dir",
    "check_volume",
    "evaluate",
    "load_volume",
    "resample_reference",
    "run_many",
    "run_model",
    "save_nifti",
    "simulate",
]

#: Bundles shipped with the repository (a path to a bundle folder works too).
BUNDLE_NAMES = ("mc_cdic_recon", "mc_cdic_sr", "clgnet_recon")
NIFTI_SUFFIXES = (".nii.gz", ".nii")
H5_SUFFIXES = (".h5", ".hdf5")

Log = Callable[[str], None]


#: Patient, study and frame-of-reference tags a derived series takes from a DICOM reference when the
#: target itself is not DICOM (fastMRI h5 or NIfTI).
_IDENTITY_TAGS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime",
    "StudyDescription", "FrameOfReferenceUID",
)


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


# --------------------------------------------------------------------------------------------------
# reading and writing
# --------------------------------------------------------------------------------------------------


def _kind(path: Path) -> str:
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
    from monai_mcrecon.transforms.kspace_input import read_zero_filled_volume

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
    kind = _kind(path)
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


def check_output_dir(out_dir: str | Path, overwrite: bool, names: Sequence[str] | None = None) -> Path:
    """Refuse to write into a non-empty folder (or over the given ``names``) unless ``overwrite``.

    Raises:
        FileExistsError: naming the folder and the fix (``--overwrite`` or another folder).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"Output {str(out)!r} exists and is not a folder; choose another --output.")
    if out.is_dir() and not overwrite:
        clash = [n for n in names if (out / n).exists()] if names is not None else sorted(p.name for p in out.iterdir())
        if clash:
            raise FileExistsError(
                f"Output folder {str(out)!r} already holds {clash[:5]}{' ...' if len(clash) > 5 else ''}; pass "
                "--overwrite to replace them, or choose another --output folder."
            )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _volume_slices(arr: np.ndarray) -> torch.Tensor:
    """``[X, Y, Z]`` -> ``[Z, X, Y]`` (slices first, k-space axes last)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(arr, -1, 0)))


def _slices_volume(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(t.detach().cpu().numpy(), 0, -1))


# --------------------------------------------------------------------------------------------------
# bundles
# --------------------------------------------------------------------------------------------------


def bundle_info(bundle: str | Path, trust: bool = False) -> dict[str, Any]:
    """Resolve a bundle name (see :data:`BUNDLE_NAMES`) or folder and read what the command needs.

    Returns:
        ``name``, ``root``, ``config_file`` (``configs/inference.json``), ``config`` (the parsed
        JSON), ``task`` (``"sr"`` for super-resolution bundles, else ``"recon"``), ``needs_reference``,
        ``target_contrast``, ``reference_contrast``.

    Raises:
        ValueError: unknown bundle name or a folder without ``configs/inference.json``.
        PermissionError: a folder outside the package's own bundles without ``trust`` (bundle configs
            run Python code; see :func:`monai_mcrecon.bundles.check_trusted_bundle`).
    """
    from monai_mcrecon.bundles import bundle_dir, check_trusted_bundle

    candidate = Path(bundle)
    if candidate.is_dir():
        root = candidate.resolve()
    else:
        try:
            root = Path(bundle_dir(str(bundle)))
        except FileNotFoundError as e:
            raise ValueError(
                f"Unknown bundle {str(bundle)!r}: use one of {list(BUNDLE_NAMES)} or the path of a bundle folder "
                f"(with configs/inference.json). ({e})"
            ) from e
    config_file = root / "configs" / "inference.json"
    if not config_file.is_file():
        raise ValueError(f"Bundle folder {str(root)!r} has no configs/inference.json; is it a MONAI bundle?")
    check_trusted_bundle(root, trust)
    config = json.loads(config_file.read_text())
    text = json.dumps(config)
    return {
        "name": root.name,
        "root": root,
        "config_file": config_file,
        "config": config,
        "task": "sr" if "PrepareSRInputd" in text else "recon",
        "needs_reference": bool(config.get("reference_contrast")),
        "target_contrast": config.get("target_contrast") or "target",
        "reference_contrast": config.get("reference_contrast"),
    }


def _same_grid(a: Volume, b: Volume, atol: float = 1e-3) -> bool:
    return a.array.shape == b.array.shape and np.allclose(a.affine, b.affine, atol=atol)


def has_geometry(vol: Volume) -> bool:
    """Whether a volume's affine places it in the patient frame: NIfTI and DICOM always; an h5 file
    only when it records the geometry of the image it was simulated from (``monai-mcrecon simulate``)."""
    return vol.kind != "h5" or bool(vol.info.get("has_geometry"))


#: What ``run_info.json`` and the log say when an h5 target without geometry is paired by index.
INDEX_PAIRING_WARNING = (
    "the h5 target carries no patient geometry, so the reference was paired with it by array index (slice k with "
    "slice k): check that both run in the same slice order and orientation, or write the h5 file with "
    "`monai-mcrecon simulate` (which records the geometry)"
)


def resample_reference(
    reference: Volume, target: Volume, register: bool = True, log: Log = print, on_failure: str = "raise"
) -> tuple[Volume, dict]:
    """Bring the reference onto the target grid, in physical space.

    Identical grids: nothing to do. The same voxel centres in another order (axes permuted or
    flipped: another handedness, a DICOM series sorted the other way): re-indexed exactly
    (:func:`~monai_mcrecon.data.grid.voxel_correspondence`), never paired by index. Otherwise rigid
    registration (Mattes MI) and resampling with
    :class:`~monai_mcrecon.transforms.robust_registration.RobustRegisterReference` (``register=True``:
    several starts and a derivative-free optimiser that cope with an undersampled, aliased target, and
    checks of the result: plausibility, metric gain, ambiguity, forward / backward agreement), or
    resampling by the affines alone (``register=False``). A registration that fails its checks raises
    :class:`~monai_mcrecon.transforms.robust_registration.RegistrationError` (a ``ValueError`` with a
    one-line message; ``on_failure="header"``: resampled by the affines instead, recorded with
    ``accepted: false`` and the failed checks). A fastMRI h5 target without recorded
    geometry has no patient position: a reference of the same matrix size is paired by index (with
    the warning :data:`INDEX_PAIRING_WARNING` in the log and the record; the output uses the
    reference's affine), another one is registered with centred (geometry) initialisation.

    Returns:
        the reference on the target grid (affine = the target's) and a description of what was done.

    Raises:
        RegistrationError: the registration failed its checks and ``on_failure="raise"``.
    """
    from monai.data import MetaTensor

    from monai_mcrecon.data.grid import match_to_grid, voxel_correspondence
    from monai_mcrecon.transforms.registration import RegisterReference
    from monai_mcrecon.transforms.robust_registration import RobustRegisterReference

    if _same_grid(reference, target):
        info = {"action": "none", "reason": "reference and target grids are identical"}
        log("Reference: same grid as the target, used as it is.")
        return reference, info
    geometry = has_geometry(target)
    if geometry and voxel_correspondence(reference.array.shape, reference.affine, target.array.shape, target.affine):
        arr, how = match_to_grid(reference.array, reference.affine, target.array.shape, target.affine)
        info = {"action": "reordered onto the target grid in physical space", "reason": how}
        log(f"Reference: the target's voxels in another order or orientation; {how}.")
        return Volume(arr, target.affine.copy(), reference.kind, reference.path, reference.info), info
    if not geometry and reference.array.shape == target.array.shape:
        target.affine = reference.affine.copy()
        info = {
            "action": "paired by index",
            "reason": "h5 target without patient geometry and a reference of the same matrix: the output uses the "
            "reference's affine",
            "warning": INDEX_PAIRING_WARNING,
        }
        log(f"WARNING: {INDEX_PAIRING_WARNING}.")
        return Volume(reference.array, target.affine, reference.kind, reference.path, reference.info), info
    initializer = "header" if geometry else "geometry"
    reg = (
        RobustRegisterReference(mode="auto", initializer=initializer, on_failure=on_failure)
        if register
        else RegisterReference(mode="never", initializer=initializer)
    )
    ref_mt = MetaTensor(torch.from_numpy(reference.array[None]), affine=torch.as_tensor(reference.affine))
    tgt_mt = MetaTensor(torch.from_numpy(target.array[None]), affine=torch.as_tensor(target.affine))
    out = reg(ref_mt, tgt_mt)
    rinfo = dict(out.meta["registration"])
    if not rinfo.get("ran"):
        action = "resampled by the affines (no registration)"
    elif rinfo.get("fallback") == "header":
        action = "resampled by the affines (the registration failed its checks)"
    else:
        action = "registered and resampled"
    log(
        f"Reference: grid {reference.array.shape} differs from the target's {target.array.shape} (or its affine); "
        f"{action} onto the target grid"
        + (
            f" (rotation {rinfo.get('rotation_deg', 0.0):.2f} deg, translation "
            f"{np.round(rinfo.get('translation_mm', [0, 0, 0]), 2).tolist()} mm"
            + ("; checks passed)." if rinfo.get("accepted") else f"; {rinfo.get('reason', '')}).")
            if rinfo.get("ran")
            else "."
        )
    )
    info = {"action": action, **{k: v for k, v in rinfo.items() if k != "matrix"}}
    arr = np.ascontiguousarray(out.as_tensor().numpy()[0], dtype=np.float32)
    return Volume(arr, target.affine.copy(), reference.kind, reference.path, reference.info), info


def _is_lr_grid(target: Volume, reference: Volume) -> bool:
    t, r = target.array.shape, reference.array.shape
    return t[2] == r[2] and t[:2] != r[:2] and t[0] <= r[0] and t[1] <= r[1]


RUN_INFO = "run_info.json"


def _own_outputs(suffix: str) -> tuple[str, ...]:
    return (RUN_INFO, "dicom")


def _finished_case(
    output: str | Path, overwrite: bool, suffix: str, log: Log, *, fingerprint: dict[str, Any]
) -> dict[str, Any] | None:
    """Prepare the output folder of one case; return the stored result when the case is finished.

    New or empty folder: created. ``overwrite``: used as it is. A folder holding only this
    command's own outputs (``*_<suffix>.nii.gz``, ``run_info.json``, ``dicom/``, temporary
    ``.partial`` files of an interrupted write): finished (``run_info.json`` and its NIfTI exist)
    -> skipped when ``run_info.json`` records the same ``fingerprint`` (bundle, weights, inputs and
    options, see :mod:`monai_mcrecon.run_record`), refused when it does not; not finished ->
    completed. Anything else in it: :class:`FileExistsError`.

    Args:
        output: the case's output folder.
        overwrite: use the folder as it is (the run replaces what it writes).
        suffix: ``"recon"`` or ``"sr"`` (the NIfTI is ``<case>_<suffix>.nii.gz``).
        log: where to say that the case is skipped.
        fingerprint: the new run's :func:`~monai_mcrecon.run_record.run_fingerprint`.

    Returns:
        the stored result with ``skipped: True``, or ``None`` when the case is to be run.

    Raises:
        FileExistsError: the output is a file; the folder holds files of something else; or it holds a
            finished run made from other inputs or options, or one that recorded no fingerprint (an
            older version) and so cannot be shown to be the same: naming what differs and the fix.
    """
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"Output {str(out)!r} exists and is not a folder; choose another --output.")
    if overwrite or not out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        return None
    entries = sorted(p.name for p in out.iterdir())
    foreign = [
        n for n in entries
        if n not in _own_outputs(suffix) and not n.endswith(f"_{suffix}.nii.gz") and PARTIAL_MARK not in n
    ]
    if foreign:
        raise FileExistsError(
            f"Output folder {str(out)!r} already holds {foreign[:5]}{' ...' if len(foreign) > 5 else ''}; pass "
            "--overwrite to replace them, or choose another --output folder."
        )
    info_file = out / RUN_INFO
    differences: list[str] | None = None  # None: no finished run here
    if info_file.is_file():
        try:
            result = json.loads(info_file.read_text())
        except json.JSONDecodeError:
            result = {}
        result = result if isinstance(result, dict) else {}
        if result.get("nifti") and (out / Path(result["nifti"]).name).is_file():
            old = result.get("fingerprint")
            if old is None:
                raise FileExistsError(
                    f"Output folder {str(out)!r} holds a finished run whose run_info.json records no fingerprint of its "
                    "inputs and options (an older monai-mcrecon), so it cannot be shown to match this run; pass "
                    "--overwrite to redo it, or choose another --output folder."
                )
            differences = fingerprint_differences(old, fingerprint)
            if differences:
                raise FileExistsError(
                    f"Output folder {str(out)!r} holds a finished run made from other inputs or options "
                    f"({'; '.join(differences)}); pass --overwrite to replace it, or choose another --output folder."
                )
    for n in entries:  # leftovers of an interrupted write (once nothing was refused)
        if PARTIAL_MARK in n:
            (out / n).unlink(missing_ok=True)
    if differences == []:  # a finished run of the same inputs and options
        log(f"Skipping: {str(out)!r} holds a finished run of the same inputs and options "
            f"({Path(result['nifti']).name}); pass --overwrite to redo it.")
        return {**result, "skipped": True}
    return None


def run_many(
    targets: Sequence[str | Path],
    output: str | Path,
    references: Sequence[str | Path] | None = None,
    overwrite: bool = False,
    log: Log = print,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`run_model` over several targets, each into ``<output>/<case>/``; a case that fails is
    reported and the others go on.

    Args:
        targets: target volumes (their names, without extension, are the case folders; repeated
            names get ``_2``, ``_3``... suffixes).
        output: output folder.
        references: one reference per target (or ``None``).
        overwrite: redo finished cases (else they are skipped, see :func:`run_model`).
        kwargs: the other arguments of :func:`run_model` (bundle, task, device...).

    Returns:
        ``done``, ``skipped`` (case -> output NIfTI), ``failed`` (case -> error message); also
        written as ``<output>/batch_report.json``.

    Raises:
        ValueError: references that do not pair with the targets; FileExistsError: an output
        folder holding something else than case folders of this run.
    """
    targets = [Path(t) for t in targets]
    if references is not None and len(references) not in (0, len(targets)):
        raise ValueError(
            f"Give one --reference per --target ({len(targets)} targets, {len(references)} references), in the same order."
        )
    refs = list(references) if references else [None] * len(targets)
    cases: list[str] = []
    for t in targets:
        name = Volume(np.zeros(0), np.eye(4), "", t).stem or "case"
        base, i = name, 2
        while name in cases:
            name, i = f"{base}_{i}", i + 1
        cases.append(name)
    out = Path(output)
    if out.is_dir() and not overwrite:
        foreign = [p.name for p in out.iterdir() if p.name not in (*cases, "batch_report.json") and PARTIAL_MARK not in p.name]
        if foreign:
            raise FileExistsError(
                f"Output folder {str(out)!r} already holds {sorted(foreign)[:5]}, which are not cases of this run; pass "
                "--overwrite, or choose another --output folder."
            )
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"done": {}, "skipped": {}, "failed": {}}
    for k, (case, target, ref) in enumerate(zip(cases, targets, refs)):
        log(f"[{k + 1}/{len(cases)}] {case}")
        try:
            result = run_model(target, out / case, reference=ref, overwrite=overwrite, log=log, **kwargs)
        except (KeyboardInterrupt, PermissionError):
            raise
        except Exception as e:  # one bad case must not stop the others
            report["failed"][case] = f"{type(e).__name__}: {e}"
            log(f"FAILED {case}: {type(e).__name__}: {e}")
            continue
        report["skipped" if result.get("skipped") else "done"][case] = result.get("nifti")
    atomic_write_text(out / "batch_report.json", json.dumps(report, indent=2, default=str) + "\n")
    return report


def _inference_options(
    binfo: dict[str, Any], device: str | None, amp: bool, channels_last: bool, compile: bool,
    tile: Sequence[int] | None, tile_margin: int, log: Log,
) -> dict[str, Any]:
    """The bundle overrides of the inference options (only those that differ from the plain path).

    Raises:
        ValueError: a malformed ``tile`` / ``tile_margin``, or a bundle whose ``inference.json``
            has no such option.
    """
    options: dict[str, Any] = {}
    if amp:
        run_on = str(device) if device else ("cuda:0" if torch.cuda.is_available() else "cpu")
        if not run_on.startswith("cuda"):
            log(
                f"Note: --amp (float16 autocast) only acts on CUDA devices; on {run_on} the run stays in float32 "
                "(the same outputs as without --amp)."
            )
        options["amp"] = True
    if channels_last:
        options["channels_last"] = True
    if compile:
        options["compile"] = True
    if tile is not None:
        tile = list(tile)
        if len(tile) != 2 or any(isinstance(t, bool) or int(t) != t or int(t) < 1 for t in tile):
            raise ValueError(f"--tile takes two positive integers (tile height and width in pixels), got {tile!r}.")
        if int(tile_margin) != tile_margin or tile_margin < 0:
            raise ValueError(f"--tile-margin must be a non-negative integer (pixels), got {tile_margin!r}.")
        options["tile_size"] = [int(t) for t in tile]
        options["tile_margin"] = int(tile_margin)
    missing = [k for k in options if k not in binfo["config"]]
    if missing:
        raise ValueError(
            f"Bundle {binfo['name']!r} has no {missing} in its inference.json (an older bundle layout): run it without "
            "--amp / --channels-last / --compile / --tile, or add monai_mcrecon.inference.OptimizedInferer as its "
            "inferer (see docs/performance.md)."
        )
    return options


def _check_tiles(tile: Sequence[int], margin: int, image: Sequence[int]) -> None:
    """Refuse tiles without a centre before the network runs (the rule of :func:`~monai_mcrecon.inference.tile_margins`).

    Raises:
        ValueError: naming the axis, the sizes and the fix.
    """
    from monai_mcrecon.inference import tile_margins

    try:
        tile_margins(tile, margin, image)
    except ValueError as err:
        raise ValueError(f"--tile {tile[0]} {tile[1]}: {str(err).rstrip('.')} (--tile-margin).") from None


def _consistency_route(
    binfo: dict[str, Any], task: str, tgt: Volume, crop_to_recon_size: bool, data_consistency: bool, has_dc: bool
) -> tuple[bool, str | None]:
    """Whether the target goes through the bundle's ``kspace_file`` route (a single-coil, uncropped
    fastMRI h5 file: its acquired k-space reaches the output data consistency), and why data
    consistency cannot apply otherwise (``None``: it can, or the bundle decides)."""
    from monai_mcrecon.transforms.kspace_input import kspace_consistency_note

    cfg = binfo["config"]
    h5_keys = ("kspace_file", "kspace_crop_to_recon_size", "kspace_coil_combine")
    can_read_h5 = task == "recon" and all(k in cfg for k in h5_keys)
    if binfo["needs_reference"]:
        can_read_h5 = can_read_h5 and "reference_file" in cfg
    if tgt.kind != "h5":
        reason = (
            f"off: the target is a magnitude image ({tgt.kind}), which does not carry the acquired k-space (its phase "
            "is lost); give the acquisition as a single-coil fastMRI h5 file for data consistency"
        )
        if task == "sr":
            reason = "off: a low-resolution image target carries no acquired k-space"
        return False, _dc_off(has_dc, data_consistency, reason)
    note = kspace_consistency_note(bool(tgt.info.get("multicoil")), bool(crop_to_recon_size))
    if note is not None:
        return False, _dc_off(has_dc, data_consistency, note)
    if not can_read_h5:
        return False, _dc_off(
            has_dc, data_consistency, f"off: bundle {binfo['name']!r} has no kspace_file input for h5 targets"
        )
    return True, _dc_off(has_dc, data_consistency, None)


def _dc_off(has_dc: bool, enabled: bool, reason: str | None) -> str | None:
    if not has_dc:
        return "off: the bundle has no output data consistency (no data_consistency_output option)"
    if not enabled:
        return "off: disabled (--no-data-consistency)"
    return reason


def _run_bundle(config_file: str | Path, overrides: dict[str, Any]) -> str | None:
    """Run a bundle's inference config (as :func:`monai.bundle.run` does) and return what its
    :class:`~monai_mcrecon.transforms.DataConsistencyd` recorded for the (last) case, if anything."""
    from monai.bundle import create_workflow

    workflow = create_workflow(run_id="run", config_file=str(config_file), **overrides)
    workflow.run()
    record = None
    try:
        evaluator = workflow.parser.get_parsed_content("evaluator")
        output = evaluator.state.output
        items = output if isinstance(output, (list, tuple)) else [output]
        found = [i.get("data_consistency") for i in items if isinstance(i, dict) and i.get("data_consistency")]
        record = str(found[-1]) if found else None
    except Exception:  # noqa: BLE001 - another bundle layout: nothing recorded
        record = None
    workflow.finalize()
    return record


@removes_new_outputs_on_failure("output")  # a failed run leaves no empty folder, nor files it wrote
def run_model(
    target: str | Path,
    output: str | Path,
    reference: str | Path | None = None,
    bundle: str | Path | None = None,
    task: str = "recon",
    device: str | None = None,
    batch_size: int = 4,
    ckpt: str | Path | None = None,
    register: bool = True,
    dicom: bool | None = None,
    overwrite: bool = False,
    coil_combine: str = "rss",
    crop_to_recon_size: bool = False,
    progress: bool = True,
    log: Log = print,
    trust_bundle: bool = False,
    amp: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    tile: Sequence[int] | None = None,
    tile_margin: int = 32,
    data_consistency: bool = True,
) -> dict[str, Any]:
    """Reconstruct (``task="recon"``) or super-resolve (``task="sr"``) a target volume with a bundle.

    Args:
        target: the degraded target (zero-filled / low-resolution image): NIfTI, DICOM folder or
            fastMRI h5 (the zero-filled image of its k-space).
        output: output folder (must be empty or new unless ``overwrite``).
        reference: the reference contrast (NIfTI or DICOM folder); required by the MC-CDic bundles.
        bundle: bundle name or folder; default ``mc_cdic_recon`` (recon) / ``mc_cdic_sr`` (sr).
        task: ``"recon"`` or ``"sr"``; must match the bundle.
        device: e.g. ``"cpu"``, ``"cuda:0"``; ``None`` keeps the bundle's default (CUDA if available).
        batch_size: slices per forward pass (the bundle's ``slice_batch_size``); bounds the memory.
        ckpt: weights to load instead of the bundle's ``models/model.pt``.
        register: register a reference on another grid (else resample it by the affines only).
        dicom: write a derived DICOM series too; ``None``: only for a DICOM target.
        overwrite: write into a non-empty output folder, and redo a finished case. Without it a
            folder that holds a finished run of this case (``run_info.json`` and its NIfTI) made
            from the same inputs and options (the ``fingerprint`` in ``run_info.json``: bundle,
            weights, target, reference, options; :mod:`monai_mcrecon.run_record`) is skipped, one
            made from other inputs or options (or with no fingerprint) is refused, and one that holds
            only this case's own (interrupted) outputs is completed. A run that fails removes what it
            created in the folder (and the folder, when it created it).
        coil_combine, crop_to_recon_size: h5 targets, see :func:`load_volume`.
        progress: progress bars (reading h5 slices; the bundle's slice batches).
        log: where to print what was done.
        trust_bundle: run a bundle folder outside the package's own bundles.
        amp, channels_last, compile, tile, tile_margin: inference options of the bundle's
            :class:`~monai_mcrecon.inference.OptimizedInferer` (see ``docs/performance.md``):
            float16 autocast on CUDA (on CPU: a note, and the run stays float32), channels-last
            memory format, ``torch.compile`` of the network, and tiles of ``tile = (H, W)`` pixels
            per slice whose ``tile_margin``-pixel borders are (almost) ignored
            (:class:`~monai_mcrecon.inference.TiledInferer`; an approximation for the MC-CDic and
            CLGNet networks, whose receptive fields are global).
        data_consistency: re-impose the acquired k-space on the output (the bundle's
            ``data_consistency_output``) where it is known: single-coil fastMRI h5 targets that are
            not cropped, which then run through the bundle's ``kspace_file`` route (the bundle reads
            the h5 file itself; the reference goes as a NIfTI file after registration / resampling).
            A NIfTI / DICOM target is a magnitude image and a multi-coil h5 target a coil-combined
            one: neither is the Fourier transform of the acquired k-space, so they run without it.

    Returns:
        ``nifti`` (output path), ``dicom`` (folder or None), ``shape``, ``affine``, ``reference``
        (what was done to it), ``bundle``, ``data_consistency`` (``"on (...)"`` or ``"off: <why>"``),
        ``data_consistency_applied`` and ``bundle_input`` (``"kspace_file"`` or ``"nifti"``); also
        written as ``run_info.json`` in the output folder (last, atomically: its presence marks the
        case as finished). ``skipped: True`` when the case was already finished.

    Raises:
        FileNotFoundError: missing target / reference / checkpoint.
        FileExistsError: non-empty output folder without ``overwrite``, or one holding a finished run
            of other inputs or options (naming what differs).
        ValueError: unknown bundle, task / bundle mismatch, missing reference, incompatible shapes.
    """
    if task not in ("recon", "sr"):
        raise ValueError(f"task must be 'recon' or 'sr', got {task!r}.")
    command = "reconstruct" if task == "recon" else "super-resolve"
    binfo = bundle_info(bundle or ("mc_cdic_recon" if task == "recon" else "mc_cdic_sr"), trust=trust_bundle)
    if binfo["task"] != task:
        other = "super-resolve" if binfo["task"] == "sr" else "reconstruct"
        raise ValueError(
            f"Bundle {binfo['name']!r} is a {'super-resolution' if binfo['task'] == 'sr' else 'reconstruction'} bundle; "
            f"use `monai-mcrecon {other}` with it, or pick another --bundle for `{command}`."
        )
    target_path = Path(target)
    if not target_path.exists():
        raise FileNotFoundError(f"Target {str(target_path)!r} does not exist; check --target.")
    if binfo["needs_reference"] and reference is None:
        raise ValueError(
            f"Bundle {binfo['name']!r} is multi-contrast: it needs the reference contrast "
            f"({binfo['reference_contrast']!r}) of the same slices. Pass --reference <NIfTI file or DICOM folder>."
        )
    if reference is not None and not Path(reference).exists():
        raise FileNotFoundError(f"Reference {str(reference)!r} does not exist; check --reference.")
    if ckpt is not None and not Path(ckpt).is_file():
        raise FileNotFoundError(f"Checkpoint {str(ckpt)!r} does not exist; check --ckpt.")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}.")
    if "slice_batch_size" not in binfo["config"]:
        raise ValueError(f"Bundle {binfo['name']!r} has no 'slice_batch_size' in inference.json; cannot set the batch size.")
    options = _inference_options(binfo, device, amp, channels_last, compile, tile, tile_margin, log)
    suffix = "recon" if task == "recon" else "sr"
    uses_reference = reference is not None and binfo["needs_reference"]
    is_h5 = target_path.name.lower().endswith(H5_SUFFIXES)
    fingerprint = run_fingerprint(  # what decides the result: a finished run is reused only when it matches
        command=command,
        bundle_name=binfo["name"],
        bundle_config=binfo["config_file"],
        weights=ckpt if ckpt is not None else binfo["root"] / "models" / "model.pt",
        target=target_path,
        reference=reference if uses_reference else None,
        options={
            "task": task,
            "inference_options": options,
            "data_consistency": bool(data_consistency),
            "register": bool(register) if uses_reference else None,
            "coil_combine": coil_combine if is_h5 else None,
            "crop_to_recon_size": bool(crop_to_recon_size) if is_h5 else None,
            "dicom_output": bool(dicom) if dicom is not None else _kind(target_path) == "dicom",
        },
    )
    finished = _finished_case(output, overwrite, suffix, log, fingerprint=fingerprint)
    if finished is not None:
        return finished
    out = Path(output)

    tgt = check_volume(load_volume(target_path, coil_combine, crop_to_recon_size, progress, log), "target")
    ref_info: dict[str, Any] = {"action": "no reference"}
    ref = None
    ref_identity: dict[str, Any] = {}
    if reference is not None and not binfo["needs_reference"]:
        log(f"Note: bundle {binfo['name']!r} is single-contrast (its shipped weights take no reference); the reference is ignored.")
        ref_info = {"action": "ignored: single-contrast bundle"}
    elif reference is not None:
        ref = load_volume(reference, log=log)
        if ref.kind == "h5":
            raise ValueError("The reference must be an image volume (NIfTI or DICOM), not a k-space h5 file.")
        check_volume(ref, "reference")
        if ref.kind == "dicom":  # same patient, study and scanner frame as the target: kept for a DICOM output
            ref_identity = {k: v for k, v in ref.info.get("tags", {}).items() if k in _IDENTITY_TAGS and v not in (None, "")}
        if task == "sr" and _is_lr_grid(tgt, ref):
            ref_info = {
                "action": "none",
                "reason": f"LR-grid target {tgt.array.shape} and HR reference {ref.array.shape}: the bundle zero-pads "
                "the target's k-space onto the reference grid; the output is on the reference grid",
            }
            if has_geometry(tgt):  # the HR grid the target's k-space zero-pads onto, in physical space
                hr_affine = _hr_affine(tgt.affine, tgt.array.shape, ref.array.shape)
                if not _same_grid(ref, Volume(ref.array, hr_affine, tgt.kind, tgt.path)):
                    from monai_mcrecon.data.grid import match_to_grid

                    arr, how = match_to_grid(ref.array, ref.affine, ref.array.shape, hr_affine)
                    ref = Volume(arr, hr_affine, ref.kind, ref.path, ref.info)
                    ref_info["reason"] += f"; the reference {how} onto the target's HR grid in physical space"
            log(f"Reference: {ref_info['reason']}.")
        else:
            if task == "sr" and tgt.array.shape[2] != ref.array.shape[2] and tgt.array.shape[:2] != ref.array.shape[:2]:
                log("Note: the target is neither on the reference grid nor an LR grid of it; resampling the reference.")
            ref, ref_info = resample_reference(ref, tgt, register=register, log=log)
            if not np.any(ref.array):
                raise ValueError(
                    f"The reference {str(reference)!r} does not overlap the target's field of view (resampled onto "
                    "the target grid it is all zero): check that both images belong to the same study and that their "
                    "affines / DICOM positions are right."
                )
        if tgt.array.shape[2] != ref.array.shape[2]:
            raise ValueError(
                f"Target {tgt.array.shape} and reference {ref.array.shape} have different slice counts; "
                "give a reference covering the same slices."
            )
    lr_grid = ref is not None and task == "sr" and _is_lr_grid(tgt, ref)
    out_affine = ref.affine if lr_grid else tgt.affine
    if options.get("tile_size"):  # the network runs on the output grid
        _check_tiles(options["tile_size"], options["tile_margin"], (ref if lr_grid else tgt).array.shape[:2])
    case = tgt.stem or "case"
    t_name, r_name = binfo["target_contrast"], binfo["reference_contrast"]
    has_dc = "data_consistency_output" in binfo["config"]
    kspace_route, dc_reason = _consistency_route(binfo, task, tgt, crop_to_recon_size, data_consistency, has_dc)

    with tempfile.TemporaryDirectory(prefix="monai_mcrecon_") as tmp:
        data_dir, bundle_out = Path(tmp) / "data", Path(tmp) / "out"
        if not kspace_route:
            save_nifti(tgt.array, tgt.affine, data_dir / case / f"{t_name}.nii.gz")
        if ref is not None:
            save_nifti(ref.array, ref.affine, data_dir / case / f"{r_name}.nii.gz")
        overrides: dict[str, Any] = {
            "bundle_root": str(binfo["root"]),
            "dataset_dir": str(data_dir),
            "output_dir": str(bundle_out),
            "slice_batch_size": int(batch_size),
            "simulate_acquisition": False,
            # the slice inferer inside OptimizedInferer (older bundle layouts: the inferer itself)
            ("slice_inferer#progress" if "slice_inferer" in binfo["config"] else "inferer#progress"): bool(progress),
            **options,
        }
        if device:
            overrides["device"] = str(device)
        if ckpt is not None:
            overrides["ckpt_path"] = str(Path(ckpt).resolve())
        if has_dc and not data_consistency:
            overrides["data_consistency_output"] = False
        if kspace_route:  # the bundle reads the h5 file itself and keeps its acquired k-space
            overrides["kspace_file"] = str(tgt.path.resolve())
            overrides["kspace_crop_to_recon_size"] = False
            overrides["kspace_coil_combine"] = coil_combine
            if ref is not None:
                overrides["reference_file"] = str(data_dir / case / f"{r_name}.nii.gz")
        from monai_mcrecon.bundles import check_overrides

        check_overrides(binfo["config_file"], overrides)
        log(
            f"Running bundle {binfo['name']!r} on {tgt.array.shape[2]} slices of {tgt.array.shape[0]}x{tgt.array.shape[1]} "
            f"(batches of {batch_size} slices, device {device or 'bundle default'}"
            f"{', from the h5 k-space' if kspace_route else ''})."
        )
        record = _run_bundle(binfo["config_file"], overrides)
        out_dir = bundle_out if kspace_route else bundle_out / case
        produced = sorted(out_dir.glob(f"*_{suffix}.nii.gz"))
        if not produced:
            raise RuntimeError(f"The bundle wrote no *_{suffix}.nii.gz under {str(out_dir)!r}.")
        pred = np.asarray(nib.load(str(produced[0])).dataobj, dtype=np.float32)
        sidecar = produced[0].with_suffix("").with_suffix(".json")
        extra = json.loads(sidecar.read_text()) if sidecar.is_file() else None

    dc_applied = isinstance(record, str) and record.startswith(("hard", "soft"))
    if dc_applied:
        dc_text = f"on ({record}): the acquired k-space of the single-coil h5 file is re-imposed on the output"
    elif dc_reason is not None:
        dc_text = dc_reason
    elif record is not None:  # e.g. "off (no acquired k-space)"
        dc_text = f"off: {record.removeprefix('off').strip(' :()') or 'disabled in the bundle'}"
    else:
        dc_text = "off: the bundle did not report data consistency"
    log(f"Data consistency: {dc_text}.")
    (out / RUN_INFO).unlink(missing_ok=True)  # an older run's mark goes before its outputs are replaced
    nifti_path = save_nifti(pred, out_affine, out / f"{case}_{suffix}.nii.gz")
    log(f"Wrote {nifti_path} {pred.shape}.")
    dicom_dir = None
    if dicom or (dicom is None and tgt.kind == "dicom"):
        from monai_mcrecon.data.dicom import write_dicom_series

        dicom_dir = out / "dicom"
        description = f"{binfo['name']} {'recon' if task == 'recon' else 'SR'} (monai-mcrecon)"
        # the folder holds only this case's outputs (checked above): an interrupted series is replaced
        kwargs: dict[str, Any] = {"description": description, "overwrite": True, "affine": out_affine}
        if tgt.kind == "dicom":
            kwargs["reference_dir"] = tgt.path
        elif ref_identity:
            # an h5 / NIfTI target carries no patient or study: take them (not the acquisition tags, which
            # describe the reference's sequence) from the DICOM reference of the same study
            kwargs["tags"] = ref_identity
            kwargs["derivation_description"] = (
                f"{binfo['name']} output from {Path(tgt.path).name}, guided by the reference series "
                f"{ref_identity.get('SeriesInstanceUID', reference)}"
            )
        write_dicom_series(pred, dicom_dir, **kwargs)
        log(f"Wrote the derived DICOM series {dicom_dir} ({pred.shape[2]} files, SeriesDescription {description!r}).")
    result = {
        "command": command,
        "bundle": binfo["name"],
        "bundle_root": str(binfo["root"]),
        "target": str(tgt.path),
        "target_kind": tgt.kind,
        "target_info": {k: v for k, v in tgt.info.items() if k != "tags"},
        "reference": None if reference is None else str(reference),
        "reference_handling": ref_info,
        "warnings": [ref_info["warning"]] if ref_info.get("warning") else [],
        "device": device,
        "batch_size": batch_size,
        "inference_options": options,
        "bundle_input": "kspace_file" if kspace_route else "nifti",
        "data_consistency": dc_text,
        "data_consistency_applied": dc_applied,
        "nifti": str(nifti_path),
        "dicom": None if dicom_dir is None else str(dicom_dir),
        "shape": list(pred.shape),
        "affine": np.asarray(out_affine).tolist(),
        "fingerprint": fingerprint,  # a re-run skips this case only when its fingerprint is the same
    }
    if extra is not None:
        result["sr_input"] = extra
    atomic_write_text(out / RUN_INFO, json.dumps(result, indent=2, default=str) + "\n")  # written last: the case is done
    return result


# --------------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------------


def _lr_affine(affine: np.ndarray, hr: Sequence[int], lr: Sequence[int]) -> np.ndarray:
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


def _hr_affine(lr_affine: np.ndarray, lr: Sequence[int], hr: Sequence[int]) -> np.ndarray:
    """The HR-grid affine an LR grid zero-pads onto (the inverse of :func:`_lr_affine`)."""
    return np.asarray(lr_affine, dtype=np.float64) @ np.linalg.inv(_lr_index_matrix(hr, lr))


@removes_new_outputs_on_failure("output")  # a failed run leaves no empty folder, nor files it wrote
def simulate(
    input: str | Path,
    output: str | Path,
    task: str = "recon",
    mask_type: str = "mc_cdic",
    acceleration: float = 4.0,
    center_fraction: float | None = None,
    seed: int = 42,
    coils: int = 0,
    snr_db: float | None = None,
    scale: float = 2.0,
    lr_grid: bool = False,
    reference: str | Path | None = None,
    overwrite: bool = False,
    log: Log = print,
    single_coil_h5: bool = False,
) -> dict[str, Any]:
    """Make a retrospective study from a fully sampled volume.

    Writes ``<output>/truth.nii.gz`` (the input), ``<output>/target_degraded.nii.gz`` and
    ``<output>/simulation.json`` (what was done), and:

    * ``task="recon"``: the zero-filled magnitude of the k-space undersampled with the mask
      (:func:`~monai_mcrecon.kspace.create_mask_func`, one mask for every slice, phase encoding
      along Y); ``mask.npy`` and ``mask.json``. With ``coils > 0`` also ``target_kspace.h5``: a
      fastMRI multi-coil file (:func:`~monai_mcrecon.kspace.simulate_multicoil` k-space of every
      slice, undersampled with the mask, the ``mask`` dataset, and ``reconstruction_rss`` the RSS
      of the fully sampled coil images). With ``single_coil_h5`` instead: ``target_kspace.h5`` as a
      fastMRI single-coil file, ``fft2c`` of every (real) slice undersampled with the mask, the
      ``mask`` dataset and ``reconstruction_esc`` the input; its ``|ifft2c|`` is
      ``target_degraded.nii.gz``, and ``reconstruct`` applies data consistency with it.
    * ``task="sr"``: k-space truncation by ``scale``; the HR-grid (zero-padded) image, or the
      LR-grid image with its own affine (``lr_grid``).

    The reference, if given, is copied through as ``reference.nii.gz``.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: missing input, non-empty output folder
            without ``overwrite``, bad options (e.g. ``coils`` with a 2-D mask, ``coils`` with
            ``single_coil_h5``).
    """
    from monai_mcrecon.kspace import (
        create_mask_func,
        ifft2c,
        rss,
        simulate_multicoil,
        truncate_image,
        undersample_image,
    )

    if task not in ("recon", "sr"):
        raise ValueError(f"--task must be 'recon' or 'sr', got {task!r}.")
    src = Path(input)
    if not src.exists():
        raise FileNotFoundError(f"Input {str(src)!r} does not exist; check --input.")
    if reference is not None and not Path(reference).exists():
        raise FileNotFoundError(f"Reference {str(reference)!r} does not exist; check --reference.")
    if coils < 0:
        raise ValueError(f"--coils must be >= 0, got {coils}.")
    if single_coil_h5 and coils:
        raise ValueError("--single-coil-h5 and --coils both write target_kspace.h5; choose one.")
    if single_coil_h5 and task != "recon":
        raise ValueError("--single-coil-h5 is for --task recon (an undersampled acquisition).")
    out = check_output_dir(output, overwrite)
    vol = check_volume(load_volume(src, log=log), "input")
    if vol.kind == "h5":
        raise ValueError("simulate needs a fully sampled image volume (NIfTI or DICOM), not an h5 file.")
    slices = _volume_slices(vol.array)  # [Z, X, Y]
    info: dict[str, Any] = {
        "input": str(src), "task": task, "shape": list(vol.array.shape), "affine": np.asarray(vol.affine).tolist()
    }
    files = {"truth": str(save_nifti(vol.array, vol.affine, out / "truth.nii.gz"))}
    if task == "recon":
        result = create_mask_func(mask_type, acceleration, center_fraction)(tuple(slices.shape[-2:]), seed=seed)
        mask = result.mask
        kspace_us, zero_filled = undersample_image(slices, mask)
        files["target_degraded"] = str(save_nifti(_slices_volume(zero_filled), vol.affine, out / "target_degraded.nii.gz"))
        with atomic_path(out / "mask.npy") as tmp:
            np.save(tmp, mask.numpy())
        mask_info = {
            "mask_type": mask_type,
            "acceleration": float(acceleration),
            "realised_acceleration": float(result.acceleration),
            "center_fraction": center_fraction,
            "num_low_frequencies": int(result.num_low_frequencies),
            "seed": seed,
            "shape": list(mask.shape),
            "kspace_shape": list(slices.shape[-2:]),
            "phase_encoding_axis": "Y (the second voxel axis)",
        }
        atomic_write_text(out / "mask.json", json.dumps(mask_info, indent=2) + "\n")
        files["mask"] = str(out / "mask.npy")
        info["mask"] = mask_info
        log(
            f"Undersampled {slices.shape[0]} slices with a {mask_type} mask: acceleration {result.acceleration:.2f} "
            f"({result.num_low_frequencies} centre lines)."
        )
        if coils or single_coil_h5:
            if mask.shape[0] != 1:
                raise ValueError(
                    f"--{'coils' if coils else 'single-coil-h5'} writes a fastMRI h5 file, whose mask is 1-D (columns); "
                    f"mask {mask_type!r} is 2-D. Use random, equispaced, mc_cdic or gaussian1d."
                )
            spacing = np.linalg.norm(vol.affine[:3, :3], axis=0)
            shape = vol.array.shape
            fov = (shape[0] * spacing[0], shape[1] * spacing[1], float(spacing[2]))
            h5 = out / "target_kspace.h5"
            from monai_mcrecon.data import write_fastmri_h5

        if single_coil_h5:
            h5_kspace, h5_truth = kspace_us, slices  # the k-space behind target_degraded.nii.gz
            info["single_coil"] = {
                "kspace": "fft2c of the (real) input slices, undersampled with the mask",
                "truth": "reconstruction_esc: the input slices",
            }
            what = "single-coil k-space, undersampled (its |ifft2c| is target_degraded.nii.gz)"
        elif coils:
            sim = simulate_multicoil(slices, num_coils=coils, snr_db=snr_db, seed=seed)
            h5_kspace, h5_truth = sim.kspace * mask, rss(ifft2c(sim.kspace))
            info["multicoil"] = {
                "coils": coils,
                "snr_db": snr_db,
                "noise_std": sim.noise_std.tolist(),
                "truth": "reconstruction_rss: RSS of the fully sampled (noisy) coil images",
            }
            what = f"{coils}-coil k-space{'' if snr_db is None else f' at {snr_db:g} dB SNR'}, undersampled"
        if single_coil_h5 or coils:
            write_fastmri_h5(
                h5,
                h5_kspace.to(torch.complex64),
                reconstruction=h5_truth.to(torch.float32),
                mask=mask[0],
                encoding_fov_mm=fov,
                recon_fov_mm=fov,
                affine=vol.affine,  # the patient geometry: reconstruct pairs the file in physical space
            )
            files["kspace_h5"] = str(h5)
            info["kspace_h5_geometry"] = "the input's voxel -> RAS affine (h5 attr mcrecon_affine_ras)"
            log(f"Wrote {h5.name}: {what}.")
    else:
        _, degraded = truncate_image(slices, scale, grid="lr" if lr_grid else "hr")
        arr = _slices_volume(degraded.to(torch.float32))
        affine = _lr_affine(vol.affine, vol.array.shape, arr.shape) if lr_grid else vol.affine
        files["target_degraded"] = str(save_nifti(arr, affine, out / "target_degraded.nii.gz"))
        info["sr"] = {"scale": scale, "grid": "lr" if lr_grid else "hr", "degraded_shape": list(arr.shape)}
        log(f"Truncated k-space by x{scale:g}: {'LR grid ' + str(arr.shape) if lr_grid else 'HR grid (zero-padded)'}.")
    if reference is not None:
        ref = load_volume(reference, log=log)
        files["reference"] = str(save_nifti(ref.array, ref.affine, out / "reference.nii.gz"))
    info["files"] = files
    atomic_write_text(out / "simulation.json", json.dumps(info, indent=2, default=str) + "\n")
    log(f"Wrote {', '.join(Path(f).name for f in files.values())} to {out}.")
    return info


# --------------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------------

EVAL_FILES = ("metrics.csv", "metrics.md", "comparison.png")


def _metrics(truth: torch.Tensor, img: torch.Tensor) -> dict[str, float]:
    from monai_mcrecon.metrics.functional import nmse, psnr, ssim

    return {"psnr": float(psnr(truth, img)), "ssim": float(ssim(truth, img)), "nmse": float(nmse(truth, img))}


@removes_new_outputs_on_failure("output")  # a failed run leaves no empty folder, nor files it wrote
def evaluate(
    pred: str | Path,
    truth: str | Path,
    output: str | Path,
    input: str | Path | None = None,
    overwrite: bool = False,
    error_gain: float = 5.0,
    log: Log = print,
) -> list[dict[str, Any]]:
    """fastMRI PSNR / SSIM / NMSE of a prediction (and optionally the degraded input) per volume.

    Metrics follow :mod:`monai_mcrecon.metrics.functional` (fastMRI: ``maxval`` the truth's
    maximum over the volume, SSIM averaged over the slices along Z), on the truth's grid: a
    prediction or input on another grid (another slice order, handedness, axis order, or another
    sampling) is first put onto it in physical space by the affines (exact re-indexing when the
    voxels are the same, else trilinear resampling), never paired by array index; ``metrics.md``
    says what was done. Writes ``metrics.csv``,
    ``metrics.md`` (the printed Markdown table) and ``comparison.png`` (input / prediction / truth /
    ``|error|`` of the middle slice) to ``output``.

    Returns:
        one row per image: ``name``, ``file``, ``psnr``, ``ssim``, ``nmse``.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: missing files, existing outputs without
            ``overwrite``, grids that differ where a volume has no patient geometry, no overlap.
    """
    paths = {"prediction": Path(pred), "truth": Path(truth)}
    if input is not None:
        paths["input"] = Path(input)
    for name, p in paths.items():
        if not p.exists():
            raise FileNotFoundError(f"{name} {str(p)!r} does not exist; check --{'pred' if name == 'prediction' else name}.")
    out = check_output_dir(output, overwrite, names=EVAL_FILES)
    vols = {name: check_volume(load_volume(p, log=log), name, allow_constant=True) for name, p in paths.items()}
    gt = vols["truth"].array
    placement = _place_on_truth_grid(vols, log)
    truth_t = _volume_slices(gt).double()
    rows = []
    for name in ("input", "prediction"):
        if name in vols:
            m = _metrics(truth_t, _volume_slices(vols[name].array).double())
            rows.append({"name": name, "file": str(vols[name].path), **m})
    with atomic_path(out / "metrics.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "file", "psnr", "ssim", "nmse"])
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| image | PSNR (dB) | SSIM | NMSE |", "|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['nmse']:.5f} |" for r in rows]
    table = "\n".join(lines)
    where = "; ".join(f"{name}: {how}" for name, how in placement.items())
    atomic_write_text(
        out / "metrics.md",
        f"fastMRI metrics per volume (truth: {paths['truth']}, {gt.shape[2]} slices), computed on the truth's grid "
        f"in physical space ({where})\n\n{table}\n",
    )
    log(table)
    _figure(vols, rows, out / "comparison.png", error_gain)
    log(f"Wrote {out / 'metrics.csv'}, {out / 'metrics.md'} and {out / 'comparison.png'}.")
    return rows


def _place_on_truth_grid(vols: dict[str, Volume], log: Log) -> dict[str, str]:
    """Put the prediction (and input) onto the truth's grid in physical space (in place), so that
    voxels are compared where they are in the patient, not by array index; returns how, per image.

    Raises:
        ValueError: grids that differ while a volume has no patient geometry (an h5 file without it).
    """
    from monai_mcrecon.data.grid import match_to_grid, same_grid

    truth = vols["truth"]
    how_by_name: dict[str, str] = {}
    for name, v in vols.items():
        if name == "truth":
            continue
        if same_grid(v.array.shape, v.affine, truth.array.shape, truth.affine):
            how_by_name[name] = "identical grid"
            continue
        if not (has_geometry(v) and has_geometry(truth)):
            if v.array.shape == truth.array.shape:
                how_by_name[name] = "paired by index (no patient geometry in the h5 file)"
                log(f"WARNING: the {name} or the truth has no patient geometry (h5); compared by array index.")
                continue
            raise ValueError(
                f"{name} {str(v.path)!r} has shape {v.array.shape} but the truth has {truth.array.shape}, and one of them "
                "has no patient geometry (h5); compare images on the same grid (NIfTI / DICOM carry their geometry)."
            )
        arr, how = match_to_grid(v.array, v.affine, truth.array.shape, truth.affine)
        if not np.any(arr):
            raise ValueError(
                f"{name} {str(v.path)!r} does not overlap the truth's field of view in physical space; check that both "
                "images belong to the same study and that their affines / DICOM positions are right."
            )
        vols[name] = Volume(arr, truth.affine.copy(), v.kind, v.path, v.info)
        how_by_name[name] = how
        log(f"The {name} is on another grid than the truth: {how} onto the truth's grid.")
    return how_by_name


def _figure(vols: dict[str, Volume], rows: list[dict], path: Path, error_gain: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = vols["truth"].array.shape[2] // 2
    truth = vols["truth"].array[:, :, z]
    pred = vols["prediction"].array[:, :, z]
    by_name = {r["name"]: r for r in rows}
    panels = []
    if "input" in vols:
        panels.append((vols["input"].array[:, :, z], f"input ({by_name['input']['psnr']:.2f} dB)"))
    panels += [
        (pred, f"prediction ({by_name['prediction']['psnr']:.2f} dB)"),
        (truth, "truth"),
        (np.abs(pred - truth) * error_gain, f"|error| x{error_gain:g}"),
    ]
    vmax = float(truth.max()) if truth.max() > 0 else 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.6))
    for ax, (img, title) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img.T, cmap="gray", origin="lower", vmin=0, vmax=vmax)
        ax.set_title(title)
        ax.axis("off")
    fig.suptitle(f"slice {z} (volume PSNR in the titles)")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=80)
    finally:
        plt.close(fig)

