"""Array transforms (MONAI style) over the physics of :mod:`monai_mcrecon.kspace`.

Images are channel-first ``[C, ..., H, W]``; the k-space operations act on the last two axes, so
a volume whose slice axis was moved in front (:class:`MoveSliceAxis`) is degraded slice by slice
with one broadcast mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from monai.transforms import Randomizable, Transform
from monai.utils import TransformBackends, convert_to_tensor

from monai_mcrecon.kspace.masks import MaskResult, create_mask_func
from monai_mcrecon.kspace.operators import OUTPUTS, truncate_image, undersample_image

__all__ = [
    "KspaceUndersample",
    "KspaceTruncate",
    "ScaleIntensityRecord",
    "CheckFinite",
    "MoveSliceAxis",
]


def _real_output(degraded: torch.Tensor) -> torch.Tensor:
    return degraded.to(torch.float32) if not degraded.is_complex() else degraded


class KspaceUndersample(Randomizable, Transform):
    """Simulate a Cartesian undersampled acquisition of an image.

    ``fixed=True`` (default) uses one mask per k-space shape, drawn with ``seed`` (the MC-CDic
    protocol: the same mask for every slice, in training and evaluation, so numbers are
    reproducible). ``fixed=False`` draws a new mask per call from ``self.R`` (seed it with
    ``set_random_state``).

    Args:
        mask_type: a name of :data:`monai_mcrecon.kspace.masks.MASK_FUNCTIONS` (e.g. ``"mc_cdic"``,
            ``"random"``, ``"equispaced"``, ``"gaussian1d"``, ``"poisson2d"``, ``"radial"``).
        acceleration: requested acceleration, ``>= 1``.
        center_fraction: fully sampled centre fraction (``None``: the default of the mask type).
        output: zero-filled image form, ``"magnitude"``, ``"complex"`` or ``"real_irfft"`` (the MC-CDic
            release convention).
        fixed: one fixed mask per shape (``True``) or a random mask per call.
        seed: seed of the fixed mask (``None``: 42 for every mask type).

    Returns (``__call__``):
        ``(degraded, kspace, mask_result)``: the zero-filled image ``[C, ..., H, W]``, the masked
        k-space (complex) and the :class:`~monai_mcrecon.kspace.masks.MaskResult`.
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        mask_type: str = "mc_cdic",
        acceleration: float = 4.0,
        center_fraction: float | None = None,
        output: str = "magnitude",
        fixed: bool = True,
        seed: int | None = None,
    ) -> None:
        if output not in OUTPUTS:
            raise ValueError(f"Unknown output {output!r}; use one of {OUTPUTS}.")
        self.mask_func = create_mask_func(mask_type, acceleration, center_fraction)
        self.mask_type = mask_type
        self.output = output
        self.fixed = fixed
        self.seed = 42 if seed is None else seed
        self._fixed_masks: dict[tuple[int, int], MaskResult] = {}
        self._seed: int | None = None

    def randomize(self, data=None) -> None:
        self._seed = int(self.R.randint(0, 2**31 - 1))

    def mask_for(self, shape: Sequence[int]) -> MaskResult:
        """The mask used for k-space of shape ``(..., H, W)`` (fixed masks are cached per shape)."""
        hw = (int(shape[-2]), int(shape[-1]))
        if self.fixed:
            if hw not in self._fixed_masks:
                self._fixed_masks[hw] = self.mask_func(hw, seed=self.seed)
            return self._fixed_masks[hw]
        return self.mask_func(hw, seed=self._seed)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True):
        img_t = convert_to_tensor(img, track_meta=False)
        if randomize and not self.fixed:
            self.randomize()
        result = self.mask_for(img_t.shape)
        mask = result.mask.to(img_t.device)
        kspace, degraded = undersample_image(img_t, mask, output=self.output)
        return _real_output(degraded), kspace, result


