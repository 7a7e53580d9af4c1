"""``monai-mcrecon simulate``: a retrospective study from a fully sampled volume (undersampling with a
mask, optionally multi-coil or single-coil fastMRI h5 k-space with the source's geometry recorded, or
k-space truncation for super-resolution).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_mcrecon.commands.batch import check_output_dir
from monai_mcrecon.data.volume import (
    Log,
    check_volume,
    load_volume,
    lr_affine,
    save_nifti,
    slices_volume,
    volume_slices,
)
from monai_mcrecon.run_record import removes_new_outputs_on_failure
from monai_mcrecon.safe_io import atomic_path, atomic_write_text

__all__ = [
    "simulate",
]


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
    slices = volume_slices(vol.array)  # [Z, X, Y]
    info: dict[str, Any] = {
        "input": str(src), "task": task, "shape": list(vol.array.shape), "affine": np.asarray(vol.affine).tolist()
    }
    files = {"truth": str(save_nifti(vol.array, vol.affine, out / "truth.nii.gz"))}
    if task == "recon":
        result = create_mask_func(mask_type, acceleration, center_fraction)(tuple(slices.shape[-2:]), seed=seed)
        mask = result.mask
        kspace_us, zero_filled = undersample_image(slices, mask)
        files["target_degraded"] = str(save_nifti(slices_volume(zero_filled), vol.affine, out / "target_degraded.nii.gz"))
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
        arr = slices_volume(degraded.to(torch.float32))
        affine = lr_affine(vol.affine, vol.array.shape, arr.shape) if lr_grid else vol.affine
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
