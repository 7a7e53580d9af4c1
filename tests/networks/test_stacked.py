"""The one-tensor wrappers of monai_mcrecon.networks.nets.stacked and the export-only code paths they rely on."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.networks.blocks.fourier import irfft2_as_ifft2, rfft2_as_fft2
from monai_mcrecon.networks.nets import MCCDic
from monai_mcrecon.networks.nets.bvfi import BVFI
from monai_mcrecon.networks.nets.deep_rl import DeepRL
from monai_mcrecon.networks.nets.fgdcn import FGDCN
from monai_mcrecon.networks.nets.mdrn import MDRN
from monai_mcrecon.networks.nets.spdnet import SPDNet
from monai_mcrecon.networks.nets.stacked import (
    FixedTimes,
    KernelChannel,
    SingleTensorNetwork,
    StackedViews,
    pad_to_multiple,
    padding_rule,
)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_padding_rules_follow_each_network():
    assert padding_rule(MCCDic.from_preset("tiny")) == (4, "replicate")  # 3 scales
    assert padding_rule(MDRN.from_preset("tiny")) == (2 ** MDRN.from_preset("tiny").levels, "reflect")
    assert padding_rule(SPDNet.from_preset("tiny")) == (4, "reflect")
    assert padding_rule(FGDCN.from_preset("tiny")) == (16, "replicate")
    assert padding_rule(torch.nn.Conv2d(1, 1, 3)) == (1, "replicate")


def test_pad_to_multiple_pads_bottom_right_to_the_next_multiple():
    x = _rand(1, 1, 33, 41)
    y = pad_to_multiple(x, 16, "replicate")
    assert y.shape[-2:] == (48, 48)
    assert torch.equal(y[..., :33, :41], x) and torch.equal(y[..., 40, :41], x[..., 32, :])
    assert pad_to_multiple(x, 1) is x


def test_state_dict_loads_with_and_without_the_network_prefix():
    torch.manual_seed(0)
    a, b = MCCDic.from_preset("tiny"), MCCDic.from_preset("tiny")
    wrapper = SingleTensorNetwork(b, in_channels=2)
    wrapper.load_state_dict(a.state_dict())  # a bundle's model.pt holds network_def's keys
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    wrapper.load_state_dict({f"network.{k}": v for k, v in a.state_dict().items()})
    with pytest.raises(RuntimeError):
        wrapper.load_state_dict({"network.nope": torch.zeros(1)})


def test_single_tensor_network_equals_the_network_and_checks_channels():
    torch.manual_seed(0)
    net = MCCDic.from_preset("tiny").eval()
    x = _rand(2, 2, 33, 41)
    with torch.no_grad():
        assert torch.equal(SingleTensorNetwork(net, in_channels=2)(x), net(x))
    with pytest.raises(ValueError, match=r"\[B, 2, H, W\]"):
        SingleTensorNetwork(net, in_channels=2)(x[:, :1])


def test_kernel_channel_reads_the_kernel_from_the_top_left_corner():
    torch.manual_seed(0)
    net = DeepRL.from_preset("tiny").eval()
    image, kernel = _rand(1, 3, 20, 24), _rand(1, 1, 15, 15, seed=1)
    stacked = torch.cat([image, torch.zeros(1, 1, 20, 24)], 1)
    stacked[:, 3, :15, :15] = kernel[0, 0]
    stacked[:, 3, 16:, 16:] = 5.0  # outside the corner: ignored
    with torch.no_grad():
        assert torch.equal(KernelChannel(net, 3, 15)(stacked), net(image, kernel))
    with pytest.raises(ValueError, match="at least 15x15"):
        KernelChannel(net, 3, 15)(stacked[..., :14, :])
    with pytest.raises(ValueError, match="must be odd"):
        KernelChannel(net, 3, 14)


def test_stacked_views_split_the_channels_and_stack_dict_outputs():
    torch.manual_seed(0)
    net = FGDCN.from_preset("tiny").eval()
    f0, f1 = _rand(1, 3, 20, 28), _rand(1, 3, 20, 28, seed=1)
    with torch.no_grad():
        assert torch.equal(StackedViews(net)(torch.cat([f0, f1], 1)), net(f0, f1))

    class TwoOutputs(torch.nn.Module):
        def forward(self, a, b):
            return {"sum": a + b, "diff": a - b, "unused": a}

    wrapper = StackedViews(TwoOutputs(), view_channels=1, num_views=2, output_keys=["diff", "sum"])
    out = wrapper(torch.tensor([[[[3.0]], [[1.0]]]]))
    assert out.flatten().tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="output_keys"):
        StackedViews(TwoOutputs(), view_channels=1)(torch.zeros(1, 2, 1, 1))


def test_fixed_times_returns_the_channel_stacked_frames():
    torch.manual_seed(0)
    net = BVFI.from_preset("tiny").eval()
    window = _rand(1, 12, 16, 16)
    with torch.no_grad():
        out = FixedTimes(net, times=[0.25, 0.75])(window)
        assert out.shape == (1, 6, 16, 16)
        assert torch.equal(out, net(window, t=[0.25, 0.75]))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        FixedTimes(net, times=[1.5])


@pytest.mark.parametrize("size", [(8, 8), (7, 9), (33, 41)])
def test_fourier_export_forms_equal_rfft2_and_irfft2(size):
    h, w = size
    x = _rand(2, 3, h, w).double()
    spectrum = torch.fft.rfft2(x, norm="ortho")
    assert float((rfft2_as_fft2(x) - spectrum).abs().max()) < 1e-12
    mixed = spectrum * (1 + _rand(*spectrum.shape, seed=1).double())  # not Hermitian-consistent on DC/Nyquist
    expected = torch.fft.irfft2(mixed, s=(h, w), norm="ortho")
    assert float((irfft2_as_ifft2(mixed.real, mixed.imag, w) - expected).abs().max()) < 1e-12
