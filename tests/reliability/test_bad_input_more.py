"""Bad input, the cases of issue 9 not in test_bad_input.py: missing files of every kind, corrupt
h5 / PNG, a DICOM folder with mixed series, h5 without ``kspace``, real k-space where complex is
needed, target and reference of different shape, wrong contrast names, and the size checks of the
super-resolution paths (a scale that does not divide the size, images below SSRDE-FNet's minimum
size, odd sizes). Each asserts the error type and the start of its message (the table in
docs/reliability.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from monai_mcrecon.data import SAMPLE_DIR, build_datalist, write_fastmri_h5
from monai_mcrecon.data.dicom import make_test_series, read_dicom_series
from monai_mcrecon.pipeline import load_volume
from monai_mcrecon.transforms.natural import LoadNaturalImage

QUIET = {"log": lambda s: None}


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["t2.nii.gz", "t2.nii", "series_folder", "file.h5"])
def test_missing_input_of_every_kind(tmp_path, name):
    with pytest.raises(FileNotFoundError, match=r"^Input '.*" + name.replace(".", r"\.") + r"' does not exist; check the path"):
        load_volume(tmp_path / name, **QUIET)


def test_missing_png(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^Image file '.*absent\.png' does not exist"):
        LoadNaturalImage()(tmp_path / "absent.png")


def test_corrupt_png(tmp_path):
    bad = tmp_path / "noise.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"^'.*noise\.png' is not an image PIL can read; use PNG, JPEG"):
        LoadNaturalImage()(bad)


def test_corrupt_h5(tmp_path):
    bad = tmp_path / "noise.h5"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"^'.*noise\.h5' is not a readable HDF5 file .*fastMRI data are \.h5 files"):
        load_volume(bad, **QUIET)


def test_h5_without_kspace(tmp_path):
    path = tmp_path / "image_only.h5"
    with h5py.File(path, "w") as hf:
        hf.create_dataset("image", data=np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"no 'kspace' dataset \(found \['image'\]\).*write_fastmri_h5"):
        load_volume(path, **QUIET)


def test_real_kspace_is_a_wrong_dtype(tmp_path):
    with pytest.raises(TypeError, match="must be complex"):
        write_fastmri_h5(tmp_path / "real.h5", np.zeros((2, 8, 6), np.float32))


def test_empty_dicom_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"^No DICOM series found in '.*empty' \(the folder is searched"):
        load_volume(tmp_path / "empty", **QUIET)


def test_dicom_folder_with_mixed_series(tmp_path):
    a = make_test_series(tmp_path / "a", shape=(8, 6, 3), seed=0)
    b = make_test_series(tmp_path / "b", shape=(8, 6, 3), seed=1, series_description="T1 (synthetic)", series_number=4)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, folder in enumerate((a, b)):
        for f in Path(folder).glob("*.dcm"):
            shutil.copy(f, mixed / f"{i}_{f.name}")
    with pytest.raises(ValueError, match=r"holds 2 DICOM series: .*Pick one with series_uid="):
        read_dicom_series(mixed)
    with pytest.raises(ValueError, match=r"holds 2 DICOM series"):
        load_volume(mixed, **QUIET)  # the command's reader says the same


# --------------------------------------------------------------------------------------------------
# content
# --------------------------------------------------------------------------------------------------


def test_target_and_reference_of_different_shape_in_a_bundle_pipeline():
    from monai_mcrecon.transforms import CheckPairedShaped

    d = {"case_id": "c3", "target": torch.zeros(1, 4, 5), "reference": torch.zeros(1, 4, 6)}
    with pytest.raises(ValueError, match=r"'c3'.*\(1, 4, 5\).*\(1, 4, 6\)"):
        CheckPairedShaped(keys=["target", "reference"])(d)


def test_scale_not_dividing_the_size_where_lr_must_be_exactly_hr_over_scale():
    """Bicubic LR synthesis and SSRDE-FNet need HR = scale x LR exactly: refused with the sizes."""
    from monai_mcrecon.transforms.stereo import StereoLowResolution, bicubic_downsample

    with pytest.raises(ValueError, match=r"^Image 15x24 is not divisible by the scale 2; crop it first"):
        bicubic_downsample(torch.rand(3, 15, 24), 2)
    hr, lr = StereoLowResolution(3)(torch.rand(3, 40, 50))  # the transform crops to a multiple of lcm(3, 4)
    assert hr.shape == (3, 36, 48) and lr.shape == (3, 12, 16)


@pytest.mark.parametrize("h,w,scale", [(193, 229, 2), (35, 48, 4), (9, 7, 3)])
def test_scale_not_dividing_the_size_in_kspace_is_the_floor_block(h, w, scale):
    """k-space truncation keeps the centred (H // s) x (W // s) block: exact on any size (the
    sample is 193 x 229), with the realised scale H / (H // s) recorded where an LR grid is made."""
    from monai_mcrecon.kspace import kspace_truncate, kspace_zero_pad, truncation_mask

    k = torch.randn(1, h, w, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    lr = kspace_truncate(k, scale, grid="lr")
    assert lr.shape == (1, h // scale, w // scale)
    assert torch.allclose(kspace_zero_pad(lr, (h, w)), k * truncation_mask((h, w), scale).double(), atol=1e-12)


def test_images_smaller_than_ssrde_fnet_minimum_and_odd_sizes():
    from monai_mcrecon.networks.nets import SSRDEFNet

    net = SSRDEFNet.from_preset("tiny").eval()
    small = torch.rand(1, 3, 6, 32)
    with pytest.raises(ValueError, match=r"^LR views 6x32 are smaller than the largest LR pool \d+; use larger views"):
        net(small, small)
    odd = torch.rand(1, 3, 17, 32)  # HR 34 x 64 is not a multiple of 4
    with pytest.raises(ValueError, match=r"^The HR size 34x64 \(= 2 x the LR size 17x32\) must be a multiple of 4"):
        net(odd, odd)
    with torch.no_grad():  # a multiple-of-2 LR size at x2 passes and gives 2 x the size
        ok = torch.rand(1, 3, 18, 30)
        out = net(ok, ok)
    assert tuple(out.out4_left.shape) == (1, 3, 36, 60) and torch.isfinite(out.out4_left).all()


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------


def test_wrong_contrast_name(tmp_path):
    from monai_mcrecon.transforms import SelectContrastsd

    case = tmp_path / "c1"
    case.mkdir()
    for c in ("t1", "t2"):
        nib.save(nib.Nifti1Image(np.ones((4, 4, 2), np.float32), np.eye(4)), str(case / f"{c}.nii.gz"))
    item = {"case_id": "c1", "t1": str(case / "t1.nii.gz"), "t2": str(case / "t2.nii.gz")}
    with pytest.raises(FileNotFoundError, match=r"'c1'.*'flair'.*\['t1', 't2'\]"):
        SelectContrastsd(target_contrast="flair", reference_contrast="t1")(item)
    with pytest.raises(FileNotFoundError, match=r"'c1' has no 'flair' contrast \(it has \['t1', 't2'\]\)"):
        build_datalist(tmp_path, contrasts=["flair", "t1"])
