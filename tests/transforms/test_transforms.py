import math

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import LoadImaged

from monai_mcrecon.kspace import create_mask_func, fft2c, ifft2c, truncate_image
from monai_mcrecon.transforms import (
    CheckFinite,
    CheckFinited,
    CheckPairedShaped,
    KspaceTruncate,
    KspaceTruncated,
    KspaceUndersample,
    KspaceUndersampled,
    MoveSliceAxis,
    MoveSliceAxisd,
    RestoreIntensityd,
    SaveReconstructiond,
    ScaleIntensityRecord,
    ScaleIntensityRecordd,
    SelectContrastsd,
    paired_augmentation,
)


def _image(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype)


# --- KspaceUndersample(d) -------------------------------------------------------------------------


def test_zero_filled_magnitude_equals_direct_computation():
    x = _image(1, 32, 240)
    degraded, kspace, result = KspaceUndersample("mc_cdic", 4)(x)
    mask = create_mask_func("mc_cdic", 4)((32, 240)).mask.to(torch.float64)
    expected_k = mask * fft2c(x)
    expected = ifft2c(expected_k).abs()
    assert degraded.shape == (1, 32, 240)
    assert not degraded.is_complex()
    torch.testing.assert_close(kspace, expected_k)
    torch.testing.assert_close(degraded, expected.to(degraded.dtype), atol=1e-6, rtol=1e-5)
    # the undersampling really removed information
    assert (degraded - x).abs().max() > 1e-2


def test_mask_keeps_66_columns_at_4x_for_width_240_and_is_fixed():
    t = KspaceUndersample("mc_cdic", 4)
    x = _image(1, 16, 240)
    _, _, first = t(x)
    _, _, second = t(_image(1, 16, 240, seed=1))
    reference = create_mask_func("mc_cdic", 4)((16, 240))
    assert first.mask.shape == (1, 240)
    assert int(first.mask.sum()) == 66
    assert math.isclose(first.acceleration, 240 / 66)
    assert torch.equal(first.mask, second.mask)
    assert torch.equal(first.mask, reference.mask)


def test_fixed_mask_with_explicit_seed_equals_mask_function_with_that_seed():
    t = KspaceUndersample("random", 4, seed=7)
    mask = t(_image(1, 16, 64))[2].mask
    assert torch.equal(mask, create_mask_func("random", 4)((16, 64), seed=7).mask)
    assert not torch.equal(mask, create_mask_func("random", 4)((16, 64), seed=8).mask)


def test_random_masks_differ_between_calls_and_are_reproducible():
    x = _image(1, 16, 128)
    t = KspaceUndersample("random", 4, fixed=False)
    t.set_random_state(seed=3)
    first = [t(x)[2].mask for _ in range(3)]
    assert not torch.equal(first[0], first[1])
    assert not torch.equal(first[1], first[2])
    t.set_random_state(seed=3)
    again = [t(x)[2].mask for _ in range(3)]
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    # the degraded image follows the mask
    t.set_random_state(seed=3)
    degraded = t(x)[0]
    expected = ifft2c(first[0].to(torch.float64) * fft2c(x)).abs()
    torch.testing.assert_close(degraded, expected.to(degraded.dtype), atol=1e-6, rtol=1e-5)


def test_volume_is_degraded_slice_by_slice_with_one_mask():
    volume = _image(1, 5, 24, 40)
    t = KspaceUndersample("mc_cdic", 4)
    degraded, kspace, _ = t(volume)
    assert degraded.shape == (1, 5, 24, 40)
    for z in range(5):
        slice_degraded, slice_kspace, _ = t(volume[:, z])
        torch.testing.assert_close(degraded[:, z], slice_degraded)
        torch.testing.assert_close(kspace[:, z], slice_kspace)


def test_real_irfft_output_is_real_and_follows_release_convention():
    # a non-negative box on a zero background: undersampling makes it ring below zero
    x = torch.zeros(1, 16, 32, dtype=torch.float64)
    x[0, 4:12, 10:20] = 1.0
    degraded, kspace, result = KspaceUndersample("mc_cdic", 4, output="real_irfft")(x)
    assert not degraded.is_complex()
    assert degraded.dtype == torch.float32
    assert degraded.shape == (1, 16, 32)
    expected = ifft2c(result.mask.to(torch.float64) * fft2c(x, convention="release"), convention="release")
    torch.testing.assert_close(degraded, expected.float(), atol=1e-5, rtol=1e-5)
    # real_irfft goes negative where a magnitude image could not
    assert degraded.min() < 0


