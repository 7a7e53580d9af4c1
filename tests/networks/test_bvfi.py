"""BVFI (reconstructed from the abstract): shapes, time conditioning, order handling, recurrence
direction, the Taylor sum, the deformable-conv integration and trainability (docs/models/bvfi.md, 'Tests')."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.losses.bvfi import BVFILoss, charbonnier_loss
from monai_mcrecon.networks.blocks.deform import ModulatedDeformConv
from monai_mcrecon.networks.nets.bvfi import (
    BVFI,
    BiRecurrentAlign,
    TaylorDeblur,
    TemporalDeformableInterp,
    normalize_times,
)

T3 = [[0.25, 0.5, 0.75]]


def _inputs(seed: int = 0, b: int = 1, h: int = 32, w: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 4, 3, h, w, generator=g)


def _randomise_zero_inits(net: torch.nn.Module, seed: int = 1, scale: float = 0.3) -> None:
    """Give the zero-initialised convs (DCN offset/mask convs, G's last conv) random weights, so that every
    path of the network (learned offsets, the Taylor terms) is active in the test."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, ModulatedDeformConv):
                m.conv_offset.weight.copy_(torch.randn(m.conv_offset.weight.shape, generator=g) * scale)
                m.conv_offset.bias.copy_(torch.randn(m.conv_offset.bias.shape, generator=g) * scale)
            if isinstance(m, TaylorDeblur):
                last = m.derivative[-1]
                last.weight.copy_(torch.randn(last.weight.shape, generator=g) * 0.05)


@pytest.fixture()
def net() -> BVFI:
    torch.manual_seed(0)
    return BVFI.from_preset("tiny")


@pytest.mark.parametrize("times, ell", [(0.5, 1), ([[0.5]], 1), (T3, 3)])
def test_shapes_of_every_output(net, times, ell):
    out = net.train()(_inputs(), times)
    assert set(out) == {"out", "coarse", "x0", "taylor_terms"}
    for key in ("out", "coarse", "x0"):
        assert out[key].shape == (1, ell, 3, 32, 32)
    assert len(out["taylor_terms"]) == 2 and all(g.shape == (1, ell, 3, 32, 32) for g in out["taylor_terms"])


def test_eval_returns_the_frames_in_the_input_layout(net):
    x = _inputs(b=2)
    net.eval()
    with torch.no_grad():
        five = net(x, T3[0])  # a list of L times is shared by the batch
        stacked = net(x.flatten(1, 2), torch.tensor(T3 * 2))
        full = BVFI.from_preset("tiny", return_all_outputs=True).eval()
        full.load_state_dict(net.state_dict())
        as_dict = full(x, T3[0])
    assert five.shape == (2, 3, 3, 32, 32)
    assert stacked.shape == (2, 9, 32, 32)  # channel-stacked in, channel-stacked out (verify_net_in_out)
    torch.testing.assert_close(stacked, five.flatten(1, 2))
    torch.testing.assert_close(as_dict["out"], five)


def test_every_stage_runs_alone():
    torch.manual_seed(0)
    x, t = _inputs(), torch.tensor(T3)
    s1 = TemporalDeformableInterp(features=8, deformable_groups=2, encoder_blocks=1)(x, t)
    assert s1.features.shape == (1, 3, 8, 32, 32) and s1.coarse.shape == (1, 3, 3, 32, 32)
    assert s1.frame_features.shape == (1, 4, 8, 32, 32)
    s2 = BiRecurrentAlign(features=8, deformable_groups=2, num_blocks=1)(s1.features, s1.frame_features[:, 1],
                                                                          s1.frame_features[:, 2])
    assert s2.features.shape == s2.forward_states.shape == s2.backward_states.shape == (1, 3, 8, 32, 32)
    s3 = TaylorDeblur(features=8, transformer_width=8, transformer_blocks=1, transformer_heads=1,
                      derivative_features=8)(s2.features[0], s1.coarse[0])
    assert s3.out.shape == s3.x0.shape == (3, 3, 32, 32) and len(s3.taylor_terms) == 2


def test_coarse_frame_starts_as_the_linear_blend_of_the_key_frames(net):
    # with to_rgb zeroed the stage-1 frame is exactly (1 - t) B_0 + t B_1 (B_0 = input 1, B_1 = input 2)
    torch.nn.init.zeros_(net.interp.to_rgb[0].weight)
    torch.nn.init.zeros_(net.interp.to_rgb[0].bias)
    x = _inputs()
    out = net.train()(x, T3)
    for i, t in enumerate(T3[0]):
        torch.testing.assert_close(out["coarse"][0, i], (1 - t) * x[0, 1] + t * x[0, 2])


def test_time_reaches_the_result(net):
    _randomise_zero_inits(net)
    x = _inputs()
    t = torch.tensor([[0.3, 0.6]], requires_grad=True)
    net.train()(x, t)["out"].sum().backward()
    assert t.grad is not None and bool((t.grad.abs() > 1e-6).all())
    # with B_0 == B_1 the explicit blend does not depend on t: the gradient must come through the time map
    x2 = x.clone()
    x2[:, 2] = x2[:, 1]
    t2 = torch.tensor([[0.3, 0.6]], requires_grad=True)
    net(x2, t2)["out"].sum().backward()
    assert bool((t2.grad.abs() > 1e-6).all())


def test_permuting_the_times_permutes_the_outputs(net):
    _randomise_zero_inits(net)
    net.eval()
    x = _inputs(b=2)
    times = torch.tensor([[0.25, 0.5, 0.75], [0.2, 0.4, 0.9]])
    perms = torch.tensor([[2, 0, 1], [1, 2, 0]])
    with torch.no_grad():
        ref = net(x, times)
        out = net(x, torch.gather(times, 1, perms))
    for b in range(2):
        torch.testing.assert_close(out[b], ref[b, perms[b]], rtol=1e-5, atol=1e-6)
    # the recurrence makes the targets interact: a target's frame changes when another target is added
    with torch.no_grad():
        alone = net(x, times[:, :1])
    assert (alone[:, 0] - ref[:, 0]).abs().max() > 1e-4


def test_recurrence_directions():
    torch.manual_seed(0)
    align = BiRecurrentAlign(features=8, deformable_groups=2, num_blocks=1)
    _randomise_zero_inits(align)
    ell = 4
    xs = [torch.randn(1, 8, 12, 12, requires_grad=True) for _ in range(ell)]
    f0, f1 = torch.randn(1, 8, 12, 12), torch.randn(1, 8, 12, 12)
    res = align(torch.stack(xs, 1), f0, f1)
    for l in range(ell):
        gf = torch.autograd.grad(res.forward_states[:, l].sum(), xs, retain_graph=True, allow_unused=True)
        gb = torch.autograd.grad(res.backward_states[:, l].sum(), xs, retain_graph=True, allow_unused=True)
        for m in range(ell):
            nf = 0.0 if gf[m] is None else float(gf[m].abs().max())
            nb = 0.0 if gb[m] is None else float(gb[m].abs().max())
            assert (nf > 0) == (m <= l), f"forward state {l} vs X_{m}: {nf}"
            assert (nb > 0) == (m >= l), f"backward state {l} vs X_{m}: {nb}"


def test_taylor_sum_at_initialisation_and_with_a_constant_derivative():
    torch.manual_seed(0)
    deblur = TaylorDeblur(features=8, transformer_width=8, transformer_blocks=1, transformer_heads=1,
                          derivative_features=8, taylor_order=2)
    y, j = torch.randn(2, 8, 16, 16), torch.rand(2, 3, 16, 16)
    res = deblur(y, j)
    assert torch.equal(res.out, res.x0)  # G's last conv is zero: x_hat == x0 exactly
    c = 0.37

    class ConstantStub(torch.nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.full((z.shape[0], 3, *z.shape[-2:]), c)

    deblur.derivative = ConstantStub()
    res = deblur(y, j)
    torch.testing.assert_close(res.out, res.x0 + 1.5 * c)
    deblur.taylor_order = 3
    torch.testing.assert_close(deblur(y, j).out, res.x0 + c * (1 + 1 / 2 + 1 / 6))
    assert all(torch.equal(g, torch.full_like(g, c)) for g in res.taylor_terms)


def test_derivative_network_is_shared_across_orders():
    counts = []
    for k in (1, 2, 5):
        m = TaylorDeblur(features=8, transformer_width=8, transformer_blocks=1, transformer_heads=1,
                         derivative_features=8, taylor_order=k)
        counts.append((sum(p.numel() for p in m.derivative.parameters()), sum(p.numel() for p in m.parameters())))
    assert len(set(counts)) == 1


def test_deformable_convs_are_the_shared_wrapper_and_start_as_half_plain_convs(net):
    dcns = [m for m in net.modules() if isinstance(m, ModulatedDeformConv)]
    assert len(dcns) == 4 + 2  # one per input frame (stage 1), one per direction (stage 2)
    x = torch.randn(1, 8, 10, 10)
    for d in dcns:
        ref = 0.5 * F.conv2d(x, d.weight, None, padding=1) + d.bias.view(1, -1, 1, 1)
        torch.testing.assert_close(d(x, torch.randn(1, d.conv_offset.in_channels, 10, 10)), ref, rtol=1e-5, atol=1e-5)


def test_gradient_reaches_every_stage_and_training_reduces_the_loss():
    torch.manual_seed(0)
    net = BVFI.from_preset("tiny").train()
    x = _inputs()
    target = torch.full((1, 3, 3, 32, 32), 0.5)
    loss_fn = BVFILoss()
    terms = loss_fn(net(x, T3), target)
    assert set(terms) == {"loss", "charb_out", "charb_coarse", "charb_x0"} and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    for stage in (net.interp, net.align, net.deblur):
        grads = [p.grad.abs().sum() for p in stage.parameters() if p.grad is not None]
        assert grads and float(sum(grads)) > 0, type(stage).__name__
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(net(x, T3), target)["loss"]
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.85 * losses[0]


def test_feature_stride_pads_odd_sizes_and_crops_back():
    torch.manual_seed(0)
    net = BVFI.from_preset("tiny", feature_stride=4).eval()
    x = _inputs(h=30, w=37)
    with torch.no_grad():
        out = net(x, [0.5])
    assert out.shape == (1, 1, 3, 30, 37)
    # at initialisation the stride-4 network is still the linear blend plus learned residuals: finite, near [0, 1]
    assert torch.isfinite(out).all() and float(out.abs().max()) < 5


def test_presets_and_parameter_counts():
    counts = {p: sum(q.numel() for q in BVFI.from_preset(p).parameters()) for p in ("tiny", "small", "default")}
    assert counts == {"tiny": 39_884, "small": 388_612, "default": 669_493}
    assert BVFI.from_preset("small").feature_stride == 4 and BVFI.from_preset("default").feature_stride == 1
    with pytest.raises(ValueError, match="Unknown preset"):
        BVFI.from_preset("huge")


def test_bad_inputs_are_named(net):
    with pytest.raises(ValueError, match=r"\[B, 4, 3, H, W\] or channel-stacked \[B, 12, H, W\]"):
        net(torch.rand(1, 3, 3, 16, 16), 0.5)
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        net(_inputs(), [0.5, 1.5])
    with pytest.raises(ValueError, match="B = 1"):
        net(_inputs(), torch.rand(2, 3))
    with pytest.raises(ValueError, match="must divide features"):
        BVFI(features=10, deformable_groups=4)


def test_normalize_times_accepts_scalars_lists_and_batches():
    assert normalize_times(0.5, 2).tolist() == [[0.5], [0.5]]
    assert normalize_times([0.25, 0.75], 2).shape == (2, 2)
    t = torch.rand(3, 4)
    assert torch.equal(normalize_times(t, 3), t)


def test_charbonnier_matches_its_formula():
    x, y = torch.randn(2, 3, 5, 5, dtype=torch.float64), torch.randn(2, 3, 5, 5, dtype=torch.float64)
    assert float(charbonnier_loss(x, y)) == pytest.approx(float(torch.sqrt((x - y) ** 2 + 1e-6).mean()), rel=1e-12)
    assert float(charbonnier_loss(x, x)) == pytest.approx(math.sqrt(1e-6))
    pred = {"out": x, "coarse": y, "x0": x}
    terms = BVFILoss()(pred, y)
    expected = charbonnier_loss(x, y) * 1.5 + 0.5 * charbonnier_loss(y, y)
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-12)
    with pytest.raises(KeyError, match="output dict"):
        BVFILoss()(x, y)
