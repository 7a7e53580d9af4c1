"""NNPACK's Winograd 3x3 convolutions (``monai_mcrecon.ops.winograd``) and MC-CDic's use of them.

Routed convolutions equal ``F.conv2d`` within 1e-5 relative; every other call is untouched (bit-equal, not
counted); MC-CDic's fast forward uses them only in CPU float32 inference, never in training, in float64 or
under ``torch.export``.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.networks.nets import MCCDic
from monai_mcrecon.ops.winograd import WinogradConvolutions, winograd_available, winograd_eligible, winograd_usable

pytestmark = pytest.mark.skipif(not winograd_available(), reason="this PyTorch build has no NNPACK on this CPU")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _data(out_channels: int = 40, in_channels: int = 36, size=(50, 53), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, in_channels, *size, generator=g)
    w = torch.randn(out_channels, in_channels, 3, 3, generator=g) / (9 * in_channels) ** 0.5
    return x, w, torch.randn(out_channels, generator=g)


@pytest.mark.parametrize("padding", [1, (1, 1), (0, 1), 0])
def test_eligible_convolutions_run_winograd_and_equal_conv2d(padding):
    x, w, b = _data()
    with torch.inference_mode():
        expected = F.conv2d(x, w, b, padding=padding)
        with WinogradConvolutions() as mode:
            got = F.conv2d(x, w, b, padding=padding)
            got_kw = torch.conv2d(input=x, weight=w, bias=None, padding=padding)
        assert mode.calls == 2
    assert got.shape == expected.shape
    assert 0 < _rel(got, expected) < 1e-5  # not bit-equal: another algorithm ran
    assert _rel(got_kw, F.conv2d(x, w, None, padding=padding)) < 1e-5


def test_conv2d_modules_are_routed():
    conv = torch.nn.Conv2d(48, 48, 3, padding=1)
    x = torch.randn(1, 48, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = conv(x)
        with WinogradConvolutions() as mode:
            got = conv(x)
    assert mode.calls == 1 and _rel(got, expected) < 1e-5


@pytest.mark.parametrize(
    "case",
    ["stride 2", "5x5 kernel", "2 groups", "dilation 2", "narrow input", "narrow output", "small map", "float64",
     "'same' padding", "gradient wanted"],
)
def test_other_convolutions_are_untouched(case):
    x, w, b = _data()
    kwargs = {"padding": 1}
    grad = nullcontext()
    if case == "stride 2":
        kwargs["stride"] = 2
    elif case == "5x5 kernel":
        w = torch.randn(40, 36, 5, 5)
        kwargs["padding"] = 2
    elif case == "2 groups":
        w, kwargs["groups"] = w[:, :18].contiguous(), 2
    elif case == "dilation 2":
        kwargs["dilation"] = 2
    elif case == "narrow input":
        x, w, b = _data(in_channels=16)
    elif case == "narrow output":
        x, w, b = _data(out_channels=16)
    elif case == "small map":
        x, w, b = _data(size=(40, 40))  # 1,600 < 48 x 48 pixels
    elif case == "float64":
        x, w, b = x.double(), w.double(), b.double()
    elif case == "'same' padding":
        kwargs["padding"] = "same"
    elif case == "gradient wanted":
        w.requires_grad_(True)
        grad = torch.enable_grad()
    assert not winograd_eligible(x, w, kwargs.get("stride", 1), kwargs["padding"], kwargs.get("dilation", 1),
                                 kwargs.get("groups", 1))
    with grad:
        expected = F.conv2d(x, w, b, **kwargs)
        with WinogradConvolutions() as mode:
            got = F.conv2d(x, w, b, **kwargs)
    assert mode.calls == 0
    assert torch.equal(got, expected)


def test_usable_only_for_float32_cpu_inference():
    x = torch.rand(1, 2, 8, 8)
    with torch.no_grad():
        assert winograd_usable(x) and not winograd_usable(x.double())
    with torch.inference_mode():
        assert winograd_usable(x)
    assert not winograd_usable(x)  # autograd on: training or a gradient through the network


class _Guarded(torch.nn.Module):
    """A network that applies the mode as MC-CDic does (only where :func:`winograd_usable`)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(32, 32, 3, padding=1)

    def forward(self, x):
        with WinogradConvolutions() if winograd_usable(x) else nullcontext():
            return self.conv(x)


def test_export_sees_the_plain_convolution():
    with torch.no_grad():
        program = torch.export.export(_Guarded().eval(), (torch.rand(1, 32, 64, 64),))
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert any("conv2d" in t or "convolution" in t for t in targets), targets
    assert not any("nnpack" in t for t in targets), targets


@pytest.fixture(scope="module")
def wide_net():
    """An MC-CDic with 32-channel maps (the shipped 'small' preset has 16-32): its finest scale's 3x3
    convolutions at 64 x 64 are eligible, the coarser ones (32 x 32) are not."""
    torch.manual_seed(0)
    net = MCCDic(widths=(32, 32), features=32, num_steps=2, rcabs_per_scale=(1, 1), power_iterations=2).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape) / (p[0].numel() if p.ndim > 1 else 1) ** 0.5)
    return net


@pytest.fixture
def count_winograd(monkeypatch):
    calls = []
    original = torch._nnpack_spatial_convolution

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", counting)
    return calls


def test_mc_cdic_inference_uses_winograd_with_the_same_output(wide_net, count_winograd):
    x = torch.rand(2, 2, 64, 62, generator=torch.Generator().manual_seed(2))  # padded to 64 x 64 inside
    with torch.inference_mode():
        wide_net.winograd = False
        expected = wide_net(x)
        assert not count_winograd
        wide_net.winograd = True
        got = wide_net(x)
    assert len(count_winograd) >= 4  # the finest scale's proximal and dictionary convolutions
    added = expected - x[:, :1]
    assert added.norm() > 0.1 * x[:, :1].norm()
    assert 0 < float((got - expected).norm() / added.norm()) < 1e-5


def test_mc_cdic_training_and_float64_do_not_use_winograd(wide_net, count_winograd):
    x = torch.rand(1, 2, 64, 64, generator=torch.Generator().manual_seed(3))
    wide_net(x).sum().backward()  # autograd on, eval mode
    wide_net.train()
    try:
        wide_net(x)
    finally:
        wide_net.eval()
    with torch.inference_mode():
        wide_net.double()(x.double())
    wide_net.float()
    assert count_winograd == []


def test_mc_cdic_small_preset_keeps_onednn(count_winograd):
    # 16 channels at full resolution: only coarse maps would be routed, and oneDNN on channels-last maps is faster
    net = MCCDic.from_preset("small", power_iterations=1).eval()
    with torch.inference_mode():
        net(torch.rand(1, 2, 200, 200))
    assert count_winograd == []