def test_complex_output_is_complex():
    degraded = KspaceUndersample("mc_cdic", 4, output="complex")(_image(1, 16, 32))[0]
    assert degraded.is_complex()


def test_dictionary_version_writes_outputs():
    x = _image(1, 16, 240)
    d = KspaceUndersampled(keys="target", mask_type="mc_cdic", acceleration=4)({"target": x, "case_id": "c"})
    assert set(d) == {"target", "case_id", "degraded", "kspace", "mask", "acceleration"}
    degraded, kspace, result = KspaceUndersample("mc_cdic", 4)(x)
    torch.testing.assert_close(d["degraded"], degraded)
    torch.testing.assert_close(d["kspace"], kspace)
    assert torch.equal(d["mask"], result.mask)
    assert int(d["mask"].sum()) == 66
    assert math.isclose(d["acceleration"], 240 / 66)
    assert d["target"] is x


def test_dictionary_version_respects_kspace_key_none_and_prefixes_several_keys():
    x, y = _image(1, 16, 32), _image(1, 16, 32, seed=1)
    d = KspaceUndersampled(keys="target", kspace_key=None)({"target": x})
    assert "kspace" not in d and "degraded" in d
    d = KspaceUndersampled(keys=["target", "reference"])({"target": x, "reference": y})
    assert {"target_degraded", "reference_degraded", "target_kspace", "reference_kspace"} <= set(d)
    torch.testing.assert_close(d["reference_degraded"], KspaceUndersample()(y)[0])


def test_dictionary_version_random_masks_are_reproducible():
    x = _image(1, 16, 128)
    t = KspaceUndersampled(keys="target", mask_type="random", fixed=False).set_random_state(seed=5)
    masks = [t({"target": x})["mask"] for _ in range(2)]
    assert not torch.equal(masks[0], masks[1])
    t.set_random_state(seed=5)
    assert torch.equal(t({"target": x})["mask"], masks[0])


def test_unknown_mask_name_raises():
    with pytest.raises(ValueError, match=r"'nonsense'.*valid names.*mc_cdic"):
        KspaceUndersample("nonsense", 4)
    with pytest.raises(ValueError, match="nonsense"):
        KspaceUndersampled(keys="target", mask_type="nonsense")


def test_acceleration_below_one_raises():
    with pytest.raises(ValueError, match=r"acceleration=0.5.*>= 1"):
        KspaceUndersample("mc_cdic", 0.5)


def test_unknown_output_raises():
    with pytest.raises(ValueError, match="'phase'"):
        KspaceUndersample("mc_cdic", 4, output="phase")


# --- KspaceTruncate(d) ----------------------------------------------------------------------------


@pytest.mark.parametrize("grid, shape", [("hr", (1, 32, 48)), ("lr", (1, 16, 24))])
def test_truncation_matches_operator(grid, shape):
    x = _image(1, 32, 48)
    degraded, kspace = KspaceTruncate(scale=2, grid=grid)(x)
    expected_k, expected = truncate_image(x, 2, grid=grid)
    assert degraded.shape == shape
    assert kspace.shape == shape
    torch.testing.assert_close(kspace, expected_k)
    torch.testing.assert_close(degraded, expected.float())
    d = KspaceTruncated(keys="target", scale=2, grid=grid)({"target": x})
    torch.testing.assert_close(d["degraded"], degraded)
    torch.testing.assert_close(d["kspace"], kspace)


def test_hr_truncation_keeps_centre_block_only():
    x = _image(1, 32, 48)
    _, kspace = KspaceTruncate(scale=4, grid="hr")(x)
    nonzero = kspace[0].abs() > 0
    assert int(nonzero.sum()) == 8 * 12
    rows, cols = torch.nonzero(nonzero, as_tuple=True)
    assert (int(rows.min()), int(rows.max())) == (12, 19)
    assert (int(cols.min()), int(cols.max())) == (18, 29)


