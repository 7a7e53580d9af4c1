"""SPDNet (docs/models/spdnet.md, 'Tests'): RCP, shapes, parameter counts, guidance, loss, training."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DeepSupervisionLoss
from torch import nn

from monai_mcrecon.networks.nets.spdnet import (
    Fuse,
    InteractiveFusion,
    ResidualBlock,
    SPDNet,
    SPDNetOutput,
    SqueezeExcitation,
    WaveletMultiLevelModule,
    residue_channel,
)


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _release_loss():
    return DeepSupervisionLoss(nn.MSELoss(), weight_mode="same")


# --- 1. residue channel prior -------------------------------------------------------------------


def test_rcp_is_zero_for_grey_images():
    grey = _rand(2, 1, 8, 8).repeat(1, 3, 1, 1)
    assert residue_channel(grey).abs().max().item() == 0.0


def test_rcp_is_shift_invariant_scale_equivariant_and_nonnegative():
    x = _rand(2, 3, 8, 8).double()
    r = residue_channel(x)
    assert r.shape == (2, 1, 8, 8) and r.min().item() >= 0.0
    torch.testing.assert_close(residue_channel(x + 0.37), r, rtol=0, atol=1e-12)
    torch.testing.assert_close(residue_channel(2.5 * x), 2.5 * r, rtol=0, atol=1e-12)
    # value at one pixel: max - min over channels
    assert r[0, 0, 3, 4].item() == pytest.approx((x[0, :, 3, 4].max() - x[0, :, 3, 4].min()).item())


# --- 3. shapes ----------------------------------------------------------------------------------


def test_three_outputs_with_the_input_shape_in_release_order():
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny")
    outs = net(_rand(2, 3, 32, 32))
    assert isinstance(outs, SPDNetOutput) and outs._fields == ("out3", "out2", "out1")
    assert all(o.shape == (2, 3, 32, 32) for o in outs)
    net.eval()
    with torch.no_grad():
        final = net(_rand(2, 3, 32, 32))
    assert torch.is_tensor(final) and torch.allclose(final, outs.out3.detach(), atol=1e-6)


@pytest.mark.parametrize("hw", [(37, 23), (5, 3), (1, 1), (44, 64)])
def test_any_height_and_width(hw):
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny").eval()
    with torch.no_grad():
        assert net(_rand(1, 3, *hw)).shape == (1, 3, *hw)


def test_padding_does_not_change_a_size_divisible_by_four():
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny").eval()
    x = _rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.forward_release(x).out3)


@pytest.mark.parametrize("h", [8, 16])
def test_fuse_returns_the_skip_shape(h):
    torch.manual_seed(0)
    fuse = Fuse(8)
    u = _rand(2, 8, h // 2, h // 2)
    skip = _rand(2, 8, h, h + 4, seed=1)
    assert fuse.up.conv2d(fuse.up.reflection_pad(u)).shape[-1] == 2 * (h // 2) + 5  # 2h + 5 before the resize
    assert fuse(u, skip).shape == skip.shape


def test_in_and_out_channels_generalise_the_rgb_convs():
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny", in_channels=1, out_channels=1)
    outs = net(_rand(2, 1, 16, 16))
    assert all(o.shape == (2, 1, 16, 16) for o in outs)
    # the RCP extractor keeps the release's 3-channel input (rep3 of the 1-channel prior)
    assert net.res_extra1.conv_init1.conv.in_channels == 3 and net.conv_init1.conv.in_channels == 1


def test_rgb_range_scales_the_input_into_the_release_body():
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny", rgb_range=255.0).eval()
    x = _rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.forward_release(255.0 * x).out3 / 255.0)


def test_consistent_band_order_runs_and_differs_from_release():
    torch.manual_seed(0)
    a = SPDNet.from_preset("tiny").eval()
    b = SPDNet.from_preset("tiny", band_order="consistent").eval()
    b.load_state_dict(a.state_dict())
    x = _rand(1, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))


# --- 5./6. parameter counts --------------------------------------------------------------------


@pytest.mark.parametrize("n", [8, 32])
def test_se_block_has_2n2_parameters_without_biases(n):
    se = SqueezeExcitation(n)
    assert _count(se) == 2 * n * n
    assert all(not isinstance(m, nn.Linear) or m.bias is None for m in se.modules())


@pytest.mark.parametrize("n, expected", [(32, 39_268), (16, None)])
def test_ifm_parameter_formula(n, expected):
    wmlm = WaveletMultiLevelModule(n, 1, 1)
    ifm = _count(wmlm.prior) + _count(wmlm.fuse_res)
    formula = 2 * (9 * n * n + n) + 2 * (36 * n + 2) + (18 * n * n + n)
    assert ifm == formula and _count(InteractiveFusion(n)) == formula - (18 * n * n + n)
    if expected is not None:
        assert ifm == expected


def test_parameter_count_at_paper_used_modules():
    assert _count(SPDNet.from_preset("paper")) == 2_981_525


def test_parameter_count_release_compatible_equals_release_total():
    net = SPDNet.from_preset("paper", release_compatible=True)
    assert _count(net) == 3_318_741
    keys = set(net.state_dict())
    for key in (
        "conv_init1.conv.weight", "conv_init1.ins.weight", "res_extra2.extra.module_body.0.se.fc.0.weight",
        "sub1.prior.query_conv.weight", "sub1.prior.gamma2.bias", "sub1.fuse_res.conv.weight",
        "sub3.branch2_3.module_body.3.weight", "sub2.branch2_1_u.conv2d.weight", "sub2.down3.conv.weight",
        "sub1.branch1_2_d.ins.bias", "sub1.fuse12.conv.conv.weight", "sub3.fuse23.rb.se.fc.2.weight",
        "ag2_en.conv.bias", "output3.weight",
    ):
        assert key in keys, key


def test_release_state_dict_loads_into_the_used_modules():
    full = SPDNet.from_preset("tiny", release_compatible=True)
    used = SPDNet.from_preset("tiny")
    result = used.load_state_dict(full.state_dict(), strict=False)
    assert result.missing_keys == []
    assert len(result.unexpected_keys) > 0
    assert all(".ins." in k or "_u." in k or "_d." in k or ".down" in k or k.endswith(("conv.conv.weight", "conv.conv.bias"))
               for k in result.unexpected_keys)
    x = _rand(1, 3, 16, 16)
    full.eval(), used.eval()
    with torch.no_grad():
        torch.testing.assert_close(full(x), used(x))


# --- 4./8. gradients ---------------------------------------------------------------------------


def test_rcp_guidance_is_differentiable():
    # output1 reaches out2 only through r(out1)
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny")
    outs = net(_rand(2, 3, 16, 16))
    ((outs.out2 - 0.5) ** 2).mean().backward()
    assert net.output1.weight.grad is not None and net.output1.weight.grad.abs().sum().item() > 0
    assert net.output3.weight.grad is None  # out3 is not part of this loss


def test_gradient_reaches_all_three_iterations():
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny")
    x = _rand(2, 3, 16, 16)
    _release_loss()(net(x), _rand(2, 3, 16, 16, seed=1)).backward()
    for name in ("sub1", "sub2", "sub3", "res_extra1", "res_extra2", "res_extra3"):
        grads = [p.grad for p in getattr(net, name).parameters()]
        assert all(g is not None for g in grads), name
        assert sum(g.abs().sum().item() for g in grads) > 0, name


# --- 7. loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_loss_is_the_sum_of_three_mse_terms_in_both_value_ranges(scale):
    gt = scale * _rand(2, 3, 8, 8)
    outs = SPDNetOutput(*(scale * _rand(2, 3, 8, 8, seed=s) for s in (1, 2, 3)))
    expected = sum(((o - gt) ** 2).mean() for o in outs)
    assert _release_loss()(outs, gt).item() == pytest.approx(expected.item(), rel=1e-6)


def test_twenty_adam_steps_reduce_the_loss():
    torch.manual_seed(0)
    net = SPDNet.from_preset("tiny")
    clean = _rand(2, 3, 32, 32)
    rainy = (clean + 0.3 * (_rand(2, 1, 32, 32, seed=5) > 0.9).float()).clamp(0, 1)
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    loss_fn = _release_loss()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(net(rainy), clean)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]  # measured: 1.15 -> 0.81


# --- presets and errors ------------------------------------------------------------------------


def test_presets_match_the_spec():
    tiny = SPDNet.from_preset("tiny")
    assert tiny.rgb_range == 1.0 and tiny.sub1.rirs_per_branch == 1 and tiny.conv_init2.conv.out_channels == 8
    assert len(tiny.sub1.branch1_1.module_body) == 2  # one RB + the conv
    small = SPDNet.from_preset("small")
    assert small.rgb_range == 1.0 and small.sub1.rirs_per_branch == 3 and small.conv_init2.conv.out_channels == 16
    assert SPDNet.from_preset("paper").rgb_range == 255.0


def test_bad_input_is_named():
    net = SPDNet.from_preset("tiny")
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        net(torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        net(torch.zeros(1, 4, 16, 16))
    with pytest.raises(ValueError, match="band_order"):
        SPDNet(band_order="pywt")
    with pytest.raises(ValueError, match="rgb_range"):
        SPDNet(rgb_range=0)
    with pytest.raises(ValueError, match="Unknown preset"):
        SPDNet.from_preset("large")


def test_residual_block_is_identity_plus_se_branch():
    torch.manual_seed(0)
    rb = ResidualBlock(4)
    x = _rand(1, 4, 6, 6)
    torch.testing.assert_close(rb(x) - x, rb.se(rb.module_body(x)))
