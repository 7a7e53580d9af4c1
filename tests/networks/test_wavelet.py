"""The package's one Haar DWT/IDWT: exact inverse, orthonormal, fixed filters, the documented bands."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.networks.blocks.wavelet import (
    HaarDWT,
    HaarIDWT,
    haar_dwt,
    haar_idwt,
    pack_bands,
    unpack_bands,
)


def _x(dtype=torch.float32, shape=(2, 3, 16, 12)):
    g = torch.Generator().manual_seed(0)
    return torch.randn(*shape, generator=g, dtype=dtype)


def test_perfect_reconstruction_float32_below_1e6():
    x = _x()
    low, high = HaarDWT()(x)
    assert low.shape == (2, 3, 8, 6) and high.shape == (2, 3, 3, 8, 6)
    assert (HaarIDWT()(low, high) - x).abs().max().item() < 1e-6


def test_perfect_reconstruction_float64_to_machine_precision():
    x = _x(torch.float64)
    assert (haar_idwt(*haar_dwt(x)) - x).abs().max().item() < 1e-14


def test_energy_is_preserved():
    x = _x(torch.float64)
    low, high = haar_dwt(x)
    assert (low.square().sum() + high.square().sum()).item() == pytest.approx(x.square().sum().item(), rel=1e-12)


def test_modules_have_zero_parameters_and_keep_filters_in_buffers():
    for m in (HaarDWT(), HaarIDWT()):
        assert sum(p.numel() for p in m.parameters()) == 0
        assert dict(m.named_buffers())["filters"].shape == (4, 1, 2, 2)
        assert m.state_dict() == {}  # non-persistent: nothing to load or save


def test_bands_of_one_2x2_block_follow_the_documented_convention():
    # block a b / c d = 1 2 / 3 4
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    low, high = haar_dwt(x)
    a, b, c, d = 1.0, 2.0, 3.0, 4.0
    assert low.item() == pytest.approx((a + b + c + d) / 2)
    assert high.flatten().tolist() == pytest.approx([(a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2])


def test_constant_image_has_no_high_bands():
    low, high = haar_dwt(torch.full((1, 2, 4, 4), 3.0))
    assert high.abs().max().item() == 0.0
    assert torch.allclose(low, torch.full_like(low, 6.0))


def test_consistent_unpack_inverts_pack():
    x = _x()
    low, high = haar_dwt(x)
    packed = pack_bands(low, high)
    assert packed.shape == (2, 12, 8, 6)
    # band-major: [H1 | H2 | H3 | LL]
    assert torch.equal(packed[:, 9:], low) and torch.equal(packed[:, :3], high[:, :, 0])
    l2, h2 = unpack_bands(packed, "consistent")
    assert torch.equal(l2, low) and torch.equal(h2, high)
    assert (haar_idwt(*unpack_bands(pack_bands(*haar_dwt(x)), "consistent")) - x).abs().max().item() < 1e-6


def test_release_unpack_reads_groups_of_four():
    t = torch.arange(8.0).reshape(1, 8, 1, 1)  # two features, four bands each
    low, high = unpack_bands(t, "release")
    assert low.flatten().tolist() == [0.0, 4.0]
    assert high.flatten().tolist() == [1.0, 2.0, 3.0, 5.0, 6.0, 7.0]
    # it is not the inverse of pack_bands (documented; SPDNet's learned convs absorb it)
    x = _x()
    assert not torch.allclose(haar_idwt(*unpack_bands(pack_bands(*haar_dwt(x)), "release")), x)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="even H and W"):
        haar_dwt(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        haar_dwt(torch.zeros(5, 4))
    with pytest.raises(ValueError, match="band order"):
        unpack_bands(torch.zeros(1, 4, 2, 2), "pywt")
    with pytest.raises(ValueError, match="4C"):
        unpack_bands(torch.zeros(1, 6, 2, 2))


def test_matches_pytorch_wavelets_when_installed():
    pw = pytest.importorskip("pytorch_wavelets")
    x = _x(torch.float64)
    yl, yh = pw.DWTForward(J=1, wave="haar").double()(x)
    low, high = haar_dwt(x)
    assert (yl - low).abs().max().item() < 1e-6 and (yh[0] - high).abs().max().item() < 1e-6
    assert (pw.DWTInverse(wave="haar").double()((low, [high])) - x).abs().max().item() < 1e-6