def test_truncated_dictionary_without_kspace_key():
    d = KspaceTruncated(keys="target", kspace_key=None)({"target": _image(1, 8, 8)})
    assert "kspace" not in d and d["degraded"].shape == (1, 8, 8)


def test_truncation_scale_below_one_raises():
    with pytest.raises(ValueError, match=">= 1"):
        KspaceTruncate(scale=0.5)


# --- intensity ------------------------------------------------------------------------------------


def test_scale_record_restore_round_trip():
    x = _image(1, 6, 7, 3) * 300 - 40
    d = ScaleIntensityRecordd(keys=["target", "reference"])({"target": x, "reference": 2 * x})
    assert float(d["target"].min()) == 0.0 and float(d["target"].max()) == 1.0
    torch.testing.assert_close(d["target_intensity_range"], torch.tensor([float(x.min()), float(x.max())], dtype=torch.float64))
    torch.testing.assert_close(d["reference_intensity_range"], 2 * d["target_intensity_range"])
    d["pred"] = d["target"].clone()
    restored = RestoreIntensityd(keys="pred", range_key="target_intensity_range")(d)
    torch.testing.assert_close(restored["pred"], x, atol=1e-12, rtol=0)


def test_scale_record_numpy_matches_formula():
    x = np.arange(12, dtype=np.float64).reshape(1, 3, 4) + 5
    scaled, rng = ScaleIntensityRecord()(x)
    np.testing.assert_allclose(scaled, (x - 5) / 11)
    np.testing.assert_allclose(ScaleIntensityRecord.restore(scaled, rng), x)


def test_constant_volume_raises():
    with pytest.raises(ValueError, match="constant volume"):
        ScaleIntensityRecord()(torch.full((1, 4, 4), 3.0))
    with pytest.raises(ValueError, match="constant volume"):
        ScaleIntensityRecordd(keys="target")({"target": torch.zeros(1, 4, 4)})


# --- checks ---------------------------------------------------------------------------------------


def test_check_finite_passes_finite_data_unchanged():
    x = _image(1, 4, 4)
    assert CheckFinite()(x) is x
    a = np.ones((1, 3, 3))
    assert CheckFinite()(a) is a
    d = {"target": x, "case_id": "c"}
    out = CheckFinited(keys="target")(d)
    assert out["target"] is x


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_check_finite_raises_naming_key_and_case(bad):
    x = _image(1, 4, 4)
    x[0, 1, 2] = bad
    x[0, 3, 3] = bad
    with pytest.raises(ValueError, match="t2 image contains 2 NaN or infinite"):
        CheckFinite(name="t2 image")(x)
    with pytest.raises(ValueError, match="NaN or infinite"):
        CheckFinite()(x.numpy())
    d = {"target": x, "case_id": "case_07", "target_contrast": "t2"}
    with pytest.raises(ValueError, match=r"case_07.*'target' \(t2\)"):
        CheckFinited(keys="target")(d)


def test_check_paired_shape_raises_naming_shapes():
    d = {"target": torch.zeros(1, 4, 5), "reference": torch.zeros(1, 4, 6), "case_id": "c3"}
    with pytest.raises(ValueError, match=r"'c3'.*\(1, 4, 5\).*\(1, 4, 6\)"):
        CheckPairedShaped(keys=["target", "reference"])(d)
    d["reference"] = torch.ones(1, 4, 5)
    assert CheckPairedShaped(keys=["target", "reference"])(d)["reference"] is d["reference"]


# --- SelectContrastsd -----------------------------------------------------------------------------


@pytest.fixture
def case_files(tmp_path):
    paths = {}
    for c in ("t1", "t2"):
        p = tmp_path / f"{c}.nii.gz"
        p.write_bytes(b"")
        paths[c] = str(p)
    return paths


def test_select_contrasts_maps_target_and_reference(case_files):
    item = {"case_id": "c1", **case_files}
    d = SelectContrastsd(target_contrast="t2", reference_contrast="t1")(item)
    assert d["target"] == case_files["t2"] and d["reference"] == case_files["t1"]
    assert d["target_contrast"] == "t2" and d["reference_contrast"] == "t1"
    d = SelectContrastsd(target_contrast="t1", reference_contrast=None)(item)
    assert d["target"] == case_files["t1"] and "reference" not in d


