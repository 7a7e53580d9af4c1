"""k-space input: a fastMRI h5 file (an already undersampled acquisition) as the zero-filled image volume.

The MRI bundles restore a zero-filled target image ``[1, H, W, S]``. When the acquisition itself is
given, a fastMRI-layout h5 file (:mod:`monai_mcrecon.data.fastmri_h5`: k-space ``[slices, coils, H, W]``
or ``[slices, H, W]`` and its column ``mask``), :class:`FastMRIKspaceToImage` /
:class:`FastMRIKspaceToImaged` turn it into that volume:

* every slice is read lazily (:class:`~monai_mcrecon.data.FastMRIVolume`, one slice at a time);
* the coil images ``ifft2c(k)`` are combined: ``"rss"`` (:func:`~monai_mcrecon.kspace.rss`) or
  ``"sense"`` (:func:`~monai_mcrecon.kspace.sens_combine` with low-resolution maps from the
  auto-calibration region, :func:`~monai_mcrecon.kspace.estimate_sensitivities`); single-coil files
  give ``|ifft2c(k)|``;
* optionally each slice is centre-cropped to the header's recon matrix;
* the slices are stacked along the last axis, ``[1, H, W, S]`` (phase encoding along ``W``, the
  layout of the bundles' NIfTI volumes), as a ``MetaTensor`` with a synthetic affine (identity
  directions, voxel size = header FOV / matrix; h5 files carry no patient position).

The k-space is used as it is: it must be the undersampled acquisition (fastMRI test / challenge
files, or a file and the mask that produced it). Nothing is re-undersampled; a file with samples
outside its mask is rejected.

Data consistency: :class:`FastMRIKspaceToImaged` with ``kspace_key`` also hands the acquired k-space
and its column mask to the bundle (:class:`~monai_mcrecon.transforms.consistency.DataConsistencyd`
re-imposes them on the network output), but only where the image *is* the inverse Fourier
transform of that k-space: single-coil files that are not cropped. A multi-coil file's RSS / SENSE
magnitude is not the transform of one image, and a cropped image is not on the k-space grid; for
those nothing is stored and data consistency stays off (the reason is in the image's meta,
``kspace_data_consistency``, and :func:`~monai_mcrecon.data.zero_filled.kspace_consistency_note` gives it).

:func:`~monai_mcrecon.data.zero_filled.read_zero_filled_volume` is the function behind both (the ``monai-mcrecon``
command reads h5 targets with it too), and :func:`kspace_file_datalist` builds the one-item datalist that the
bundles' ``inference.json`` uses for ``--kspace_file``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from monai_mcrecon.data.fastmri_h5 import H5_SUFFIXES
from monai_mcrecon.data.zero_filled import COIL_COMBINE, kspace_consistency_note, read_acquisition

__all__ = [
    "FastMRIKspaceToImage",
    "FastMRIKspaceToImaged",
    "kspace_file_datalist",
]



class FastMRIKspaceToImage(Transform):
    """A fastMRI h5 file (path) -> its zero-filled, coil-combined image volume ``[1, H, W, S]``.

    See :func:`~monai_mcrecon.data.zero_filled.read_zero_filled_volume`. The output is a ``MetaTensor`` whose meta holds
    ``filename_or_obj`` (the h5 file), ``affine`` / ``original_affine`` (the recorded patient geometry,
    else synthetic from the header FOV; ``kspace_geometry`` says which), ``spatial_shape``, ``original_channel_dim = 0`` (channel-first already, so
    ``EnsureChannelFirstd`` leaves it alone) and the acquisition: ``kspace_coil_combine``,
    ``kspace_num_coils``, ``kspace_acceleration``, ``kspace_mask_source``, ``kspace_cropped``.

    Args:
        coil_combine: ``"rss"`` or ``"sense"`` (multi-coil files).
        crop_to_recon_size: centre-crop to the header's recon matrix.
        mask: the acquisition's 1-D column mask (array or ``.npy`` file), default the file's.
        progress: progress bar over the slices.
    """

    def __init__(
        self,
        coil_combine: str = "rss",
        crop_to_recon_size: bool = False,
        mask: str | PathLike | np.ndarray | torch.Tensor | None = None,
        progress: bool = False,
    ) -> None:
        if coil_combine not in COIL_COMBINE:
            raise ValueError(f"Unknown coil combination {coil_combine!r}; use one of {COIL_COMBINE}.")
        self.coil_combine, self.crop_to_recon_size, self.mask, self.progress = (
            coil_combine,
            bool(crop_to_recon_size),
            mask,
            progress,
        )

    def __call__(self, path: str | PathLike) -> MetaTensor:
        return self.read(path)[0]

    def read(
        self, path: str | PathLike, keep_kspace: bool = False
    ) -> tuple[MetaTensor, torch.Tensor | None, torch.Tensor | None]:
        """The volume (see the class), and with ``keep_kspace`` the acquired k-space ``[1, S, H, W]``
        complex64 (slice axis first) and column mask ``[1, W]`` float32 of a single-coil, uncropped
        file (``None, None`` otherwise; the reason is in the meta's ``kspace_data_consistency``)."""
        if not str(path).lower().endswith(H5_SUFFIXES):
            raise ValueError(f"{str(path)!r} is not a fastMRI .h5 file; k-space input needs the raw-data h5 file.")
        volume, affine, info, kspace, kmask = read_acquisition(
            path, self.coil_combine, self.crop_to_recon_size, self.mask, self.progress, keep_kspace
        )
        aff = torch.as_tensor(affine, dtype=torch.float64)
        meta = {
            "filename_or_obj": str(path),
            "affine": aff,
            "original_affine": aff.clone(),
            "spatial_shape": torch.as_tensor(volume.shape),
            "original_channel_dim": 0,
            "kspace_coil_combine": info["coil_combine"],
            "kspace_num_coils": int(info["num_coils"]),
            "kspace_acceleration": float(info["acceleration"]),
            "kspace_mask_source": info["mask_source"],
            "kspace_cropped": bool(info["cropped_to_recon_size"]),
            "kspace_geometry": info["affine"],
            "kspace_data_consistency": (
                kspace_consistency_note(info["multicoil"], info["cropped_to_recon_size"])
                or ("acquired k-space passed on" if kspace is not None else "off: the k-space was not passed on (no kspace_key)")
            ),
        }
        return MetaTensor(volume[None], meta=meta), kspace, kmask


class FastMRIKspaceToImaged(MapTransform):
    """Dictionary version of :class:`FastMRIKspaceToImage`: ``keys`` hold h5 paths, replaced by the volumes.

    With ``kspace_key``, a single-coil file that is not cropped also gives the acquired k-space and
    its mask, for data consistency at the output
    (:class:`~monai_mcrecon.transforms.consistency.DataConsistencyd`):

    * ``d[kspace_key]``: complex64 ``[1, S, H, W]``, centred orthonormal, **slice axis first** (the
      layout the bundles reach after ``MoveSliceAxisd(source=-1, destination=1)``, which only moves
      the image keys), so that ``ifft2c(d[kspace_key])[0, s]`` is slice ``s`` of the image
      ``d[key][0, ..., s]`` (before its magnitude);
    * ``d[mask_key]``: float32 ``[1, W]``, the 1-D column mask (the user's ``mask``, else the file's,
      else the columns where the k-space is non-zero).

    Multi-coil and cropped files store neither (data consistency then stays off, and
    :class:`DataConsistencyd` records it); the volume's meta ``kspace_data_consistency`` says why.
    With several ``keys`` the names get the key as prefix (``"{key}_{kspace_key}"``).

    Args:
        keys: keys of the h5 file paths (e.g. ``"target"``).
        coil_combine, crop_to_recon_size, mask, progress: see :class:`FastMRIKspaceToImage`.
        kspace_key: where the acquired k-space goes (``None``: not kept).
        mask_key: where its column mask goes.
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        coil_combine: str = "rss",
        crop_to_recon_size: bool = False,
        mask: str | PathLike | np.ndarray | torch.Tensor | None = None,
        progress: bool = False,
        kspace_key: str | None = None,
        mask_key: str = "mask",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = FastMRIKspaceToImage(coil_combine, crop_to_recon_size, mask, progress)
        self.kspace_key, self.mask_key = kspace_key, mask_key

    def _name(self, key: Hashable, name: str) -> str:
        return name if len(self.keys) == 1 else f"{key}_{name}"

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            img, kspace, kmask = self.converter.read(d[key], keep_kspace=bool(self.kspace_key))
            d[key] = img
            if self.kspace_key and kspace is not None:
                d[self._name(key, self.kspace_key)] = kspace
                d[self._name(key, self.mask_key)] = kmask
        return d


def kspace_file_datalist(
    kspace_file: str | PathLike,
    target_contrast: str,
    reference_contrast: str | None = None,
    reference_file: str | PathLike | None = None,
    bundle: str = "this bundle",
) -> list[dict[str, str]]:
    """The one-item datalist of a k-space input (``--kspace_file``) for a bundle's ``inference.json``.

    Args:
        kspace_file: the fastMRI h5 file of the target contrast.
        target_contrast: the bundle's target contrast name (the item's key of ``kspace_file``).
        reference_contrast: the bundle's reference contrast, if it needs one.
        reference_file: the reference image (NIfTI), on the same in-plane grid and slices.
        bundle: bundle name for the messages.

    Returns:
        ``[{"case_id": <file stem>, target_contrast: kspace_file, reference_contrast: reference_file}]``.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: not an h5 file, a multi-contrast bundle without ``reference_file``, or a
            ``reference_file`` for a bundle without a reference contrast.
    """
    path = Path(kspace_file)
    if not path.is_file():
        raise FileNotFoundError(f"kspace_file {str(path)!r} does not exist; check --kspace_file.")
    if not path.name.lower().endswith(H5_SUFFIXES):
        raise ValueError(f"kspace_file {str(path)!r} is not a fastMRI .h5 file; pass the raw-data h5 file.")
    stem = path.name.rsplit(".", 1)[0]
    item = {"case_id": stem, target_contrast: str(path)}
    if reference_contrast:
        if reference_file is None:
            raise ValueError(
                f"{bundle} is multi-contrast: with --kspace_file it also needs the reference contrast "
                f"({reference_contrast!r}) of the same slices on the same in-plane grid. Pass --reference_file "
                "path/to/reference.nii.gz."
            )
        ref = Path(reference_file)
        if not ref.is_file():
            raise FileNotFoundError(f"reference_file {str(ref)!r} does not exist; check --reference_file.")
        item[reference_contrast] = str(ref)
    elif reference_file is not None:
        raise ValueError(
            f"reference_file was given but {bundle} has no reference contrast (reference_contrast is null); drop "
            "--reference_file, or set --reference_contrast for a network trained with one."
        )
    return [item]
