"""Multi-coil simulation, coil combination, sensitivity estimation and multi-coil operators.

Measured on the embedded sample (ICBM T1w, slice 8 of ``icbm_test_a``, 193 x 229, 8 simulated
coils), NRMSE of ``|sens_combine(coil images, S_est)|`` against ``|x|`` inside the object
(``|x| > 0.05 max``): see the ``*_NRMSE_MAX`` thresholds below and the measured values next to them.
"""

from __future__ import annotations

import math

import fastmri
import nibabel as nib
import numpy as np
import pytest
import torch
from fastmri.models.varnet import VarNetBlock
from monai.apps.reconstruction.mri_utils import root_sum_of_squares
from monai.apps.reconstruction.networks.nets.utils import sensitivity_map_expand, sensitivity_map_reduce

from monai_mcrecon.data.sample import SAMPLE_DIR
from monai_mcrecon.kspace import (
    EquispacedMask,
    GaussianMask2D,
    RandomMask,
    calibration_region,
    complex_to_real_last,
    data_consistency,
    estimate_sensitivities,
    fft2c,
    ifft2c,
    multicoil_adjoint_operator,
    multicoil_data_consistency,
    multicoil_forward_operator,
    real_last_to_complex,
    rss,
    sens_combine,
    sens_expand,
    sens_reduce,
    simulate_multicoil,
    simulate_sensitivities,
    smooth_phase,
)

# Maps estimated from 4x random-column undersampled k-space (18 ACS columns), applied to the fully
# sampled noise-free coil images. Measured NRMSE: noise-free lowres 0.00098, ESPIRiT 0.00102
# (lowres from a 24 x 24 centre block 0.00074); 30 dB lowres 0.00099, ESPIRiT 0.00102; 10 dB
# lowres 0.0048, ESPIRiT (noise_std given) 0.0007.
LOWRES_NRMSE_MAX = 0.005
NOISY_NRMSE_MAX = 0.005


def _rand_complex(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.complex128)


def _inner(a, b):
    return (a.conj() * b).sum()


@pytest.fixture(scope="module")
def brain():
    volume = nib.load(str(SAMPLE_DIR / "icbm_test_a" / "t1.nii.gz"))
    image = torch.from_numpy(np.asarray(volume.dataobj[:, :, 8], dtype=np.float64))
    return image / image.max()


@pytest.fixture(scope="module")
def clean(brain):
    return simulate_multicoil(brain, num_coils=8, snr_db=None, seed=0)


def _nrmse_in_object(combined, truth):
    obj = truth.abs() > 0.05 * truth.abs().max()
    err = combined.abs().squeeze(-3) - truth.abs()
    return (err[obj].norm() / truth.abs()[obj].norm()).item()


# ----------------------------------------------------------------------------- simulation


@pytest.mark.parametrize("shape,num_coils", [((193, 229), 8), ((64, 48), 4), ((33, 33), 1), ((40, 40), 12)])
def test_simulated_maps_rss_normalised_and_smooth(shape, num_coils):
    sens = simulate_sensitivities(shape, num_coils, seed=3)
    assert sens.shape == (num_coils, *shape) and sens.dtype == torch.complex64
    assert (rss(sens, dim=0) - 1).abs().max() < 1e-6
    # smooth, independently of the matrix size: derivatives per unit length (half the longer side)
    # measured up to 1.6 (first) and 4.3 (second)
    unit = max(shape) / 2
    for dim in (-2, -1):
        assert sens.diff(dim=dim).abs().max() * unit < 3
        assert sens.diff(dim=dim).diff(dim=dim).abs().max() * unit**2 < 10
    torch.testing.assert_close(sens, simulate_sensitivities(shape, num_coils, seed=3), rtol=0, atol=0)
    if num_coils > 1:
        assert not torch.allclose(sens, simulate_sensitivities(shape, num_coils, seed=4))


def test_smooth_phase():
    phi = smooth_phase((50, 70), max_phase=math.pi / 3, seed=1, dtype=torch.float64)
    assert phi.shape == (50, 70)
    assert math.isclose(phi.abs().max().item(), math.pi / 3, rel_tol=1e-12)
    assert phi.diff(dim=0).abs().max() < 0.1 and phi.diff(dim=1).abs().max() < 0.1
    torch.testing.assert_close(phi, smooth_phase((50, 70), math.pi / 3, seed=1, dtype=torch.float64))
    assert smooth_phase((8, 8), max_phase=0.0).abs().max() == 0
    with pytest.raises(ValueError):
        smooth_phase((8, 8), order=-1)


