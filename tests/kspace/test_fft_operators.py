import fastmri
import pytest
import torch

from monai_mcrecon.kspace.fft import (
    channels_to_complex,
    complex_to_channels,
    complex_to_real_last,
    fft2c,
    ifft2c,
    real_last_to_complex,
)
from monai_mcrecon.kspace.operators import (
    adjoint_operator,
    data_consistency,
    data_consistency_image,
    forward_operator,
    kspace_truncate,
    kspace_zero_pad,
    truncate_image,
    truncation_mask,
    undersample_image,
)


def _rand_complex(*shape, seed=0, dtype=torch.complex128):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 1, 33, 47)])
def test_fft2c_matches_fastmri(shape):
    x = _rand_complex(*shape)
    ours = fft2c(x)
    ref = real_last_to_complex(fastmri.fft2c(complex_to_real_last(x)))
    assert torch.allclose(ours, ref, atol=1e-12)
    assert torch.allclose(ifft2c(ours), x, atol=1e-12)
    ref_inv = real_last_to_complex(fastmri.ifft2c(complex_to_real_last(ours)))
    assert torch.allclose(ifft2c(ours), ref_inv, atol=1e-12)


def test_fft2c_is_unitary():
    x = _rand_complex(3, 20, 31)
    assert torch.allclose(fft2c(x).abs().pow(2).sum(), x.abs().pow(2).sum(), rtol=1e-12)


def test_dc_is_at_centre():
    x = torch.ones(1, 10, 9)
    k = fft2c(x)
    assert abs(k[0, 5, 4].real.item() - 90**0.5) < 1e-5
    assert k.abs().sum().item() == pytest.approx(90**0.5, rel=1e-5)


def test_release_convention_is_unnormalised():
    x = torch.rand(8, 8, dtype=torch.float64)
    k = fft2c(x, convention="release")
    assert torch.allclose(k, torch.fft.fftshift(torch.fft.fft2(x)))
    assert torch.allclose(ifft2c(k, convention="release"), x, atol=1e-12)


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="convention"):
        fft2c(torch.rand(4, 4), convention="numpy")


def test_channel_layout_round_trip():
    x = _rand_complex(2, 3, 5, 6)
    ch = complex_to_channels(x)
    assert ch.shape == (2, 6, 5, 6)
    assert torch.equal(ch[:, 2], x[:, 1].real) and torch.equal(ch[:, 3], x[:, 1].imag)
    assert torch.equal(channels_to_complex(ch), x)


