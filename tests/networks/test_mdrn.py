"""MDRN and its DnCNN teacher (docs/models/mdrn.md, 'Tests')."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.networks.nets.mdrn import MDRN, DnCNN, MDRBlock


@pytest.mark.parametrize("channels", [1, 3])
def test_tiny_preserves_shape_and_returns_one_feature_per_block(channels):
    torch.manual_seed(0)
    net = MDRN.from_preset("tiny", in_channels=channels)
    y = torch.rand(2, channels, 32, 32)
    out, feats = net(y, return_features=True)
    assert out.shape == (2, channels, 32, 32)
    assert len(feats) == 2 and all(f.shape == (2, 8, 32, 32) for f in feats)
    assert torch.equal(net(y), out)


@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("size", [(33, 31), (30, 50), (1, 5)])
def test_any_height_and_width_is_padded_and_cropped_back(levels, size):
    torch.manual_seed(0)
    net = MDRN.from_preset("tiny", in_channels=1, levels=levels)
    y = torch.rand(1, 1, *size)
    out, feats = net(y, return_features=True)
    assert out.shape == (1, 1, *size) and feats[-1].shape == (1, 8, *size)


def test_zero_initialised_tail_makes_the_network_the_identity():
    torch.manual_seed(0)
    net = MDRN.from_preset("tiny", zero_init_tail=True)
    y = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(net(y), y, rtol=0, atol=0)
    image_net = MDRN.from_preset("tiny", zero_init_tail=True, residual="image")
    assert image_net(y).abs().max() == 0


def test_output_is_translation_equivariant_away_from_the_border_for_even_shifts():
    # stride-2 degradation makes the network equivariant to even shifts only
    torch.manual_seed(0)
    net = MDRN.from_preset("tiny", in_channels=1).double()
    y = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    shifted = torch.roll(y, shifts=(2, 4), dims=(-2, -1))
    a = torch.roll(net(y), shifts=(2, 4), dims=(-2, -1))
    b = net(shifted)
    torch.testing.assert_close(a[..., 24:-24, 24:-24], b[..., 24:-24, 24:-24], rtol=0, atol=1e-12)


def test_defaults_and_presets_have_the_spec_sizes():
    counts = {name: sum(p.numel() for p in MDRN.from_preset(name).parameters()) for name in ("default", "small", "tiny")}
    net = MDRN()
    assert (net.features, net.num_blocks, net.levels, net.in_channels) == (32, 4, 1, 3)
    # per block: strided 3x3 (c*c*9+c) + two 3x3 + 3x3 c->4c + 1x1 2c->c, c = 32
    c = 32
    block = 3 * (9 * c * c + c) + (9 * c * 4 * c + 4 * c) + (2 * c * c + c)
    assert counts["default"] == (9 * 3 * c + c) + 4 * block + (4 * c * c + c) + (9 * c * 3 + 3)
    assert counts["small"] == counts["default"] - 2 * (9 * c * 2) - 2  # head and tail: 3 -> 1 channel
    assert MDRN.from_preset("small").in_channels == 1 and counts["tiny"] < 10_000


def test_block_options_keep_shape():
    x = torch.rand(2, 8, 16, 16)
    for kwargs in ({"levels": 2}, {"attention": True}, {"downsample": "unshuffle"}):
        assert MDRBlock(8, **kwargs)(x).shape == x.shape


def test_out_channels_differs_only_with_image_residual():
    net = MDRN.from_preset("tiny", in_channels=3, out_channels=1, residual="image")
    assert net(torch.rand(1, 3, 16, 16)).shape == (1, 1, 16, 16)
    with pytest.raises(ValueError, match="residual='image'"):
        MDRN.from_preset("tiny", in_channels=3, out_channels=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"spatial_dims": 3}, "2-D only"), ({"residual": "both"}, "choose one of"), ({"downsample": "pool"}, "choose one of"), ({"levels": 3}, "levels 1 or 2")],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MDRN.from_preset("tiny", **kwargs)


def test_wrong_channel_count_names_the_fix():
    with pytest.raises(ValueError, match="in_channels=1"):
        MDRN.from_preset("tiny", in_channels=3)(torch.rand(1, 1, 16, 16))


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="choose one of"):
        MDRN.from_preset("huge")


def test_dncnn_teacher_returns_features_of_its_hidden_layers():
    torch.manual_seed(0)
    teacher = DnCNN.from_preset("small")
    assert sum(p.numel() for p in teacher.parameters()) == (9 * 32 + 32) + 6 * (9 * 32 * 32 + 32) + (9 * 32 + 1)
    y = torch.rand(2, 1, 20, 24)
    out, feats = teacher(y, return_features=True)
    assert out.shape == y.shape and teacher.feature_layers == (3, 7)
    assert [f.shape for f in feats] == [(2, 32, 20, 24)] * 2 and all((f >= 0).all() for f in feats)
    with pytest.raises(ValueError, match="feature_layers"):
        DnCNN(num_layers=3, feature_layers=(5,))


def test_tiny_forward_backward_reduces_a_denoising_loss():
    torch.manual_seed(0)
    net = MDRN.from_preset("tiny", in_channels=1)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    clean = torch.rand(4, 1, 1, 1).expand(4, 1, 32, 32).contiguous()  # flat patches: noise is removable
    noisy = clean + 0.1 * torch.randn_like(clean)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = torch.nn.functional.l1_loss(net(noisy), clean)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]