def test_simulate_multicoil_consistent_and_reproducible(brain, clean):
    assert clean.kspace.shape == (8, *brain.shape) and clean.kspace.dtype == torch.complex128
    torch.testing.assert_close(clean.image.abs(), brain, rtol=0, atol=1e-12)  # phase only
    torch.testing.assert_close(clean.kspace, sens_expand(clean.image, clean.sensitivities), rtol=0, atol=0)
    assert clean.noise_std == 0
    again = simulate_multicoil(brain, num_coils=8, seed=0)
    torch.testing.assert_close(again.kspace, clean.kspace, rtol=0, atol=0)
    no_phase = simulate_multicoil(brain, num_coils=8, seed=0, phase=False)
    torch.testing.assert_close(no_phase.image, brain.to(torch.complex128), rtol=0, atol=0)
    own_maps = simulate_multicoil(brain, seed=0, sensitivities=clean.sensitivities[:3])
    assert own_maps.kspace.shape == (3, *brain.shape)


@pytest.mark.parametrize("snr_db", [5.0, 20.0, 35.0])
def test_noise_matches_requested_snr(brain, snr_db):
    batch = torch.stack([brain, 10 * brain.flip(-1)])  # two images of different power
    sim = simulate_multicoil(batch, num_coils=8, snr_db=snr_db, seed=7)
    assert sim.kspace.shape == (2, 8, *brain.shape)
    noise_free = sens_expand(sim.image.unsqueeze(-3), sim.sensitivities)
    noise = sim.kspace - noise_free
    signal_power = noise_free.abs().square().mean(dim=(-3, -2, -1))
    measured = 10 * torch.log10(signal_power / noise.abs().square().mean(dim=(-3, -2, -1)))
    assert (measured - snr_db).abs().max() < 0.2
    torch.testing.assert_close(sim.noise_std, (signal_power / 10 ** (snr_db / 10)).sqrt())
    # circular: real and imaginary parts carry half the power each
    ratio = noise.real.square().mean() / noise.imag.square().mean()
    assert abs(ratio.item() - 1) < 0.02
    again = simulate_multicoil(batch, num_coils=8, snr_db=snr_db, seed=7)
    torch.testing.assert_close(again.kspace, sim.kspace, rtol=0, atol=0)


# ----------------------------------------------------------------------------- combination


def test_rss_matches_fastmri_and_monai():
    coils = _rand_complex(2, 5, 16, 12)
    ours = rss(coils)
    assert ours.shape == (2, 16, 12)
    torch.testing.assert_close(ours, fastmri.rss_complex(complex_to_real_last(coils), dim=1), rtol=0, atol=1e-12)
    torch.testing.assert_close(ours, root_sum_of_squares(coils.abs(), spatial_dim=1), rtol=0, atol=1e-12)
    assert rss(coils, keepdim=True).shape == (2, 1, 16, 12)


def test_sens_expand_reduce_match_fastmri_and_monai():
    image = _rand_complex(2, 1, 16, 12, seed=1)
    sens = _rand_complex(2, 5, 16, 12, seed=2)
    kspace = _rand_complex(2, 5, 16, 12, seed=3)
    block = VarNetBlock(torch.nn.Identity())
    expanded = sens_expand(image, sens)
    reduced = sens_reduce(kspace, sens)
    assert expanded.shape == (2, 5, 16, 12) and reduced.shape == (2, 1, 16, 12)
    for ref_expand, ref_reduce in [
        (block.sens_expand, block.sens_reduce),
        (sensitivity_map_expand, sensitivity_map_reduce),
    ]:
        ref = ref_expand(complex_to_real_last(image), complex_to_real_last(sens))
        torch.testing.assert_close(expanded, real_last_to_complex(ref), rtol=0, atol=1e-12)
        ref = ref_reduce(complex_to_real_last(kspace), complex_to_real_last(sens))
        torch.testing.assert_close(reduced, real_last_to_complex(ref), rtol=0, atol=1e-12)
    assert sens_reduce(kspace, sens, keepdim=False).shape == (2, 16, 12)


def test_sens_combine_is_least_squares(clean):
    coil_images = ifft2c(clean.kspace)
    torch.testing.assert_close(sens_combine(coil_images, clean.sensitivities)[0], clean.image, rtol=0, atol=1e-12)
    # RSS-normalised maps: the combination is the adjoint sens_reduce
    torch.testing.assert_close(
        sens_combine(coil_images, clean.sensitivities),
        sens_reduce(clean.kspace, clean.sensitivities),
        atol=1e-12,
        rtol=0,
    )
    # unnormalised maps: still the exact pixel-wise least-squares solution
    weight = 0.5 + torch.linspace(0, 1, clean.image.shape[-1], dtype=torch.float64)
    scaled = clean.sensitivities * weight
    torch.testing.assert_close(sens_combine(ifft2c(sens_expand(clean.image, scaled)), scaled)[0], clean.image)
    # pixels without any sensitivity give zero
    zero = clean.sensitivities.clone()
    zero[:, :10] = 0
    combined = sens_combine(coil_images, zero, keepdim=False)
    assert combined.shape == clean.image.shape and combined[:10].abs().max() == 0


