"""Tests of monai_mcrecon.kspace.masks: fastMRI equality, the MC-CDic mask, accelerations, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from fastmri.data.subsample import EquiSpacedMaskFunc, RandomMaskFunc

from monai_mcrecon.kspace.masks import (
    DEFAULT_CENTER_FRACTIONS,
    MASK_FUNCTIONS,
    EquispacedMask,
    GaussianMask1D,
    GaussianMask2D,
    MaskResult,
    MCCDicMask,
    PoissonDiscMask2D,
    RadialMask,
    RandomMask,
    create_mask_func,
)

ONE_D = ("random", "equispaced", "mc_cdic", "gaussian1d")
TWO_D = ("gaussian2d", "poisson2d", "radial")
SEEDED = ("random", "equispaced", "gaussian1d", "gaussian2d", "poisson2d")


def _centre(size: int, num_low: int) -> slice:
    start = (size - num_low + 1) // 2
    return slice(start, start + num_low)


# --- fastMRI equality --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"), [(RandomMask, RandomMaskFunc), (EquispacedMask, EquiSpacedMaskFunc)], ids=["random", "equispaced"]
)
@pytest.mark.parametrize("width", [33, 96, 240, 256, 368])
@pytest.mark.parametrize(("acceleration", "center_fraction"), [(2, 0.10), (4, 0.08), (5, 0.07), (8, 0.04)])
def test_column_mask_equals_fastmri(ours, theirs, width, acceleration, center_fraction):
    for seed in range(6):
        expected, expected_low = theirs([center_fraction], [acceleration])((1, 20, width, 2), seed=seed)
        result = ours(acceleration, center_fraction)((20, width), seed=seed)
        assert expected.shape == (1, 1, width, 1)
        assert torch.equal(result.mask, expected.reshape(1, width)), (width, acceleration, seed)
        assert result.num_low_frequencies == expected_low


def test_default_center_fractions_follow_the_spec():
    assert DEFAULT_CENTER_FRACTIONS == {2: 0.10, 4: 0.08, 6: 0.06, 8: 0.04}
    for acceleration, fraction in DEFAULT_CENTER_FRACTIONS.items():
        assert RandomMask(acceleration).center_fraction == fraction
        assert MCCDicMask(float(acceleration)).center_fraction == fraction
    with pytest.raises(ValueError, match="center_fraction"):
        RandomMask(5)


# --- MC-CDic mask ------------------------------------------------------------------------------


def _mc_cdic_columns(acceleration: float, width: int) -> int:
    result = MCCDicMask(acceleration)((1, 1, width, width))
    assert result.mask.shape == (1, width)
    return int(result.mask.sum())


def test_mc_cdic_mask_keeps_66_columns_at_4x_for_width_240():
    assert _mc_cdic_columns(4, 240) == 66


def test_mc_cdic_mask_keeps_32_columns_at_8x_for_width_240():
    assert _mc_cdic_columns(8, 240) == 32


def test_mc_cdic_mask_keeps_69_columns_at_4x_for_width_256():
    assert _mc_cdic_columns(4, 256) == 69


def test_mc_cdic_mask_keeps_33_columns_at_8x_for_width_256():
    assert _mc_cdic_columns(8, 256) == 33


@pytest.mark.parametrize(("acceleration", "width"), [(4, 240), (8, 240), (4, 256), (8, 256), (2, 128), (6, 200)])
def test_mc_cdic_mask_is_the_seed_42_rule_whatever_the_seed(acceleration, width):
    center_fraction = DEFAULT_CENTER_FRACTIONS[acceleration]
    num_low = round(width * center_fraction)
    prob = (width / acceleration - num_low) / (width - num_low)
    expected = np.random.RandomState(42).uniform(size=width) < prob
    expected[_centre(width, num_low)] = True
    for seed in (None, 0, 7):
        result = MCCDicMask(acceleration)((width, width), seed=seed)
        np.testing.assert_array_equal(result.mask[0].numpy(), expected.astype(np.float32))
        assert result.num_low_frequencies == num_low
        assert result.name == "mc_cdic"


# --- shapes, determinism, centre ----------------------------------------------------------------


@pytest.mark.parametrize("name", ONE_D + TWO_D)
def test_mask_shape_dtype_and_binary_values(name):
    result = create_mask_func(name, 4)((2, 3, 40, 36), seed=0)
    assert isinstance(result, MaskResult)
    assert result.name == name
    assert result.mask.dtype == torch.float32
    assert result.mask.shape == ((1, 36) if name in ONE_D else (40, 36))
    assert set(result.mask.unique().tolist()) <= {0.0, 1.0}
    assert result.acceleration == pytest.approx(result.mask.numel() / result.mask.sum().item())
    kspace = torch.ones(2, 3, 40, 36, dtype=torch.complex64)
    assert (kspace * result.mask).shape == kspace.shape


@pytest.mark.parametrize("name", SEEDED)
def test_equal_seeds_give_equal_masks_and_different_seeds_differ(name):
    mask_func = create_mask_func(name, 4)
    assert torch.equal(mask_func((64, 64), seed=3).mask, mask_func((64, 64), seed=3).mask)
    # the equispaced mask has only 4 offsets at 4x: look at several seeds
    masks = {tuple(mask_func((64, 64), seed=seed).mask.flatten().tolist()) for seed in range(8)}
    assert len(masks) > 1


@pytest.mark.parametrize("name", ["random", "equispaced", "mc_cdic", "gaussian1d"])
def test_centre_columns_are_fully_sampled(name):
    width, center_fraction = 250, 0.08
    result = create_mask_func(name, 4, center_fraction)((128, width), seed=1)
    num_low = round(width * center_fraction)
    assert result.num_low_frequencies == num_low == 20
    assert result.mask[0, _centre(width, num_low)].all()
    assert result.mask[0, width // 2]  # DC column


@pytest.mark.parametrize("name", ["gaussian2d", "poisson2d"])
def test_centre_block_is_fully_sampled(name):
    height, width, center_fraction = 96, 80, 0.1
    result = create_mask_func(name, 6, center_fraction)((height, width), seed=2)
    assert result.num_low_frequencies == round(width * center_fraction)
    assert result.mask[_centre(height, round(height * center_fraction)), _centre(width, 8)].all()


@pytest.mark.parametrize("name", ONE_D + TWO_D)
def test_acceleration_one_is_full_sampling(name):
    center_fraction = None if name == "radial" else 0.1
    result = create_mask_func(name, 1, center_fraction)((24, 20), seed=0)
    assert result.mask.all()
    assert result.acceleration == 1.0


# --- realised acceleration ----------------------------------------------------------------------


@pytest.mark.parametrize("acceleration", [2, 4, 8])
def test_random_mask_acceleration_is_right_on_average(acceleration):
    # One draw varies by about +-10% at W=256; 40 draws average within 3%.
    mask_func = RandomMask(acceleration)
    kept = np.mean([mask_func((256, 256), seed=seed).mask.sum().item() for seed in range(40)])
    assert 256 / kept == pytest.approx(acceleration, rel=0.03)


@pytest.mark.parametrize("acceleration", [2, 4, 6, 8])
def test_equispaced_mask_acceleration_is_at_most_requested(acceleration):
    # As in fastMRI the centre comes on top of every R-th column: realised within 25% below R.
    result = EquispacedMask(acceleration)((256, 256), seed=0)
    assert 0.75 * acceleration <= result.acceleration <= acceleration


@pytest.mark.parametrize("name", ["gaussian1d", "gaussian2d"])
@pytest.mark.parametrize("acceleration", [2, 3.5, 4, 8])
def test_gaussian_masks_hit_the_acceleration_up_to_rounding(name, acceleration):
    center_fraction = 0.04
    result = create_mask_func(name, acceleration, center_fraction)((200, 240), seed=0)
    assert result.acceleration == pytest.approx(acceleration, rel=0.01)


@pytest.mark.parametrize("shape", [(256, 256), (240, 240), (320, 256), (128, 96)])
@pytest.mark.parametrize("acceleration", [2, 4, 6, 8, 12])
def test_poisson_disc_acceleration_within_10_percent(shape, acceleration):
    result = PoissonDiscMask2D(acceleration, center_fraction=0.04)(shape, seed=5)
    assert result.acceleration == pytest.approx(acceleration, rel=0.10)


@pytest.mark.parametrize("shape", [(256, 256), (240, 240), (255, 191), (128, 96)])
@pytest.mark.parametrize("acceleration", [2, 4, 8, 12])
def test_radial_acceleration_within_10_percent(shape, acceleration):
    assert RadialMask(acceleration)(shape).acceleration == pytest.approx(acceleration, rel=0.10)


def test_mc_cdic_acceleration_close_to_requested():
    # One fixed draw: 240 / 66 = 3.64, 240 / 32 = 7.5, 256 / 69 = 3.71, 256 / 33 = 7.76.
    for acceleration in (4, 8):
        for width in (240, 256):
            realised = MCCDicMask(acceleration)((width, width)).acceleration
            assert realised == pytest.approx(acceleration, rel=0.10)


# --- mask-specific properties -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gaussian1d", "gaussian2d", "poisson2d"])
def test_variable_density_masks_sample_the_centre_more_densely(name):
    mask = create_mask_func(name, 6, 0.02)((256, 256), seed=0).mask.expand(256, 256).numpy()
    rows, cols = np.mgrid[:256, :256]
    distance = np.hypot(rows - 128, cols - 128) if name != "gaussian1d" else np.abs(cols - 128)
    inner = mask[(distance > 10) & (distance < 40)].mean()
    outer = mask[distance > 90].mean()
    assert inner > 1.5 * outer


def test_poisson_disc_points_repel_each_other():
    mask = PoissonDiscMask2D(8)((256, 256), seed=0).mask.numpy().astype(bool)
    rows, cols = np.mgrid[:256, :256]
    outer = np.hypot((rows - 128) / 128, (cols - 128) / 128) > 0.5
    kept = mask & outer
    neighbours = (kept[:, 1:] & kept[:, :-1]).sum() + (kept[1:, :] & kept[:-1, :]).sum()
    pairs = (outer[:, 1:] & outer[:, :-1]).sum() + (outer[1:, :] & outer[:-1, :]).sum()
    independent = pairs * mask[outer].mean() ** 2  # expected neighbours of an i.i.d. mask
    assert neighbours < 0.1 * independent


def test_poisson_disc_is_fast_for_256x256():
    mask_func = PoissonDiscMask2D(4)
    durations = []
    for seed in range(2):
        start = time.perf_counter()
        mask_func((256, 256), seed=seed)
        durations.append(time.perf_counter() - start)
    assert min(durations) < 1.0


@pytest.mark.parametrize("shape", [(255, 191), (33, 47)])
def test_radial_mask_is_point_symmetric_about_dc_for_odd_sizes(shape):
    mask = RadialMask(4)(shape).mask
    assert torch.equal(mask, mask.flip(0, 1))


def test_radial_mask_is_point_symmetric_about_dc_for_even_sizes():
    # DC at (H // 2, W // 2): row 0 and column 0 have no mirror image on an even grid.
    mask = RadialMask(6)((256, 240)).mask[1:, 1:]
    assert torch.equal(mask, mask.flip(0, 1))


def test_radial_spokes_pass_through_dc():
    height, width = 256, 240
    result = RadialMask(8)((height, width))
    mask = result.mask
    assert result.num_low_frequencies == 0
    assert mask[height // 2, width // 2] == 1
    assert mask[height // 2].all()  # spoke 0 is horizontal and runs border to border
    golden = np.pi * (np.sqrt(5) - 1) / 2
    steps = np.arange(-100, 101)
    for spoke in range(1, 6):
        rows = height // 2 + np.round(np.sin(spoke * golden) * steps).astype(int)
        cols = width // 2 + np.round(np.cos(spoke * golden) * steps).astype(int)
        assert mask[rows, cols].all(), spoke
    # oversampled centre, sparse periphery
    assert mask[height // 2 - 3 : height // 2 + 4, width // 2 - 3 : width // 2 + 4].all()
    assert mask[:20, :20].mean() < 0.2


def test_radial_mask_ignores_the_seed():
    assert torch.equal(RadialMask(5)((64, 64), seed=1).mask, RadialMask(5)((64, 64), seed=2).mask)


# --- registry and errors ------------------------------------------------------------------------


def test_registry_names():
    assert set(MASK_FUNCTIONS) == set(ONE_D + TWO_D)
    for name, cls in MASK_FUNCTIONS.items():
        assert cls.name == name
        assert isinstance(create_mask_func(name, 4), cls)


def test_create_mask_func_passes_keyword_arguments():
    mask_func = create_mask_func("poisson2d", 4, 0.05, variable_density=1.0)
    assert mask_func.center_fraction == 0.05
    assert mask_func.variable_density == 1.0


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown mask function 'spiral'") as error:
        create_mask_func("spiral", 4)
    for name in MASK_FUNCTIONS:
        assert name in str(error.value)


@pytest.mark.parametrize("name", ONE_D + TWO_D)
@pytest.mark.parametrize("acceleration", [0.5, 0.0, -4.0, float("nan")])
def test_acceleration_below_one_is_rejected(name, acceleration):
    with pytest.raises(ValueError, match=r"acceleration=.* must be a finite number >= 1"):
        create_mask_func(name, acceleration, None if name == "radial" else 0.1)


def test_acceleration_error_names_the_value():
    with pytest.raises(ValueError, match="acceleration=0.5"):
        RandomMask(0.5, 0.1)


@pytest.mark.parametrize("name", ["random", "equispaced", "mc_cdic", "gaussian1d", "gaussian2d", "poisson2d"])
@pytest.mark.parametrize("center_fraction", [0.0, 1.0, 1.5, -0.1])
def test_center_fraction_outside_open_unit_interval_is_rejected(name, center_fraction):
    with pytest.raises(ValueError, match=r"center_fraction=.* \(0, 1\)"):
        create_mask_func(name, 4, center_fraction)


def test_radial_mask_rejects_a_center_fraction():
    with pytest.raises(ValueError, match="no centre fraction"):
        create_mask_func("radial", 4, 0.08)


def test_shape_needs_two_axes():
    with pytest.raises(ValueError, match="at least two axes"):
        RandomMask(4)((256,))


@pytest.mark.parametrize("cls", [GaussianMask1D, GaussianMask2D, PoissonDiscMask2D])
def test_centre_larger_than_the_budget_is_rejected(cls):
    with pytest.raises(ValueError, match="lower center_fraction"):
        cls(8, center_fraction=0.5)((64, 64), seed=0)