def test_select_contrasts_missing_contrast_names_case_and_available(case_files):
    item = {"case_id": "c1", **case_files}
    with pytest.raises(FileNotFoundError, match=r"'c1'.*'flair'.*\['t1', 't2'\]"):
        SelectContrastsd(target_contrast="flair", reference_contrast="t1")(item)


def test_select_contrasts_missing_file_raises(case_files, tmp_path):
    item = {"case_id": "c1", "t1": case_files["t1"], "t2": str(tmp_path / "absent.nii.gz")}
    with pytest.raises(FileNotFoundError, match="absent.nii.gz"):
        SelectContrastsd(target_contrast="t2", reference_contrast="t1")(item)


def test_select_same_contrast_twice_raises():
    with pytest.raises(ValueError, match="both 't2'"):
        SelectContrastsd(target_contrast="t2", reference_contrast="t2")


# --- MoveSliceAxis(d) -----------------------------------------------------------------------------


def test_move_slice_axis_round_trip():
    x = _image(1, 4, 5, 3)
    forward, back = MoveSliceAxis(-1, 1), MoveSliceAxis(1, -1)
    moved = forward(x)
    assert moved.shape == (1, 3, 4, 5)
    torch.testing.assert_close(moved[0, 2], x[0, :, :, 2])
    assert torch.equal(back(moved), x)
    a = x.numpy()
    assert forward(a).shape == (1, 3, 4, 5)
    np.testing.assert_array_equal(back(forward(a)), a)
    d = MoveSliceAxisd(keys=["target", "reference"])({"target": x, "reference": 2 * x})
    assert d["target"].shape == d["reference"].shape == (1, 3, 4, 5)
    d = MoveSliceAxisd(keys=["target", "reference"], source=1, destination=-1)(d)
    assert torch.equal(d["target"], x) and torch.equal(d["reference"], 2 * x)


def test_move_channel_axis_raises():
    with pytest.raises(ValueError, match="channel axis"):
        MoveSliceAxis(0, 1)


# --- paired_augmentation --------------------------------------------------------------------------


KEYS = ["target", "reference", "degraded"]


def _augment(seed, x, roi=(16, 24)):
    aug = paired_augmentation(KEYS, roi_size=roi, flip_prob=1, rot90_prob=1)
    aug.set_random_state(seed=seed)
    out = aug({k: x.clone() for k in KEYS})
    return {k: torch.as_tensor(out[k]).as_subclass(torch.Tensor) for k in KEYS}


def _candidates(x, roi):
    """Every crop of ``x`` of size ``roi``, flipped along W and rotated 1-3 quarter turns."""
    h, w = x.shape[1:]
    for i in range(h - roi[0] + 1):
        for j in range(w - roi[1] + 1):
            flipped = torch.flip(x[:, i : i + roi[0], j : j + roi[1]], dims=(-1,))
            for k in (1, 2, 3):
                yield torch.rot90(flipped, k, dims=(1, 2))


def test_paired_augmentation_is_identical_across_keys_and_reproducible():
    x = _image(1, 24, 32, dtype=torch.float32)
    outputs = [_augment(seed, x) for seed in range(4)]
    for out in outputs:
        assert torch.equal(out["target"], out["reference"])
        assert torch.equal(out["target"], out["degraded"])
        assert out["target"].shape in ((1, 16, 24), (1, 24, 16))
        assert any(torch.equal(out["target"], c) for c in _candidates(x, (16, 24)))
    assert any(not torch.equal(outputs[0]["target"], o["target"]) for o in outputs[1:])
    again = _augment(2, x)
    assert torch.equal(again["target"], outputs[2]["target"])


def test_paired_augmentation_applies_the_same_crop_to_different_images():
    x = _image(1, 24, 32, dtype=torch.float32)
    aug = paired_augmentation(["target", "reference"], roi_size=(8, 8), flip_prob=1, rot90_prob=1)
    aug.set_random_state(seed=11)
    out = aug({"target": x, "reference": 3 * x + 1})
    torch.testing.assert_close(torch.as_tensor(out["reference"]), 3 * torch.as_tensor(out["target"]) + 1)


