"""A fastMRI h5 file (an already undersampled acquisition) as the zero-filled image volume the MRI bundles restore.

:func:`read_zero_filled_volume` reads every slice lazily (:class:`~monai_mcrecon.data.FastMRIVolume`), combines
the coil images ``ifft2c(k)`` (``"rss"`` or ``"sense"`` with maps from the auto-calibration region; single-coil:
``|ifft2c(k)|``), optionally centre-crops each slice to the header's recon matrix, and stacks the slices along the
last axis ``[H, W, S]`` with the geometry the file records (or a synthetic affine). The k-space is used as it is: a
file with samples outside its mask is rejected. :func:`kspace_consistency_note` says why data consistency cannot
apply to a multi-coil or cropped image. The transforms of :mod:`monai_mcrecon.transforms.kspace_input` and the
command's volume reader (:func:`monai_mcrecon.data.volume.load_volume`) both use this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "COIL_COMBINE",
    "centre_crop",
    "kspace_consistency_note",
    "read_acquisition",
    "read_zero_filled_volume",
]


#: Coil combinations of multi-coil k-space.
COIL_COMBINE = ("rss", "sense")


def centre_crop(img: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Centre-crop the last two axes of ``img`` to ``size`` (``(h, w)``; never larger than the image)."""
    h, w = img.shape[-2:]
    ch, cw = min(int(size[0]), h), min(int(size[1]), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[..., top : top + ch, left : left + cw]


def _load_mask(mask: str | PathLike | np.ndarray | torch.Tensor | None, width: int, name: str) -> torch.Tensor | None:
    """A user mask (array or ``.npy`` file) as float32 ``[1, W]``."""
    if mask is None:
        return None
    if isinstance(mask, (str, PathLike)):
        path = Path(mask)
        if not path.is_file():
            raise FileNotFoundError(f"Mask file {str(path)!r} does not exist; give a .npy file with the 1-D column mask.")
        mask = np.load(path)
    m = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
    if m.numel() != width or m.shape[-1] != width:
        raise ValueError(
            f"{name}: the mask has shape {tuple(m.shape)} but the k-space has W={width} columns; give the 1-D column "
            "mask [W] (or [1, W]) that produced this acquisition."
        )
    if not torch.all((m == 0) | (m == 1)):
        raise ValueError(f"{name}: the mask must be binary (0/1).")
    return m.reshape(1, width)


def kspace_consistency_note(multicoil: bool, cropped: bool) -> str | None:
    """Why the acquired k-space of an h5 file cannot be used for data consistency on its image
    (``None``: it can, the image is ``|ifft2c(k)|`` on the k-space grid)."""
    if multicoil:
        return (
            "off: multi-coil file (the coil-combined RSS / SENSE magnitude is not the Fourier transform of one image, "
            "so no single k-space can be re-imposed on it)"
        )
    if cropped:
        return "off: cropped to the recon size (the image is no longer on the k-space grid)"
    return None


def read_zero_filled_volume(
    path: str | PathLike,
    coil_combine: str = "rss",
    crop_to_recon_size: bool = False,
    mask: str | PathLike | np.ndarray | torch.Tensor | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, np.ndarray, dict[str, Any]]:
    """Read a fastMRI h5 file slice by slice and return its zero-filled image volume.

    Args:
        path: the ``.h5`` file (fastMRI layout, see :mod:`monai_mcrecon.data.fastmri_h5`).
        coil_combine: multi-coil files: ``"rss"`` (root sum of squares of the coil images) or
            ``"sense"`` (sensitivity-weighted combination, low-resolution maps from the
            auto-calibration region, ``method="lowres"``). Ignored for single-coil files.
        crop_to_recon_size: centre-crop every slice to the header's recon matrix.
        mask: the 1-D column mask ``[W]`` of the acquisition (array or ``.npy`` file); default the
            file's ``mask`` dataset, else the columns where the k-space is non-zero.
        progress: a progress bar over the slices.

    Returns:
        ``(volume, affine, info)``: float32 ``[H, W, S]``; 4x4 affine: the patient geometry recorded
        in the file (:attr:`~monai_mcrecon.data.FastMRIVolume.patient_affine`, written by
        ``monai-mcrecon simulate``), else synthetic (identity directions, voxel size from the header
        FOV / matrix, 1 mm without a header); ``info`` with ``multicoil``, ``num_coils``,
        ``coil_combine``, ``cropped_to_recon_size``, ``spacing_mm``, ``affine`` (where it came
        from), ``has_geometry`` (recorded patient geometry), ``mask_source`` (``"user"``, ``"file"`` or ``"inferred"``), ``acceleration``
        (``W / sampled columns``) and ``num_sampled_columns``.

    Raises:
        FileNotFoundError: missing file or mask file.
        ValueError: unknown ``coil_combine``, an unreadable file, a mask that does not fit, k-space
            outside the mask (not the undersampled acquisition), or cropping without a recon size.
    """
    volume, affine, info, _, _ = read_acquisition(path, coil_combine, crop_to_recon_size, mask, progress, keep_kspace=False)
    return volume, affine, info


def read_acquisition(
    path: str | PathLike,
    coil_combine: str,
    crop_to_recon_size: bool,
    mask: str | PathLike | np.ndarray | torch.Tensor | None,
    progress: bool,
    keep_kspace: bool,
) -> tuple[torch.Tensor, np.ndarray, dict[str, Any], torch.Tensor | None, torch.Tensor | None]:
    """:func:`read_zero_filled_volume`, and with ``keep_kspace`` (single-coil, uncropped files only)
    the acquired k-space ``[1, S, H, W]`` complex64 and the column mask ``[1, W]`` float32 (the
    user's or the file's mask, else the columns where the k-space is non-zero); ``None`` otherwise."""
    from tqdm.auto import tqdm

    from monai_mcrecon.data.fastmri_h5 import FastMRIVolume
    from monai_mcrecon.kspace import estimate_sensitivities, ifft2c, rss, sens_combine

    if coil_combine not in COIL_COMBINE:
        raise ValueError(f"Unknown coil combination {coil_combine!r}; use one of {COIL_COMBINE}.")
    path = Path(path)
    with FastMRIVolume(path) as vol:
        try:
            meta = vol.metadata
        except ValueError:
            meta = {}
        width = vol.shape[-1]
        user_mask = _load_mask(mask, width, path.name)
        file_mask = vol.mask()
        col_mask = user_mask if user_mask is not None else file_mask
        mask_source = "user" if user_mask is not None else ("file" if file_mask is not None else "inferred")
        recon_size = meta.get("recon_size")
        if crop_to_recon_size and not recon_size:
            raise ValueError(f"{path.name}: the ISMRMRD header has no recon size; do not crop to the recon size.")
        sampled = torch.zeros(width, dtype=torch.bool)
        slices = []
        keep = keep_kspace and not vol.is_multicoil and not crop_to_recon_size
        kspace_slices = []
        for i in tqdm(range(vol.num_slices), desc=f"read {path.name}", unit="slice", disable=not progress):
            k = vol.kspace(i)  # [C, H, W], only this slice is read
            acquired = (k != 0).flatten(0, 1).any(dim=0)  # [W]
            sampled |= acquired
            if col_mask is not None and bool((acquired & (col_mask[0] == 0)).any()):
                raise ValueError(
                    f"{path.name}: slice {i} has k-space samples in columns that the {mask_source} mask leaves out; the "
                    "k-space must be the undersampled acquisition (zero outside the mask). Give the mask that produced "
                    "it, or undersample the file first (nothing is re-undersampled here)."
                )
            if keep:
                kspace_slices.append(k[0].to(torch.complex64))
            coil_images = ifft2c(k)
            if not vol.is_multicoil:
                img = coil_images[0].abs()
            elif coil_combine == "rss":
                img = rss(coil_images)
            else:
                sens = estimate_sensitivities(k, mask=col_mask, method="lowres")
                img = sens_combine(coil_images, sens, keepdim=False).abs()
            if crop_to_recon_size:
                img = centre_crop(img, recon_size[:2])
            slices.append(img.to(torch.float32))
        multicoil, num_coils = vol.is_multicoil, vol.num_coils
        recorded, full_hw = vol.patient_affine, vol.shape[-2:]
    volume = torch.stack(slices, dim=-1).contiguous()  # [H, W, S] = [X, Y, Z]
    num_sampled = int(col_mask.sum()) if col_mask is not None else int(sampled.sum())
    fov_key, size_key = ("recon_fov_mm", "recon_size") if crop_to_recon_size else ("encoding_fov_mm", "encoding_size")
    spacing = [1.0, 1.0, 1.0]
    if meta.get(fov_key) and meta.get(size_key):
        fov, size = meta[fov_key], meta[size_key]
        spacing = [fov[0] / size[0], fov[1] / size[1], float(fov[2]) / max(int(size[2]), 1)]
    affine = np.diag([*spacing, 1.0])
    geometry = "none: h5 files carry no patient position (synthetic affine: identity directions, header FOV spacing)"
    if recorded is not None:
        affine = recorded.copy()
        if crop_to_recon_size:  # the centre crop starts (H - h) // 2, (W - w) // 2 voxels in
            offset = [(full - cut) // 2 for full, cut in zip(full_hw, volume.shape[:2])]
            affine[:3, 3] = recorded[:3, :3] @ np.array([*offset, 0.0]) + recorded[:3, 3]
        spacing = np.linalg.norm(affine[:3, :3], axis=0).tolist()
        geometry = "recorded: the voxel -> RAS affine of the image the file was simulated from"
    info = {
        "multicoil": multicoil,
        "num_coils": num_coils,
        "coil_combine": coil_combine if multicoil else "single-coil |ifft2c|",
        "cropped_to_recon_size": bool(crop_to_recon_size),
        "spacing_mm": spacing,
        "affine": geometry,
        "has_geometry": recorded is not None,
        "mask_source": mask_source,
        "num_sampled_columns": num_sampled,
        "acceleration": float(width / max(num_sampled, 1)),
    }
    kspace = kmask = None
    if keep:
        kspace = torch.stack(kspace_slices, dim=0)[None].contiguous()  # [1, S, H, W], slice axis first
        kmask = (col_mask if col_mask is not None else sampled.to(torch.float32)[None]).to(torch.float32).reshape(1, width)
    return volume, affine, info, kspace, kmask
