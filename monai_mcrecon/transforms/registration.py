"""Rigid registration of the reference contrast onto the target grid (SimpleITK).

Multi-contrast networks assume the reference contrast (e.g. T1) lies voxel for voxel on the
target's grid (e.g. T2). Scans of one session share the scanner frame, so their affines already
place them; what remains is a different grid (field of view, resolution, slice orientation) and
patient motion between the scans. :class:`RegisterReference` handles both: a rigid transform (Euler
3-D for volumes, Euler 2-D in the slice plane for single slices) is estimated with Mattes mutual
information (it compares contrasts whose intensities do not correspond, T1 vs T2), multi-resolution
regular-step gradient descent (rotations scaled by the size of the anatomy) and linear
interpolation, and the reference is resampled onto the target grid. By default (``mode="auto"``)
this runs only when the grids differ (shape or affine); on identical grids the reference passes
through unchanged. Motion between scans on identical grids is not looked for in ``"auto"`` mode:
use ``mode="always"`` when it matters.

What was done is recorded in the output's ``meta["registration"]`` (and, for the dictionary
version, under a ``registration`` key) and logged:

* ``ran`` (registration estimated), ``resampled`` (reference resampled onto the target grid),
  ``reason``, ``mode``, ``dimension``, ``transform`` (SimpleITK class name), ``frame``,
  ``through_plane_offset_mm`` (single slices: distance of the reference slice from the target's);
* ``angles_deg`` (Euler angles about x, y, z; one angle in 2-D), ``rotation_deg`` (total rotation
  angle), ``translation_mm``, ``center_mm``: the transform mapping target points to reference points
  (the ITK convention: the motion of the reference relative to the target), in the LPS patient frame;
* ``metric_initial`` / ``metric_final`` (Mattes MI, lower is better), ``iterations``,
  ``stop_condition``, ``accepted`` (``False`` when the optimised transform scored worse than the
  starting one and the starting one was kept).

Every record has all these keys (identity transform and NaN metrics where nothing ran), so records
of registered and skipped cases collate into one batch.

Affines follow MONAI (``MetaTensor.affine``, voxel -> RAS mm unless ``meta["space"] == "LPS"``);
arrays without an affine are on the identity grid (1 mm voxels), like a fresh ``MetaTensor``.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.data.utils import to_affine_nd
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends

__all__ = ["RegisterReference", "RegisterReferenced", "REGISTRATION_MODES", "sitk_image_ras"]

logger = logging.getLogger(__name__)

#: ``"auto"``: register when the grids differ; ``"always"``; ``"never"``: resample by the affines only.
REGISTRATION_MODES = ("auto", "always", "never")
_INITIALIZERS = ("header", "geometry", "moments")


def _affine(img: NdarrayOrTensor) -> tuple[np.ndarray, bool]:
    """4x4 affine of a channel-first image and whether it is in LPS (else RAS)."""
    if isinstance(img, MetaTensor):
        lps = str(img.meta.get("space", "RAS")).upper() == "LPS"
        return to_affine_nd(3, np.asarray(img.affine.detach().cpu(), dtype=np.float64)), lps
    return np.eye(4), False


def _to_lps(affine: np.ndarray, lps: bool, nd: int) -> np.ndarray:
    """``(nd + 1)``-square affine in the LPS frame of ITK (the frame the results are reported in)."""
    a = to_affine_nd(nd, affine)
    if not lps:
        flip = np.eye(nd + 1)
        flip[0, 0] = flip[1, 1] = -1.0
        a = flip @ a
    return a


def _sitk_image(arr: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """SimpleITK image of a spatial array ``[X, Y(, Z)]`` on the grid of an ``(nd + 1)``-square affine."""
    nd = arr.ndim
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr.T, dtype=np.float32))
    spacing = np.linalg.norm(affine[:nd, :nd], axis=0)
    if np.any(spacing <= 0):
        raise ValueError(f"The image affine has a zero-length voxel axis:\n{affine}")
    image.SetSpacing(spacing.tolist())
    image.SetOrigin(affine[:nd, nd].tolist())
    image.SetDirection((affine[:nd, :nd] / spacing[None, :]).flatten().tolist())
    return image


def sitk_image_ras(arr: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """SimpleITK image (LPS) of a volume ``[X, Y, Z]`` with a voxel -> RAS affine (MONAI / NIfTI)."""
    return _sitk_image(np.asarray(arr), _to_lps(np.asarray(affine, dtype=np.float64), False, 3))


def _rotation_angle_deg(matrix: np.ndarray) -> float:
    """Angle (degrees) of a 2x2 or 3x3 rotation matrix."""
    if matrix.shape == (2, 2):
        return float(np.degrees(abs(np.arctan2(matrix[1, 0], matrix[0, 0]))))
    return float(np.degrees(np.arccos(np.clip((np.trace(matrix) - 1) / 2, -1.0, 1.0))))


class RegisterReference(Transform):
    """Rigidly register a reference image to a target and resample it onto the target grid.

    Call as ``RegisterReference()(reference, target)`` with channel-first images ``[C, X, Y, Z]``
    (volumes) or ``[C, X, Y]`` (2-D images); a volume with one slice (``[C, X, Y, 1]``, any axis of
    size 1 in the target and the reference) is registered in the target's slice plane with a 2-D
    rigid transform. Channel ``channel`` drives the registration; every channel is resampled.

    Args:
        mode: ``"auto"`` (register when the grids differ in shape or affine, else pass the reference
            through), ``"always"``, or ``"never"`` (resample by the affines alone when the grids differ).
        num_histogram_bins: Mattes mutual information histogram bins.
        sampling_percentage: fraction of the target's voxels sampled (randomly, seeded) for the metric,
            one for all levels or one per level (the finest level samples more: its noise limits the
            accuracy of the rotation).
        shrink_factors: multi-resolution pyramid, coarse to fine (factors that would leave fewer than
            8 voxels along an axis are capped).
        smoothing_sigmas: Gaussian smoothing per level, in voxels.
        max_iterations: optimiser iterations per level.
        learning_rate: initial step of the regular-step gradient descent (mm of translation).
        min_step: the optimiser stops when the step falls below this (mm).
        rotation_scale_mm: optimiser scaling: a rotation of 1 radian counts like a shift of this many mm
            (parameter scales ``r**2`` for angles, 1 for translations). ``None``: a fifth of the mean
            physical extent of the target, i.e. the radius of the anatomy rather than of the image
            corners that SimpleITK's physical-shift estimate uses (which under-steps the rotations and
            leaves them short of the optimum by about a degree on brain-sized objects).
        initializer: ``"header"`` (rotation about the target's centre, no initial shift: trusts the
            scanner frame shared by the scans of one session), ``"geometry"`` or ``"moments"``
            (SimpleITK's centred initializer: aligns the grid centres / the centres of mass, for
            images whose affines do not share a frame).
        grid_atol: tolerance (mm) when comparing the affines in ``mode="auto"``.
        channel: reference / target channel used to estimate the transform.
        padding_value: value of resampled voxels outside the reference's field of view.
        seed: seed (>= 1) of the metric's random sampling, for reproducible results; ``None`` seeds from
            the wall clock.
        num_threads: SimpleITK threads (``None``: SimpleITK's global default).

    Raises:
        ValueError: unknown ``mode`` / ``initializer``, mismatched pyramid lengths (at construction);
            images of different dimension or a single-slice target with a volume reference (at call).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        mode: str = "auto",
        num_histogram_bins: int = 50,
        sampling_percentage: float | Sequence[float] = (0.3, 0.3, 0.6),
        shrink_factors: Sequence[int] = (4, 2, 1),
        smoothing_sigmas: Sequence[float] = (2.0, 1.0, 0.0),
        max_iterations: int = 200,
        learning_rate: float = 1.0,
        min_step: float = 1e-4,
        rotation_scale_mm: float | None = None,
        initializer: str = "header",
        grid_atol: float = 1e-3,
        channel: int = 0,
        padding_value: float = 0.0,
        seed: int | None = 42,
        num_threads: int | None = None,
    ) -> None:
        if mode not in REGISTRATION_MODES:
            raise ValueError(f"Unknown registration mode {mode!r}; use one of {REGISTRATION_MODES}.")
        if initializer not in _INITIALIZERS:
            raise ValueError(f"Unknown initializer {initializer!r}; use one of {_INITIALIZERS}.")
        if len(shrink_factors) != len(smoothing_sigmas):
            raise ValueError(
                f"shrink_factors {tuple(shrink_factors)} and smoothing_sigmas {tuple(smoothing_sigmas)} need one "
                "entry per resolution level each."
            )
        if seed is not None and seed < 1:
            raise ValueError(f"seed must be >= 1 (SimpleITK reads 0 as 'seed from the clock'), or None; got {seed}.")
        if isinstance(sampling_percentage, (int, float)):
            pct = [float(sampling_percentage)] * len(shrink_factors)
        else:
            pct = [float(p) for p in sampling_percentage]
        if len(pct) != len(shrink_factors) or not all(0 < p <= 1 for p in pct):
            raise ValueError(
                f"sampling_percentage must be in (0, 1], one value or one per level of shrink_factors "
                f"{tuple(shrink_factors)}; got {sampling_percentage}."
            )
        self.mode = mode
        self.num_histogram_bins = num_histogram_bins
        self.sampling_percentage = pct
        self.shrink_factors = [int(f) for f in shrink_factors]
        self.smoothing_sigmas = [float(s) for s in smoothing_sigmas]
        self.max_iterations = max_iterations
        self.learning_rate = learning_rate
        self.min_step = min_step
        self.rotation_scale_mm = rotation_scale_mm
        self.initializer = initializer
        self.grid_atol = grid_atol
        self.channel = channel
        self.padding_value = padding_value
        self.seed = seed
        self.num_threads = num_threads

    # -- registration -----------------------------------------------------------------------------

    @property
    def _sitk_seed(self) -> int:
        return sitk.sitkWallClock if self.seed is None else int(self.seed)

    def _scales(self, fixed: sitk.Image) -> list[float]:
        nd = fixed.GetDimension()
        radius = self.rotation_scale_mm
        if radius is None:
            extent = np.asarray(fixed.GetSize(), dtype=np.float64) * np.asarray(fixed.GetSpacing())
            radius = 0.2 * float(extent.mean())
        n_angles = 3 if nd == 3 else 1
        return [radius**2] * n_angles + [1.0] * nd

    def _method(self, nd_sizes: Sequence[int]) -> sitk.ImageRegistrationMethod:
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=self.num_histogram_bins)
        reg.SetMetricSamplingStrategy(reg.RANDOM)
        reg.SetMetricSamplingPercentagePerLevel(self.sampling_percentage, self._sitk_seed)
        reg.SetInterpolator(sitk.sitkLinear)
        if self.num_threads is not None:
            reg.SetNumberOfThreads(self.num_threads)
        max_shrink = max(1, min(nd_sizes) // 8)
        reg.SetShrinkFactorsPerLevel([min(f, max_shrink) for f in self.shrink_factors])
        reg.SetSmoothingSigmasPerLevel(self.smoothing_sigmas)
        reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        return reg

    def _metric(self, fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform) -> float:
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=self.num_histogram_bins)
        reg.SetMetricSamplingStrategy(reg.RANDOM)
        reg.SetMetricSamplingPercentage(self.sampling_percentage[-1], self._sitk_seed)
        reg.SetInterpolator(sitk.sitkLinear)
        if self.num_threads is not None:
            reg.SetNumberOfThreads(self.num_threads)
        reg.SetInitialTransform(transform, inPlace=False)
        return float(reg.MetricEvaluate(fixed, moving))

    def _initial(self, fixed: sitk.Image, moving: sitk.Image) -> sitk.Transform:
        nd = fixed.GetDimension()
        euler = sitk.Euler3DTransform() if nd == 3 else sitk.Euler2DTransform()
        if self.initializer == "header":
            centre_index = [(s - 1) / 2.0 for s in fixed.GetSize()]
            euler.SetCenter(fixed.TransformContinuousIndexToPhysicalPoint(centre_index))
            return euler
        how = (
            sitk.CenteredTransformInitializerFilter.GEOMETRY
            if self.initializer == "geometry"
            else sitk.CenteredTransformInitializerFilter.MOMENTS
        )
        init = sitk.CenteredTransformInitializer(fixed, moving, euler, how)
        return sitk.Euler3DTransform(init) if nd == 3 else sitk.Euler2DTransform(init)

    def register(self, fixed: sitk.Image, moving: sitk.Image) -> tuple[sitk.Transform, dict[str, Any]]:
        """Estimate the rigid transform mapping ``fixed`` (target) points to ``moving`` (reference) points.

        Args:
            fixed: target image (2-D or 3-D SimpleITK image).
            moving: reference image of the same dimension.

        Returns:
            ``(transform, info)``: the Euler transform and the metric / optimiser record.
        """
        initial = self._initial(fixed, moving)
        reg = self._method(fixed.GetSize())
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=self.learning_rate,
            minStep=self.min_step,
            numberOfIterations=self.max_iterations,
            relaxationFactor=0.5,
            gradientMagnitudeTolerance=1e-8,
        )
        reg.SetOptimizerScales(self._scales(fixed))
        reg.SetInitialTransform(initial, inPlace=False)
        result = reg.Execute(fixed, moving)
        if isinstance(result, sitk.CompositeTransform):
            result = result.GetNthTransform(result.GetNumberOfTransforms() - 1)
        final = sitk.Euler3DTransform(result) if fixed.GetDimension() == 3 else sitk.Euler2DTransform(result)
        metric_initial = self._metric(fixed, moving, initial)
        metric_final = self._metric(fixed, moving, final)
        accepted = metric_final <= metric_initial
        info = {
            "metric": "MattesMutualInformation",
            "metric_initial": metric_initial,
            "metric_final": metric_final,
            "iterations": int(reg.GetOptimizerIteration()),
            "stop_condition": reg.GetOptimizerStopConditionDescription(),
            "accepted": bool(accepted),
        }
        if not accepted:
            logger.warning(
                "Registration ended with a worse metric (%.4f) than it started with (%.4f); keeping the "
                "initial transform.",
                metric_final,
                metric_initial,
            )
            final = initial
        return final, info

    # -- call --------------------------------------------------------------------------------------

    def __call__(self, img: NdarrayOrTensor, target: NdarrayOrTensor) -> MetaTensor:
        """Register ``img`` (the reference) to ``target`` and resample it onto the target grid.

        Args:
            img: reference ``[C, *spatial]`` (MetaTensor with affine, or array on the identity grid).
            target: target ``[C, *spatial]`` defining the output grid.

        Returns:
            MetaTensor ``[C, *target spatial]`` (float32) with the target's affine, the reference's other
            metadata and ``meta["registration"]`` describing what was done.

        Raises:
            ValueError: the images differ in spatial dimension, or only the target is a single slice.
        """
        ref_t = img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)
        tgt_t = target.as_tensor() if isinstance(target, MetaTensor) else torch.as_tensor(target)
        nd = tgt_t.ndim - 1
        if nd not in (2, 3) or ref_t.ndim != tgt_t.ndim:
            raise ValueError(
                f"RegisterReference needs channel-first 2-D or 3-D images of the same dimension; got reference "
                f"{tuple(ref_t.shape)} and target {tuple(tgt_t.shape)}."
            )
        ref_aff, ref_lps = _affine(img)
        tgt_aff, tgt_lps = _affine(target)
        ref_spatial, tgt_spatial = tuple(ref_t.shape[1:]), tuple(tgt_t.shape[1:])
        same_grid = (
            ref_spatial == tgt_spatial and ref_lps == tgt_lps and np.allclose(ref_aff, tgt_aff, atol=self.grid_atol)
        )
        info = self._blank_info(2 if nd == 2 or 1 in tgt_spatial else 3)

        if same_grid and self.mode != "always":
            info["reason"] = "reference and target grids are identical (shape and affine): nothing to do"
            out = self._wrap(ref_t.to(torch.float32), img, target, info)
            logger.info("RegisterReference: %s", info["reason"])
            return out

        fixed_arrays, moving_arrays, fixed_aff, moving_aff, frame, squeeze = self._frames(
            ref_t, tgt_t, ref_aff, ref_lps, tgt_aff, tgt_lps, info
        )
        fixed = _sitk_image(fixed_arrays[min(self.channel, len(fixed_arrays) - 1)], fixed_aff)
        moving_images = [_sitk_image(a, moving_aff) for a in moving_arrays]
        moving = moving_images[min(self.channel, len(moving_images) - 1)]
        dim = fixed.GetDimension()
        info["frame"] = frame

        if self.mode == "never":
            transform = sitk.Euler3DTransform() if dim == 3 else sitk.Euler2DTransform()
            info["reason"] = "mode='never': reference resampled onto the target grid by the affines alone"
        else:
            transform, reg_info = self.register(fixed, moving)
            info.update(reg_info)
            info["ran"] = True
            info["reason"] = (
                "mode='always'" if self.mode == "always" else "reference and target grids differ (shape or affine)"
            ) + ": rigid registration (Mattes MI), reference resampled onto the target grid"
        info.update(self._describe(transform, dim))

        resampled = []
        for moving_c in moving_images:
            out = sitk.Resample(moving_c, fixed, transform, sitk.sitkLinear, self.padding_value, sitk.sitkFloat32)
            resampled.append(sitk.GetArrayFromImage(out).T)
        arr = np.stack(resampled, 0)
        if squeeze is not None:
            arr = np.expand_dims(arr, squeeze + 1)
        info["resampled"] = True
        logger.info(
            "RegisterReference: %s; rotation %.3f deg (angles %s), translation %s mm%s",
            info["reason"],
            info["rotation_deg"],
            np.round(info["angles_deg"], 3).tolist(),
            np.round(info["translation_mm"], 3).tolist(),
            f", metric {info['metric_initial']:.4f} -> {info['metric_final']:.4f}" if info["ran"] else "",
        )
        return self._wrap(torch.from_numpy(np.ascontiguousarray(arr)).to(ref_t.device), img, target, info)

    def _frames(self, ref_t, tgt_t, ref_aff, ref_lps, tgt_aff, tgt_lps, info):
        """Spatial arrays per channel and the affines of the registration frame (LPS, or the target's
        slice plane for single slices), plus the squeezed axis (``None`` for full volumes / 2-D)."""
        ref_np = ref_t.detach().cpu().to(torch.float32).numpy()
        tgt_np = tgt_t.detach().cpu().to(torch.float32).numpy()
        nd = tgt_np.ndim - 1
        singleton = [a for a, s in enumerate(tgt_np.shape[1:]) if s == 1] if nd == 3 else []
        if not singleton:
            if nd == 3 and 1 in ref_np.shape[1:]:
                raise ValueError(
                    f"The reference {tuple(ref_np.shape)} is a single slice but the target {tuple(tgt_np.shape)} is a "
                    "volume; register volumes to volumes (or slices to slices)."
                )
            return (
                list(tgt_np), list(ref_np), _to_lps(tgt_aff, tgt_lps, nd), _to_lps(ref_aff, ref_lps, nd),
                "LPS patient frame (mm); maps target points to reference points", None,
            )
        axis = singleton[0]
        if len(singleton) > 1 or ref_np.shape[1 + axis] != 1:
            raise ValueError(
                f"Single-slice registration needs one slice axis of size 1 in both images; got target "
                f"{tuple(tgt_np.shape)} and reference {tuple(ref_np.shape)}. Register the volumes before slicing."
            )
        # Work in the target slice's own frame: target voxel axes scaled to mm, origin at its first voxel.
        tgt_lps_aff, ref_lps_aff = _to_lps(tgt_aff, tgt_lps, 3), _to_lps(ref_aff, ref_lps, 3)
        plane = [a for a in range(3) if a != axis]
        spacing = np.linalg.norm(tgt_lps_aff[:3, plane], axis=0)
        ref_in_tgt = np.linalg.inv(tgt_lps_aff) @ ref_lps_aff  # reference voxel -> target voxel
        if not np.allclose(ref_in_tgt[axis, plane], 0, atol=1e-3):
            logger.warning("The reference slice is not parallel to the target slice; registering its projection.")
        info["through_plane_offset_mm"] = float(ref_in_tgt[axis, 3] * np.linalg.norm(tgt_lps_aff[:3, axis]))
        fixed_aff = np.diag([*spacing, 1.0])
        moving_aff = np.eye(3)
        moving_aff[:2, :2] = spacing[:, None] * ref_in_tgt[np.ix_(plane, plane)]
        moving_aff[:2, 2] = spacing * ref_in_tgt[plane, 3]
        return (
            [c.squeeze(axis) for c in tgt_np], [c.squeeze(axis) for c in ref_np], fixed_aff, moving_aff,
            "target slice plane (mm along the target's in-plane voxel axes); maps target points to reference points",
            axis,
        )

    def _blank_info(self, dim: int) -> dict[str, Any]:
        """The record of an identity transform (nothing estimated yet)."""
        return {
            "mode": self.mode,
            "ran": False,
            "resampled": False,
            "reason": "",
            "dimension": dim,
            "transform": "Euler3DTransform" if dim == 3 else "Euler2DTransform",
            "frame": "",
            "through_plane_offset_mm": 0.0,
            "angles_deg": [0.0] * (3 if dim == 3 else 1),
            "rotation_deg": 0.0,
            "translation_mm": [0.0] * dim,
            "center_mm": [0.0] * dim,
            "matrix": np.eye(dim).tolist(),
            "metric": "MattesMutualInformation",
            "metric_initial": float("nan"),
            "metric_final": float("nan"),
            "iterations": 0,
            "stop_condition": "",
            "accepted": True,
        }

    @staticmethod
    def _describe(transform: sitk.Transform, dim: int) -> dict[str, Any]:
        params = np.asarray(transform.GetParameters(), dtype=np.float64)
        matrix = np.asarray(transform.GetMatrix(), dtype=np.float64).reshape(dim, dim)
        angles = params[:3] if dim == 3 else params[:1]
        return {
            "angles_deg": np.degrees(angles).tolist(),
            "rotation_deg": _rotation_angle_deg(matrix),
            "translation_mm": list(transform.GetTranslation()),
            "center_mm": list(transform.GetCenter()),
            "matrix": matrix.tolist(),
        }

    @staticmethod
    def _wrap(data: torch.Tensor, img: NdarrayOrTensor, target: NdarrayOrTensor, info: dict) -> MetaTensor:
        meta = dict(img.meta) if isinstance(img, MetaTensor) else {}
        meta.pop("affine", None)
        affine = target.affine.clone() if isinstance(target, MetaTensor) else None
        if isinstance(target, MetaTensor):
            meta["space"] = target.meta.get("space", "RAS")
        meta["spatial_shape"] = np.asarray(data.shape[1:])
        meta["registration"] = info
        return MetaTensor(data, affine=affine, meta=meta)


