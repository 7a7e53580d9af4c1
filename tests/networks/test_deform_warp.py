"""The shared deformable convolution and warps (docs/models/common_ops.md, 'Modulated deformable convolution',
'Flow and coordinate warps', 'Tests')."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.networks.blocks.deform import (
    ModulatedDeformConv,
    flow_to_offset,
    modulated_deform_conv,
    torchvision_kernel,
)
from monai_mcrecon.ops.warp import (
    coord_warp_x,
    disparity_to_coord,
    disparity_warp,
    flow_warp,
    resize_flow,
)


def test_zero_offsets_unit_mask_equal_plain_convolution():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 11, dtype=torch.float64)
    weight = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    bias = torch.randn(6, dtype=torch.float64)
    offset = torch.zeros(2, 2 * 2 * 9, 9, 11, dtype=torch.float64)
    mask = torch.ones(2, 2 * 9, 9, 11, dtype=torch.float64)
    out = modulated_deform_conv(x, offset, mask, weight, bias, padding=1)
    assert torch.allclose(out, F.conv2d(x, weight, bias, padding=1), atol=1e-12)


@pytest.mark.parametrize("shape,groups,deformable_groups,stride,padding,dilation", [
    ((2, 4, 7, 8), 1, 1, 1, 1, 1),
    ((2, 4, 7, 8), 1, 2, 1, 1, 1),
    ((2, 4, 7, 8), 2, 2, 1, 1, 1),
    ((1, 6, 9, 5), 3, 3, 2, 2, 2),  # strided, dilated, grouped weights
    ((1, 2, 1, 6), 1, 1, 1, 1, 1),  # a one-row image
])
def test_equals_torchvision_deform_conv2d_with_offsets_leaving_the_image(shape, groups, deformable_groups, stride,
                                                                         padding, dilation):
    from torchvision.ops import deform_conv2d

    torch.manual_seed(4)
    b, c, h, w = shape
    x = torch.randn(*shape, dtype=torch.float64)
    weight = torch.randn(6, c // groups, 3, 3, dtype=torch.float64)
    bias = torch.randn(6, dtype=torch.float64)
    ho = (h + 2 * padding - dilation * 2 - 1) // stride + 1
    wo = (w + 2 * padding - dilation * 2 - 1) // stride + 1
    offset = 4.0 * torch.randn(b, 2 * deformable_groups * 9, ho, wo, dtype=torch.float64)  # many samples fall outside
    mask = torch.rand(b, deformable_groups * 9, ho, wo, dtype=torch.float64)
    expect = deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
    out = modulated_deform_conv(x, offset, mask, weight, bias, stride=stride, padding=padding, dilation=dilation)
    assert out.shape == expect.shape
    assert (out - expect).abs().max() < 1e-10 * expect.abs().max()
    # without a mask (DCNv1) and in float32 as the networks run
    expect = deform_conv2d(x.float(), offset.float(), weight.float(), stride=stride, padding=padding, dilation=dilation)
    out = modulated_deform_conv(x.float(), offset.float(), None, weight.float(), stride=stride, padding=padding,
                                dilation=dilation)
    assert (out - expect).abs().max() < 1e-5 * expect.abs().max()


def test_torchvision_kernel_block_routes_every_call_to_torchvision_and_ends_with_the_block(monkeypatch):
    from monai_mcrecon.networks.blocks import deform

    calls = []
    real = deform.deform_conv2d
    monkeypatch.setattr(deform, "deform_conv2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(1)
    module = ModulatedDeformConv(4, 4, 3, deformable_groups=2).eval()
    x, feat = torch.randn(1, 4, 9, 10), torch.randn(1, 4, 9, 10)
    with torch.no_grad():
        sampled = module(x, feat)
        assert calls == []  # the sampling path
        with torchvision_kernel():
            with torchvision_kernel():
                pass
            routed = module(x, feat)  # still inside the outer block after the inner one ended
        assert calls == [1]
        again = module(x, feat)
    assert calls == [1]  # the block is over: the sampling path again
    assert torch.equal(again, sampled)
    assert (routed - sampled).abs().max() < 1e-5 * sampled.abs().max()


def test_module_starts_as_half_masked_convolution_and_flow_is_a_shift():
    torch.manual_seed(2)
    layer = ModulatedDeformConv(3, 5, deformable_groups=3).double()
    x = torch.randn(1, 3, 10, 12, dtype=torch.float64)
    plain = F.conv2d(x, layer.weight, None, padding=1)
    out = layer(x, x)
    assert torch.allclose(out, 0.5 * plain + layer.bias.view(1, -1, 1, 1), atol=1e-12)
    # A constant integer base flow (x = +1) shifts the sampling: equal to convolving the image shifted left.
    flow = torch.zeros(1, 2, 10, 12, dtype=torch.float64)
    flow[:, 0] = 1.0
    shifted = F.pad(x[..., 1:], (0, 1))
    expect = 0.5 * F.conv2d(shifted, layer.weight, None, padding=1) + layer.bias.view(1, -1, 1, 1)
    # (column 0 differs: the deformable layer reads x(0) where the padded convolution reads zero)
    assert torch.allclose(layer(x, x, flow=flow)[..., 1:], expect[..., 1:], atol=1e-10)


def test_flow_to_offset_layout_is_dy_dx_per_tap():
    flow = torch.stack((torch.full((1, 3, 3), 2.0), torch.full((1, 3, 3), -1.0)), 1)
    off = flow_to_offset(flow, groups=2, taps=9)
    assert off.shape == (1, 36, 3, 3)
    assert torch.all(off[:, 0::2] == -1.0) and torch.all(off[:, 1::2] == 2.0)


def test_offset_bound_and_gradcheck():
    torch.manual_seed(3)
    layer = ModulatedDeformConv(2, 2, offset_bound=10.0, zero_init=False).double()
    nn_off, mask = layer.offsets_and_mask(100 * torch.randn(1, 2, 5, 5, dtype=torch.float64))
    assert nn_off.abs().max() <= 10.0 and mask.min() >= 0 and mask.max() <= 1
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    offset = (0.3 + 0.4 * torch.rand(1, 18, 5, 5, dtype=torch.float64)).requires_grad_()
    m = torch.rand(1, 9, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, o, mm, ww: modulated_deform_conv(a, o, mm, ww, padding=1), (x, offset, m, w))


def test_bad_offset_and_mask_shapes_are_named():
    x = torch.zeros(1, 4, 5, 5)
    w = torch.zeros(4, 4, 3, 3)
    with pytest.raises(ValueError, match="offset must be"):
        modulated_deform_conv(x, torch.zeros(1, 17, 5, 5), None, w, padding=1)
    with pytest.raises(ValueError, match="mask must be"):
        modulated_deform_conv(x, torch.zeros(1, 18, 5, 5), torch.zeros(1, 8, 5, 5), w, padding=1)
    layer = ModulatedDeformConv(4, 4)
    with pytest.raises(ValueError, match="resize_flow"):
        layer(x, x, flow=torch.zeros(1, 2, 4, 4))


def test_flow_warp_identity_translation_and_monai_warp():
    torch.manual_seed(4)
    x = torch.rand(2, 3, 12, 14)
    assert (flow_warp(x, torch.zeros(2, 2, 12, 14)) - x).abs().max() < 1e-6
    xd = x.double()
    assert (flow_warp(xd, torch.zeros(2, 2, 12, 14, dtype=torch.float64)) - xd).abs().max() < 1e-12
    flow = torch.zeros(2, 2, 12, 14)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # out(y, x) = x(y - 1, x + 2)
    out = flow_warp(x, flow)
    rolled = torch.roll(x, shifts=(1, -2), dims=(-2, -1))
    assert torch.allclose(out[..., 1:, :-2], rolled[..., 1:, :-2], atol=1e-6)
    from monai.networks.blocks import Warp

    flow = 3 * torch.randn(2, 2, 12, 14)
    ref = Warp(mode="bilinear", padding_mode="border")(x, flow.flip(1))
    assert torch.allclose(flow_warp(x, flow), ref, atol=1e-5)
    with pytest.raises(ValueError, match="resize_flow"):
        flow_warp(x, torch.zeros(2, 2, 6, 7))


def test_resize_flow_scales_values():
    flow = torch.stack((torch.full((1, 4, 6), 1.5), torch.full((1, 4, 6), -2.0)), 1)
    up = resize_flow(flow, scale_factor=2)
    assert up.shape == (1, 2, 8, 12)
    assert torch.allclose(up[:, 0], torch.full((1, 8, 12), 3.0)) and torch.allclose(up[:, 1], torch.full((1, 8, 12), -4.0))
    anis = resize_flow(flow, size=(8, 3))
    assert torch.allclose(anis[:, 0], torch.full((1, 8, 3), 0.75)) and torch.allclose(anis[:, 1], torch.full((1, 8, 3), -4.0))


def test_coord_and_disparity_warp_recover_a_known_shift():
    torch.manual_seed(5)
    right = torch.rand(1, 3, 6, 20)
    d = 3
    left = torch.zeros_like(right)
    left[..., d:] = right[..., :-d]  # left(x) = right(x - d)
    disp = torch.full((1, 1, 6, 20), float(d))
    warped = disparity_warp(right, disp, view="left")
    assert torch.allclose(warped[..., d:], left[..., d:], atol=1e-6)
    assert warped[..., : d - 1].abs().max() < 1e-5  # beyond the right image's left border: zeros
    back = disparity_warp(left, disp, view="right")
    assert torch.allclose(back[..., :-d], right[..., :-d], atol=1e-6)
    xs = torch.arange(20.0).view(1, 1, 1, 20).expand(1, 1, 6, 20)
    assert (coord_warp_x(right, xs) - right).abs().max() < 1e-6
    assert torch.equal(disparity_to_coord(disp, "right") - disparity_to_coord(disp, "left"), 2 * disp)
    with pytest.raises(ValueError, match="view"):
        disparity_to_coord(disp, "center")
