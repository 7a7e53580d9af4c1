"""Shared machinery of the synthetic degradations (:mod:`~monai_mcrecon.transforms.degradation`,
:mod:`~monai_mcrecon.transforms.weather`): parameter ranges, image checks and the array / dictionary
base classes.

A parameter given as a number is fixed; a ``(low, high)`` pair is drawn uniformly per call from the
transform's ``self.R``. A fixed value (or ``low == high``) draws nothing, so adding a range option to a
transform leaves the random stream, and hence every seeded result made with fixed values, unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable, Transform
from monai.utils import TransformBackends

__all__ = ["Degradation", "Degradationd", "Range", "as_range", "check_image", "normal_like", "sample_range"]

Range = float | Sequence[float]


def as_range(value: Range, name: str) -> tuple[float, float]:
    """``value`` as ``(low, high)``; a single number ``v`` becomes ``(v, v)``.

    Raises:
        ValueError: ``low > high``.
    """
    if isinstance(value, (int, float)):
        return float(value), float(value)
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name}={tuple(value)} must be (low, high) with low <= high.")
    return lo, hi


def sample_range(r: np.random.RandomState, rng: tuple[float, float]) -> float:
    """A uniform draw from ``rng`` (no draw when ``low == high``)."""
    return rng[0] if rng[0] == rng[1] else float(r.uniform(*rng))


def check_image(img: torch.Tensor, name: str) -> torch.Tensor:
    """``img`` as a floating ``[C, H, W]`` tensor, or a ``ValueError`` naming the transform."""
    img = torch.as_tensor(img)
    if img.ndim != 3:
        raise ValueError(
            f"{name} expects an image [C, H, W], got shape {tuple(img.shape)}; degrade items before batching."
        )
    return img if img.is_floating_point() else img.float()


def normal_like(r: np.random.RandomState, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise of ``like``'s shape, dtype and device, drawn from ``r``."""
    return torch.from_numpy(r.standard_normal(tuple(like.shape))).to(like.dtype).to(like.device)


class Degradation(Randomizable, Transform):
    """Base of the array degradations: parameters are drawn from ``self.R`` inside ``__call__``."""

    backend = [TransformBackends.TORCH]

    def __init__(self, seed: int | None) -> None:
        if seed is not None:
            self.set_random_state(seed)

    def randomize(self, data=None) -> None:  # parameters are drawn inside __call__
        pass


class Degradationd(Randomizable, MapTransform):
    """Shared dictionary logic: read ``keys``, write ``output_key`` (one key) or ``output_key`` per key.

    ``set_random_state`` also seeds the wrapped array transform (which owns the draws). With
    ``case_seed_key`` the array transform is reseeded from ``(seed, case id)`` for every item.
    """

    backend = Degradation.backend

    def __init__(self, transform: Degradation, keys: KeysCollection, output_key: str | Sequence[str],
                 seed: int | None, case_seed_key: str | None, allow_missing_keys: bool) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.transform = transform
        out = [output_key] if isinstance(output_key, str) else list(output_key)
        if len(out) != len(self.keys):
            raise ValueError(f"Give one output_key per key: keys={list(self.keys)}, output_key={out}.")
        if set(out) & set(self.keys):
            raise ValueError(f"output_key {out} must differ from keys {list(self.keys)}: the clean image is kept.")
        self.output_keys = out
        self.seed, self.case_seed_key = seed, case_seed_key
        if seed is not None:
            self.set_random_state(seed)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def randomize(self, data=None) -> None:
        pass

    def _reseed(self, d: Mapping) -> None:
        if self.case_seed_key is None:
            return
        if self.case_seed_key not in d:
            raise KeyError(
                f"case_seed_key={self.case_seed_key!r} is not in the data; add it or set case_seed_key=None."
            )
        case = d[self.case_seed_key]
        case = case[0] if isinstance(case, (list, tuple)) else case
        self.transform.set_random_state(zlib.crc32(f"{self.seed or 0}:{case}".encode()) & 0x7FFFFFFF)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self._reseed(d)
        for key, out in self.key_iterator(d, self.output_keys):
            d[out] = self._apply(d[key], d)
        return d

    def _apply(self, img, d):
        return self.transform(img)
