"""Intensity normalisation computed only from what an acquisition delivers.

A real undersampled (or low-resolution) scan comes without its fully sampled truth, so the
network input must be normalised from the degraded target itself, and the reference from the
reference itself. :class:`NormalizeFromInputd` divides every 2-D slice by a high percentile of
the degraded target's magnitude (fastMRI normalises by the zero-filled image in the same spirit)
and the reference by its own percentile; the same factor is applied to the truth and to the
acquired k-space where they exist (training, evaluation, data consistency), so they stay in the
network's units, and the factor is recorded to write results back in the input's own units.

The normalisation is a pure per-slice scaling (no offset): it commutes with the Fourier transform,
so data consistency can be done in normalised units.

``mode="truth_minmax"`` is the protocol of many papers and of this project before version 0.3
(min-max scaling of the *fully sampled* target before the degradation is simulated). It leaks the
truth's intensity range into the network input; it is kept only to compare with published numbers
(:class:`~monai_mcrecon.transforms.dictionary.ScaleIntensityRecordd` does it at volume level).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

__all__ = ["NORMALIZATION_MODES", "input_scale", "NormalizeFromInputd", "normalization_uses_truth"]

#: ``"input"``: honest (degraded target and reference each by their own percentile, per slice);
#: ``"truth_minmax"``: the fully sampled target's per-volume min-max (papers' protocol, leaks the truth).
NORMALIZATION_MODES = ("input", "truth_minmax")


def normalization_uses_truth(mode: str) -> bool:
    """Whether ``mode`` scales from the fully sampled target (raises on an unknown mode)."""
    if mode not in NORMALIZATION_MODES:
        raise ValueError(f"Unknown normalization {mode!r}; use one of {NORMALIZATION_MODES} ('input' is the honest one).")
    return mode == "truth_minmax"


def input_scale(img: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Per-slice scale of an image ``[..., H, W]``: the ``percentile`` of its magnitude over the last
    two axes, shape ``[..., 1, 1]``. A slice whose percentile is zero (mostly empty) falls back to its
    maximum, an all-zero slice to 1, so the scale is always positive and finite."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}.")
    mag = torch.as_tensor(img).detach().abs().to(torch.float32)
    flat = mag.reshape(*mag.shape[:-2], -1)
    q = torch.quantile(flat, percentile / 100.0, dim=-1, keepdim=True) if flat.shape[-1] else flat.sum(-1, keepdim=True)
    peak = flat.amax(dim=-1, keepdim=True)
    scale = torch.where(q > 0, q, peak)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale.unsqueeze(-1)


def _as_range(scale: torch.Tensor) -> torch.Tensor:
    """``[C, *lead, 1, 1]`` scale -> the ``(lo, hi)`` record :meth:`ScaleIntensityRecord.restore` reads:
    ``[2]`` for one slice, ``[S, 2]`` for a volume of ``S`` slices (first channel)."""
    s = scale.reshape(scale.shape[0], -1)[0].to(torch.float64)  # one value per slice
    rng = torch.stack([torch.zeros_like(s), s], dim=-1)
    return rng[0] if rng.shape[0] == 1 else rng


class NormalizeFromInputd(MapTransform):
    """Normalise from the degraded target (and the reference from itself), per 2-D slice.

    Args:
        keys: the degraded target key(s) whose percentile sets the scale (normally ``"degraded"``).
        scaled_keys: keys divided by the same factor when present (the truth ``"target"``, the
            acquired k-space ``"kspace"``): they stay in the network's units.
        reference_keys: keys normalised by their own percentile (``"reference"``).
        percentile: the percentile of the magnitude (default 99).
        range_key: where the target's ``(0, scale)`` record goes (per slice), read by
            :class:`~monai_mcrecon.transforms.RestoreIntensityd`; the reference's goes to
            ``"{key}_intensity_range"``.

    Works on one slice ``[C, H, W]`` (training) and on a volume ``[C, S, H, W]`` with the slice
    axis first (evaluation, inference); both give the same numbers for the same slice.
    """

    def __init__(
        self,
        keys: KeysCollection = "degraded",
        scaled_keys: Sequence[str] = ("target", "kspace"),
        reference_keys: Sequence[str] = ("reference",),
        percentile: float = 99.0,
        range_key: str = "target_intensity_range",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaled_keys, self.reference_keys = tuple(scaled_keys), tuple(reference_keys)
        self.percentile, self.range_key = percentile, range_key
        input_scale(torch.ones(1, 1), percentile)  # validate the percentile now

    @staticmethod
    def _check_not_constant(img: torch.Tensor, name: str, case: object) -> None:
        """A whole volume (``[C, S, H, W]``) that is constant holds no image: say so (an empty
        single slice is fine, the edges of a head are empty)."""
        t = torch.as_tensor(img)
        if t.ndim >= 4 and t.numel() and bool((t == t.flatten()[0]).all()):
            raise ValueError(
                f"Case {case!r}: the {name} volume is constant (all values {float(t.flatten()[0].abs())}); "
                "check that the file holds an image."
            )

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        case = d.get("case_id", "?")
        scale = None
        for k in self.key_iterator(d):
            self._check_not_constant(d[k], "degraded target", case)
            scale = input_scale(d[k], self.percentile)
            d[k] = d[k] / scale.to(d[k].device)
        if scale is not None:
            for k in self.scaled_keys:
                if k in d and d[k] is not None:
                    d[k] = d[k] / scale.to(torch.as_tensor(d[k]).device)
            d[self.range_key] = _as_range(scale)
        for k in self.reference_keys:
            if k in d and d[k] is not None:
                self._check_not_constant(d[k], k, case)
                ref_scale = input_scale(d[k], self.percentile)
                d[k] = d[k] / ref_scale.to(d[k].device)
                d[f"{k}_intensity_range"] = _as_range(ref_scale)
        return d