# ----------------------------------------------------------------------------- operators


@pytest.mark.parametrize("mask_kind", ["columns", "points", "weights"])
def test_multicoil_forward_adjoint_exact(mask_kind):
    h, w, c = 20, 18, 4
    g = torch.Generator().manual_seed(5)
    if mask_kind == "columns":
        mask = (torch.rand(1, w, generator=g) < 0.4).double()
    elif mask_kind == "points":
        mask = (torch.rand(h, w, generator=g) < 0.4).double()
    else:  # real weights (e.g. a density compensation): still self-adjoint
        mask = torch.rand(h, w, generator=g, dtype=torch.float64)
    x = _rand_complex(3, 1, h, w, seed=6)
    y = _rand_complex(3, c, h, w, seed=7)
    sens = _rand_complex(3, c, h, w, seed=8)
    ax = multicoil_forward_operator(x, sens, mask)
    aty = multicoil_adjoint_operator(y, sens, mask)
    assert ax.shape == (3, c, h, w) and aty.shape == (3, 1, h, w)
    lhs, rhs = _inner(ax, y), _inner(x, aty)
    assert abs(lhs - rhs) / abs(lhs) < 1e-10
    # with RSS-normalised maps and full sampling, A^H A = I
    maps = simulate_sensitivities((h, w), c, seed=1, dtype=torch.complex128)
    ones = torch.ones(h, w, dtype=torch.float64)
    roundtrip = multicoil_adjoint_operator(multicoil_forward_operator(x, maps, ones), maps, ones)
    torch.testing.assert_close(roundtrip, x, rtol=0, atol=1e-12)


def test_multicoil_data_consistency_hard_and_soft(clean):
    mask = RandomMask(4, 0.08)(clean.kspace.shape, seed=1).mask.double()
    measured = clean.kspace * mask
    prediction = clean.image * 0.7 + 0.05 * _rand_complex(*clean.image.shape, seed=9)  # a "network" estimate
    sens = clean.sensitivities
    out = multicoil_data_consistency(prediction, measured, mask, sens)
    assert out.shape == measured.shape
    sampled = mask.expand_as(out).bool()
    assert torch.equal(out[sampled], measured[sampled])  # bit-exact at every acquired sample, every coil
    torch.testing.assert_close(out[~sampled], sens_expand(prediction, sens)[~sampled], rtol=0, atol=1e-12)
    # the same through the k-space entry point
    in_k = multicoil_data_consistency(sens_expand(prediction, sens), measured, mask, None, pred_domain="kspace")
    assert torch.equal(in_k, out)
    # the exact image is a fixed point; the image output is the SENSE combination
    fixed = multicoil_data_consistency(clean.image, measured, mask, sens, output="image")
    torch.testing.assert_close(fixed[0], clean.image, rtol=0, atol=1e-12)
    # soft: lambda = 0 keeps the prediction, otherwise the single-coil blend of every coil
    soft = multicoil_data_consistency(prediction, measured, mask, sens, noise_lambda=0.0)
    torch.testing.assert_close(soft, sens_expand(prediction, sens), rtol=0, atol=0)
    soft = multicoil_data_consistency(prediction, measured, mask, sens, noise_lambda=3.0)
    torch.testing.assert_close(soft, data_consistency(sens_expand(prediction, sens), measured, mask, 3.0))
    with pytest.raises(ValueError, match="sens is required"):
        multicoil_data_consistency(prediction, measured, mask, None)
    with pytest.raises(ValueError):
        multicoil_data_consistency(prediction, measured, mask, sens, output="magnitude")


# ----------------------------------------------------------------------------- estimation


