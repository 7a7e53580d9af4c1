"""CLGNet (reconstructed) and its spatial-Fourier blocks (docs/models/clgnet.md, 'Architecture', 'Presets', 'Tests')."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.kspace import channels_to_complex, complex_to_channels, fft2c, ifft2c
from monai_mcrecon.networks.blocks import SpatialFourierLayer, SpatialFourierResidualBlock
from monai_mcrecon.networks.nets.clgnet import CLGNet


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def zero_(module: torch.nn.Module) -> None:
    for p in module.parameters():
        torch.nn.init.zeros_(p)


def make_complex_linear_(layer: SpatialFourierLayer) -> None:
    """Turn the Fourier branch into a complex-linear per-frequency map (weights [[A, -B], [B, A]],
    no bias, no ReLU): the case in which it commutes with circular shifts."""
    layer.frequency[1] = torch.nn.Identity()
    c = layer.channels
    with torch.no_grad():
        for i, conv in enumerate((layer.frequency[0], layer.frequency[2])):
            a, b = randn(c, c, seed=10 + i), randn(c, c, seed=20 + i)
            conv.weight.copy_(torch.cat([torch.cat([a, -b], 1), torch.cat([b, a], 1)], 0)[..., None, None])
            conv.bias.zero_()


@pytest.fixture()
def layer() -> SpatialFourierLayer:
    torch.manual_seed(0)
    return SpatialFourierLayer(6).double()


# ---------------------------------------------------------------------------- SFL / SFRB


def test_sfl_with_zeroed_fourier_branch_is_the_spatial_convolution(layer):
    x = randn(2, 6, 13, 18)
    plain = F.conv2d(x, layer.spatial.weight, layer.spatial.bias, padding=1)
    assert (layer(x) - plain).abs().max() > 1e-3  # the learned Fourier branch contributes
    zero_(layer.frequency)
    torch.testing.assert_close(layer(x), plain, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fusion", ["sum", "conv1x1"])
def test_sfl_without_fourier_branch_is_the_spatial_convolution(fusion):
    torch.manual_seed(0)
    layer = SpatialFourierLayer(6, fusion=fusion, fourier=False).double()
    assert count(layer) == 9 * 6 * 6 + 6  # Conv3x3(C -> C) only: no Fourier convs, no fusion
    x = randn(1, 6, 11, 9)
    torch.testing.assert_close(
        layer(x), F.conv2d(x, layer.spatial.weight, layer.spatial.bias, padding=1), rtol=1e-12, atol=1e-12
    )


def test_sum_fusion_adds_both_branches(layer):
    x = randn(1, 6, 9, 12)
    torch.testing.assert_close(layer(x), layer.spatial(x) + layer.fourier_branch(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(8, 10), (9, 11), (33, 47)])
def test_fourier_branch_with_identity_mixing_reproduces_its_input(layer, size):
    # rfft2 / irfft2 (ortho, s=(H, W)) invert each other, and (Re, Im) are split back in order
    layer.frequency[1] = torch.nn.Identity()
    with torch.no_grad():
        for conv in (layer.frequency[0], layer.frequency[2]):
            conv.weight.copy_(torch.eye(12, dtype=torch.float64)[..., None, None])
            conv.bias.zero_()
    x = randn(2, 6, *size)
    torch.testing.assert_close(layer.fourier_branch(x), x, rtol=1e-12, atol=1e-12)


def test_conv1x1_fusion_mixes_both_branches():
    torch.manual_seed(0)
    layer = SpatialFourierLayer(4, fusion="conv1x1").double()
    c = 4
    # spatial 9C^2 + C, Fourier 2 x (4C^2 + 2C), fusion 2C^2 + C
    assert count(layer) == (9 * c * c + c) + 2 * (4 * c * c + 2 * c) + (2 * c * c + c)
    x = randn(1, 4, 10, 7)
    expected = layer.fuse(torch.cat([layer.spatial(x), layer.fourier_branch(x)], 1))
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


def test_unknown_fusion_is_rejected():
    with pytest.raises(ValueError, match="fusion"):
        SpatialFourierLayer(4, fusion="attention")


def test_fourier_branch_sees_the_whole_image(layer):
    x = randn(1, 6, 16, 21)
    y = x.clone()
    y[..., 0, 0] += 1.0
    delta = (layer.fourier_branch(y) - layer.fourier_branch(x)).abs()
    assert (delta > 1e-12).all()  # every output pixel of every channel changes, far corner included
    assert delta[..., 8, 10].min() > 1e-6
    spatial_delta = (layer.spatial(y) - layer.spatial(x)).abs()
    assert spatial_delta[..., 2:, 2:].max() == 0  # the 3x3 branch is local


@pytest.mark.parametrize("size, shift", [((16, 20), (3, 5)), ((13, 18), (-4, 7)), ((15, 21), (6, -2))])
def test_complex_linear_fourier_branch_commutes_with_circular_shifts(layer, size, shift):
    make_complex_linear_(layer)
    x = randn(2, 6, *size, seed=1)
    roll = lambda t: torch.roll(t, shift, dims=(-2, -1))  # noqa: E731
    torch.testing.assert_close(layer.fourier_branch(roll(x)), roll(layer.fourier_branch(x)), rtol=1e-10, atol=1e-10)


def test_learned_fourier_branch_is_not_shift_equivariant(layer):
    # documents the reconstruction: real-linear mixing of (Re, Im), biases and the ReLU break the
    # phase equivariance, so only the complex-linear case above commutes with shifts
    x = randn(1, 6, 16, 20, seed=2)
    roll = lambda t: torch.roll(t, (3, 5), dims=(-2, -1))  # noqa: E731
    assert (layer.fourier_branch(roll(x)) - roll(layer.fourier_branch(x))).abs().max() > 1e-2


def test_fourier_branch_keeps_odd_sizes_and_dtype(layer):
    for size in [(7, 9), (8, 9), (9, 8), (33, 47)]:
        x = randn(1, 6, *size)
        out = layer(x)
        assert out.shape == x.shape and out.dtype == torch.float64


def test_sfrb_is_identity_plus_two_sfls():
    torch.manual_seed(0)
    block = SpatialFourierResidualBlock(4).double()
    x = randn(2, 4, 9, 10)
    torch.testing.assert_close(block(x), x + block.sfl2(torch.relu(block.sfl1(x))), rtol=1e-12, atol=1e-12)
    zero_(block.sfl2)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)


# ---------------------------------------------------------------------------- network sizes


def clgnet_parameters(c: int, n: int, in_channels: int = 1, reference_channels: int = 0) -> int:
    conv3 = lambda i, o: 9 * i * o + o  # noqa: E731
    conv1 = lambda i, o: i * o + o  # noqa: E731
    sfl = conv3(c, c) + 2 * conv1(2 * c, 2 * c)  # 17 C^2 + 5 C
    return conv3(in_channels + reference_channels, c) + n * 2 * sfl + conv3(c, in_channels)


@pytest.mark.parametrize(
    "preset, c, n, expected",
    [
        # head 9*64+64 = 640, 8 SFRBs x (34*64^2 + 10*64) = 8 x 139,904, tail 9*64+1 = 577
        ("default", 64, 8, 1_120_449),
        # 320 + 4 x (34*32^2 + 10*32) = 4 x 35,136 + 289
        ("small", 32, 4, 141_153),
        # 80 + 2 x (34*8^2 + 10*8) = 2 x 2,256 + 73
        ("tiny", 8, 2, 4_665),
    ],
)
def test_preset_parameter_counts(preset, c, n, expected):
    assert clgnet_parameters(c, n) == expected
    assert count(CLGNet.from_preset(preset)) == expected


def test_parameter_count_with_complex_input_and_reference():
    net = CLGNet.from_preset("tiny", in_channels=2, reference_channels=1)
    # head 9*3*8+8 = 224, body 4,512, tail 9*8*2+2 = 146
    assert count(net) == clgnet_parameters(8, 2, 2, 1) == 224 + 4_512 + 146


def test_no_fourier_ablation_drops_the_fourier_convolutions():
    net = CLGNet.from_preset("tiny", fourier=False)
    # each SFL loses 2 x (2C*2C + 2C) = 8C^2 + 4C = 544 for C = 8; 4 SFLs
    assert count(net) == 4_665 - 4 * 544


@pytest.mark.parametrize("preset, size", [("default", (32, 32)), ("small", (40, 36)), ("tiny", (33, 47))])
def test_output_shapes(preset, size):
    torch.manual_seed(0)
    net = CLGNet.from_preset(preset)
    with torch.no_grad():
        assert net(torch.rand(2, 1, *size)).shape == (2, 1, *size)
        mask = torch.zeros(1, size[1])
        mask[:, ::3] = 1
        assert net(torch.rand(1, 1, *size), mask=mask).shape == (1, 1, *size)


def test_complex_output_shape_and_odd_size():
    torch.manual_seed(0)
    net = CLGNet.from_preset("tiny", in_channels=2)
    assert net(torch.rand(3, 2, 33, 47)).shape == (3, 2, 33, 47)


def test_global_residual_returns_the_zero_filled_input_when_the_tail_is_zero():
    torch.manual_seed(0)
    net = CLGNet.from_preset("tiny", reference_channels=1).double()
    zero_(net.tail)
    x = randn(2, 2, 12, 14)
    torch.testing.assert_close(net(x), x[:, :1], rtol=0, atol=0)


def test_reference_channels_are_used_and_not_returned():
    torch.manual_seed(0)
    net = CLGNet.from_preset("tiny", reference_channels=2).double()
    assert net.head.in_channels == 3
    x = randn(1, 3, 16, 17)
    y = x.clone()
    y[:, 2] += randn(16, 17, seed=5)
    out = net(x)
    assert out.shape == (1, 1, 16, 17)
    assert (net(y) - out).abs().max() > 1e-6


@pytest.mark.parametrize("shape", [(1, 1, 16, 16), (1, 3, 16, 16), (2, 16, 16)])
def test_wrong_input_channels_are_rejected(shape):
    net = CLGNet.from_preset("tiny", reference_channels=1)
    with pytest.raises(ValueError, match=r"\[B, 2, H, W\]"):
        net(torch.rand(*shape))


def test_odd_in_channels_are_rejected():
    with pytest.raises(ValueError, match="in_channels"):
        CLGNet(in_channels=3)


# ---------------------------------------------------------------------------- data consistency


def acquisition(b: int = 2, h: int = 24, w: int = 30, seed: int = 0):
    """A complex image, its column mask [1, W] (centre + every 4th column) and the measurement."""
    image = torch.complex(randn(b, 1, h, w, seed=seed), randn(b, 1, h, w, seed=seed + 1))
    mask = torch.zeros(1, w, dtype=torch.float64)
    mask[:, ::4] = 1
    mask[:, w // 2 - 2 : w // 2 + 2] = 1
    kspace = fft2c(image) * mask
    return image, mask, kspace, ifft2c(kspace)


@pytest.fixture(scope="module")
def complex_net() -> CLGNet:
    torch.manual_seed(0)
    return CLGNet.from_preset("tiny", in_channels=2).double()


@pytest.mark.parametrize("measurement", ["from_zero_filled", "complex", "channels"])
def test_dc_keeps_sampled_kspace_equal_to_the_measurement(complex_net, measurement):
    _, mask, kspace, zero_filled = acquisition()
    given = {"from_zero_filled": None, "complex": kspace, "channels": complex_to_channels(kspace)}[measurement]
    out = complex_net(complex_to_channels(zero_filled), mask=mask, kspace=given)
    k_out = fft2c(channels_to_complex(out))
    sampled = mask.expand_as(k_out).bool()
    torch.testing.assert_close(k_out[sampled], kspace[sampled], rtol=1e-12, atol=1e-12)
    # the network fills the unsampled locations (the zero-filled image has nothing there)
    assert k_out[~sampled].abs().mean() > 1e-3


def test_dc_is_exact_with_2d_and_per_sample_masks(complex_net):
    image = torch.complex(randn(2, 1, 20, 22, seed=7), randn(2, 1, 20, 22, seed=8))
    mask = (torch.rand(2, 1, 20, 22, generator=torch.Generator().manual_seed(3)) < 0.3).double()
    kspace = fft2c(image) * mask
    out = complex_net(complex_to_channels(ifft2c(kspace)), mask=mask)
    k_out = fft2c(channels_to_complex(out))
    torch.testing.assert_close(k_out * mask, kspace, rtol=1e-12, atol=1e-12)


def test_no_mask_or_dc_off_means_no_data_consistency(complex_net):
    _, mask, _, zero_filled = acquisition()
    x = complex_to_channels(zero_filled)
    without = complex_net(x)
    net_off = CLGNet.from_preset("tiny", in_channels=2, data_consistency=False).double()
    net_off.load_state_dict(complex_net.state_dict())
    torch.testing.assert_close(net_off(x, mask=mask), without, rtol=0, atol=0)
    assert (complex_net(x, mask=mask) - without).abs().max() > 1e-6


def test_magnitude_dc_returns_a_magnitude_and_keeps_the_zero_filled_input():
    torch.manual_seed(0)
    net = CLGNet.from_preset("tiny").double()
    _, mask, _, zero_filled = acquisition(b=1)
    x = zero_filled.abs()
    out = net(x, mask=mask)
    assert out.shape == x.shape and (out >= 0).all()
    # the k-space of the zero-filled magnitude is the (approximate) measurement: an estimate equal
    # to the zero-filled input is left unchanged by DC
    zero_(net.tail)
    torch.testing.assert_close(net(x, mask=mask), x, rtol=1e-12, atol=1e-12)


def test_gradients_flow_through_dc(complex_net):
    _, mask, _, zero_filled = acquisition(b=1)
    complex_net.zero_grad()
    complex_net(complex_to_channels(zero_filled), mask=mask).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in complex_net.parameters())


# ------------------------------------------------------------------ DC with the mask read off the input


def real_acquisition(b: int = 2, h: int = 16, w: int = 29):
    """A real image, a fixed column mask and the release-convention ("real_irfft") zero-filled image."""
    from monai_mcrecon.kspace import create_mask_func, undersample_image

    image = torch.rand(b, 1, h, w, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mask = create_mask_func("mc_cdic", 4)((h, w), seed=42).mask.double()
    _, zero_filled = undersample_image(image, mask, output="real_irfft")
    return image, mask, zero_filled


@pytest.mark.parametrize("in_channels", [1, 2])
def test_mask_from_input_makes_dc_exact_without_a_mask(in_channels):
    from monai_mcrecon.kspace import infer_sampling_mask, undersample_image

    torch.manual_seed(0)
    net = CLGNet.from_preset("tiny", in_channels=in_channels, mask_from_input=True).double()
    image, mask, zero_filled = real_acquisition()
    if in_channels == 2:
        zero_filled = complex_to_channels(undersample_image(image.to(torch.complex128), mask, output="complex")[1])
    out = net(zero_filled)
    as_image = out if in_channels == 1 else channels_to_complex(out)
    measured = fft2c(zero_filled if in_channels == 1 else channels_to_complex(zero_filled))
    sampled = infer_sampling_mask(measured).bool()
    assert 0.1 < sampled.double().mean() < 0.4  # undersampled, not everything
    torch.testing.assert_close(fft2c(as_image)[sampled], measured[sampled], rtol=1e-9, atol=1e-9)
    assert (fft2c(as_image)[~sampled]).abs().mean() > 1e-3  # the network fills the rest
    if in_channels == 1:  # DC of a real estimate with a Hermitian mask stays real: the real part is exact
        assert out.dtype == torch.float64 and (out < 0).any()


def test_mask_from_input_refuses_a_magnitude_input():
    net = CLGNet.from_preset("tiny", mask_from_input=True).double()
    image, mask, _ = real_acquisition()
    from monai_mcrecon.kspace import undersample_image

    magnitude = undersample_image(image, mask, output="magnitude")[1]
    with pytest.raises(ValueError, match="real_irfft"):
        net(magnitude)
    # without DC the option is inert
    CLGNet.from_preset("tiny", mask_from_input=True, data_consistency=False).double()(magnitude)