class RegisterReferenced(MapTransform):
    """Dictionary version of :class:`RegisterReference`: ``keys`` (the reference contrast(s)) are
    registered to ``target_key`` and replaced by their resampled versions (target grid and affine).
    The record goes to the image's ``meta["registration"]`` and to ``info_key`` (``"{key}_{info_key}"``
    when several keys are registered).

    Args:
        keys: reference key(s).
        target_key: key of the target image defining the grid.
        mode: see :class:`RegisterReference` (default ``"auto"``: only when the grids differ).
        info_key: key for the record of what was done.
        allow_missing_keys: skip missing reference keys.
        kwargs: further arguments of :class:`RegisterReference`.

    Raises:
        KeyError: ``target_key`` is missing from the data.
    """

    def __init__(
        self,
        keys: KeysCollection = "reference",
        target_key: str = "target",
        mode: str = "auto",
        info_key: str = "registration",
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.target_key, self.info_key = target_key, info_key
        self.register = RegisterReference(mode=mode, **kwargs)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict:
        d = dict(data)
        if self.target_key not in d:
            raise KeyError(
                f"RegisterReferenced needs the target image under {self.target_key!r}; the data has keys {list(d)}."
            )
        for k in self.key_iterator(d):
            d[k] = self.register(d[k], d[self.target_key])
            d[self.info_key if len(self.keys) == 1 else f"{k}_{self.info_key}"] = d[k].meta["registration"]
        return d