def test_adjoint_is_exact():
    x = _rand_complex(2, 1, 24, 19, seed=1)
    y = _rand_complex(2, 1, 24, 19, seed=2)
    mask = (torch.rand(1, 19, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    lhs = torch.vdot(forward_operator(x, mask).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), adjoint_operator(y, mask).flatten())
    assert abs(lhs - rhs) / abs(lhs) < 1e-12


@pytest.mark.parametrize("h,w", [(16, 16), (15, 21)])
def test_real_irfft_equals_real_ifft_of_symmetrised_mask(h, w):
    """The release degradation equals real(ifft2(M_sym * F x)), M_sym mirrored from the W >= 0 half."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(h, w, generator=g, dtype=torch.float64)
    mask_c = (torch.rand(w, generator=g) > 0.6).double()  # centred column mask
    _, degraded = undersample_image(x, mask_c[None], output="real_irfft")
    # uncentred mask m[j] for frequency index j (0..W-1), then mirror the non-negative half
    m = torch.fft.ifftshift(mask_c)
    m_sym = m.clone()
    for j in range(1, w):
        if j > w // 2:
            m_sym[j] = m[(w - j) % w]
    ref = torch.fft.ifft2(torch.fft.fft2(x) * m_sym[None]).real
    assert torch.allclose(degraded, ref, atol=1e-12)
    assert not degraded.is_complex()


def test_magnitude_zero_filled_with_full_mask_is_identity():
    x = torch.rand(1, 12, 14, dtype=torch.float64)
    k, zf = undersample_image(x, torch.ones(1, 14, dtype=torch.float64))
    assert torch.allclose(zf, x, atol=1e-12)
    assert torch.allclose(k, fft2c(x))


def test_truncation_keeps_centred_block():
    m = truncation_mask((10, 12), 2)
    assert m.sum() == 5 * 6
    assert m[5, 6] == 1 and m[0, 0] == 0
    rows = torch.nonzero(m.sum(1)).flatten()
    assert rows.tolist() == [3, 4, 5, 6, 7]


def test_lr_truncation_and_zero_pad_are_inverse_on_kept_samples():
    x = torch.rand(1, 16, 20, dtype=torch.float64)
    k = fft2c(x)
    lr = kspace_truncate(k, 2, grid="lr")
    assert lr.shape == (1, 8, 10)
    back = kspace_zero_pad(lr, (16, 20))
    assert torch.allclose(back, kspace_truncate(k, 2, grid="hr"), atol=1e-12)


def test_lr_truncation_preserves_intensity_of_constant_image():
    x = torch.full((1, 16, 20), 3.0, dtype=torch.float64)
    _, lr_img = truncate_image(x, 2, grid="lr")
    assert lr_img.shape == (1, 8, 10)
    assert torch.allclose(lr_img, torch.full_like(lr_img, 3.0), atol=1e-12)
    _, hr_img = truncate_image(x, 4, grid="hr")
    assert hr_img.shape == x.shape and torch.allclose(hr_img, x, atol=1e-12)


def test_hard_data_consistency_restores_measured_samples():
    pred = _rand_complex(1, 8, 8, seed=4)
    meas = _rand_complex(1, 8, 8, seed=5)
    mask = torch.zeros(1, 8, dtype=torch.float64)
    mask[0, [1, 4]] = 1
    out = data_consistency(pred, meas, mask)
    assert torch.equal(out[..., [1, 4]], meas[..., [1, 4]])
    assert torch.equal(out[..., [0, 2, 3]], pred[..., [0, 2, 3]])


def test_soft_data_consistency_limits():
    pred = _rand_complex(1, 8, 8, seed=6)
    meas = _rand_complex(1, 8, 8, seed=7)
    mask = torch.ones(1, 8, dtype=torch.float64)
    assert torch.allclose(data_consistency(pred, meas, mask, noise_lambda=0.0), pred)
    assert torch.allclose(data_consistency(pred, meas, mask, noise_lambda=1e12), meas, atol=1e-9)
    assert torch.allclose(data_consistency(pred, meas, mask, noise_lambda=1.0), (pred + meas) / 2)


def test_data_consistency_image_on_truth_is_identity():
    x = torch.rand(1, 12, 12, dtype=torch.float64)
    mask = torch.zeros(1, 12, dtype=torch.float64)
    mask[0, 3:9] = 1
    k, _ = undersample_image(x, mask)
    out = data_consistency_image(x, k, mask)
    assert torch.allclose(out.real, x, atol=1e-12) and out.imag.abs().max() < 1e-12


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="output"):
        undersample_image(torch.rand(4, 4), torch.ones(1, 4), output="phase")
    with pytest.raises(ValueError, match="scale"):
        truncation_mask((8, 8), 0.5)
    with pytest.raises(ValueError, match="smaller grid"):
        kspace_zero_pad(torch.zeros(1, 8, 8, dtype=torch.complex64), (4, 4))


def test_fft2c_matches_monai_reconstruction_layout():
    """Where we meet monai.apps.reconstruction: its centred FFT on the (..., 2) layout equals ours."""
    from monai.networks.blocks.fft_utils_t import fftn_centered_t, ifftn_centered_t

    x = _rand_complex(1, 2, 12, 17, seed=8)
    k_monai = fftn_centered_t(complex_to_real_last(x), spatial_dims=2, is_complex=True)
    assert torch.allclose(real_last_to_complex(k_monai), fft2c(x), atol=1e-12)
    back = ifftn_centered_t(k_monai, spatial_dims=2, is_complex=True)
    assert torch.allclose(real_last_to_complex(back), x, atol=1e-12)


@pytest.mark.parametrize("output", ["complex", "real_irfft"])
def test_infer_sampling_mask_recovers_the_mask_of_a_zero_filled_image(output):
    from monai_mcrecon.kspace import create_mask_func, infer_sampling_mask, undersample_image

    image = torch.rand(3, 1, 32, 40, generator=torch.Generator().manual_seed(0))
    mask = create_mask_func("random", 4, center_fraction=0.08)((32, 40), seed=1).mask
    _, zero_filled = undersample_image(image, mask, output=output)
    inferred = infer_sampling_mask(fft2c(zero_filled))
    assert inferred.shape == (3, 1, 32, 40)
    columns = inferred.amax(dim=(0, 1, 2))
    if output == "complex":
        torch.testing.assert_close(columns, mask.reshape(-1).float())
    else:  # release convention: the half spectrum mirrored, a conjugate-symmetric mask
        assert torch.equal(columns[1:], columns[1:].flip(0))
        assert 0.15 < columns.mean() < 0.35
    # every row of a column mask is the same
    assert torch.equal(inferred, inferred[..., :1, :].expand_as(inferred))
    # a dense k-space (a zero-filled magnitude) is read as almost fully acquired
    dense = infer_sampling_mask(fft2c(undersample_image(image, mask, output="magnitude")[1]))
    assert dense.mean() > 0.9
