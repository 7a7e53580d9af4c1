"""The fast forward of MC-CDic and the prepared-filter paths of its dictionary equal the straightforward ones.

Tolerances: relative error below 1e-5 in float32 and 1e-10 in float64, on random weights (every
parameter redrawn, so preconditioners and decoders differ from the dictionaries as after training).
Errors of network outputs are taken relative to what the network adds to its input
(``||fast - ref|| / ||ref - input||``), since the global residual would otherwise hide them.
"""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.networks.blocks import MultiScaleDictionary
from monai_mcrecon.networks.nets import MCCDic

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _randomise(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) / fan_in**0.5)


def _rel(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor) -> float:
    return float((a - b).norm() / scale.norm())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("widths, n_out, kernel_size", [((8, 6, 4), 5, 3), ((6, 4), 3, 5), ((5,), 4, 3)])
@pytest.mark.parametrize("size", [(32, 32), (33, 47), (17, 9)])
def test_prepared_filters_reproduce_synthesis_and_adjoint(dtype, widths, n_out, kernel_size, size):
    torch.manual_seed(0)
    d = MultiScaleDictionary(widths, n_out, kernel_size).to(dtype)
    codes = [torch.randn((2, *s), dtype=dtype) for s in d.code_shapes(*size)]
    v = torch.randn((2, n_out, *size), dtype=dtype)
    reference = d(codes)
    for fold_out in (True, False):
        assert _rel(d(codes, d.synthesis_filters(fold_out)), reference, reference) < TOL[dtype]
    # channels-last maps take the conv_transpose2d branch of the up-sampler
    cl_codes = [c.contiguous(memory_format=torch.channels_last) for c in codes]
    assert _rel(d(cl_codes, d.synthesis_filters()), reference, reference) < TOL[dtype]
    for ours, ref in zip(d.adjoint(v, d.analysis_filters()), d.adjoint(v)):
        assert ours.shape == ref.shape
        assert _rel(ours, ref, ref) < TOL[dtype]


def test_prepared_filters_are_differentiable_like_the_weights():
    torch.manual_seed(1)
    d = MultiScaleDictionary((6, 4, 4), 3).double()
    codes = [torch.randn((1, *s), dtype=torch.float64) for s in d.code_shapes(20, 20)]
    v = torch.randn(1, 3, 20, 20, dtype=torch.float64)

    def grads(fast: bool):
        d.zero_grad()
        out = d(codes, d.synthesis_filters()) if fast else d(codes)
        adj = d.adjoint(v, d.analysis_filters()) if fast else d.adjoint(v)
        ((out * v).sum() + sum((a * a).sum() for a in adj)).backward()
        return [p.grad.clone() for p in d.parameters()]

    for ours, ref in zip(grads(True), grads(False)):
        torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def pair():
    """Two copies of a small-width MC-CDic with random weights: straightforward and fast."""
    torch.manual_seed(0)
    ref = MCCDic(widths=(12, 8, 8), features=8, num_steps=3, rcabs_per_scale=(1, 1, 2), power_iterations=2, fast=False)
    _randomise(ref, seed=3)
    fast = MCCDic(widths=(12, 8, 8), features=8, num_steps=3, rcabs_per_scale=(1, 1, 2), power_iterations=2, fast=True)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("training", [True, False])
def test_fast_forward_equals_the_straightforward_forward(pair, dtype, training):
    ref, fast = (m.to(dtype).train(training) for m in pair)
    x = torch.rand(2, 2, 40, 36, dtype=dtype, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected, got = ref(x), fast(x)
    assert got.shape == expected.shape == (2, 2 if training else 1, 40, 36)
    added = expected - x[:, : expected.shape[1]]
    assert added.norm() > 0.1 * x.norm()  # the network changes its input: the comparison is not vacuous
    assert _rel(got, expected, added) < TOL[dtype]


def test_fast_forward_handles_sizes_that_need_padding(pair):
    ref, fast = (m.float().eval() for m in pair)
    x = torch.rand(1, 2, 30, 27, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        expected, got = ref(x), fast(x)
    assert got.shape == (1, 1, 30, 27)
    assert _rel(got, expected, expected - x[:, :1]) < TOL[torch.float32]


def test_fast_forward_gives_the_same_gradients(pair):
    ref, fast = (m.double().train() for m in pair)
    x = torch.rand(1, 2, 24, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(7))

    def grads(net):
        net.zero_grad()
        net(x).square().mean().backward()
        return {n: p.grad.clone() for n, p in net.named_parameters()}

    g_ref, g_fast = grads(ref), grads(fast)
    assert g_ref.keys() == g_fast.keys()
    for name in g_ref:
        scale = g_ref[name].norm().clamp_min(1e-30)
        assert float((g_fast[name] - g_ref[name]).norm() / scale) < 1e-9, name


def test_fast_flag_changes_neither_state_dict_nor_parameter_count():
    torch.manual_seed(0)
    a = MCCDic.from_preset("tiny", power_iterations=1, fast=False)
    b = MCCDic.from_preset("tiny", power_iterations=1)
    assert b.fast and not a.fast
    assert list(a.state_dict()) == list(b.state_dict())
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]


def test_feature_modules_see_the_same_features_in_the_fast_path(pair):
    # forward hooks on the stage modules (UniKD's FeatureHooks) fire in both paths with equal outputs
    ref, fast = (m.float().train() for m in pair)
    names = ["compress_z", "fuse_x", "decoder_z", "decoder_x", "prox_x.2", "head_x"]
    x = torch.rand(1, 2, 32, 32, generator=torch.Generator().manual_seed(8))
    seen: dict[str, list[torch.Tensor]] = {}
    for tag, net in (("ref", ref), ("fast", fast)):
        handles = [
            net.get_submodule(n).register_forward_hook(
                lambda m, i, o, key=f"{tag}:{n}": seen.setdefault(key, []).append(o.detach())
            )
            for n in names
        ]
        with torch.no_grad():
            net(x)
        for h in handles:
            h.remove()
    for n in names:
        assert len(seen[f"ref:{n}"]) == len(seen[f"fast:{n}"]) > 0, n
        for a, b in zip(seen[f"ref:{n}"], seen[f"fast:{n}"]):
            assert _rel(b, a, a) < 1e-4, n
