"""Each inference option of monai_mcrecon.inference gives the plain forward's outputs within a stated tolerance."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import SimpleInferer, SliceInferer
from torch import nn

from monai_mcrecon.inference import OptimizedInferer, TiledInferer, margin_weight_map
from monai_mcrecon.networks.nets import CLGNet, MCCDic


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def _local_net() -> nn.Module:
    # receptive-field radius 3 (three zero-padded 3x3 convolutions)
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 1, 3, padding=1)).eval()


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return {"mc_cdic": (MCCDic.from_preset("tiny", power_iterations=1).eval(), 2),
            "clgnet": (CLGNet.from_preset("tiny").eval(), 1)}


@pytest.mark.parametrize("name", ["mc_cdic", "clgnet"])
def test_inference_mode_returns_a_normal_tensor_equal_to_the_plain_forward(nets, name):
    net, c = nets[name]
    x = torch.rand(3, c, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(x)
    out = OptimizedInferer()(x, net)
    assert not out.is_inference()
    out.add_(0)  # post-processing may work in place
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["mc_cdic", "clgnet"])
def test_channels_last_is_equal_within_1e_5(nets, name):
    import copy

    net, c = nets[name]
    net = copy.deepcopy(net)
    x = torch.rand(2, c, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = net(x)
    out = OptimizedInferer(channels_last=True)(x, net)
    assert _rel(out - x[:, :1], expected - x[:, :1]) < 1e-5
    assert list(net.state_dict()) == list(nets[name][0].state_dict())


def test_amp_is_a_no_op_on_cpu(nets):
    net, _ = nets["mc_cdic"]
    x = torch.rand(1, 2, 32, 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(OptimizedInferer(amp=True)(x, net), OptimizedInferer()(x, net), rtol=0, atol=0)


def test_compile_option_compiles_once_and_keeps_outputs():
    net = _local_net()
    x = torch.rand(2, 2, 24, 24, generator=torch.Generator().manual_seed(4))
    inferer = OptimizedInferer(compile=True, compile_kwargs={"backend": "eager"})
    first, second = inferer(x, net), inferer(x, net)
    assert len(inferer._compiled) == 1
    with torch.no_grad():
        expected = net(x)
    torch.testing.assert_close(first, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(second, expected, rtol=1e-6, atol=1e-6)


def test_margin_weight_map_is_one_inside_and_small_at_the_border():
    w = margin_weight_map((10, 8), (2, 0), 1e-6)
    assert w.shape == (1, 1, 10, 8)
    assert float(w[0, 0, 2:8].min()) == 1.0
    assert float(w[0, 0, :2].max()) == pytest.approx(1e-6)
    with pytest.raises(ValueError, match="larger than 2"):
        margin_weight_map((8, 8), (4, 4))


@pytest.mark.parametrize("size", [(64, 64), (70, 45)])
def test_tiles_with_a_margin_above_the_receptive_field_reproduce_the_whole_image(size):
    net = _local_net()
    x = torch.rand(2, 2, *size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = net(x)
    out = OptimizedInferer(tile=TiledInferer(roi_size=(24, 24), margin=4, sw_batch_size=4))(x, net)
    assert out.shape == expected.shape
    assert _rel(out, expected) < 1e-5
    # a margin below the receptive field is visibly inexact: the test can tell
    rough = OptimizedInferer(tile=TiledInferer(roi_size=(24, 24), margin=1))(x, net)
    assert _rel(rough, expected) > 1e-4


def test_tiles_run_inside_slice_batches():
    net = _local_net()
    volume = torch.rand(1, 2, 3, 40, 40, generator=torch.Generator().manual_seed(6))  # [B, C, slices, H, W]
    with torch.no_grad():
        expected = torch.stack([net(volume[:, :, i]) for i in range(3)], dim=2)
    inferer = OptimizedInferer(SliceInferer(spatial_dim=0, roi_size=(-1, -1), sw_batch_size=2),
                               tile=TiledInferer(roi_size=(24, 24), margin=4))
    assert _rel(inferer(volume, net), expected) < 1e-5
