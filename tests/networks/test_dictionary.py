"""MultiScaleDictionary: exact adjoint, power iteration, parameter counts.

See docs/models/mc_cdic.md, 'Architecture' and 'Tests'.
"""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.networks.blocks import MultiScaleDictionary, power_iteration

CONFIGS = [((8, 8, 8), 8), ((12, 10, 6), 2), ((16, 12, 8), 5), ((6, 4), 3), ((5,), 4)]
SIZES = [(32, 32), (33, 47), (17, 9), (5, 7), (250, 13)]


def _random_pair(d: MultiScaleDictionary, size: tuple[int, int], dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    codes = [torch.randn((2, *shape), generator=g, dtype=dtype) for shape in d.code_shapes(*size)]
    v = torch.randn((2, d.n_out, *size), generator=g, dtype=dtype)
    return codes, v


def _dot(a, b) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def _norm(a) -> torch.Tensor:
    return torch.sqrt(_dot(a, a))


def _dense_matrix(d: MultiScaleDictionary, size: tuple[int, int]) -> torch.Tensor:
    """The matrix of D (columns = D applied to unit codes), built in float64."""
    shapes = d.code_shapes(*size)
    numels = [c * h * w for c, h, w in shapes]
    eye = torch.eye(sum(numels), dtype=torch.float64)
    codes = [blk.reshape(-1, *shape) for blk, shape in zip(eye.split(numels, dim=1), shapes)]
    return d(codes).reshape(eye.shape[0], -1).T


@pytest.mark.parametrize("widths, n_out", CONFIGS)
@pytest.mark.parametrize("size", SIZES)
def test_adjoint_is_exact_in_float64(widths, n_out, size):
    torch.manual_seed(1)
    d = MultiScaleDictionary(widths, n_out).double()
    codes, v = _random_pair(d, size, torch.float64)
    lhs = (d(codes) * v).sum()
    rhs = _dot(codes, d.adjoint(v))
    assert abs(lhs - rhs) / abs(lhs) < 1e-10


@pytest.mark.parametrize("widths, n_out", CONFIGS)
@pytest.mark.parametrize("size", SIZES)
def test_adjoint_is_exact_in_float32(widths, n_out, size):
    torch.manual_seed(2)
    d = MultiScaleDictionary(widths, n_out)
    codes, v = _random_pair(d, size, torch.float32)
    image = d(codes)
    adjoint = d.adjoint(v)
    lhs = (image * v).sum()
    rhs = _dot(codes, adjoint)
    # relative to the Cauchy-Schwarz bound: random vectors are nearly orthogonal, so <Da, v> itself is small
    assert abs(lhs - rhs) / (image.norm() * v.norm()) < 1e-5
    assert abs(lhs - rhs) / (_norm(codes) * _norm(adjoint)) < 1e-5


@pytest.mark.parametrize("size", [(32, 32), (33, 47)])
def test_adjoint_equals_autograd_transpose(size):
    torch.manual_seed(3)
    d = MultiScaleDictionary((8, 6, 4), 3).double()
    codes, v = _random_pair(d, size, torch.float64)
    codes = [c.requires_grad_() for c in codes]
    grads = torch.autograd.grad((d(codes) * v).sum(), codes)
    for ours, reference in zip(d.adjoint(v), grads):
        assert ours.shape == reference.shape
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)


def test_adjoint_returns_code_shapes_coarse_to_fine():
    d = MultiScaleDictionary((128, 96, 64), 64)
    codes = d.adjoint(torch.zeros(1, 64, 33, 47))
    assert [tuple(c.shape[1:]) for c in codes] == [(128, 8, 11), (96, 16, 23), (64, 33, 47)]
    assert d.code_shapes(33, 47) == [(128, 8, 11), (96, 16, 23), (64, 33, 47)]
    assert d(codes).shape == (1, 64, 33, 47)


def test_forward_rejects_inconsistent_codes():
    d = MultiScaleDictionary((8, 8, 8), 2)
    with pytest.raises(ValueError, match="code_shapes"):
        d([torch.zeros(1, 8, 8, 8), torch.zeros(1, 8, 16, 16), torch.zeros(1, 8, 40, 40)])
    with pytest.raises(ValueError, match="Expected 3 codes"):
        d([torch.zeros(1, 8, 8, 8)])
    with pytest.raises(ValueError, match=r"\[B, 2, H, W\]"):
        d.adjoint(torch.zeros(1, 3, 8, 8))


def test_parameter_count_of_paper_dictionaries():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(MultiScaleDictionary((128, 96, 64), n_out=64)) == 464_896
    assert count(MultiScaleDictionary((128, 96, 64), n_out=2)) == 460_928
    assert all(not hasattr(m, "bias") or m.bias is None for m in MultiScaleDictionary().modules())


def test_power_iteration_matches_dense_eigenvalue():
    torch.manual_seed(4)
    d = MultiScaleDictionary((4, 3, 2), 2).double()
    size = (8, 8)
    dense = _dense_matrix(d, size)
    # the dense matrix really is D
    codes, _ = _random_pair(d, size, torch.float64)
    flat = torch.cat([c[0].flatten() for c in codes])
    torch.testing.assert_close(dense @ flat, d([c[:1] for c in codes]).flatten())
    largest = torch.linalg.eigvalsh(dense.T @ dense).max()
    estimate = power_iteration(d, size, num_iterations=20, generator=torch.Generator().manual_seed(0))
    assert abs(estimate - largest) / largest < 0.01
    assert estimate <= largest * (1 + 1e-9)  # a Rayleigh quotient never exceeds the top eigenvalue


def test_power_iteration_estimate_grows_with_iterations_in_float32():
    # for a symmetric positive semi-definite D^T D the Rayleigh quotients of power iterates never decrease
    torch.manual_seed(5)
    d = MultiScaleDictionary((8, 8, 8), 8)
    d.reset_parameters()
    estimates = [
        power_iteration(d, (32, 32), n, generator=torch.Generator().manual_seed(0)) for n in (0, 2, 5, 20, 40)
    ]
    assert estimates[-1].dtype == torch.float32 and estimates[-1].ndim == 0
    assert all(b >= a * (1 - 1e-5) for a, b in zip(estimates, estimates[1:]))
    assert estimates[-1] > 1.5 * estimates[0]


def test_global_residual_adds_the_degraded_channel():
    from monai_mcrecon.networks.blocks import GlobalResidual

    net = torch.nn.Conv2d(2, 1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    x = torch.rand(2, 2, 5, 6)
    assert torch.equal(GlobalResidual(net)(x), x[:, :1])
    torch.nn.init.ones_(net.weight)
    assert torch.allclose(GlobalResidual(net)(x), x[:, :1] + x.sum(1, keepdim=True))
    with pytest.raises(ValueError, match="differ"):
        GlobalResidual(torch.nn.Conv2d(2, 2, 1), input_channels=0)(x)
