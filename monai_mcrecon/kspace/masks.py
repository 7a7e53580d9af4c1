"""k-space sampling masks: small seeded objects with one job each, in the manner of fastMRI.

Conventions (shared with :mod:`monai_mcrecon.kspace.fft`): k-space is centred, the DC term sits
at ``(H // 2, W // 2)``, data are ``[..., H, W]``. 1-D Cartesian masks sample whole columns, i.e.
phase encoding runs along the last axis W; their mask has shape ``[1, W]``. 2-D masks (Gaussian,
Poisson disc, radial) have shape ``[H, W]``. Both broadcast against ``[..., H, W]``.

A mask function is called with the k-space shape and an optional seed and returns a
:class:`MaskResult`; equal seeds give equal masks (numpy's legacy ``RandomState``, as fastMRI).

* :class:`RandomMask`, :class:`EquispacedMask`: identical to fastMRI's ``RandomMaskFunc`` /
  ``EquiSpacedMaskFunc`` (single centre fraction and acceleration) called with the same seed.
* :class:`MCCDicMask`: the fixed seed-42 random column mask of the MC-CDic release
  (docs/models/mc_cdic.md, 'Degradations').
* :class:`GaussianMask1D`, :class:`GaussianMask2D`: variable density, drawn without replacement.
* :class:`PoissonDiscMask2D`: variable-density Poisson-disc points.
* :class:`RadialMask`: golden-angle spokes through DC rasterised on the Cartesian grid.

:func:`create_mask_func` builds one by name from :data:`MASK_FUNCTIONS`; :func:`infer_sampling_mask` reads the
mask of a zero-filled acquisition off its k-space.

Over 600 lines by design: the mask families share the validation and centre-band helpers above them, and
splitting the catalogue would put those helpers in a third module that only this one uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "infer_sampling_mask",
    "DEFAULT_CENTER_FRACTIONS",
    "MaskResult",
    "MaskFunc",
    "RandomMask",
    "EquispacedMask",
    "MCCDicMask",
    "GaussianMask1D",
    "GaussianMask2D",
    "PoissonDiscMask2D",
    "RadialMask",
    "MASK_FUNCTIONS",
    "create_mask_func",
]

#: Fully sampled centre fraction per acceleration (fastMRI / MC-CDic values).
DEFAULT_CENTER_FRACTIONS: dict[int, float] = {2: 0.10, 4: 0.08, 6: 0.06, 8: 0.04}

# Poisson disc: sub-pixel resolution of the distances and relative dither of the radius; both
# make the number of points a smooth function of the radius scale (see _poisson_disc).
_SUBPIXEL = 8
_RADIUS_DITHER = 0.05

# Full spokes through DC: consecutive spokes differ by 180 deg / golden ratio (about 111.25 deg).
_GOLDEN_ANGLE = math.pi * (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class MaskResult:
    """A sampled k-space mask and what it realises.

    Attributes:
        mask: float32 tensor of zeros and ones, ``[1, W]`` for column masks, ``[H, W]`` for 2-D
            masks; broadcasts against k-space ``[..., H, W]``.
        acceleration: realised acceleration, number of k-space points divided by the number of
            sampled points (``inf`` if nothing is sampled).
        num_low_frequencies: number of fully sampled centre columns (for 2-D masks: the width
            along W of the fully sampled centre block); 0 where there is none.
        name: registry name of the mask function that made it.
    """

    mask: torch.Tensor
    acceleration: float
    num_low_frequencies: int
    name: str


def _check_acceleration(acceleration: float) -> float:
    acceleration = float(acceleration)
    if not math.isfinite(acceleration) or acceleration < 1.0:
        raise ValueError(
            f"acceleration={acceleration} is invalid: it must be a finite number >= 1 "
            "(1 means full sampling)."
        )
    return acceleration


def _resolve_center_fraction(acceleration: float, center_fraction: float | None, owner: str) -> float:
    if center_fraction is None:
        for acc, fraction in DEFAULT_CENTER_FRACTIONS.items():
            if math.isclose(acceleration, acc):
                return fraction
        raise ValueError(
            f"{owner}: no default center_fraction for acceleration={acceleration}; defaults exist "
            f"for {sorted(DEFAULT_CENTER_FRACTIONS)}x only, pass center_fraction in (0, 1)."
        )
    center_fraction = float(center_fraction)
    if not 0.0 < center_fraction < 1.0:
        raise ValueError(f"center_fraction={center_fraction} must lie in the open interval (0, 1).")
    return center_fraction


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"k-space shape {tuple(shape)} must have at least two axes (..., H, W).")
    height, width = int(shape[-2]), int(shape[-1])
    if height < 1 or width < 1:
        raise ValueError(f"k-space shape {tuple(shape)} must have positive H and W.")
    return height, width


def _centre_slice(size: int, num_low: int) -> slice:
    """fastMRI's centre block: ``num_low`` entries starting at ``(size - num_low + 1) // 2``."""
    start = (size - num_low + 1) // 2
    return slice(start, start + num_low)


