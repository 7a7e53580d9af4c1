"""MCCDic and its RCAB proximal networks (docs/models/mc_cdic.md, 'Architecture', 'Presets', 'Tests')."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.networks.blocks import RCAB, ChannelAttention, ResidualGroup, power_iteration
from monai_mcrecon.networks.nets import MCCDic


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def tiny() -> MCCDic:
    torch.manual_seed(0)
    return MCCDic.from_preset("tiny")


# ---------------------------------------------------------------------------- blocks


def test_channel_attention_has_rcan_parameter_count():
    # Conv1x1(C -> C/16) and Conv1x1(C/16 -> C), both with bias
    assert count(ChannelAttention(64)) == 64 * 4 + 4 + 4 * 64 + 64
    assert count(ChannelAttention(8)) == 8 * 1 + 1 + 1 * 8 + 8  # hidden width clamped to 1


def test_channel_attention_scales_channels_by_a_sigmoid_gate():
    ca = ChannelAttention(16, reduction=4)
    for p in ca.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 16, 5, 6)
    torch.testing.assert_close(ca(x), 0.5 * x)


def test_rcab_is_identity_plus_body_and_group_has_no_skip():
    torch.manual_seed(0)
    x = torch.randn(1, 16, 7, 9)
    block, group = RCAB(16), ResidualGroup(16, num_blocks=2)
    for p in [*block.parameters(), *group.parameters()]:
        torch.nn.init.zeros_(p)
    torch.testing.assert_close(block(x), x)
    assert torch.count_nonzero(group(x)) == 0  # a group-level skip would return x
    assert len(group.body) == 3 and all(isinstance(m, RCAB) for m in group.body[:2])


def test_proximal_networks_have_1439086_parameters_per_variable():
    groups = [ResidualGroup(c, n) for c, n in zip((128, 96, 64), (1, 3, 5))]
    assert sum(count(g) for g in groups) == 1_439_086


# ---------------------------------------------------------------------------- sizes


def test_default_parameter_count_is_9537484():
    torch.manual_seed(0)
    net = MCCDic(power_iterations=1)  # the count does not depend on the step-size estimate
    assert count(net) == 9_537_484
    for v in ("x", "y", "z"):
        assert count(getattr(net, f"prox_{v}")) == 1_439_086
    assert net.fuse_x.in_channels == 64 * 4  # K = 5: four unrolled updates are fused
    assert count(net.decoder_z) == 460_928 and count(net.dict_x) == 464_896


def test_presets_build_the_documented_configurations():
    small = MCCDic.from_preset("small", power_iterations=1)
    assert small.widths == (32, 24, 16) and small.features == 16 and small.num_steps == 3
    assert [len(g.body) - 1 for g in small.prox_x] == [1, 1, 2]
    assert count(small) == 491_889
    tiny = MCCDic.from_preset("tiny", power_iterations=1)
    assert tiny.widths == (8, 8, 8) and tiny.features == 8 and tiny.num_steps == 2
    assert [len(g.body) - 1 for g in tiny.prox_x] == [1, 1, 1]
    assert count(tiny) == 55_723


def test_invalid_configurations_are_rejected():
    with pytest.raises(ValueError, match="rcabs_per_scale"):
        MCCDic(widths=(8, 8), features=8, rcabs_per_scale=(1, 1, 1), power_iterations=1)
    with pytest.raises(ValueError, match="num_steps"):
        MCCDic.from_preset("tiny", num_steps=1)


# ---------------------------------------------------------------------------- interface


@pytest.mark.parametrize("size", [(32, 32), (33, 47), (250, 250)])
def test_train_mode_returns_target_and_reference_eval_mode_the_target(tiny, size):
    x = torch.rand(1, 2, *size)
    tiny.train()
    with torch.no_grad():
        train_out = tiny(x)
        tiny.eval()
        eval_out = tiny(x)
    assert train_out.shape == (1, 2, *size)
    assert eval_out.shape == (1, 1, *size)
    torch.testing.assert_close(eval_out, train_out[:, :1])
    assert torch.isfinite(train_out).all()


def test_return_reference_overrides_the_mode(tiny):
    x = torch.rand(2, 2, 16, 20)
    with torch.no_grad():
        tiny.eval()
        assert tiny(x, return_reference=True).shape == (2, 2, 16, 20)
        tiny.train()
        assert tiny(x, return_reference=False).shape == (2, 1, 16, 20)


@pytest.mark.parametrize("shape", [(1, 1, 32, 32), (1, 3, 32, 32), (2, 32, 32), (1, 2, 4, 32, 32)])
def test_bad_input_raises_naming_the_layout(tiny, shape):
    with pytest.raises(ValueError, match=r"\[B, 2, H, W\].*channel 0 the degraded target.*reference"):
        tiny(torch.rand(*shape))


def test_odd_sizes_are_replicate_padded_and_cropped(tiny):
    # the network sees the replicate-padded image; the output is the crop of the padded result
    x = torch.rand(1, 2, 30, 27)
    padded = torch.nn.functional.pad(x, (0, 1, 0, 2), mode="replicate")
    tiny.eval()
    with torch.no_grad():
        torch.testing.assert_close(tiny(x), tiny(padded)[..., :30, :27])


def test_forward_backward_reaches_every_parameter(tiny):
    tiny.train()
    tiny.zero_grad()
    x = torch.rand(2, 2, 32, 32)
    target = torch.rand(2, 2, 32, 32)
    out = tiny(x)
    loss = (out[:, :1] - target[:, :1]).abs().mean() + 0.1 * (out[:, 1:] - target[:, 1:]).abs().mean()
    loss.backward()
    for name, p in tiny.named_parameters():
        assert p.grad is not None, f"{name} is not used (dead parameter)"
        assert torch.isfinite(p.grad).all(), name
    assert sum(p.grad.abs().sum() for p in tiny.parameters()) > 0


# ---------------------------------------------------------------------------- initialisation and state


def test_preconditioners_and_decoders_start_as_copies_of_the_dictionaries(tiny):
    fresh = MCCDic.from_preset("tiny", power_iterations=1)
    for source, copies in (("dict_x", ("precond_x", "decoder_x")), ("dict_y", ("precond_y", "decoder_y")),
                           ("dict_z", ("precond_z",))):
        reference = getattr(fresh, source).state_dict()
        for name in copies:
            state = getattr(fresh, name).state_dict()
            assert all(torch.equal(state[k], reference[k]) for k in reference), f"{name} != {source}"
    # distinct modules: training one does not move the other
    assert getattr(fresh, "precond_x").out.weight is not fresh.dict_x.out.weight
    assert not torch.equal(fresh.dict_x.out.weight, fresh.dict_y.out.weight)


def test_step_sizes_are_inverse_lipschitz_constants_and_thresholds_lambda():
    torch.manual_seed(3)
    net = MCCDic.from_preset("tiny", lasso_lambda=0.02)
    for v in ("x", "y", "z"):
        eta = getattr(net, f"step_size_{v}")
        assert eta.shape == (2,) and torch.all(eta == eta[0])
        top = power_iteration(getattr(net, f"dict_{v}"), (64, 64), 100)
        # 20 power iterations (the release's choice) underestimate L a little, so eta * L >= 1
        assert 1.0 - 1e-4 <= float(eta[0] * top) < 1.15
        for s, w in enumerate((8, 8, 8)):
            torch.testing.assert_close(getattr(net, f"threshold_{v}_{s}"), torch.full((1, w, 1, 1), 0.02))


def test_step_sizes_are_buffers_by_default_and_parameters_when_learnable():
    fixed = MCCDic.from_preset("tiny", power_iterations=1)
    learnable = MCCDic.from_preset("tiny", power_iterations=1, learnable_steps=True)
    hyper = {f"step_size_{v}" for v in "xyz"} | {f"threshold_{v}_{s}" for v in "xyz" for s in range(3)}
    assert hyper <= set(dict(fixed.named_buffers())) and not hyper & set(dict(fixed.named_parameters()))
    assert hyper <= set(dict(learnable.named_parameters())) and not hyper & set(dict(learnable.named_buffers()))
    assert count(learnable) - count(fixed) == 3 * 2 + 3 * 3 * 8
    assert set(fixed.state_dict()) == set(learnable.state_dict())


@pytest.mark.parametrize("learnable_steps", [False, True])
def test_step_sizes_and_thresholds_survive_a_state_dict_round_trip(tmp_path, learnable_steps):
    torch.manual_seed(1)
    source = MCCDic.from_preset("tiny", learnable_steps=learnable_steps, power_iterations=1)
    with torch.no_grad():
        source.step_size_x.mul_(0.5)
        source.threshold_z_1.fill_(0.3)
    torch.save(source.state_dict(), tmp_path / "mc_cdic.pt")
    torch.manual_seed(2)
    target = MCCDic.from_preset("tiny", learnable_steps=learnable_steps, power_iterations=1)
    assert not torch.equal(target.step_size_x, source.step_size_x)
    target.load_state_dict(torch.load(tmp_path / "mc_cdic.pt"))
    for name, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], value), name
    x = torch.rand(1, 2, 16, 16)
    source.eval(), target.eval()
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x))
