"""Blur kernels for the synthetic degradations: camera shake, straight streaks, Gaussian and defocus.

Every kernel is a non-negative ``numpy`` array ``[k, k]`` with odd ``k``. The point-spread functions
(:func:`random_motion_kernel`, :func:`gaussian_kernel`, :func:`defocus_kernel`, :func:`random_blur_kernel`)
sum to 1, so blurring keeps the mean brightness; :func:`line_kernel` (the rain streak shape) has peak 1
instead. Random kernels draw from the ``numpy.random.RandomState`` they are given (a transform's
``self.R``), so they follow MONAI's seeding.

References: Boracchi & Foi, IEEE TIP 2012 (random-walk camera-shake trajectories); a defocused thin lens
images a point as a uniform disk (the circle of confusion); a Gaussian PSF models mild optical blur.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "BLUR_KERNEL_TYPES",
    "defocus_kernel",
    "gaussian_kernel",
    "line_kernel",
    "random_blur_kernel",
    "random_motion_kernel",
    "rasterize_trajectory",
]

BLUR_KERNEL_TYPES = ("motion", "gaussian", "defocus")


def _check_size(kernel_size: int) -> None:
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size} must be odd and >= 3.")


def _uniform(r: np.random.RandomState, value: float | Sequence[float]) -> float:
    """A value or a draw from a (low, high) range (no draw for a single value or an empty range)."""
    if isinstance(value, (int, float)):
        return float(value)
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"range {tuple(value)} must be (low, high) with low <= high.")
    return lo if lo == hi else float(r.uniform(lo, hi))


def rasterize_trajectory(points: np.ndarray, kernel_size: int) -> np.ndarray:
    """Splat 2-D points ``[N, 2]`` (row, col; kernel-centred coordinates) bilinearly onto a
    ``kernel_size x kernel_size`` grid and normalise to sum 1 (equal exposure time per point)."""
    k = np.zeros((kernel_size, kernel_size), np.float64)
    c = (kernel_size - 1) / 2
    pts = np.asarray(points, np.float64) + c
    pts = np.clip(pts, 0, kernel_size - 1 - 1e-9)
    r0, c0 = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
    fr, fc = pts[:, 0] - r0, pts[:, 1] - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (1, 0, fr * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 1, fr * fc)):
        np.add.at(k, (np.minimum(r0 + dr, kernel_size - 1), np.minimum(c0 + dc, kernel_size - 1)), w)
    return k / k.sum()


def random_motion_kernel(
    r: np.random.RandomState, kernel_size: int = 15, length: float | Sequence[float] = (0.3, 1.0), steps: int = 64,
    inertia: float = 0.7,
) -> np.ndarray:
    """Random camera-shake kernel (Boracchi & Foi 2012 style): a random walk with inertia on the
    velocity, centred on its centroid, scaled so that its largest extent is ``length`` x (kernel_size - 1)
    and rasterised with :func:`rasterize_trajectory`. Non-negative, sums to 1, ``[kernel_size, kernel_size]``.

    ``length`` is a fraction of the kernel size (or a (low, high) range): in a 31 px kernel, (0.2, 1.0)
    gives trajectories of about 7 to 31 px."""
    _check_size(kernel_size)
    v = r.standard_normal(2)
    pos, traj = np.zeros(2), []
    for _ in range(steps):
        v = inertia * v + (1 - inertia) * r.standard_normal(2) * 2.0
        pos = pos + v
        traj.append(pos.copy())
    traj = np.asarray(traj)
    traj -= traj.mean(0)
    extent = np.abs(traj).max()
    scale = _uniform(r, length) * (kernel_size - 1) / 2 / max(extent, 1e-9)
    # oversample the path so consecutive samples are < 0.5 px apart (a continuous streak)
    fine = np.linspace(0, len(traj) - 1, 8 * len(traj))
    traj = np.stack([np.interp(fine, np.arange(len(traj)), traj[:, i]) for i in range(2)], 1) * scale
    return rasterize_trajectory(traj, kernel_size)


def line_kernel(length: float, angle_deg: float, kernel_size: int | None = None) -> np.ndarray:
    """Anti-aliased straight line of ``length`` pixels at ``angle_deg`` from the vertical (positive =
    top leaning right), centred, max value 1 (so a single bright pixel becomes a streak of the same peak)."""
    if kernel_size is None:
        kernel_size = int(np.ceil(length)) // 2 * 2 + 3
    t = np.linspace(-length / 2, length / 2, max(2, int(4 * length)))
    a = np.deg2rad(angle_deg)
    pts = np.stack([t * np.cos(a), -t * np.sin(a)], 1)
    k = rasterize_trajectory(pts, kernel_size)
    return k / k.max()


def gaussian_kernel(sigma: float, kernel_size: int = 15) -> np.ndarray:
    """Isotropic Gaussian PSF of standard deviation ``sigma`` pixels, ``[kernel_size, kernel_size]``, sum 1.
    ``sigma`` close to 0 gives the delta kernel."""
    _check_size(kernel_size)
    if sigma < 0:
        raise ValueError(f"sigma={sigma} must be non-negative.")
    c = (kernel_size - 1) / 2
    yy, xx = np.mgrid[0:kernel_size, 0:kernel_size] - c
    k = np.exp(-(yy**2 + xx**2) / (2 * max(sigma, 1e-3) ** 2))
    return k / k.sum()


def defocus_kernel(radius: float, kernel_size: int = 15, supersample: int = 8) -> np.ndarray:
    """Defocus PSF: a uniform disk of ``radius`` pixels (the circle of confusion), anti-aliased by
    ``supersample`` x ``supersample`` sub-pixel coverage, ``[kernel_size, kernel_size]``, sum 1.
    The radius is capped at the kernel's half size; below half a pixel it is the delta kernel."""
    _check_size(kernel_size)
    if radius < 0:
        raise ValueError(f"radius={radius} must be non-negative.")
    c = (kernel_size - 1) / 2
    radius = min(max(radius, 0.5), c + 0.5)
    sub = (np.arange(kernel_size * supersample) + 0.5) / supersample - 0.5 - c
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (yy**2 + xx**2 <= radius**2).astype(np.float64)
    k = inside.reshape(kernel_size, supersample, kernel_size, supersample).mean((1, 3))
    return k / k.sum()


