"""Property-based tests (hypothesis) of the k-space masks and operators on random shapes and data.

Each property is checked on a few dozen random cases (``max_examples`` kept small so the file runs
in seconds): mask shapes and realised acceleration, the adjoint identity ``<A x, y> = <x, A^H y>``,
idempotence of hard data consistency, and k-space truncation / zero-padding shapes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from monai_mcrecon.kspace import (  # noqa: E402
    adjoint_operator,
    create_mask_func,
    data_consistency,
    fft2c,
    forward_operator,
    ifft2c,
    kspace_truncate,
    kspace_zero_pad,
    multicoil_adjoint_operator,
    multicoil_data_consistency,
    multicoil_forward_operator,
    truncation_mask,
    undersample_image,
)

FAST = settings(max_examples=25, deadline=None, derandomize=True)
COLUMN_MASKS = ("random", "equispaced", "mc_cdic", "gaussian1d")
ALL_MASKS = (*COLUMN_MASKS, "gaussian2d", "poisson2d", "radial")

sizes = st.integers(min_value=16, max_value=48)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def _complex(shape, seed: int, dtype=torch.complex128) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g, dtype=torch.float64), torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)


def _mask(name: str, acc: float, h: int, w: int, seed: int):
    try:
        return create_mask_func(name, acc)((h, w), seed=seed)
    except ValueError as e:  # a documented refusal (e.g. centre + lines exceed the budget of a tiny grid)
        assert any(s in str(e) for s in ("center_fraction", "centre", "budget", "lines", "acceleration")), str(e)
        return None


@FAST
@given(name=st.sampled_from(ALL_MASKS), acc=st.sampled_from([1.0, 2.0, 4.0, 8.0]), h=sizes, w=sizes, seed=seeds)
def test_mask_shape_binary_and_realised_acceleration(name, acc, h, w, seed):
    result = _mask(name, acc, h, w, seed)
    if result is None:
        return
    mask = result.mask
    assert mask.shape in ((1, w), (h, w))
    assert name not in COLUMN_MASKS or mask.shape == (1, w)
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    sampled = int(mask.sum())
    assert sampled >= 1
    # the reported acceleration is the one realised by the mask
    assert result.acceleration == pytest.approx(mask.numel() / sampled)
    # never sparser than asked by more than the rounding of one line / the centre block; at 1x: full
    assert result.acceleration >= 1.0
    if acc == 1.0 and name in COLUMN_MASKS:
        assert sampled == w
    # same seed, same mask (masks are seeded Randomizables in the bundles)
    again = create_mask_func(name, acc)((h, w), seed=seed).mask
    assert torch.equal(mask, again)


@FAST
@given(name=st.sampled_from(("gaussian1d", "gaussian2d", "poisson2d")), acc=st.sampled_from([2.0, 4.0, 8.0]),
       h=st.integers(64, 128), w=st.integers(64, 128), seed=seeds)
def test_fixed_budget_masks_realise_the_requested_acceleration(name, acc, h, w, seed):
    """Gaussian 1-D / 2-D masks sample round(N / R) points; Poisson-disc meets R within 5 %."""
    result = _mask(name, acc, h, w, seed)
    if result is None:
        return
    sampled, total = float(result.mask.sum()), result.mask.numel()
    if name == "poisson2d":  # a disc packing: the density is met on average, within a few per cent
        assert result.acceleration == pytest.approx(acc, rel=0.05)
    else:  # these masks draw round(N / R) samples: one sample of rounding at most
        assert abs(sampled - total / acc) <= 1.0


@FAST
@given(name=st.sampled_from(("equispaced", "mc_cdic")), acc=st.sampled_from([2.0, 4.0, 8.0]),
       w=st.integers(64, 256), seed=seeds)
def test_centre_plus_lines_masks_never_exceed_the_request(name, acc, w, seed):
    result = _mask(name, acc, 16, w, seed)
    if result is None:
        return
    # fastMRI semantics: the centre comes on top of every R-th line, so the realised acceleration is
    # at most R (+ one line of rounding) and at least what the centre fraction alone leaves
    assert result.acceleration <= acc * w / (w - acc) + 1e-9
    assert result.acceleration >= acc / 2 - 1e-9
    assert result.num_low_frequencies >= 1


@FAST
@given(h=sizes, w=sizes, batch=st.integers(1, 3), seed=seeds, name=st.sampled_from(ALL_MASKS))
def test_forward_and_adjoint_are_adjoint(h, w, batch, seed, name):
    result = _mask(name, 4.0, h, w, seed)
    if result is None:
        return
    mask = result.mask.double()
    x = _complex((batch, h, w), seed)
    y = _complex((batch, h, w), seed + 1)
    lhs = torch.vdot(forward_operator(x, mask).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), adjoint_operator(y, mask).flatten())
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))
    # orthonormal FFT: unitary
    assert torch.allclose(ifft2c(fft2c(x)), x, atol=1e-10)
    assert float(fft2c(x).abs().pow(2).sum()) == pytest.approx(float(x.abs().pow(2).sum()), rel=1e-10)


@FAST
@given(h=sizes, w=sizes, coils=st.integers(1, 4), seed=seeds)
def test_multicoil_forward_and_adjoint_are_adjoint(h, w, coils, seed):
    mask = create_mask_func("random", 4.0)((h, w), seed=seed).mask.double()
    sens = _complex((coils, h, w), seed + 2)
    x = _complex((1, h, w), seed)
    y = _complex((coils, h, w), seed + 1)
    lhs = torch.vdot(multicoil_forward_operator(x, sens, mask).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), multicoil_adjoint_operator(y, sens, mask).flatten())
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))


@FAST
@given(h=sizes, w=sizes, seed=seeds, name=st.sampled_from(ALL_MASKS), lam=st.one_of(st.none(), st.floats(0.0, 100.0)))
def test_data_consistency_is_idempotent_and_keeps_the_measurement(h, w, seed, name, lam):
    result = _mask(name, 4.0, h, w, seed)
    if result is None:
        return
    mask = result.mask.double()
    measured = forward_operator(_complex((2, h, w), seed), mask)
    pred = _complex((2, h, w), seed + 7)
    once = data_consistency(pred, measured, mask)
    twice = data_consistency(once, measured, mask)
    assert torch.allclose(once, twice, atol=1e-12)
    # acquired samples are the measurement, the others the prediction
    assert torch.allclose(once * mask, measured * mask, atol=1e-12)
    assert torch.allclose(once * (1 - mask), pred * (1 - mask), atol=1e-12)
    if lam is not None:  # soft DC moves acquired samples towards the measurement, never past it
        soft = data_consistency(pred, measured, mask, noise_lambda=lam)
        d_before = ((pred - measured) * mask).abs()
        d_after = ((soft - measured) * mask).abs()
        assert torch.all(d_after <= d_before + 1e-12)
        assert torch.allclose(soft * (1 - mask), pred * (1 - mask), atol=1e-12)


@FAST
@given(h=sizes, w=sizes, seed=seeds, name=st.sampled_from(ALL_MASKS))
def test_multicoil_data_consistency_is_idempotent(h, w, seed, name):
    result = _mask(name, 4.0, h, w, seed)
    if result is None:
        return
    mask = result.mask.double()
    measured = forward_operator(_complex((3, h, w), seed), mask)
    pred = _complex((3, h, w), seed + 3)
    once = multicoil_data_consistency(pred, measured, mask, None, pred_domain="kspace")
    twice = multicoil_data_consistency(once, measured, mask, None, pred_domain="kspace")
    assert torch.allclose(twice, once, atol=1e-12)
    assert torch.allclose(once * mask, measured * mask, atol=1e-12)
    # from an image: every acquired coil sample equals the measurement
    sens = _complex((3, h, w), seed + 4)
    img = _complex((1, h, w), seed + 5)
    k_img = multicoil_data_consistency(img, measured, mask, sens, pred_domain="image")
    assert torch.allclose(k_img * mask, measured * mask, atol=1e-12)
    assert torch.allclose(multicoil_data_consistency(k_img, measured, mask, None, pred_domain="kspace"), k_img, atol=1e-12)


@FAST
@given(h=sizes, w=sizes, seed=seeds)
def test_undersampling_zero_filled_is_the_adjoint_of_the_measurement(h, w, seed):
    mask = create_mask_func("equispaced", 4.0)((h, w), seed=seed).mask.double()
    x = _complex((1, h, w), seed)
    k, zf = undersample_image(x, mask, output="complex")
    assert torch.allclose(k, forward_operator(x, mask), atol=1e-12)
    assert torch.allclose(zf, adjoint_operator(k, mask), atol=1e-12)
    # the zero-filled image's k-space is zero off the mask
    assert float((fft2c(zf) * (1 - mask)).abs().max()) < 1e-10


@FAST
@given(m=st.integers(4, 24), n=st.integers(4, 24), scale=st.sampled_from([2, 3, 4]), seed=seeds)
def test_truncation_shapes_and_zero_pad_inverse(m, n, scale, seed):
    h, w = m * scale, n * scale
    k = _complex((2, h, w), seed)
    lr = kspace_truncate(k, scale, grid="lr")
    assert lr.shape == (2, m, n)
    back = kspace_zero_pad(lr, (h, w))
    assert back.shape == k.shape
    # the kept block comes back exactly, the rest is zero
    tm = truncation_mask((h, w), scale).double()
    assert torch.allclose(back, k * tm, atol=1e-10)
    assert int(tm.sum()) == m * n
    hr = kspace_truncate(k, scale, grid="hr")
    assert torch.allclose(hr, k * tm, atol=1e-12)


@FAST
@given(h=sizes, w=sizes, dh=st.integers(1, 5), seed=seeds)
def test_masks_of_the_wrong_shape_are_refused(h, w, dh, seed):
    x = _complex((1, h, w), seed)
    bad = torch.ones(1, w + dh, dtype=torch.float64)
    with pytest.raises(ValueError, match=rf"mask of shape \(1, {w + dh}\) does not fit k-space"):
        forward_operator(x, bad)
    with pytest.raises(ValueError, match="does not fit k-space"):
        undersample_image(x, torch.ones(h + dh, w, dtype=torch.float64))
    good = torch.ones(1, w, dtype=torch.float64)
    with pytest.raises(ValueError, match="differ in shape"):
        data_consistency(x, _complex((1, h + dh, w), seed), good)


@FAST
@given(acc=st.one_of(st.floats(max_value=0.999, allow_nan=False), st.just(math.nan), st.just(math.inf)))
def test_acceleration_below_one_or_not_finite_is_refused(acc):
    with pytest.raises(ValueError, match=r"^acceleration=\S+ is invalid: it must be a finite number >= 1"):
        create_mask_func("random", acc)


@FAST
@given(h=sizes, w=sizes, scale=st.sampled_from([2, 3, 4]), seed=seeds)
def test_scale_not_dividing_the_size_keeps_the_floor_block(h, w, scale, seed):
    """A scale that does not divide the size is accepted (the sample is 193 x 229): the LR grid is
    ``(H // s) x (W // s)`` (the command's LR affine records the true voxel size), and zero-padding
    brings exactly that centred block back onto the HR grid."""
    k = _complex((1, h, w), seed)
    lr = kspace_truncate(k, scale, grid="lr")
    assert lr.shape == (1, h // scale, w // scale)
    tm = truncation_mask((h, w), scale).double()
    assert int(tm.sum()) == (h // scale) * (w // scale)
    assert torch.allclose(kspace_zero_pad(lr, (h, w)), k * tm, atol=1e-10)


def test_scale_below_one_is_refused():
    with pytest.raises(ValueError, match=r"scale must be >= 1, got 0.5"):
        kspace_truncate(_complex((1, 8, 8), 0), 0.5, grid="lr")