class KspaceTruncate(Transform):
    """Simulate a low-resolution acquisition for super-resolution by k-space truncation.

    Args:
        scale: resolution factor ``s``; keeps the centred ``(H // s) x (W // s)`` block.
        grid: ``"hr"`` keeps the HR grid (zero-padded k-space, the MC-CDic setting) or ``"lr"`` returns
            the LR-grid image ``(H // s, W // s)`` of a genuinely low-resolution scan.
        output: degraded image form (``"magnitude"``, ``"complex"``, ``"real_irfft"``).

    Returns (``__call__``): ``(degraded, kspace)``.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, scale: float = 2.0, grid: str = "hr", output: str = "magnitude") -> None:
        if scale < 1:
            raise ValueError(f"Super-resolution scale must be >= 1, got {scale}.")
        self.scale, self.grid, self.output = scale, grid, output

    def __call__(self, img: NdarrayOrTensor):
        img_t = convert_to_tensor(img, track_meta=False)
        kspace, degraded = truncate_image(img_t, self.scale, grid=self.grid, output=self.output)
        return _real_output(degraded), kspace


class ScaleIntensityRecord(Transform):
    """Min-max scale a whole volume to ``[0, 1]`` and return the ``(min, max)`` used, so that results
    can be written back in the input's intensity units (``restore``).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __call__(self, img: NdarrayOrTensor) -> tuple[NdarrayOrTensor, torch.Tensor]:
        lo, hi = float(img.min()), float(img.max())
        if hi <= lo:
            raise ValueError(
                f"Cannot normalise a constant volume (all values {lo}); check that the file holds an image."
            )
        return (img - lo) / (hi - lo), torch.tensor([lo, hi], dtype=torch.float64)

    @staticmethod
    def restore(img: NdarrayOrTensor, intensity_range: Sequence[float] | torch.Tensor) -> NdarrayOrTensor:
        """Undo the scaling: ``intensity_range`` is one ``(lo, hi)`` pair for the whole image, or one
        pair per slice, ``[S, 2]``, for an image ``[C, S, H, W]`` with the slice axis first (the
        per-slice record of :class:`~monai_mcrecon.transforms.intensity.NormalizeFromInputd`)."""
        rng = torch.as_tensor(intensity_range, dtype=torch.float64)
        if rng.numel() == 2:
            lo, hi = (float(v) for v in rng.flatten())
            return img * (hi - lo) + lo
        rng = rng.reshape(-1, 2)
        if img.ndim < 3 or img.shape[1] != rng.shape[0]:
            raise ValueError(
                f"A per-slice intensity record of {rng.shape[0]} slices does not fit an image of shape "
                f"{tuple(img.shape)} (expected [C, {rng.shape[0]}, H, W], slice axis first)."
            )
        shape = (1, rng.shape[0]) + (1,) * (img.ndim - 2)
        img_t = torch.as_tensor(img)
        lo = rng[:, 0].reshape(shape).to(img_t.device, torch.float32)
        span = (rng[:, 1] - rng[:, 0]).reshape(shape).to(img_t.device, torch.float32)
        out = img_t * span + lo
        return out.numpy() if isinstance(img, np.ndarray) else out


class CheckFinite(Transform):
    """Raise a clear error when an array holds NaN or infinite values (the name says which input)."""

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, name: str = "input") -> None:
        self.name = name

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        finite = torch.isfinite(torch.as_tensor(img)) if not isinstance(img, np.ndarray) else np.isfinite(img)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise ValueError(
                f"{self.name} contains {bad} NaN or infinite value(s); fix or mask them in the source file "
                "before reconstruction (e.g. replace NaN with 0)."
            )
        return img


class MoveSliceAxis(Transform):
    """Move one axis of a channel-first array (``torch.movedim``), e.g. the slice axis of a volume
    ``[C, X, Y, Z]`` to the front (``source=-1, destination=1``: ``[C, Z, X, Y]``) so that 2-D k-space
    operations and ``monai.inferers.SliceInferer(spatial_dim=0)`` work slice by slice, and back.

    Metadata (affine) is left untouched: move the axis back before saving.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, source: int = -1, destination: int = 1) -> None:
        if source == 0 or destination == 0:
            raise ValueError("Axis 0 is the channel axis; move a spatial axis (1 .. N or negative).")
        self.source, self.destination = source, destination

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        if isinstance(img, np.ndarray):
            return np.moveaxis(img, self.source, self.destination)
        return torch.movedim(img, self.source, self.destination)
