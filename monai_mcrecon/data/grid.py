"""Pairing volumes in physical space: one voxel grid onto another by their affines.

Two volumes that carry geometry (NIfTI, DICOM) correspond voxel by voxel only where their affines
say so, never by array index: the same scan can be stored left- or right-handed, with the slices
head-first or feet-first, with the axes in another order. :func:`match_to_grid` puts a volume onto
another grid:

* the same voxel centres in another order (axes permuted and / or flipped: RAS, LAS, LPS, a DICOM
  series sorted the other way) -> an exact re-indexing (:func:`voxel_correspondence`), no
  interpolation;
* any other grid -> trilinear resampling by the affines (MONAI ``SpatialResample``), zero outside
  the source's field of view.

Affines map voxel indices to RAS millimetres (the MONAI / NIfTI convention).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["GRID_ATOL_MM", "match_to_grid", "same_grid", "voxel_correspondence"]

#: Tolerance (mm, and voxels for the index offsets) when comparing grids.
GRID_ATOL_MM = 1e-3


def same_grid(shape_a: Sequence[int], affine_a: np.ndarray, shape_b: Sequence[int], affine_b: np.ndarray) -> bool:
    """Whether two grids are identical (same shape and affine within :data:`GRID_ATOL_MM`)."""
    return tuple(shape_a) == tuple(shape_b) and np.allclose(affine_a, affine_b, atol=GRID_ATOL_MM)


def voxel_correspondence(
    src_shape: Sequence[int], src_affine: np.ndarray, dst_shape: Sequence[int], dst_affine: np.ndarray
) -> tuple[tuple[int, ...], tuple[bool, ...]] | None:
    """How the voxels of a destination grid sit in a source grid holding the very same voxel centres.

    Args:
        src_shape, src_affine: the source grid (3-D shape, 4x4 voxel -> mm affine).
        dst_shape, dst_affine: the destination grid.

    Returns:
        ``(axes, flips)`` such that ``np.flip(np.transpose(src, axes), [a for a, f in enumerate(flips) if f])``
        is the source array on the destination grid; ``None`` when the grids do not share their
        voxel centres (another spacing, rotation, shift or field of view).
    """
    if len(src_shape) != 3 or len(dst_shape) != 3:
        return None
    m = np.linalg.inv(np.asarray(src_affine, dtype=np.float64)) @ np.asarray(dst_affine, dtype=np.float64)
    rot, offset = m[:3, :3], m[:3, 3]
    signed = np.round(rot)
    if not np.allclose(rot, signed, atol=GRID_ATOL_MM) or not np.array_equal(np.abs(signed).sum(0), np.ones(3)):
        return None
    if not np.array_equal(np.abs(signed).sum(1), np.ones(3)):
        return None
    axes = tuple(int(np.argmax(np.abs(signed[:, d]))) for d in range(3))  # dst axis d runs along src axis axes[d]
    flips = tuple(bool(signed[axes[d], d] < 0) for d in range(3))
    for d in range(3):
        a = axes[d]
        if int(src_shape[a]) != int(dst_shape[d]):
            return None
        first = offset[a]  # src index of dst index 0 along this axis
        expected = (int(src_shape[a]) - 1) if flips[d] else 0
        if abs(first - expected) > GRID_ATOL_MM:
            return None
    return axes, flips


def match_to_grid(
    array: np.ndarray, affine: np.ndarray, dst_shape: Sequence[int], dst_affine: np.ndarray
) -> tuple[np.ndarray, str]:
    """Put a volume onto another grid in physical space.

    Args:
        array: source volume ``[X, Y, Z]``.
        affine: its 4x4 voxel -> mm affine.
        dst_shape: destination grid shape ``[X', Y', Z']``.
        dst_affine: destination 4x4 affine.

    Returns:
        ``(volume on the destination grid (float32), how)`` with ``how`` one of ``"identical grid"``,
        ``"reordered (same voxels: axes <axes>, flipped <flips>)"`` or ``"resampled (trilinear, by the
        affines)"``.
    """
    arr = np.asarray(array)
    if same_grid(arr.shape, affine, dst_shape, dst_affine):
        return np.ascontiguousarray(arr, dtype=np.float32), "identical grid"
    match = voxel_correspondence(arr.shape, affine, dst_shape, dst_affine)
    if match is not None:
        axes, flips = match
        out = np.transpose(arr, axes)
        flipped = [d for d, f in enumerate(flips) if f]
        if flipped:
            out = np.flip(out, flipped)
        return np.ascontiguousarray(out, dtype=np.float32), f"reordered (same voxels: axes {list(axes)}, flipped {flipped})"
    from monai.data import MetaTensor
    from monai.transforms import SpatialResample

    src = MetaTensor(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None], affine=torch.as_tensor(affine))
    out = SpatialResample(mode="bilinear", padding_mode="zeros", align_corners=True, dtype=torch.float64)(
        src, dst_affine=torch.as_tensor(np.asarray(dst_affine, dtype=np.float64)), spatial_size=tuple(int(s) for s in dst_shape)
    )
    return np.ascontiguousarray(out.as_tensor().numpy()[0], dtype=np.float32), "resampled (trilinear, by the affines)"
