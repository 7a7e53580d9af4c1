"""Image sizes a model or a degradation cannot take as they are: odd and tiny sizes (the networks keep
them), a super-resolution scale that does not divide the size (refused where LR must be exactly HR /
scale, the floor block in k-space), images below SSRDE-FNet's minimum size (docs/reliability.md,
"Content")."""

from __future__ import annotations

import pytest
import torch

@pytest.mark.parametrize("name,channels", [("MCCDic", 2), ("CLGNet", 1), ("MDRN", 3), ("SPDNet", 3), ("MSTN", 3), ("DeepRL", 3)])
@pytest.mark.parametrize("hw", [(7, 9), (1, 1), (33, 18)])
def test_networks_keep_odd_and_tiny_sizes(name, channels, hw):
    from monai_mcrecon.networks import nets

    torch.manual_seed(0)
    net = getattr(nets, name).from_preset("tiny").eval()
    x = torch.rand(1, channels, *hw)
    args = (x, torch.full((1, 1, 5, 5), 1 / 25)) if name == "DeepRL" else (x,)
    with torch.no_grad():
        out = net(*args)
    out = out if torch.is_tensor(out) else out[0]
    assert tuple(out.shape[-2:]) == hw and out.shape[0] == 1
    assert torch.isfinite(out).all()


def test_scale_not_dividing_the_size_where_lr_must_be_exactly_hr_over_scale():
    """Bicubic LR synthesis and SSRDE-FNet need HR = scale x LR exactly: refused with the sizes."""
    from monai_mcrecon.transforms.stereo import StereoLowResolution, bicubic_downsample

    with pytest.raises(ValueError, match=r"^Image 15x24 is not divisible by the scale 2; crop it first"):
        bicubic_downsample(torch.rand(3, 15, 24), 2)
    hr, lr = StereoLowResolution(3)(torch.rand(3, 40, 50))  # the transform crops to a multiple of lcm(3, 4)
    assert hr.shape == (3, 36, 48) and lr.shape == (3, 12, 16)


@pytest.mark.parametrize("h,w,scale", [(193, 229, 2), (35, 48, 4), (9, 7, 3)])
def test_scale_not_dividing_the_size_in_kspace_is_the_floor_block(h, w, scale):
    """k-space truncation keeps the centred (H // s) x (W // s) block: exact on any size (the
    sample is 193 x 229), with the realised scale H / (H // s) recorded where an LR grid is made."""
    from monai_mcrecon.kspace import kspace_truncate, kspace_zero_pad, truncation_mask

    k = torch.randn(1, h, w, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    lr = kspace_truncate(k, scale, grid="lr")
    assert lr.shape == (1, h // scale, w // scale)
    assert torch.allclose(kspace_zero_pad(lr, (h, w)), k * truncation_mask((h, w), scale).double(), atol=1e-12)


def test_images_smaller_than_ssrde_fnet_minimum_and_odd_sizes():
    from monai_mcrecon.networks.nets import SSRDEFNet

    net = SSRDEFNet.from_preset("tiny").eval()
    small = torch.rand(1, 3, 6, 32)
    with pytest.raises(ValueError, match=r"^LR views 6x32 are smaller than the largest LR pool \d+; use larger views"):
        net(small, small)
    odd = torch.rand(1, 3, 17, 32)  # HR 34 x 64 is not a multiple of 4
    with pytest.raises(ValueError, match=r"^The HR size 34x64 \(= 2 x the LR size 17x32\) must be a multiple of 4"):
        net(odd, odd)
    with torch.no_grad():  # a multiple-of-2 LR size at x2 passes and gives 2 x the size
        ok = torch.rand(1, 3, 18, 30)
        out = net(ok, ok)
    assert tuple(out.out4_left.shape) == (1, 3, 36, 60) and torch.isfinite(out.out4_left).all()
