"""Registration onto an undersampled (zero-filled) target: recovered within 2 degrees and 1 mm, or refused.

A real T1 volume (nibabel's ``anatomical.nii``, 33 x 41 x 25, 2 mm) is the target, zero-filled with
the ``mc_cdic`` column mask as ``monai-mcrecon simulate`` does it; the reference is the same volume
moved by a known rigid motion (resampled on its own grid, affine kept: the patient moved). The plain
``RegisterReference`` accepts wrong transforms on these targets (the issue's 21.9 degrees / 7 mm
motion); ``RobustRegisterReference`` recovers them or raises ``RegistrationError``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor

from monai_mcrecon.kspace import create_mask_func, undersample_image
from monai_mcrecon.commands.pairing import resample_reference
from monai_mcrecon.data.volume import Volume
from monai_mcrecon.transforms.registration import sitk_image_ras
from monai_mcrecon.transforms import (
    RegisterReference,
    RegistrationError,
    RobustRegisterReference,
    RobustRegisterReferenced,
    rigid_difference,
)

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)

TOL_DEG, TOL_MM = 2.0, 1.0


@pytest.fixture(scope="module")
def volume():
    img = nib.load(os.path.join(os.path.dirname(nib.__file__), "tests", "data", "anatomical.nii"))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine


def _sitk(arr, affine):
    return sitk_image_ras(arr, affine)


def _centre(arr, affine):
    """Centre of the brain (centroid of the voxels brighter than the mean), LPS mm."""
    idx = np.argwhere(arr > arr.mean()).mean(0)
    return _sitk(arr, affine).TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in idx))


def _motion(axis, degrees, shift, centre):
    """Known motion (target point -> reference point): ``degrees`` about ``axis`` through ``centre``, then ``shift``."""
    versor = sitk.VersorRigid3DTransform()
    versor.SetCenter(tuple(centre))
    versor.SetRotation(tuple(np.asarray(axis, float) / np.linalg.norm(axis)), float(np.radians(degrees)))
    versor.SetTranslation(tuple(float(s) for s in shift))
    return versor


def _moved(arr, affine, truth):
    img = _sitk(arr, affine)
    return sitk.GetArrayFromImage(sitk.Resample(img, img, truth.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)).T


def _zero_filled(arr, acceleration):
    slices = torch.from_numpy(np.ascontiguousarray(np.moveaxis(arr, -1, 0)))  # [Z, X, Y], phase encoding along Y
    mask = create_mask_func("mc_cdic", acceleration)(tuple(slices.shape[-2:])).mask
    return np.ascontiguousarray(np.moveaxis(undersample_image(slices, mask)[1].numpy(), 0, -1))


def _mt(arr, affine):
    data = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]
    return MetaTensor(data, affine=torch.as_tensor(affine))


def _estimate(info):
    t = sitk.Euler3DTransform()
    t.SetCenter(tuple(info["center_mm"]))
    t.SetMatrix(tuple(np.ravel(info["matrix"])))
    t.SetTranslation(tuple(info["translation_mm"]))
    return t


# the motion (21.9 degrees, about 7 mm) at 4x, and a larger one about an oblique axis at 8x
CASES = {
    "issue_21.9deg_7mm_4x": (4, (-0.7, 0.2, 0.6), 21.9, (-3.0, 6.0, 2.0)),
    "oblique_25deg_10mm_8x": (8, (1.0, 0.6, -0.4), 25.0, (-6.0, 2.0, 7.7)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_recovered_or_refused_where_the_plain_path_accepts_a_wrong_transform(volume, name):
    arr, affine = volume
    acceleration, axis, degrees, shift = CASES[name]
    centre = _centre(arr, affine)
    truth = _motion(axis, degrees, shift, centre)
    reference, target = _mt(_moved(arr, affine, truth), affine), _mt(_zero_filled(arr, acceleration), affine)

    # today's plain path: accepted, and wrong
    old = RegisterReference(mode="always", num_threads=1)(reference, target).meta["registration"]
    old_err = rigid_difference(_estimate(old), truth, centre)
    assert old["accepted"] and (old_err[0] > TOL_DEG or old_err[1] > TOL_MM), old_err

    # the robust path: within 2 degrees and 1 mm, or a RegistrationError
    try:
        out = RobustRegisterReference(mode="always", num_threads=1)(reference, target)
    except RegistrationError as e:
        assert "failed its checks" in str(e) and "\n" not in str(e)
        return
    info = out.meta["registration"]
    assert info["accepted"] and info["robust"] and info["fallback"] == "none" and not info["failure"]
    assert all(c["passed"] for c in info["checks"].values()), info["checks"]
    err = rigid_difference(_estimate(info), truth, centre)
    assert err[0] <= TOL_DEG and err[1] <= TOL_MM, err
    assert tuple(out.shape) == (1, *arr.shape)
    np.testing.assert_allclose(np.asarray(out.affine), affine)


def test_a_shrunk_fine_level_is_polished_on_the_full_grid(volume):
    """A target larger than ``max_voxels`` is registered on a shrunk grid, then polished at full resolution:
    the polish is recorded, checked, and the estimate stays within 2 degrees and 1 mm; ``polish_voxels=0``
    turns it off."""
    arr, affine = volume
    centre = _centre(arr, affine)
    truth = _motion((0.3, -1.0, 0.5), 10.0, (4.0, -2.0, 3.0), centre)
    # 2x: on a grid shrunk to 8,000 voxels (4 mm) the 4x aliasing is refused by the checks
    reference, target = _mt(_moved(arr, affine, truth), affine), _mt(_zero_filled(arr, 2), affine)
    errors = {}
    for polish_voxels in (2_000_000, 0):
        info = RobustRegisterReference(mode="always", max_voxels=8000, polish_voxels=polish_voxels, num_threads=1)(
            reference, target).meta["registration"]
        assert info["accepted"] and info["shrink"] == 2, info
        errors[polish_voxels] = rigid_difference(_estimate(info), truth, centre)
        checks = info["checks"]
        if polish_voxels:
            assert info["polish_shrink"] == 1
            assert 0 < checks["polish_mm"]["value"] <= 1.0 and checks["polish_deg"]["value"] <= 1.0, checks
        else:
            assert info["polish_shrink"] == 2 and checks["polish_mm"]["value"] == checks["polish_deg"]["value"] == 0
    assert errors[2_000_000][0] <= TOL_DEG and errors[2_000_000][1] <= TOL_MM, errors
    # measured: 0.49 mm on the shrunk grid, 0.25 mm polished
    assert errors[2_000_000][1] < 0.75 * errors[0][1], errors


@pytest.fixture(scope="module")
def unrelated(volume):
    """A reference that is not the target's anatomy: the volume turned upside down and back to front."""
    arr, affine = volume
    return _mt(arr[::-1, ::-1, ::-1], affine), _mt(_zero_filled(arr, 4), affine)


