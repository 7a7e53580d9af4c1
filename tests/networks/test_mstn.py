"""MSTN, faithful to the authors' release (docs/models/mstn.md, 'Tests'), and its loss ('Loss')."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.losses.mstn import MSTNLoss, VGG16Features
from monai_mcrecon.networks.nets.mstn import MSRB, MSTN, MSTNFusion
from monai_mcrecon.ops.dehaze import dark_channel_prior


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def rand(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.fixture(scope="module")
def paper() -> MSTN:
    return MSTN.from_preset("paper")


@pytest.fixture()
def tiny() -> MSTN:
    torch.manual_seed(0)
    return MSTN.from_preset("tiny", output_bias=0.5)


# ---------------------------------------------------------------------------- shapes and range


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (1, 3, 30, 34), (2, 3, 17, 9), (1, 3, 3, 2)])
def test_output_has_the_input_shape_and_is_non_negative(tiny, shape):
    y = tiny(rand(*shape))
    assert y.shape == shape
    assert y.min() >= 0
    assert y.max() > 0


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_output_bias_keeps_every_output_channel_alive_at_init(preset):
    x = rand(2, 3, 32, 32, seed=20)
    dead = 0
    for seed in range(4):
        torch.manual_seed(seed)
        default = MSTN.from_preset(preset)
        torch.manual_seed(seed)
        biased = MSTN.from_preset(preset, output_bias=0.5)
        assert (biased.Output.conv2d.bias == 0.5).all()
        dead += int(((default(x) > 0).flatten(2).any(-1) == 0).sum())
        assert (biased(x) > 0).all()
    assert dead > 0  # the release's default init leaves some output channels dead for these seeds


def test_small_inputs_are_padded_and_cropped_back(tiny):
    assert tiny.min_size == 5  # 3 scales: the 1/4 map needs 2 pixels for its reflection padding
    x = rand(1, 3, 4, 7, seed=1)
    padded = F.pad(x, [0, 0, 0, 1], mode="replicate")
    torch.testing.assert_close(tiny(x), tiny(padded)[..., :4, :], rtol=0, atol=0)


def test_in_and_out_channels(tiny):
    torch.manual_seed(0)
    net = MSTN.from_preset("tiny", in_channels=1, out_channels=2)
    assert net(rand(2, 1, 20, 24)).shape == (2, 2, 20, 24)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\].*in_channels"):
        tiny(rand(1, 1, 20, 20))


def test_bad_configuration_raises():
    with pytest.raises(ValueError, match="n_scales"):
        MSTN(n_scales=1)
    with pytest.raises(ValueError, match="even"):
        MSTN(features=7)
    with pytest.raises(ValueError, match="preset"):
        MSTN.from_preset("huge")


# ---------------------------------------------------------------------------- fusion node


def test_fusion_node_shape_and_identity_with_zeroed_transposed_conv():
    torch.manual_seed(0)
    node = MSTNFusion(6).double()
    x, y = rand(2, 6, 13, 10, seed=2, dtype=torch.float64), rand(2, 12, 7, 5, seed=3, dtype=torch.float64)
    out = node(x, y)
    assert out.shape == x.shape
    assert (out - x).abs().max() > 1e-4
    with torch.no_grad():
        node.upsample.conv2d.weight.zero_()
        node.upsample.conv2d.bias.zero_()
    torch.testing.assert_close(node(x, y), x, rtol=0, atol=0)
    with pytest.raises(ValueError, match="coarser input"):
        node(x, rand(2, 12, 6, 5))


def test_fusion_node_matches_the_written_equations():
    torch.manual_seed(0)
    node = MSTNFusion(4).double()
    x, y = rand(1, 4, 8, 11, seed=4, dtype=torch.float64), rand(1, 8, 4, 6, seed=5, dtype=torch.float64)
    a = F.relu(F.conv2d(F.pad(x, [1] * 4, mode="reflect"), node.downsample.conv2d.weight, node.downsample.conv2d.bias, stride=2))
    m = F.relu(F.conv2d(F.pad(node.sk(a, y), [1] * 4, mode="reflect"), node.middle.conv2d.weight, node.middle.conv2d.bias))
    u = F.relu(F.conv_transpose2d(F.pad(m, [1] * 4, mode="reflect"), node.upsample.conv2d.weight, node.upsample.conv2d.bias, stride=2))
    assert u.shape[-2:] == (2 * 4 + 5, 2 * 6 + 5)
    expected = x + F.interpolate(u, size=(8, 11), mode="bilinear", align_corners=False)
    torch.testing.assert_close(node(x, y), expected, rtol=1e-12, atol=1e-12)


def test_msrb_is_relu_of_x_plus_two_reflect_padded_convs():
    torch.manual_seed(0)
    block = MSRB(3).double()
    x = rand(1, 3, 6, 5, seed=6, dtype=torch.float64) - 0.5
    h = F.relu(F.conv2d(F.pad(x, [1] * 4, mode="reflect"), block.conv1.weight, block.conv1.bias))
    expected = F.relu(x + F.conv2d(F.pad(h, [1] * 4, mode="reflect"), block.conv2.weight, block.conv2.bias))
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- topology and counts


def test_paper_topology_has_15_msrbs_10_fusions_4_downsamplers(paper):
    assert (len(paper.msrbs()), len(paper.fusions()), len(paper.downsamplers())) == (15, 10, 4)
    assert len({id(m) for m in paper.msrbs()}) == 15
    assert [m.conv1.in_channels for m in paper.msrbs()] == [32, 64, 128, 256, 512, 32, 64, 128, 256, 32, 64, 128, 32, 64, 32]
    assert [f.downsample.conv2d.in_channels for f in paper.fusions()] == [32, 64, 128, 256, 32, 64, 128, 32, 64, 32]
    assert sum(isinstance(m, MSRB) for m in paper.modules()) == 15
    assert sum(isinstance(m, MSTNFusion) for m in paper.modules()) == 10


def test_paper_parameter_counts(paper):
    assert count(paper) == 18_914_627
    assert count(paper.f1_4) == 5_114_368
    assert count(MSTN(release_compatible=True)) == 19_412_995


def test_release_compatible_names_and_state_dict():
    torch.manual_seed(0)
    full = MSTN.from_preset("tiny", n_scales=5, release_compatible=True)
    names = {n for n, _ in full.named_children()}
    expected = {"conv2_init_1", "conv2_init_2", "Output"}
    expected |= {f"c{j}_{i}" for j in range(1, 6) for i in range(1, 7 - j)}
    expected |= {f"f{j}_{i}" for j in range(1, 5) for i in range(1, 6 - j)}
    expected |= {f"d{j}_{i}" for j in range(1, 5) for i in range(1, 6 - j)}
    assert names == expected  # the release's module names, d2_1 .. d4_1 included
    lean = MSTN.from_preset("tiny", n_scales=5)
    result = lean.load_state_dict(full.state_dict(), strict=False)
    assert result.missing_keys == []
    assert sorted({k.split(".")[0] for k in result.unexpected_keys}) == ["d2_1", "d2_2", "d2_3", "d3_1", "d3_2", "d4_1"]
    x = rand(1, 3, 40, 36, seed=7)
    torch.testing.assert_close(lean(x), full(x), rtol=0, atol=0)  # the extra layers are never called


def test_fusions_read_the_pre_fusion_coarser_tensor():
    torch.manual_seed(0)
    net = MSTN.from_preset("tiny", n_scales=4, output_bias=0.5).double()
    x = rand(1, 3, 24, 20, seed=8, dtype=torch.float64)

    def grid(descending: bool) -> torch.Tensor:
        # sequential in-place update of o_1 .. o_L (release order) vs the reverse order (an ordering bug)
        o = [net.c1_1(net.head(x))]
        for i in range(1, 4):
            o.append(getattr(net, f"c1_{i + 1}")(getattr(net, f"d1_{i}")(o[-1])))
        for j in range(1, 4):
            if j > 1:
                o = [getattr(net, f"c{j}_{i + 1}")(t) for i, t in enumerate(o)]
            order = range(len(o) - 2, -1, -1) if descending else range(len(o) - 1)
            for i in order:
                o[i] = getattr(net, f"f{j}_{i + 1}")(o[i], o[i + 1])
            o.pop()
        return net.Output(net.c4_1(o[0]))

    torch.testing.assert_close(net(x), grid(descending=False), rtol=1e-12, atol=1e-12)
    assert (net(x) - grid(descending=True)).abs().max() > 1e-6


def test_gradient_reaches_every_msrb_and_fusion_node(tiny):
    x, target = rand(2, 3, 24, 28, seed=9), rand(2, 3, 24, 28, seed=10)
    MSTNLoss()(tiny(x), target).backward()
    for module in [*tiny.msrbs(), *tiny.fusions(), *tiny.downsamplers()]:
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


# ---------------------------------------------------------------------------- loss


def test_loss_without_extractor_is_plain_l1():
    pred, label = rand(2, 3, 8, 8, seed=11), rand(2, 3, 8, 8, seed=12)
    loss = MSTNLoss()
    torch.testing.assert_close(loss(pred, label), F.l1_loss(pred, label), rtol=0, atol=0)
    assert loss.perceptual(pred, label).item() == 0.0
    with pytest.raises(ValueError, match="same shape"):
        loss(pred, label[..., :4])


def test_perceptual_term_with_a_user_extractor():
    torch.manual_seed(0)
    vgg = VGG16Features(weights_path=None)  # random weights: tests only
    assert [f.shape[1] for f in vgg(rand(1, 3, 16, 16))] == [64, 128, 256]
    loss = MSTNLoss(perceptual_weight=0.04, extractor=vgg)
    pred = rand(1, 3, 16, 16, seed=13).requires_grad_(True)
    label = rand(1, 3, 16, 16, seed=14)
    mse = torch.stack([F.mse_loss(a, b) for a, b in zip(vgg(pred), vgg(label))]).mean()
    value = loss(pred, label)
    torch.testing.assert_close(value, F.l1_loss(pred, label) + 0.04 * mse)
    value.backward()
    assert pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg.parameters())
    with pytest.raises(FileNotFoundError, match="never"):
        VGG16Features("/nonexistent/vgg16.pth")


def test_residual_prior_starts_as_the_dark_channel_prior_and_learns_a_correction():
    torch.manual_seed(0)
    net = MSTN.from_preset("tiny", residual_prior=True, prior_radius=8)
    x = torch.rand(2, 3, 40, 44)
    prior = dark_channel_prior(x, radius=8)
    assert torch.equal(net(x), prior)  # the zero-initialised final convolution: exactly the prior
    given = torch.rand(2, 3, 40, 44)  # a prior given to forward (training: computed on the whole image) is used
    assert torch.equal(net(x, given), given)
    # one optimisation step moves the output off the prior
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    F.l1_loss(net(x), torch.zeros_like(x)).backward()
    opt.step()
    assert float((net(x) - prior).detach().abs().mean()) > 1e-4
    # inputs below prior_radius are padded and cropped back
    small = MSTN.from_preset("tiny", residual_prior=True, prior_radius=16)
    assert small.min_size == 16 and small(torch.rand(1, 3, 9, 12)).shape == (1, 3, 9, 12)


def test_residual_prior_configuration_errors():
    with pytest.raises(ValueError, match="residual_prior needs"):
        MSTN.from_preset("tiny", residual_prior=True, output_bias=0.5)
    with pytest.raises(ValueError, match="residual_prior needs"):
        MSTN.from_preset("tiny", in_channels=3, out_channels=1, residual_prior=True)
    with pytest.raises(ValueError, match="takes a prior only with residual_prior=True"):
        MSTN.from_preset("tiny")(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20))
