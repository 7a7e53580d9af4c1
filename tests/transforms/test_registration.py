"""Reference-to-target rigid registration: a known rotation and shift are recovered (T1 vs T2)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor

from monai_mcrecon.transforms import RegisterReference, RegisterReferenced

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
TOL_DEG, TOL_VOXEL = 0.5, 0.5


def _phantom_ellipsoids():
    """Head, a 'white matter' region with a folded (gyral) boundary and 20 small structures of three
    tissue classes: (centre mm, semi-axes mm, T1 value, T2 value)."""
    rng = np.random.default_rng(7)
    classes = [(0.15, 1.0), (1.0, 0.6), (0.3, 0.75)]  # fluid-like, fat-like, lesion-like
    ells = [((0, 0, 0), (16, 12, 15.2), 0.5, 0.45), ((0, 0, 0), (12.8, 8.8, 12), 0.8, 0.3)]
    for _ in range(20):
        c = rng.uniform(-1, 1, 3)
        while (c**2).sum() >= 0.8:
            c = rng.uniform(-1, 1, 3)
        t1, t2 = classes[rng.integers(3)]
        ells.append((tuple(c * [12, 8, 11.2]), tuple(rng.uniform(1.2, 2.8, 3)), t1, t2))
    return ells


ELLIPSOIDS = _phantom_ellipsoids()


def phantom(points: np.ndarray, contrast: str) -> np.ndarray:
    """Smooth multi-contrast phantom at LPS points ``[..., 3]`` (mm); T2 is roughly T1 inverted."""
    out = np.zeros(points.shape[:-1])
    for i, (c, a, t1, t2) in enumerate(ELLIPSOIDS):
        q = (points - np.asarray(c)) / np.asarray(a)
        r = np.sqrt((q**2).sum(-1))
        if i == 1:  # folded boundary
            theta = np.arccos(np.clip(q[..., 2] / np.maximum(r, 1e-9), -1, 1))
            r = r / (1 + 0.12 * np.sin(5 * np.arctan2(q[..., 1], q[..., 0])) * np.sin(4 * theta))
        mask = 0.5 * (1 - np.tanh((r - 1) * np.mean(a) / 0.8))  # ~1 mm edges
        out = out * (1 - mask) + (t1 if contrast == "t1" else t2) * mask
    return out.astype(np.float32)


def ras_affine(spacing, origin_lps, rotation=np.eye(3)) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = np.asarray(rotation) * np.asarray(spacing, dtype=float)[None]
    a[:3, 3] = origin_lps
    return LPS_TO_RAS @ a


def rot(axis: int, deg: float) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def grid_points(shape, affine_ras) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).astype(float)
    a = LPS_TO_RAS @ affine_ras
    return idx @ a[:3, :3].T + a[:3, 3]


def motion(angle_axis: int, deg: float, shift) -> sitk.Euler3DTransform:
    """Known rigid motion about the phantom centre (LPS origin): target point -> reference point."""
    m = sitk.Euler3DTransform()
    m.SetCenter((0.0, 0.0, 0.0))
    angles = [0.0, 0.0, 0.0]
    angles[angle_axis] = np.radians(deg)
    m.SetRotation(*angles)
    m.SetTranslation(tuple(shift))
    return m


def image(contrast, shape, affine, moved_by: sitk.Transform | None = None) -> MetaTensor:
    pts = grid_points(shape, affine)
    if moved_by is not None:  # the anatomy seen at reference point M(p) is the one at target point p
        inv = moved_by.GetInverse()
        pts = np.array([inv.TransformPoint(tuple(p)) for p in pts.reshape(-1, 3)]).reshape(pts.shape)
    return MetaTensor(torch.from_numpy(phantom(pts, contrast))[None], affine=torch.as_tensor(affine))


TARGET_AFFINE = ras_affine((1.0, 1.0, 1.0), (-23.5, -23.5, -23.5))


@pytest.fixture(scope="module")
def target():
    return image("t2", (48, 48, 48), TARGET_AFFINE)


def errors(info: dict, truth: sitk.Transform, spacing: float = 1.0) -> tuple[float, float]:
    """(rotation error in degrees, translation error at the phantom centre in voxels)."""
    dim = len(info["center_mm"])
    est = sitk.Euler3DTransform() if dim == 3 else sitk.Euler2DTransform()
    est.SetCenter(info["center_mm"])
    est.SetParameters([*np.radians(info["angles_deg"]), *info["translation_mm"]])
    r_est = np.reshape(est.GetMatrix(), (dim, dim))
    r_true = np.reshape(truth.GetMatrix(), (3, 3))[:dim, :dim]
    cos = np.clip(((np.trace(r_est @ r_true.T) - (dim - 2)) / 2), -1, 1)
    centre = tuple([0.0] * dim)
    shift = np.subtract(est.TransformPoint(centre), truth.TransformPoint(tuple([0.0] * 3))[:dim])
    return float(np.degrees(np.arccos(cos))), float(np.linalg.norm(shift) / spacing)


def test_recovers_known_rotation_and_shift_across_grids(target):
    """Reference T1 on another grid (1.2 mm, rotated 10 degrees), moved by 4 degrees about z and
    (2.0, -1.5, 1.0) mm: mode 'auto' registers (grids differ) and resamples onto the target grid."""
    truth = motion(2, 4.0, (2.0, -1.5, 1.0))
    ref_affine = ras_affine((1.2, 1.2, 1.2), (-24.0, -31.0, -28.2), rot(2, 10.0))
    reference = image("t1", (48, 48, 48), ref_affine, moved_by=truth)
    out = RegisterReferenced(keys="reference", target_key="target")({"target": target, "reference": reference})
    info = out["registration"]
    assert info is out["reference"].meta["registration"]
    assert info["ran"] and info["resampled"] and info["accepted"] and info["mode"] == "auto"
    assert info["transform"] == "Euler3DTransform" and info["metric_final"] < info["metric_initial"]
    rot_err, shift_err = errors(info, truth)
    assert rot_err < TOL_DEG and shift_err < TOL_VOXEL, (rot_err, shift_err)
    # reported in the motion's own terms (same centre): angles (0, 0, 4) deg, shift (2, -1.5, 1) mm
    np.testing.assert_allclose(info["angles_deg"], [0, 0, 4.0], atol=TOL_DEG)
    np.testing.assert_allclose(info["translation_mm"], [2.0, -1.5, 1.0], atol=TOL_VOXEL)
    # the resampled reference lies on the target grid and matches the T1 anatomy there
    res = out["reference"]
    assert tuple(res.shape) == (1, 48, 48, 48)
    np.testing.assert_allclose(np.asarray(res.affine), TARGET_AFFINE, atol=1e-6)
    truth_t1 = phantom(grid_points((48, 48, 48), TARGET_AFFINE), "t1")
    header_only = RegisterReference(mode="never")(reference, target)  # affines only, motion left
    err_registered = np.abs(np.asarray(res[0]) - truth_t1).mean()
    err_header = np.abs(np.asarray(header_only[0]) - truth_t1).mean()
    assert err_registered < 0.3 * err_header, (err_registered, err_header)


def test_recovers_rotation_about_another_axis_on_the_same_grid(target):
    truth = motion(0, -4.0, (-1.0, 2.0, 1.5))
    reference = image("t1", (48, 48, 48), TARGET_AFFINE, moved_by=truth)
    out = RegisterReference(mode="always")(reference, target)
    info = out.meta["registration"]
    assert info["ran"] and "always" in info["reason"]
    rot_err, shift_err = errors(info, truth)
    assert rot_err < TOL_DEG and shift_err < TOL_VOXEL, (rot_err, shift_err)


@pytest.mark.parametrize("single_slice_volume", [False, True])
def test_recovers_in_plane_motion_of_a_slice(single_slice_volume):
    truth = motion(2, 5.0, (1.5, -2.0, 0.0))
    shape, ref_shape = (64, 64, 1), (56, 56, 1)
    t_aff = ras_affine((0.75, 0.75, 3.0), (-23.625, -23.625, 0.0))
    r_aff = ras_affine((0.9, 0.9, 3.0), (-24.0, -25.0, 0.0), rot(2, -8.0))
    target, reference = image("t2", shape, t_aff), image("t1", ref_shape, r_aff, moved_by=truth)
    if not single_slice_volume:  # true 2-D images [C, X, Y]
        target, reference = target[..., 0], reference[..., 0]
    out = RegisterReference()(reference, target)
    info = out.meta["registration"]
    assert info["ran"] and info["transform"] == "Euler2DTransform" and info["dimension"] == 2
    assert tuple(out.shape) == tuple(target.shape)
    np.testing.assert_allclose(np.asarray(out.affine), np.asarray(target.affine))
    if single_slice_volume:
        # registered in the target slice's frame, whose origin is its first voxel (LPS (-23.625, -23.625));
        # moving the rotation centre there expresses the same transform in LPS
        assert "slice plane" in info["frame"] and abs(info["through_plane_offset_mm"]) < 1e-6
        info = dict(info, center_mm=list(np.add(info["center_mm"], [-23.625, -23.625])))
    rot_err, shift_err = errors(info, truth, spacing=0.75)
    assert rot_err < TOL_DEG and shift_err < TOL_VOXEL, (rot_err, shift_err)


def test_auto_skips_identical_grids(target):
    reference = image("t1", (48, 48, 48), TARGET_AFFINE)
    reference.meta["filename_or_obj"] = "t1.nii.gz"
    out = RegisterReference()(reference, target)
    info = out.meta["registration"]
    assert not info["ran"] and not info["resampled"] and "identical" in info["reason"]
    torch.testing.assert_close(out.as_tensor(), reference.as_tensor())
    np.testing.assert_allclose(np.asarray(out.affine), TARGET_AFFINE)
    assert out.meta["filename_or_obj"] == "t1.nii.gz"


def test_never_resamples_by_the_affines_only(target):
    ref_affine = ras_affine((1.5, 1.5, 1.5), (-24.0, -24.0, -24.0))
    reference = image("t1", (33, 33, 33), ref_affine)
    out = RegisterReference(mode="never")(reference, target)
    info = out.meta["registration"]
    assert not info["ran"] and info["resampled"] and info["rotation_deg"] == 0
    assert tuple(out.shape) == (1, 48, 48, 48)
    np.testing.assert_allclose(np.asarray(out.affine), TARGET_AFFINE)
    inside = (slice(8, 40),) * 3  # the phantom, resampled from a 1.5 mm grid
    truth_t1 = phantom(grid_points((48, 48, 48), TARGET_AFFINE), "t1")
    assert np.abs(np.asarray(out[0])[inside] - truth_t1[inside]).mean() < 0.02


def test_errors(target):
    with pytest.raises(ValueError, match="Unknown registration mode"):
        RegisterReference(mode="sometimes")
    with pytest.raises(ValueError, match="initializer"):
        RegisterReference(initializer="corners")
    with pytest.raises(ValueError, match="seed"):
        RegisterReference(seed=0)
    with pytest.raises(ValueError, match="one per level"):
        RegisterReference(sampling_percentage=(0.3, 0.5))
    with pytest.raises(ValueError, match="same dimension"):
        RegisterReference()(torch.zeros(1, 8, 8), target)
    with pytest.raises(ValueError, match="single slice"):
        RegisterReference()(torch.zeros(1, 8, 8, 1), target)
    with pytest.raises(KeyError, match="target"):
        RegisterReferenced()({"reference": target})
