"""MONAI's VarNet as a single-coil baseline (monai_mcrecon.networks.nets.varnet)."""

from __future__ import annotations

import pytest
import torch
from monai.apps.reconstruction.networks.nets.varnet import VariationalNetworkModel

from monai_mcrecon.kspace import complex_to_channels, create_mask_func, undersample_image
from monai_mcrecon.networks.nets import SingleCoilVarNet


def zero_filled(output: str, b: int = 2, h: int = 32, w: int = 40):
    image = torch.rand(b, 1, h, w, generator=torch.Generator().manual_seed(0))
    mask = create_mask_func("mc_cdic", 4)((h, w), seed=42).mask
    if output == "complex":
        return image, mask, complex_to_channels(undersample_image(image.to(torch.complex64), mask, "complex")[1])
    return image, mask, undersample_image(image, mask, output)[1]


def test_wraps_monai_varnet_and_counts_parameters():
    net = SingleCoilVarNet.from_preset("tiny")
    assert isinstance(net.varnet, VariationalNetworkModel) and len(net.varnet.cascades) == 2
    assert sum(p.numel() for p in net.parameters()) == 25446
    assert sum(p.numel() for p in SingleCoilVarNet.from_preset("small").parameters()) == 2015790


@pytest.mark.parametrize(("output", "channels"), [("real_irfft", 1), ("complex", 2)])
def test_reads_the_column_mask_and_kspace_off_the_zero_filled_input(output, channels):
    _, mask, x = zero_filled(output)
    net = SingleCoilVarNet.from_preset("tiny", in_channels=channels)
    kspace, columns = net.measurement_from_input(x)
    assert kspace.shape == (2, 1, 32, 40, 2) and columns.shape == (1, 1, 1, 40, 1) and columns.dtype == torch.bool
    if output == "complex":
        assert torch.equal(columns.reshape(-1), mask.reshape(-1).bool())
    out = net(x)
    assert out.shape == (2, 1, 32, 40) and (out >= 0).all()
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_without_cascades_it_returns_the_zero_filled_magnitude():
    _, _, x = zero_filled("complex")
    net = SingleCoilVarNet.from_preset("tiny", in_channels=2, num_cascades=0)
    expected = x.square().sum(1, keepdim=True).sqrt()
    torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-5)


def test_refuses_magnitude_inputs_and_2d_masks():
    image, _, magnitude = zero_filled("magnitude")
    net = SingleCoilVarNet.from_preset("tiny")
    with pytest.raises(ValueError, match="real_irfft"):
        net(magnitude)
    mask2d = create_mask_func("poisson2d", 4)((32, 40), seed=0).mask
    with pytest.raises(ValueError, match="column mask"):
        net(undersample_image(image, mask2d, "real_irfft")[1])
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        net(torch.zeros(1, 2, 8, 8))