def _check_budget(num_centre: int, num_target: int, total: int, owner: str, center_fraction: float) -> None:
    if num_centre > num_target:
        raise ValueError(
            f"{owner}: the fully sampled centre (center_fraction={center_fraction}) holds "
            f"{num_centre} of {total} points, more than the {num_target} the acceleration allows; "
            "lower center_fraction or the acceleration."
        )


def _weighted_choice(rng: np.random.RandomState, log_weights: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` items drawn without replacement with probability proportional to weight.

    Efraimidis-Spirakis: keep the ``k`` smallest keys ``E_i / w_i`` with ``E_i ~ Exp(1)``; computed
    in the log domain so that tiny weights do not underflow.
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.log(rng.standard_exponential(size=log_weights.shape)) - log_weights
    if k >= keys.size:
        return np.arange(keys.size)
    return np.argpartition(keys, k - 1)[:k]


class MaskFunc:
    """Base class: a seeded k-space mask generator with one job.

    Subclasses implement :meth:`sample`; ``__call__`` validates the shape, seeds the generator
    and packs the :class:`MaskResult`.

    Args:
        acceleration: requested acceleration, ``>= 1`` (1 means full sampling).

    Raises:
        ValueError: if ``acceleration`` is below 1 or not finite.
    """

    name: str = "base"

    def __init__(self, acceleration: float) -> None:
        self.acceleration = _check_acceleration(acceleration)

    def __call__(self, shape: Sequence[int], seed: int | None = None) -> MaskResult:
        """Sample a mask for k-space of shape ``(..., H, W)``.

        Args:
            shape: k-space shape, at least ``(H, W)``.
            seed: seed of numpy's ``RandomState``; equal seeds give equal masks, ``None`` draws
                fresh entropy.

        Returns:
            the mask with its realised acceleration and number of low frequencies.

        Raises:
            ValueError: if the shape has fewer than two axes or a non-positive H or W.
        """
        height, width = _check_shape(shape)
        mask, num_low = self.sample(height, width, np.random.RandomState(seed))
        num_sampled = int(mask.sum())
        realised = mask.size / num_sampled if num_sampled else math.inf
        tensor = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
        return MaskResult(mask=tensor, acceleration=realised, num_low_frequencies=num_low, name=self.name)

    def sample(self, height: int, width: int, rng: np.random.RandomState) -> tuple[np.ndarray, int]:
        """Draw the mask.

        Args:
            height: H of k-space.
            width: W of k-space.
            rng: seeded generator to draw from.

        Returns:
            boolean array ``[1, W]`` or ``[H, W]`` and the number of low frequencies.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class _CentredMaskFunc(MaskFunc):
    """A mask function with a fully sampled centre given as a fraction of each side."""

    def __init__(self, acceleration: float, center_fraction: float | None = None) -> None:
        super().__init__(acceleration)
        self.center_fraction = _resolve_center_fraction(self.acceleration, center_fraction, type(self).__name__)


class RandomMask(_CentredMaskFunc):
    """Random column mask, identical to ``fastmri.data.subsample.RandomMaskFunc``.

    ``n_low = round(W * center_fraction)`` centre columns starting at ``(W - n_low + 1) // 2`` are
    kept; every other column is kept with probability ``p = (W / R - n_low) / (W - n_low)``
    (``U(0, 1) < p``), so that ``W / R`` columns are kept on average. Called with the same seed it
    equals ``RandomMaskFunc([center_fraction], [R])`` reshaped from ``[1, ..., W, 1]`` to
    ``[1, W]`` (fastMRI's single-choice ``randint(1)`` draws nothing from the generator).

    Args:
        acceleration: requested acceleration R >= 1.
        center_fraction: fraction of fully sampled centre columns in (0, 1); defaults to
            :data:`DEFAULT_CENTER_FRACTIONS` for 2x, 4x, 6x, 8x and is required otherwise.

    Raises:
        ValueError: for an acceleration below 1, a centre fraction outside (0, 1), or a missing
            centre fraction without a default.
    """

    name = "random"

    def sample(self, height: int, width: int, rng: np.random.RandomState) -> tuple[np.ndarray, int]:
        """See :meth:`MaskFunc.sample`; returns a ``[1, W]`` mask."""
        num_low = round(width * self.center_fraction)
        prob = (width / self.acceleration - num_low) / (width - num_low) if width > num_low else 0.0
        mask = rng.uniform(size=width) < prob
        mask[_centre_slice(width, num_low)] = True
        return mask[None], num_low


class EquispacedMask(_CentredMaskFunc):
    """Equispaced column mask, identical to ``fastmri.data.subsample.EquiSpacedMaskFunc``.

    The centre columns as in :class:`RandomMask`, plus every R-th column from a random offset in
    ``[0, round(R))``. As in fastMRI the realised acceleration is below R because the centre is
    added on top. A non-integer R keeps the columns ``round(offset + i R)``.

    Args:
        acceleration: requested acceleration R >= 1.
        center_fraction: as for :class:`RandomMask`.

    Raises:
        ValueError: as for :class:`RandomMask`.
    """

    name = "equispaced"

    def sample(self, height: int, width: int, rng: np.random.RandomState) -> tuple[np.ndarray, int]:
        """See :meth:`MaskFunc.sample`; returns a ``[1, W]`` mask."""
        num_low = round(width * self.center_fraction)
        offset = rng.randint(0, high=round(self.acceleration))
        mask = np.zeros(width, dtype=bool)
        columns = np.round(np.arange(offset, width, self.acceleration)).astype(np.int64)
        mask[columns[columns < width]] = True
        mask[_centre_slice(width, num_low)] = True
        return mask[None], num_low


class MCCDicMask(RandomMask):
    """The fixed column mask of the MC-CDic release (faithful to the authors' release).

    fastMRI's random-mask rule with numpy's legacy ``RandomState(42)``:
    ``n_low = round(W * cf)``, ``p = (W / R - n_low) / (W - n_low)``, ``mask = U(0, 1) < p`` and
    the ``n_low`` centre columns from ``(W - n_low + 1) // 2`` set to 1. The same mask is used for
    every slice, so the ``seed`` argument of ``__call__`` is ignored: the seed is always
    :attr:`SEED` = 42. Kept columns: W=240 -> 66 (4x), 32 (8x); W=256 -> 69 (4x), 33 (8x).

    Args:
        acceleration: requested acceleration R (the release uses 4 and 8).
        center_fraction: defaults 2x 0.10, 4x 0.08, 6x 0.06, 8x 0.04.

    Raises:
        ValueError: as for :class:`RandomMask`.
    """

    name = "mc_cdic"
    SEED = 42

    def __call__(self, shape: Sequence[int], seed: int | None = None) -> MaskResult:
        """Return the seed-42 mask for ``shape``; ``seed`` is ignored (see the class docstring)."""
        return super().__call__(shape, seed=self.SEED)


class GaussianMask1D(_CentredMaskFunc):
    """Variable-density column mask with a Gaussian density centred at column ``W // 2``.

    The ``round(W * center_fraction)`` centre columns are kept; the remaining
    ``round(W / R) - n_low`` columns are drawn without replacement with probability proportional to
    ``exp(-(k - W // 2)^2 / (2 (std W)^2))``. The realised acceleration is ``W / round(W / R)``.

    Args:
        acceleration: requested acceleration R >= 1.
        center_fraction: as for :class:`RandomMask`.
        std: standard deviation of the density as a fraction of W (> 0).

    Raises:
        ValueError: for invalid acceleration, centre fraction or ``std``; at call time if the
            centre alone holds more columns than ``W / R``.
    """

    name = "gaussian1d"

    def __init__(self, acceleration: float, center_fraction: float | None = None, std: float = 0.25) -> None:
        super().__init__(acceleration, center_fraction)
        if not std > 0:
            raise ValueError(f"std={std} must be > 0 (a fraction of the image width).")
        self.std = float(std)

    def sample(self, height: int, width: int, rng: np.random.RandomState) -> tuple[np.ndarray, int]:
        """See :meth:`MaskFunc.sample`; returns a ``[1, W]`` mask."""
        num_low = round(width * self.center_fraction)
        num_target = max(round(width / self.acceleration), 1)
        _check_budget(num_low, num_target, width, type(self).__name__, self.center_fraction)
        mask = np.zeros(width, dtype=bool)
        mask[_centre_slice(width, num_low)] = True
        candidates = np.flatnonzero(~mask)
        log_w = -((candidates - width // 2) ** 2) / (2.0 * (self.std * width) ** 2)
        mask[candidates[_weighted_choice(rng, log_w, num_target - num_low)]] = True
        return mask[None], num_low


def _centre_block(height: int, width: int, center_fraction: float) -> tuple[np.ndarray, int]:
    """Boolean ``[H, W]`` with the fully sampled centre block, and its width along W."""
    block = np.zeros((height, width), dtype=bool)
    num_low_w = round(width * center_fraction)
    block[_centre_slice(height, round(height * center_fraction)), _centre_slice(width, num_low_w)] = True
    return block, num_low_w


class GaussianMask2D(_CentredMaskFunc):
    """Variable-density 2-D point mask with a Gaussian density centred at DC.

    The centre block ``round(H cf) x round(W cf)`` is kept; the remaining ``round(H W / R)`` minus
    centre points are drawn without replacement with probability proportional to
    ``exp(-dy^2 / (2 (std H)^2) - dx^2 / (2 (std W)^2))``, ``(dy, dx)`` the offset from
    ``(H // 2, W // 2)``. The realised acceleration is ``H W / round(H W / R)``.

    Args:
        acceleration: requested acceleration R >= 1.
        center_fraction: side of the centre block as a fraction of H and of W; defaults as for
            :class:`RandomMask`.
        std: standard deviation of the density as a fraction of H and of W (> 0).

    Raises:
        ValueError: for invalid acceleration, centre fraction or ``std``; at call time if the
            centre block alone holds more points than ``H W / R``.
    """

    name = "gaussian2d"

    def __init__(self, acceleration: float, center_fraction: float | None = None, std: float = 0.25) -> None:
        super().__init__(acceleration, center_fraction)
        if not std > 0:
            raise ValueError(f"std={std} must be > 0 (a fraction of the image size).")
        self.std = float(std)

    def sample(self, height: int, width: int, rng: np.random.RandomState) -> tuple[np.ndarray, int]:
        """See :meth:`MaskFunc.sample`; returns an ``[H, W]`` mask."""
        mask, num_low = _centre_block(height, width, self.center_fraction)
        num_centre = int(mask.sum())
        num_target = max(round(height * width / self.acceleration), 1)
        _check_budget(num_centre, num_target, height * width, type(self).__name__, self.center_fraction)
        candidates = np.flatnonzero(~mask)
        dy = candidates // width - height // 2
        dx = candidates % width - width // 2
        log_w = -(dy**2) / (2.0 * (self.std * height) ** 2) - dx**2 / (2.0 * (self.std * width) ** 2)
        mask.flat[candidates[_weighted_choice(rng, log_w, num_target - num_centre)]] = True
        return mask, num_low


# Points per pixel kept by _poisson_disc for a uniform radius r, times r^2 (measured on
# 128-384 px grids, 3 seeds, with _SUBPIXEL = 8 and _RADIUS_DITHER = 0.05); tends to the
# random-sequential-adsorption jamming limit 0.70 of discs for large r.
_PACKING_RADII = np.array(
    [0.125, 0.25, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 16.0]
)
_PACKING_VALUES = np.array(
    [0.0156, 0.0616, 0.117, 0.217, 0.285, 0.340, 0.381, 0.417, 0.445, 0.482, 0.507, 0.529, 0.559, 0.587, 0.595]
    + [0.622, 0.646, 0.670, 0.689]
)


def _packing_density(radius: np.ndarray) -> np.ndarray:
    """Modelled fraction of grid points that Poisson-disc sampling with ``radius`` keeps."""
    packing = np.interp(np.log(radius), np.log(_PACKING_RADII), _PACKING_VALUES)
    return np.minimum(1.0, packing / radius**2)


def _disc_stencil(squared_radius: int) -> np.ndarray:
    """Boolean square stencil of the integer offsets with ``dy^2 + dx^2 < squared_radius``."""
    reach = math.isqrt(max(squared_radius - 1, 0))
    offsets = np.arange(-reach, reach + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 < squared_radius


def _poisson_disc(radius: np.ndarray, order: np.ndarray, jitter: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """Greedy (random sequential) Poisson-disc sampling, one dart per grid cell.

    Grid point ``(y, x)`` stands for the position ``(y, x) + jitter / _SUBPIXEL`` inside its
    cell; points are visited in ``order`` and kept unless their position lies closer than ``r``
    to the position of a point kept before, ``r`` the radius at the earlier point. The jitter (and
    the caller's small dither of ``r``) makes the density a smooth function of the radius: on the
    bare grid only the distances 1, sqrt 2, 2, ... exist and the density jumps by up to 20%.
    Distances are resolved exactly on a grid refined ``_SUBPIXEL`` times. ``accepted`` seeds the
    result (the centre block) and is not modified.
    """
    height, width = radius.shape
    # Integer squared fine distances d^2 < r^2 <=> d^2 < ceil(r^2): one stencil per ceil(r^2).
    keys = np.ceil((radius * _SUBPIXEL) ** 2).astype(np.int64)
    pad = math.isqrt(int(keys.max())) + 1
    blocked = np.zeros((height * _SUBPIXEL + 2 * pad, width * _SUBPIXEL + 2 * pad), dtype=bool)
    fine_y = (np.arange(height)[:, None] * _SUBPIXEL + jitter[0] + pad).ravel().tolist()
    fine_x = (np.arange(width)[None, :] * _SUBPIXEL + jitter[1] + pad).ravel().tolist()
    keys_list = keys.ravel().tolist()
    stencils: dict[int, tuple[int, np.ndarray]] = {}

    def block(index: int) -> None:
        key = keys_list[index]
        if key not in stencils:
            stencil = _disc_stencil(key)
            stencils[key] = (stencil.shape[0] // 2, stencil)
        reach, stencil = stencils[key]
        y, x = fine_y[index], fine_x[index]
        blocked[y - reach : y + reach + 1, x - reach : x + reach + 1] |= stencil

    result = accepted.ravel().copy()
    for index in np.flatnonzero(result).tolist():
        block(index)
    for index in order.tolist():
        if not blocked[fine_y[index], fine_x[index]]:
            result[index] = True
            block(index)
    return result.reshape(height, width)


class PoissonDiscMask2D(_CentredMaskFunc):
    """Variable-density 2-D Poisson-disc mask with a fully sampled centre block.

    Points are visited in random order and kept unless closer than the local radius
    ``r(k) = s (1 + variable_density * rho(k))`` (dithered by +-5%) to a kept point, with
    ``rho = sqrt((dy / (H/2))^2 + (dx / (W/2))^2)`` the normalised distance from DC; the centre
    block ``round(H cf) x round(W cf)`` is kept. Each grid point sits at a random sub-pixel
    position of its cell, which makes the density a smooth function of ``s``. The scale ``s`` is
    fitted on a measured packing model and refitted on the count (at most ``_MAX_PASSES`` passes
    of the same random order) so that the number of points is within ``tolerance`` of
    ``H W / R``; if no pass gets there the closest one is returned (only tiny grids, where one
    point is several percent). The realised acceleration is reported. About 0.1-0.4 s for
    256 x 256 on one CPU core.

    Args:
        acceleration: requested acceleration R >= 1.
        center_fraction: side of the centre block as a fraction of H and of W; defaults as for
            :class:`RandomMask`.
        variable_density: growth of the radius from DC to the edge (0 gives uniform density).
        tolerance: relative tolerance on the number of sampled points, in (0, 1).

    Raises:
        ValueError: for invalid acceleration, centre fraction, ``variable_density`` or
            ``tolerance``; at call time if the centre block alone exceeds ``H W / R`` points.
    """

    name = "poisson2d"
    _MAX_PASSES = 6

    def __init__(
        self,
        acceleration: float,
        center_fraction: float | None = None,
        variable_density: float = 2.0,
        tolerance: float = 0.03,
    ) -> None:
        super().__init__(acceleration, center_fraction)
        if not variable_density >= 0:
            raise ValueError(f"variable_density={variable_density} must be >= 0.")
        if not 0 < tolerance < 1:
            raise ValueError(f"tolerance={tolerance} must lie in (0, 1).")
        self.variable_density = float(variable_density)
        self.tolerance = float(tolerance)

    def sample(self, height: int, width: int, rng: np.random.RandomState) -> tuple[np.ndarray, int]:
        """See :meth:`MaskFunc.sample`; returns an ``[H, W]`` mask."""
        centre, num_low = _centre_block(height, width, self.center_fraction)
        total = height * width
        num_target = max(round(total / self.acceleration), 1)
        num_centre = int(centre.sum())
        _check_budget(num_centre, num_target, total, type(self).__name__, self.center_fraction)
        if num_target >= total:
            return np.ones((height, width), dtype=bool), num_low
        dy = (np.arange(height) - height // 2) / (height / 2.0)
        dx = (np.arange(width) - width // 2) / (width / 2.0)
        profile = 1.0 + self.variable_density * np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)
        order = rng.permutation(total)
        jitter = rng.randint(0, _SUBPIXEL, size=(2, height, width))
        profile = profile * (1.0 + _RADIUS_DITHER * rng.uniform(-1.0, 1.0, size=(height, width)))
        outside = profile[~centre]
        wanted = num_target - num_centre

        def scale_for(correction: float) -> float:
            # Bisection in log scale on the modelled number of points outside the centre.
            low, high = 1e-3, 4.0 * max(height, width)
            for _ in range(40):
                mid = math.sqrt(low * high)
                too_many = correction * _packing_density(mid * outside).sum() > wanted
                low, high = (mid, high) if too_many else (low, mid)
            return math.sqrt(low * high)

        # Fit the scale on the packing model, then rescale the model by the ratio of counted to
        # modelled points at the last scale (fixed-point iteration; one or two passes in practice).
        correction = 1.0
        best: tuple[float, np.ndarray] | None = None
        for _ in range(self._MAX_PASSES):
            scale = scale_for(correction)
            mask = _poisson_disc(scale * profile, order, jitter, centre)
            count = int(mask.sum())
            error = abs(count - num_target) / num_target
            if best is None or error < best[0]:
                best = (error, mask)
            if error <= self.tolerance:
                break
            correction = max(count - num_centre, 1) / _packing_density(scale * outside).sum()
        return best[1], num_low


class RadialMask(MaskFunc):
    """Golden-angle radial mask: full spokes through DC rasterised on the Cartesian grid.

    Spoke ``j`` has angle ``j * 180 deg / phi`` (about 111.25 deg steps, phi the golden ratio) and
    runs through ``(H // 2, W // 2)`` to the borders; it is sampled every half pixel and rounded
    to the nearest grid point, so every spoke is an 8-connected line. The number of spokes is the
    one whose rasterised mask has the number of points closest to ``H W / R`` (masks grow with
    the number of spokes, so it is found by bisection). The mask is point symmetric about DC
    (on the ``[1:, 1:]`` part of an even-sized grid). It is deterministic: ``seed`` is accepted
    for the common interface and ignored. There is no centre fraction: spokes oversample the
    centre by construction (``num_low_frequencies`` is 0).

    Args:
        acceleration: requested acceleration R >= 1.

    Raises:
        ValueError: if ``acceleration`` is below 1 or not finite.
    """

    name = "radial"

    def sample(self, height: int, width: int, rng: np.random.RandomState) -> tuple[np.ndarray, int]:
        """See :meth:`MaskFunc.sample`; returns an ``[H, W]`` mask (``rng`` is not used)."""
        total = height * width
        num_target = max(round(total / self.acceleration), 1)
        if num_target >= total:
            return np.ones((height, width), dtype=bool), 0
        reach = math.ceil(math.hypot(height / 2.0, width / 2.0)) + 1
        steps = np.arange(-2 * reach, 2 * reach + 1) / 2.0  # symmetric about 0 -> symmetric mask

        def spokes(count: int) -> np.ndarray:
            angles = np.arange(count) * _GOLDEN_ANGLE
            rows = height // 2 + np.round(np.sin(angles)[:, None] * steps).astype(np.int64)
            cols = width // 2 + np.round(np.cos(angles)[:, None] * steps).astype(np.int64)
            inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
            mask = np.zeros((height, width), dtype=bool)
            mask[rows[inside], cols[inside]] = True
            return mask

        # Smallest spoke count reaching the target, then the closer of it and its predecessor.
        low, high = 0, 1
        while spokes(high).sum() < num_target and high < 64 * max(height, width):
            low, high = high, 2 * high
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if spokes(mid).sum() < num_target else (low, mid)
        above, below = spokes(high), spokes(max(low, 1))
        if abs(int(below.sum()) - num_target) < abs(int(above.sum()) - num_target):
            return below, 0
        return above, 0


#: Registry of mask functions by name.
MASK_FUNCTIONS: dict[str, type[MaskFunc]] = {
    "random": RandomMask,
    "equispaced": EquispacedMask,
    "mc_cdic": MCCDicMask,
    "gaussian1d": GaussianMask1D,
    "gaussian2d": GaussianMask2D,
    "poisson2d": PoissonDiscMask2D,
    "radial": RadialMask,
}


def infer_sampling_mask(kspace: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """The sampling mask of a zero-filled acquisition, read off its k-space.

    A zero-filled image (``undersample_image`` with ``output="complex"`` or ``"real_irfft"``) has
    exactly zero k-space at the unacquired locations, so ``M = |k| > rtol * max |k|`` (maximum per
    image over the last two axes) recovers the mask; for ``"real_irfft"`` it is the
    conjugate-symmetrised mask the release convention applies. This is not defined for a zero-filled
    *magnitude* image, whose k-space is dense: callers should check the returned density.

    Args:
        kspace: ``[..., H, W]`` centred k-space (complex or real).
        rtol: threshold relative to the largest magnitude of each image. MR k-space spans many
            decades (acquired high frequencies of the embedded sample go down to ``5e-7`` of the
            peak) while float32 round-off at unacquired locations stays near ``4e-8`` (complex) and
            below ``1e-6`` (``"real_irfft"``); entries misread at the margin carry almost no energy.

    Returns:
        real ``[..., H, W]`` tensor of 0/1 in the dtype of ``kspace.real``.
    """
    magnitude = kspace.abs()
    peak = magnitude.amax(dim=(-2, -1), keepdim=True)
    return (magnitude > rtol * peak).to(magnitude.dtype)


def create_mask_func(
    name: str, acceleration: float, center_fraction: float | None = None, **kwargs: float
) -> MaskFunc:
    """Build a mask function from :data:`MASK_FUNCTIONS` by name.

    Args:
        name: one of ``"random"``, ``"equispaced"``, ``"mc_cdic"``, ``"gaussian1d"``,
            ``"gaussian2d"``, ``"poisson2d"``, ``"radial"``.
        acceleration: requested acceleration, >= 1.
        center_fraction: fully sampled centre fraction; ``None`` uses the default for the
            acceleration. Must stay ``None`` for ``"radial"``.
        kwargs: further constructor arguments (e.g. ``std``, ``variable_density``).

    Returns:
        the mask function.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones), a centre fraction
            given to the radial mask, or invalid arguments of the mask function.
    """
    if name not in MASK_FUNCTIONS:
        raise ValueError(f"Unknown mask function {name!r}; valid names are {sorted(MASK_FUNCTIONS)}.")
    cls = MASK_FUNCTIONS[name]
    if center_fraction is not None:
        if not issubclass(cls, _CentredMaskFunc):
            raise ValueError(f"Mask function {name!r} has no centre fraction; pass center_fraction=None.")
        kwargs["center_fraction"] = center_fraction
    return cls(acceleration, **kwargs)
