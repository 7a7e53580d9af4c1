"""``monai-mcrecon reconstruct`` and ``super-resolve``: restore a target volume with a bundle
(:func:`run_model`). The reference is brought onto the target grid in physical space
(:mod:`monai_mcrecon.commands.pairing`), the bundle's own ``inference.json`` runs on both volumes in
memory (its ``datalist``; its intensity scaling, slice axis, batching, progress bars; the bundle writes
nothing, ``save_nifti`` false, and its prediction comes back from the evaluator's results), and the
output is written as NIfTI with the target's affine, plus a derived DICOM series for DICOM targets (or
on request), and ``run_info.json``. No temporary file is written.
A single-coil fastMRI h5 target (not cropped) goes through the bundle's ``kspace_file`` route so that
its acquired k-space reaches the output data consistency.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_mcrecon.bundle.locate import bundle_info
from monai_mcrecon.bundle.run import (
    check_tiles,
    consistency_record,
    consistency_route,
    inference_options,
    run_inference_config,
)
from monai_mcrecon.bundle.run_info import RUN_INFO, finished_case
from monai_mcrecon.commands.pairing import is_lr_grid, resample_reference
from monai_mcrecon.data.grid import same_grid
from monai_mcrecon.data.volume import (
    H5_SUFFIXES,
    Log,
    Volume,
    check_volume,
    has_geometry,
    hr_affine,
    load_volume,
    save_nifti,
    volume_kind,
)
from monai_mcrecon.run_record import removes_new_outputs_on_failure, run_fingerprint
from monai_mcrecon.safe_io import atomic_write_text

__all__ = [
    "run_model",
]


#: Patient, study and frame-of-reference tags a derived series takes from a DICOM reference when the
#: target itself is not DICOM (fastMRI h5 or NIfTI).
_IDENTITY_TAGS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime",
    "StudyDescription", "FrameOfReferenceUID",
)


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
            the h5 file itself; the reference goes in memory after registration / resampling).
            A NIfTI / DICOM target is a magnitude image and a multi-coil h5 target a coil-combined
            one: neither is the Fourier transform of the acquired k-space, so they run without it.

    Returns:
        ``nifti`` (output path), ``dicom`` (folder or None), ``shape``, ``affine``, ``reference``
        (what was done to it), ``bundle``, ``data_consistency`` (``"on (...)"`` or ``"off: <why>"``),
        ``data_consistency_applied`` and ``bundle_input`` (``"kspace_file"``: the bundle read the h5 file, or
        ``"nifti"``: the image volume, handed over in memory); for super-resolution ``sr_input`` (how the
        bundle made its input, with the output ``file`` and ``geometry_from``, the volume whose grid it has); also
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
    if "datalist" not in binfo["config"]:
        raise ValueError(
            f"Bundle {binfo['name']!r} has no 'datalist' in inference.json (an older bundle layout): the command hands "
            "the bundle its volumes through that key; add \"datalist\" (the dataset's items) with \"dataset\": "
            "{\"data\": \"@datalist\"} and load with monai_mcrecon.transforms.volume_input.LoadVolumed, as "
            "bundles/mc_cdic_recon/configs/inference.json does."
        )
    options = inference_options(binfo, device, amp, channels_last, compile, tile, tile_margin, log)
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
            "dicom_output": bool(dicom) if dicom is not None else volume_kind(target_path) == "dicom",
        },
    )
    finished = finished_case(output, overwrite, suffix, log, fingerprint=fingerprint)
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
        if task == "sr" and is_lr_grid(tgt, ref):
            ref_info = {
                "action": "none",
                "reason": f"LR-grid target {tgt.array.shape} and HR reference {ref.array.shape}: the bundle zero-pads "
                "the target's k-space onto the reference grid; the output is on the reference grid",
            }
            if has_geometry(tgt):  # the HR grid the target's k-space zero-pads onto, in physical space
                hr_grid = hr_affine(tgt.affine, tgt.array.shape, ref.array.shape)
                if not same_grid(ref.array.shape, ref.affine, ref.array.shape, hr_grid):
                    from monai_mcrecon.data.grid import match_to_grid

                    arr, how = match_to_grid(ref.array, ref.affine, ref.array.shape, hr_grid)
                    ref = Volume(arr, hr_grid, ref.kind, ref.path, ref.info)
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
    lr_grid = ref is not None and task == "sr" and is_lr_grid(tgt, ref)
    out_affine = ref.affine if lr_grid else tgt.affine
    if options.get("tile_size"):  # the network runs on the output grid
        check_tiles(options["tile_size"], options["tile_margin"], (ref if lr_grid else tgt).array.shape[:2])
    case = tgt.stem or "case"
    t_name, r_name = binfo["target_contrast"], binfo["reference_contrast"]
    has_dc = "data_consistency_output" in binfo["config"]
    kspace_route, dc_reason = consistency_route(binfo, task, tgt, crop_to_recon_size, data_consistency, has_dc)

    # the volumes go to the bundle in memory (its ``datalist``), and its prediction comes back from the
    # evaluator's results: the bundle writes nothing (``save_nifti`` false)
    from monai_mcrecon.transforms.volume_input import volume_image

    item: dict[str, Any] = {"case_id": case}
    item[t_name] = str(tgt.path.resolve()) if kspace_route else volume_image(tgt.array, tgt.affine, tgt.path)
    if ref is not None:
        item[r_name] = volume_image(ref.array, ref.affine, ref.path)
    overrides: dict[str, Any] = {
        "bundle_root": str(binfo["root"]),
        "save_nifti": False,
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
    from monai_mcrecon.bundle.overrides import check_overrides

    check_overrides(binfo["config_file"], {**overrides, "datalist": [item]})
    log(
        f"Running bundle {binfo['name']!r} on {tgt.array.shape[2]} slices of {tgt.array.shape[0]}x{tgt.array.shape[1]} "
        f"(batches of {batch_size} slices, device {device or 'bundle default'}"
        f"{', from the h5 k-space' if kspace_route else ''})."
    )
    items = run_inference_config(binfo["config_file"], overrides, datalist=[item])
    if not items or "pred_nifti" not in items[-1]:
        raise RuntimeError(f"Bundle {binfo['name']!r} returned no prediction ('pred_nifti') for case {case!r}.")
    pred = torch.as_tensor(items[-1]["pred_nifti"]).detach().cpu().float().numpy()[0]  # [X, Y, Z]
    record = consistency_record(items)
    extra = None
    if isinstance(items[-1].get("sr_input"), Mapping):  # how the SR input was made (the bundle's sidecar json)
        geometry = ref if lr_grid else tgt
        extra = {"file": f"{case}_{suffix}.nii.gz", "geometry_from": str(geometry.path), **items[-1]["sr_input"]}

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
        from monai_mcrecon.data.dicom_write import write_dicom_series

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
