"""Dictionary transforms (the ``d`` versions) over :mod:`monai_mcrecon.transforms.array`.

They work on multi-contrast dictionaries with the keys of docs/architecture.md: ``target`` (clean target
contrast), ``reference`` (clean reference contrast), the simulated acquisition (``kspace``,
``mask``, ``degraded``), and for the network ``image`` (channel 0 degraded target, channels 1..
reference, built with MONAI's ``ConcatItemsd``) and ``label``. Paired spatial augmentation uses
MONAI's own dictionary transforms, which draw once and apply the same crop / flip / rotation to
every key (:func:`paired_augmentation`). For ``monai.apps.reconstruction`` interop, set
``kspace_key="kspace_masked"``, ``output_key="kspace_masked_ifft"`` and convert complex data to its
``(..., 2)`` layout with :class:`ComplexToRealLastd`.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import (
    Compose,
    MapTransform,
    Randomizable,
    RandFlipd,
    RandRotate90d,
    RandSpatialCropd,
)

from monai_mcrecon.data.datalist import check_contrasts
from monai_mcrecon.kspace.fft import complex_to_real_last
from monai_mcrecon.transforms.array import (
    CheckFinite,
    KspaceTruncate,
    KspaceUndersample,
    MoveSliceAxis,
    ScaleIntensityRecord,
)

__all__ = [
    "SelectContrastsd",
    "CheckPairedShaped",
    "CheckVolumed",
    "CheckFinited",
    "ScaleIntensityRecordd",
    "RestoreIntensityd",
    "KspaceUndersampled",
    "KspaceTruncated",
    "MoveSliceAxisd",
    "ComplexToRealLastd",
    "SaveReconstructiond",
    "PrepareSRInputd",
    "paired_augmentation",
]


class SelectContrastsd(MapTransform):
    """Pick the target and reference contrasts of a datalist item by name.

    ``{"t1": path, "t2": path}`` with ``target_contrast="t2", reference_contrast="t1"`` gains
    ``{"target": t2 path, "reference": t1 path, "target_contrast": "t2", "reference_contrast": "t1"}``.

    Raises:
        FileNotFoundError: the item lacks a contrast or its file (the message names the case, the
            contrast and the contrasts available).
        ValueError: the target and reference contrasts are the same.
    """

    def __init__(
        self,
        target_contrast: str,
        reference_contrast: str | None,
        target_key: str = "target",
        reference_key: str = "reference",
    ) -> None:
        super().__init__(keys=[target_key] + ([reference_key] if reference_contrast else []))
        if target_contrast == reference_contrast:
            raise ValueError(
                f"target_contrast and reference_contrast are both {target_contrast!r}; the reference must be another contrast."
            )
        self.target_contrast, self.reference_contrast = target_contrast, reference_contrast
        self.target_key, self.reference_key = target_key, reference_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        wanted = [self.target_contrast] + ([self.reference_contrast] if self.reference_contrast else [])
        check_contrasts([d], wanted)
        d[self.target_key] = d[self.target_contrast]
        d["target_contrast"] = self.target_contrast
        if self.reference_contrast:
            d[self.reference_key] = d[self.reference_contrast]
            d["reference_contrast"] = self.reference_contrast
        return d


def _source(value: object) -> str | None:
    """The file an image was loaded from (``meta["filename_or_obj"]`` of a MetaTensor), if known."""
    src = (getattr(value, "meta", None) or {}).get("filename_or_obj")
    return str(src) if src else None


class CheckVolumed(MapTransform):
    """Refuse an image that is not one 3-D volume; put it right after ``LoadImaged``.

    A 4-D series ``[X, Y, Z, T]`` (fMRI, diffusion, multi-echo) would otherwise become ``T`` channels
    in ``EnsureChannelFirstd`` and fail later with a shape error that names neither the file nor the
    cause. Accepted: ``[X, Y, Z]``, ``[X, Y, Z, 1]`` (one channel) and 2-D slices ``[X, Y]``.

    Raises:
        ValueError: naming the file and its shape (the message of the ``monai-mcrecon`` command).
    """

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            shape = tuple(d[k].shape)
            if len(shape) in (2, 3) or (len(shape) == 4 and shape[-1] == 1):
                continue
            src = _source(d[k]) or f"case {d.get('case_id', '?')} {k}"
            raise ValueError(f"{src!r} has shape {shape}; expected a 3-D volume [X, Y, Z] (or one 2-D slice).")
        return d


class CheckPairedShaped(MapTransform):
    """Pair images (target, reference) in physical space, or raise a clear error.

    The first key's grid is the reference frame. Another key stored with the same voxels in another
    order (axes flipped or permuted: another handedness, a series sorted feet-first) is re-indexed
    exactly onto it (:func:`~monai_mcrecon.data.grid.match_to_grid`), never paired by array index.
    A different shape, or the same shape on another grid in physical space (affines that differ by
    more than a re-ordering), is refused: the reference lies on another grid (the ``monai-mcrecon``
    command registers and resamples it; a bundle does not). Images without patient geometry (a raw
    fastMRI h5 target, ``meta["kspace_geometry"]`` starting with ``"none"``) are paired by index.
    """

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        shapes = {k: tuple(d[k].shape) for k in self.key_iterator(d)}
        if len(set(shapes.values())) == 1 and len(shapes) > 1:
            self._pair_in_space(d, list(shapes))
        if len(set(shapes.values())) > 1:
            case = d.get("case_id", "?")
            files = {k: _source(d[k]) for k in shapes if _source(d[k])}
            raise ValueError(
                f"Case {case!r}: paired contrasts have different shapes {shapes}"
                + (f" (files {files})" if files else "")
                + ": the reference lies on another grid. Resample it onto the target grid first (same matrix "
                "size and geometry), or run `monai-mcrecon reconstruct` / `super-resolve` with --target and "
                "--reference, which registers and resamples it."
            )
        return d


    @staticmethod
    def _pair_in_space(d: dict, keys: list) -> None:
        from monai.data import MetaTensor

        from monai_mcrecon.data.grid import match_to_grid, same_grid, voxel_correspondence

        images = [d[k] for k in keys]
        if not all(isinstance(im, MetaTensor) and im.ndim == 4 for im in images):
            return
        if any(str(im.meta.get("kspace_geometry", "")).startswith("none") for im in images):
            return
        first = images[0]
        grid = tuple(first.shape[1:])
        aff0 = first.affine.detach().cpu().double().numpy()
        for k, im in zip(keys[1:], images[1:]):
            aff = im.affine.detach().cpu().double().numpy()
            if same_grid(grid, aff, grid, aff0):
                continue
            if voxel_correspondence(grid, aff, grid, aff0) is None:
                shift = float(np.abs(aff - aff0).max())
                raise ValueError(
                    f"Case {d.get('case_id', '?')!r}: {k!r} has the matrix of {keys[0]!r} {grid} but lies elsewhere in "
                    f"physical space (affines differ by up to {shift:.3g}; files {_source(im)!r}, {_source(first)!r}): "
                    "the reference lies on another grid. Resample it onto the target grid first (same matrix size and "
                    "geometry), or run `monai-mcrecon reconstruct` / `super-resolve` with --target and --reference, "
                    "which registers and resamples it."
                )
            channels = [match_to_grid(c, aff, grid, aff0)[0] for c in im.detach().cpu().numpy()]
            out = MetaTensor(torch.from_numpy(np.stack(channels)).to(im.dtype), meta=dict(im.meta))
            out.affine = first.affine.clone()
            d[k] = out


class CheckFinited(MapTransform):
    """Dictionary version of :class:`~monai_mcrecon.transforms.array.CheckFinite`."""

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        case = d.get("case_id", "?")
        for k in self.key_iterator(d):
            CheckFinite(name=f"Case {case!r}, {k!r} ({d.get(f'{k}_contrast', k)})")(d[k])
        return d


class ScaleIntensityRecordd(MapTransform):
    """Min-max scale each key to [0, 1] per volume and store ``(min, max)`` under ``{key}_intensity_range``."""

    def __init__(self, keys: KeysCollection, range_postfix: str = "_intensity_range", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.range_postfix = range_postfix
        self.scaler = ScaleIntensityRecord()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k], d[f"{k}{self.range_postfix}"] = self.scaler(d[k])
        return d


class RestoreIntensityd(MapTransform):
    """Map ``keys`` back to the intensity units recorded by :class:`ScaleIntensityRecordd` under ``range_key``."""

    def __init__(self, keys: KeysCollection, range_key: str = "target_intensity_range", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.range_key = range_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k] = ScaleIntensityRecord.restore(d[k], d[self.range_key])
        return d


class KspaceUndersampled(Randomizable, MapTransform):
    """Dictionary version of :class:`~monai_mcrecon.transforms.array.KspaceUndersample`.

    Degrades ``keys`` (normally the single key ``"target"``) and writes the zero-filled image to
    ``output_key`` (default ``"degraded"``), the masked k-space to ``kspace_key`` (``None``: not
    stored), the mask to ``mask_key`` and the realised acceleration to ``"acceleration"``. With
    several keys the outputs get the key as prefix (``"{key}_degraded"``) and share one mask.
    """

    def __init__(
        self,
        keys: KeysCollection = "target",
        mask_type: str = "mc_cdic",
        acceleration: float = 4.0,
        center_fraction: float | None = None,
        output: str = "magnitude",
        fixed: bool = True,
        seed: int | None = None,
        output_key: str = "degraded",
        kspace_key: str | None = "kspace",
        mask_key: str = "mask",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.undersample = KspaceUndersample(mask_type, acceleration, center_fraction, output, fixed, seed)
        self.output_key, self.kspace_key, self.mask_key = output_key, kspace_key, mask_key

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.undersample.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        self.undersample.randomize()

    def _name(self, key, name):
        return name if len(self.keys) == 1 else f"{key}_{name}"

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        self.randomize()
        for k in self.key_iterator(d):
            degraded, kspace, result = self.undersample(d[k], randomize=False)
            d[self._name(k, self.output_key)] = degraded
            if self.kspace_key:
                d[self._name(k, self.kspace_key)] = kspace
            d[self.mask_key] = result.mask
            d["acceleration"] = result.acceleration
        return d


class KspaceTruncated(MapTransform):
    """Dictionary version of :class:`~monai_mcrecon.transforms.array.KspaceTruncate`: writes the degraded
    image to ``output_key`` and the truncated k-space to ``kspace_key`` (``None``: not stored)."""

    def __init__(
        self,
        keys: KeysCollection = "target",
        scale: float = 2.0,
        grid: str = "hr",
        output: str = "magnitude",
        output_key: str = "degraded",
        kspace_key: str | None = "kspace",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.truncate = KspaceTruncate(scale, grid, output)
        self.output_key, self.kspace_key = output_key, kspace_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            name = (lambda n: n) if len(self.keys) == 1 else (lambda n, k=k: f"{k}_{n}")
            degraded, kspace = self.truncate(d[k])
            d[name(self.output_key)] = degraded
            if self.kspace_key:
                d[name(self.kspace_key)] = kspace
        return d


class MoveSliceAxisd(MapTransform):
    """Dictionary version of :class:`~monai_mcrecon.transforms.array.MoveSliceAxis`."""

    def __init__(self, keys: KeysCollection, source: int = -1, destination: int = 1, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.move = MoveSliceAxis(source, destination)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k] = self.move(d[k])
        return d


class ComplexToRealLastd(MapTransform):
    """Complex tensors -> real ``(..., 2)`` (the layout of fastMRI and ``monai.apps.reconstruction``)."""

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k] = complex_to_real_last(torch.as_tensor(d[k]))
        return d


def paired_augmentation(
    keys: KeysCollection, roi_size: Sequence[int] | int, flip_prob: float = 0.0, rot90_prob: float = 0.0
) -> Compose:
    """Paired spatial augmentation: one random crop (and optional flip / 90-degree rotation) drawn per
    call and applied identically to every key (target, reference, degraded target). Built from
    MONAI's dictionary transforms; seed it with ``set_random_state``."""
    transforms = [RandSpatialCropd(keys, roi_size=roi_size, random_size=False)]
    if flip_prob > 0:
        transforms.append(RandFlipd(keys, prob=flip_prob, spatial_axis=-1))
    if rot90_prob > 0:
        transforms.append(RandRotate90d(keys, prob=rot90_prob, spatial_axes=(0, 1)))
    return Compose(transforms)