def random_blur_kernel(
    r: np.random.RandomState,
    kernel_size: int = 15,
    kernel_types: Mapping[str, float] | None = None,
    length: float | Sequence[float] = (0.3, 1.0),
    sigma: float | Sequence[float] = (0.5, 3.0),
    radius: float | Sequence[float] = (1.0, 6.0),
) -> tuple[np.ndarray, str]:
    """One random PSF ``[kernel_size, kernel_size]`` (sum 1) and its type.

    Args:
        r: the random state to draw from.
        kernel_size: odd kernel size.
        kernel_types: probability of each type in :data:`BLUR_KERNEL_TYPES` (normalised; missing types
            have probability 0). ``None``: camera shake only (no draw for the type).
        length: camera-shake extent as a fraction of the kernel size, (low, high).
        sigma: Gaussian standard deviation in pixels, (low, high).
        radius: defocus disk radius in pixels, (low, high).
    """
    kind = "motion"
    if kernel_types is not None:
        unknown = set(kernel_types) - set(BLUR_KERNEL_TYPES)
        if unknown:
            raise ValueError(f"Unknown kernel types {sorted(unknown)}; use {BLUR_KERNEL_TYPES}.")
        p = np.array([float(kernel_types.get(t, 0.0)) for t in BLUR_KERNEL_TYPES])
        if (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"kernel_types={dict(kernel_types)} needs non-negative probabilities with a positive sum.")
        kind = BLUR_KERNEL_TYPES[int(r.choice(len(p), p=p / p.sum()))]
    if kind == "motion":
        return random_motion_kernel(r, kernel_size, length), kind
    if kind == "gaussian":
        return gaussian_kernel(_uniform(r, sigma), kernel_size), kind
    return defocus_kernel(_uniform(r, radius), kernel_size), kind