# --- SaveReconstructiond --------------------------------------------------------------------------


def _write_source(tmp_path):
    angle = math.radians(30)
    rotation = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 1.2, 2.5])
    affine[:3, 3] = [-10.5, 20.0, 3.25]
    data = np.random.RandomState(0).rand(6, 7, 5).astype(np.float32)
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    path = tmp_path / "source_t2.nii.gz"
    nib.save(img, path)
    return path, affine, data


def test_save_reconstruction_keeps_source_geometry(tmp_path):
    path, affine, data = _write_source(tmp_path)
    d = LoadImaged(keys="target", ensure_channel_first=True, image_only=True)({"target": str(path)})
    assert d["target"].shape == (1, 6, 7, 5)
    d.update(case_id="case_x", target_contrast="t2", pred=d["target"] * 0.5 + 1)
    out_dir = tmp_path / "out"
    d = SaveReconstructiond(keys="pred", reference_key="target", output_dir=str(out_dir))(d)
    assert d["pred_path"] == str(out_dir / "case_x" / "t2_recon.nii.gz")
    written = nib.load(d["pred_path"])
    np.testing.assert_allclose(written.affine, affine, atol=1e-6)
    np.testing.assert_allclose(written.header.get_zooms(), (0.8, 1.2, 2.5), atol=1e-6)
    assert written.shape == (6, 7, 5)
    np.testing.assert_allclose(written.get_fdata(), data * 0.5 + 1, atol=1e-6)


def test_save_reconstruction_rejects_moved_axis_and_missing_meta(tmp_path):
    path, _, _ = _write_source(tmp_path)
    d = LoadImaged(keys="target", ensure_channel_first=True, image_only=True)({"target": str(path)})
    d["pred"] = MoveSliceAxis(-1, 1)(d["target"])
    with pytest.raises(ValueError, match="move the slice axis back"):
        SaveReconstructiond(keys="pred", output_dir=str(tmp_path / "o"))(d)
    with pytest.raises(ValueError, match="LoadImaged"):
        SaveReconstructiond(keys="pred", output_dir=str(tmp_path / "o"))({"target": torch.zeros(1, 2, 2), "pred": torch.zeros(1, 2, 2)})
    d_off = SaveReconstructiond(keys="pred", output_dir=str(tmp_path / "o"), enabled=False)(d)
    assert "pred_path" not in d_off and not (tmp_path / "o").exists()


class TestPrepareSRInputd:
    def _hr(self):
        g = torch.Generator().manual_seed(3)
        return torch.rand(1, 2, 24, 30, generator=g, dtype=torch.float64)

    def test_lr_grid_target_is_zero_padded_to_the_hr_input(self):
        from monai_mcrecon.kspace import truncate_image
        from monai_mcrecon.transforms import PrepareSRInputd

        hr = self._hr()
        _, lr_complex = truncate_image(hr, 2, grid="lr", output="complex")
        _, hr_input = truncate_image(hr, 2, grid="hr", output="magnitude")
        out = PrepareSRInputd(scale=2)({"target": lr_complex, "reference": hr})
        assert out["sr_input"]["input_grid"] == "lr" and out["sr_input"]["output_shape"] == [24, 30]
        assert torch.allclose(out["degraded"].double(), hr_input, atol=1e-6)

    def test_hr_grid_target_simulates_truncation_or_passes_through(self):
        from monai_mcrecon.kspace import truncate_image
        from monai_mcrecon.transforms import PrepareSRInputd

        hr = self._hr()
        out = PrepareSRInputd(scale=2)({"target": hr, "reference": hr})
        assert out["sr_input"]["input_grid"] == "hr"
        assert torch.allclose(out["degraded"].double(), truncate_image(hr, 2)[1], atol=1e-6)
        same = PrepareSRInputd(scale=2, simulate=False)({"target": hr, "reference": hr})
        assert torch.equal(same["degraded"], hr)

    def test_target_larger_than_reference_is_rejected(self):
        from monai_mcrecon.transforms import PrepareSRInputd

        with pytest.raises(ValueError, match="cannot be brought onto the reference grid"):
            PrepareSRInputd()({"target": torch.rand(1, 2, 30, 30), "reference": torch.rand(1, 2, 24, 30)})
