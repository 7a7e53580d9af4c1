"""Selective-kernel fusion (docs/models/mstn.md, 'Selective-kernel fusion' and 'Tests')."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.networks.blocks.selective_kernel import SelectiveKernelFusion


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.fixture()
def sk() -> SelectiveKernelFusion:
    torch.manual_seed(0)
    return SelectiveKernelFusion(16).double()


def test_weights_are_a_per_channel_softmax_summing_to_one(sk):
    w = sk.selection_weights(randn(3, 16, 5, 7, seed=1), randn(3, 16, 5, 7, seed=2))
    assert w.shape == (3, 2, 16)
    assert (w > 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(3, 16, dtype=torch.float64), rtol=0, atol=1e-14)
    assert w[:, 0].std() > 1e-3  # the selection varies over channels and samples


def test_equal_inputs_are_returned_unchanged(sk):
    a = randn(2, 16, 6, 6, seed=3)
    torch.testing.assert_close(sk(a, a.clone()), a, rtol=1e-14, atol=1e-14)


def test_matches_the_written_formula(sk):
    a, b = randn(2, 16, 4, 9, seed=4), randn(2, 16, 4, 9, seed=5)
    s = (a + b).mean(dim=(2, 3))
    z = s @ sk.fc.weight.T + sk.fc.bias  # no activation after the squeeze layer (as released)
    l0 = z @ sk.fcs[0].weight.T + sk.fcs[0].bias
    l1 = z @ sk.fcs[1].weight.T + sk.fcs[1].bias
    w0 = torch.exp(l0) / (torch.exp(l0) + torch.exp(l1))
    expected = w0[..., None, None] * a + (1 - w0)[..., None, None] * b
    torch.testing.assert_close(sk(a, b), expected, rtol=1e-12, atol=1e-12)


def test_a_dominant_logit_selects_one_input(sk):
    a, b = randn(1, 16, 3, 3, seed=6), randn(1, 16, 3, 3, seed=7)
    with torch.no_grad():
        sk.fcs[1].bias.fill_(60.0)
    torch.testing.assert_close(sk(a, b), b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("channels", "squeeze", "params"), [(512, 256, 394_496), (16, 64, 3_168), (128, 64, 24_896)])
def test_squeeze_width_and_parameter_count(channels, squeeze, params):
    sk = SelectiveKernelFusion(channels)  # d = max(C / 2, 64) as in MSTN's fusion nodes
    assert sk.squeeze_features == squeeze
    assert sum(p.numel() for p in sk.parameters()) == params == 3 * channels * squeeze + squeeze + 2 * channels


def test_mismatched_inputs_raise(sk):
    with pytest.raises(ValueError, match="same shape"):
        sk(torch.zeros(1, 16, 4, 4), torch.zeros(1, 16, 4, 5))
    with pytest.raises(ValueError, match=r"\[B, 16"):
        sk(torch.zeros(1, 8, 4, 4), torch.zeros(1, 8, 4, 4))
