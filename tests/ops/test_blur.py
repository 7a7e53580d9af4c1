"""Blur operator: true convolution, per-sample kernels, exact adjoint for constant/circular borders."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from monai_mcrecon.ops.blur import blur, blur_adjoint


def _rand(*shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype)


def test_blur_equals_scipy_convolve_with_constant_border():
    x = _rand(1, 1, 20, 23, dtype=torch.float64)
    k = _rand(1, 5, 7, seed=1, dtype=torch.float64)  # asymmetric, so orientation matters
    out = blur(x, k, padding="constant")[0, 0].numpy()
    ref_nd = scipy.ndimage.convolve(x[0, 0].numpy(), k[0].numpy(), mode="constant", cval=0.0)
    ref_sig = scipy.signal.convolve2d(x[0, 0].numpy(), k[0].numpy(), mode="same", boundary="fill")
    np.testing.assert_allclose(out, ref_nd, atol=1e-12)
    np.testing.assert_allclose(out, ref_sig, atol=1e-12)


@pytest.mark.parametrize("padding,mode", [("reflect", "mirror"), ("replicate", "nearest"), ("circular", "wrap")])
def test_blur_borders_match_scipy(padding, mode):
    x = _rand(1, 1, 16, 18, dtype=torch.float64)
    k = _rand(1, 5, 5, seed=2, dtype=torch.float64)
    out = blur(x, k, padding=padding)[0, 0].numpy()
    ref = scipy.ndimage.convolve(x[0, 0].numpy(), k[0].numpy(), mode=mode)
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_per_sample_kernels_and_shared_channels():
    x = _rand(2, 3, 12, 12, dtype=torch.float64)
    k = _rand(2, 1, 3, 5, seed=3, dtype=torch.float64)
    out = blur(x, k, padding="constant")
    assert out.shape == x.shape
    for b in range(2):
        for c in range(3):
            ref = scipy.ndimage.convolve(x[b, c].numpy(), k[b, 0].numpy(), mode="constant")
            np.testing.assert_allclose(out[b, c].numpy(), ref, atol=1e-12)


def test_delta_kernel_is_identity():
    x = _rand(2, 3, 10, 11)
    k = torch.zeros(1, 7, 7)
    k[0, 3, 3] = 1.0
    for padding in ("reflect", "replicate", "constant", "circular"):
        assert torch.equal(blur(x, k, padding=padding), x)
        assert torch.equal(blur_adjoint(x, k, padding=padding), x)


def test_shifted_delta_shifts_image_like_a_convolution():
    x = _rand(1, 1, 8, 8)
    k = torch.zeros(1, 3, 3)
    k[0, 2, 1] = 1.0  # convolution with delta at +1 row moves content down by 1
    out = blur(x, k, padding="circular")
    assert torch.equal(out, torch.roll(x, shifts=1, dims=-2))


@pytest.mark.parametrize("padding", ["constant", "circular"])
def test_adjoint_is_exact(padding):
    x = _rand(3, 2, 17, 19, seed=4, dtype=torch.float64)
    y = _rand(3, 2, 17, 19, seed=5, dtype=torch.float64)
    k = _rand(3, 1, 7, 5, seed=6, dtype=torch.float64)
    lhs = (blur(x, k, padding=padding) * y).sum()
    rhs = (x * blur_adjoint(y, k, padding=padding)).sum()
    assert abs(lhs - rhs) / abs(lhs) < 1e-12


def test_normalised_kernel_preserves_sum_with_circular_border():
    x = _rand(2, 3, 16, 16, dtype=torch.float64)
    k = _rand(2, 1, 5, 5, seed=7, dtype=torch.float64)
    k = k / k.sum(dim=(-1, -2), keepdim=True)
    out = blur(x, k, padding="circular")
    torch.testing.assert_close(out.sum(dim=(-1, -2)), x.sum(dim=(-1, -2)), rtol=1e-12, atol=1e-12)
    # constant images stay constant with every border except zeros
    ones = torch.ones(2, 1, 9, 9, dtype=torch.float64)
    for padding in ("reflect", "replicate", "circular"):
        torch.testing.assert_close(blur(ones, k, padding=padding), ones)


def test_gradients_flow_to_image_and_kernel():
    x = _rand(1, 3, 8, 8).requires_grad_()
    k = _rand(1, 1, 3, 3, seed=8).requires_grad_()
    blur(x, k).sum().backward()
    assert x.grad is not None and k.grad is not None and k.grad.abs().sum() > 0


def test_bad_inputs_raise_clear_errors():
    x = _rand(1, 1, 8, 8)
    with pytest.raises(ValueError, match="odd"):
        blur(x, torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="padding"):
        blur(x, torch.ones(1, 3, 3), padding="zeros")
    with pytest.raises(ValueError, match="batch size"):
        blur(_rand(2, 1, 8, 8), torch.ones(3, 1, 3, 3))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        blur(x[0], torch.ones(1, 3, 3))