def test_unrelated_images_fall_back_to_the_header_when_asked(volume, unrelated):
    reference, target = unrelated
    old = RegisterReference(mode="always", num_threads=1)(reference, target).meta["registration"]
    assert old["accepted"]  # the plain path accepts whatever it found
    out = RobustRegisterReferenced(mode="always", on_failure="header", start_angle_deg=0, num_threads=1)(
        {"reference": reference, "target": target}
    )
    info = out["registration"]
    assert not info["accepted"] and info["fallback"] == "header" and info["failure"]
    assert "failed its checks" in info["reason"] and "on_failure='header'" in info["reason"]
    failed = [k for k, c in info["checks"].items() if not c["passed"]]
    assert failed and all(k in info["failure"] for k in failed)
    # the header geometry: identity here (same grid), so the reference comes back unchanged
    assert info["rotation_deg"] == 0 and np.allclose(info["translation_mm"], 0)
    np.testing.assert_allclose(out["reference"].as_tensor().numpy(), reference.as_tensor().numpy(), atol=1e-4)


def test_the_command_refuses_with_a_one_line_error(volume):
    """``resample_reference`` (what ``monai-mcrecon reconstruct`` runs) on another grid: an unrelated
    reference raises RegistrationError (a ValueError: the command prints it as one line)."""
    arr, affine = volume
    target = Volume(_zero_filled(arr, 4), affine, "nifti", Path("t2.nii"))
    shifted = affine @ np.array([[1, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])  # half a voxel along X
    reference = Volume(np.ascontiguousarray(arr[::-1, ::-1, ::-1]), shifted, "nifti", Path("t1.nii"))
    with pytest.raises(RegistrationError, match=r"failed its checks .*--no-register") as e:
        resample_reference(reference, target, register=True, log=lambda m: None)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
    assert e.value.info["failure"] and e.value.estimate is not None


def test_no_overlap_is_refused_quickly(volume):
    arr, affine = volume
    far = affine.copy()
    far[:3, 3] += 1000.0  # the reference's affine puts it a metre away
    with pytest.raises(RegistrationError, match="no start keeps the images overlapping"):
        RobustRegisterReference(mode="always", start_angle_deg=0, num_threads=1)(_mt(arr, far), _mt(arr, affine))


def test_record_of_a_skipped_case_has_the_same_keys(volume):
    arr, affine = volume
    out = RobustRegisterReference()(_mt(arr, affine), _mt(arr, affine))  # identical grids: nothing to do
    info = out.meta["registration"]
    assert not info["ran"] and info["accepted"] and info["robust"] and info["fallback"] == "none"
    assert set(info["checks"]) == {
        "metric_gain", "rotation", "translation", "ambiguity", "forward_backward_deg", "forward_backward_mm",
        "polish_deg", "polish_mm",
    }
    keys = set(RegisterReference()(_mt(arr, affine), _mt(arr, affine)).meta["registration"])
    assert keys < set(info)


def test_bad_options():
    with pytest.raises(ValueError, match="on_failure"):
        RobustRegisterReference(on_failure="ignore")
    with pytest.raises(ValueError, match="must be positive"):
        RobustRegisterReference(max_rotation_deg=0)
    with pytest.raises(ValueError, match="polish_voxels >= 0"):
        RobustRegisterReference(polish_voxels=-1)
    with pytest.raises(ValueError, match="Unknown registration mode"):
        RobustRegisterReference(mode="sometimes")