def test_calibration_region_detection():
    shape = (8, 193, 229)
    result = RandomMask(4, 0.08)(shape, seed=1)
    rows, cols = calibration_region(result.mask, shape)
    assert rows == slice(0, 193)
    assert cols.stop - cols.start == result.num_low_frequencies == 18
    assert result.mask[0, cols].all() and not result.mask[0, cols.start - 1] and not result.mask[0, cols.stop]
    equi = EquispacedMask(8, 0.04)(shape, seed=0)
    assert calibration_region(equi.mask, shape)[1].stop - calibration_region(equi.mask, shape)[1].start == 9
    # 2-D mask: a fully sampled rectangle containing the centre block
    mask2d = GaussianMask2D(4, 0.1)(shape, seed=2).mask
    rows, cols = calibration_region(mask2d, shape)
    assert mask2d[rows, cols].all()
    assert rows.stop - rows.start >= 19 and cols.stop - cols.start >= 23 and rows.stop - rows.start < 193
    no_centre = result.mask.clone()
    no_centre[0, 229 // 2] = 0
    with pytest.raises(ValueError, match="No auto-calibration region"):
        calibration_region(no_centre, shape)


def test_lowres_estimate_accuracy_and_acs_sources(clean):
    result = RandomMask(4, 0.08)(clean.kspace.shape, seed=1)
    measured = clean.kspace * result.mask
    est = estimate_sensitivities(measured, result.mask)
    assert est.shape == clean.kspace.shape and est.dtype == clean.kspace.dtype
    assert (rss(est) - 1).abs().max() < 1e-10
    nrmse = _nrmse_in_object(sens_combine(ifft2c(clean.kspace), est), clean.image)
    assert nrmse < LOWRES_NRMSE_MAX, nrmse
    # the same ACS read off the zero-filled k-space or given as the number of centre columns
    torch.testing.assert_close(estimate_sensitivities(measured), est, rtol=0, atol=0)
    torch.testing.assert_close(estimate_sensitivities(measured, num_low_freqs=18), est, rtol=0, atol=0)
    # a centred 2-D block works too
    block = estimate_sensitivities(clean.kspace, num_low_freqs=(24, 24))
    assert _nrmse_in_object(sens_combine(ifft2c(clean.kspace), block), clean.image) < LOWRES_NRMSE_MAX
    # batches: one map set per leading index
    batch = estimate_sensitivities(torch.stack([measured, 2 * measured]), result.mask)
    torch.testing.assert_close(batch[1], est)


def test_espirit_at_least_as_good_as_lowres(brain, clean):
    result = RandomMask(4, 0.08)(clean.kspace.shape, seed=1)
    coil_images = ifft2c(clean.kspace)
    lowres_maps = estimate_sensitivities(clean.kspace * result.mask)
    lowres = _nrmse_in_object(sens_combine(coil_images, lowres_maps), clean.image)
    espirit_maps = estimate_sensitivities(clean.kspace * result.mask, method="espirit")
    espirit = _nrmse_in_object(sens_combine(coil_images, espirit_maps), clean.image)
    assert espirit < LOWRES_NRMSE_MAX and espirit <= lowres + 2e-4, (espirit, lowres)
    # unit-norm maps, the same subspace as the truth (phase aside) inside the object
    obj = brain > 0.05
    assert (rss(espirit_maps)[obj] - 1).abs().max() < 1e-10
    alignment = _inner_per_pixel(espirit_maps, clean.sensitivities)[obj]
    assert 1 - alignment.mean() < 5e-3 and torch.quantile(1 - alignment, 0.99) < 0.1  # measured 1.8e-3, 4.5e-2

    # noisy data (30 dB): both estimates stay close; at 10 dB with the known noise level ESPIRiT wins
    for snr_db, bound in [(30.0, NOISY_NRMSE_MAX), (10.0, None)]:
        noisy = simulate_multicoil(brain, num_coils=8, snr_db=snr_db, seed=0)
        measured = noisy.kspace * result.mask
        low = _nrmse_in_object(sens_combine(coil_images, estimate_sensitivities(measured)), clean.image)
        esp_maps = estimate_sensitivities(measured, method="espirit", noise_std=noisy.noise_std)
        esp = _nrmse_in_object(sens_combine(coil_images, esp_maps), clean.image)
        if bound is not None:
            assert low < bound and esp < bound, (low, esp)
        else:
            assert esp < low, (esp, low)


def _inner_per_pixel(a, b):
    return (a.conj() * b).sum(dim=-3).abs()


def test_estimate_errors(clean):
    with pytest.raises(TypeError):
        estimate_sensitivities(clean.kspace.abs())
    with pytest.raises(ValueError, match=r"\[\.\.\., C, H, W\]"):
        estimate_sensitivities(clean.kspace[0])
    with pytest.raises(ValueError, match="Unknown method"):
        estimate_sensitivities(clean.kspace, method="walsh")
    with pytest.raises(ValueError, match="No auto-calibration region"):
        mask = torch.ones(1, clean.kspace.shape[-1])
        mask[0, clean.kspace.shape[-1] // 2] = 0
        estimate_sensitivities(clean.kspace * mask, mask)
    with pytest.raises(ValueError, match="num_low_freqs"):
        estimate_sensitivities(clean.kspace, num_low_freqs=(0, 5))
    with pytest.raises(ValueError, match="kernel_size"):
        estimate_sensitivities(clean.kspace, num_low_freqs=4, method="espirit")
    with pytest.raises(ValueError, match="noise_std"):
        estimate_sensitivities(clean.kspace, num_low_freqs=18, method="espirit", noise_std=torch.ones(3))