class SaveReconstructiond(MapTransform):
    """Write ``keys`` (``[1, *spatial]`` in the layout of the source file) as NIfTI with the geometry of
    the source file of ``reference_key`` (its affine, qform/sform and header: spacing and orientation
    are those of the input). Files go to ``<output_dir>/<case_id>/<contrast>_<suffix>.nii.gz``; the
    written path is stored under ``"{key}_path"``.

    Args:
        keys: images to write.
        reference_key: key whose source file (``meta["filename_or_obj"]``) defines the geometry.
        output_dir: output folder (created).
        suffix: file name suffix.
        enabled: ``False`` turns writing off (the transform passes data through).
        contrast_key: key holding the contrast name used in the file name (default
            ``"{reference_key}_contrast"``, e.g. ``"target_contrast"``).
        info_key: key of a dict describing how the result was made (e.g. which input path a
            super-resolution took); written beside the image as ``<contrast>_<suffix>.json``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        reference_key: str = "target",
        output_dir: str = "./outputs",
        suffix: str = "recon",
        enabled: bool = True,
        contrast_key: str | None = None,
        info_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.reference_key, self.output_dir, self.suffix, self.enabled = reference_key, output_dir, suffix, enabled
        self.contrast_key = contrast_key or f"{reference_key}_contrast"
        self.info_key = info_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        import nibabel as nib
        import numpy as np

        from monai_mcrecon.safe_io import atomic_path, atomic_write_text

        d = dict(data)
        if not self.enabled:
            return d
        ref = d[self.reference_key]
        source = getattr(ref, "meta", {}).get("filename_or_obj") if hasattr(ref, "meta") else None
        if not source:
            raise ValueError(
                f"SaveReconstructiond needs the source file of {self.reference_key!r} (load it with LoadImaged "
                "so that its metadata is kept)."
            )
        src = nib.load(source)
        case = str(d.get("case_id", "case"))
        contrast = str(d.get(self.contrast_key, self.reference_key))
        for k in self.key_iterator(d):
            arr = torch.as_tensor(d[k]).detach().cpu().float().numpy()[0]
            if arr.shape != src.shape[: arr.ndim]:
                raise ValueError(
                    f"{k!r} has shape {arr.shape} but the source {source!r} has {src.shape}; move the slice axis back first."
                )
            header = src.header.copy()
            header.set_data_dtype(np.float32)
            img = nib.Nifti1Image(arr.astype(np.float32), src.affine, header=header)
            img.header.set_slope_inter(1.0, 0.0)
            out = Path(self.output_dir) / case / f"{contrast}_{self.suffix}.nii.gz"
            with atomic_path(out) as tmp:  # never a half-written NIfTI under the final name
                nib.save(img, tmp)
            d[f"{k}_path"] = str(out)
            if self.info_key and self.info_key in d:
                info = {"file": out.name, "geometry_from": str(source), **dict(d[self.info_key])}
                atomic_write_text(out.with_name(out.name.replace(".nii.gz", ".json")), json.dumps(info, indent=2) + "\n")
        return d


class PrepareSRInputd(MapTransform):
    """Build the super-resolution input (``output_key``) from a target that is either on the
    reference's (HR) grid or on a genuinely low-resolution (LR) grid, and record which path was
    taken under ``info_key``.

    * LR grid (fewer rows / columns than the reference in the last two axes): the target's
      centred k-space is zero-padded onto the reference grid (:func:`~monai_mcrecon.kspace.kspace_zero_pad`)
      and back-transformed: the HR-grid input the network was trained on.
    * HR grid and ``simulate=True``: the LR acquisition is simulated by k-space truncation by
      ``scale`` (:class:`~monai_mcrecon.transforms.array.KspaceTruncate`, ``grid="hr"``).
    * HR grid and ``simulate=False``: the target is used as it is (already degraded).

    Arrays are channel-first with the in-plane axes last (move the slice axis first). With
    ``kspace_key`` the simulated acquisition's (truncated, HR-grid) k-space is kept there; a given
    LR or degraded image has no acquired k-space (only its magnitude), so none is stored.

    Raises:
        ValueError: the target is larger than the reference in-plane, or the slice counts differ.
    """

    def __init__(
        self,
        keys: KeysCollection = "target",
        reference_key: str = "reference",
        scale: float = 2.0,
        simulate: bool = True,
        output: str = "magnitude",
        output_key: str = "degraded",
        info_key: str = "sr_input",
        kspace_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.reference_key, self.scale, self.simulate = reference_key, scale, simulate
        self.output_key, self.info_key, self.kspace_key = output_key, info_key, kspace_key
        self.truncate = KspaceTruncate(scale, "hr", output)
        self.output = output

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        from monai_mcrecon.kspace import fft2c, kspace_to_image, kspace_zero_pad

        d = dict(data)
        ref_shape = tuple(d[self.reference_key].shape)
        for k in self.key_iterator(d):
            img = torch.as_tensor(d[k])
            shape = tuple(img.shape)
            case = d.get("case_id", "?")
            if shape[:-2] != ref_shape[:-2] or shape[-2] > ref_shape[-2] or shape[-1] > ref_shape[-1]:
                raise ValueError(
                    f"Case {case!r}: target {shape} cannot be brought onto the reference grid {ref_shape}; "
                    "an LR target needs the same number of slices and no more rows / columns than the reference."
                )
            if shape[-2:] != ref_shape[-2:]:
                kspace = kspace_zero_pad(fft2c(img), ref_shape[-2:])
                d[self.output_key] = kspace_to_image(kspace, "magnitude").to(torch.float32)
                d[self.info_key] = {
                    "input_grid": "lr",
                    "path": "LR-grid target zero-padded in k-space onto the reference grid",
                    "target_shape": list(shape[-2:]),
                    "output_shape": list(ref_shape[-2:]),
                    "effective_scale": [ref_shape[-2] / shape[-2], ref_shape[-1] / shape[-1]],
                }
            elif self.simulate:
                d[self.output_key], kspace = self.truncate(img)
                if self.kspace_key:  # the simulated acquisition's k-space (data consistency)
                    d[self.kspace_key] = kspace
                d[self.info_key] = {
                    "input_grid": "hr",
                    "path": f"HR-grid target, low resolution simulated by k-space truncation x{self.scale:g}",
                    "target_shape": list(shape[-2:]),
                    "scale": self.scale,
                    "degraded_output": self.output,
                }
            else:
                d[self.output_key] = img
                d[self.info_key] = {
                    "input_grid": "hr",
                    "path": "HR-grid target used as given (already low resolution)",
                    "target_shape": list(shape[-2:]),
                }
        return d
