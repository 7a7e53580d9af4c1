"""FGDCN (docs/models/fgdcn.md, 'Tests'): shapes, flow-guided DCN, flow accumulation, anchor frame, counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.losses.fgdcn import FGDCNLoss
from monai_mcrecon.ops.warp import flow_warp
from monai_mcrecon.networks.nets.fgdcn import FGDCN, FGDCNOutput, GridNet, anchor_frame, convert_release_state_dict


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _frames(b=1, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)


def test_paper_parameter_counts_match_the_release():
    net = FGDCN()
    assert _count(net) == 14_325_811
    assert sum(_count(b) for b in net.flow_net.blocks) == 4_246_542
    assert _count(net.flow_net.refine) == 1_424_220 - 37_131
    assert _count(net.pcd_align) == 1_045_808
    assert _count(net.flow_fea_fusin) == 7_646_372
    full = FGDCN(release_compatible=True)
    assert _count(full) == 14_362_942
    assert _count(full.flow_net) == 5_670_762
    assert any(".occl_convs." in k for k in full.state_dict()) and not any(".occl_convs." in k for k in net.state_dict())


def test_paper_grid_has_6_5_5_lateral_blocks_and_3_down_up_blocks():
    g = FGDCN().flow_fea_fusin
    assert [len(r) for r in g.lateral] == [6, 5, 5]
    assert [len(r) for r in g.down] == [3, 3] and [len(r) for r in g.up] == [3, 3]


@pytest.mark.parametrize("preset, n_flows", [("tiny", 2), ("paper", 3)])
def test_output_shapes(preset, n_flows):
    torch.manual_seed(0)
    net = FGDCN.from_preset(preset)
    f0, f1 = _frames(2, 32, 48)
    with torch.no_grad():
        out = net(f0, f1)
    assert isinstance(out, FGDCNOutput)
    assert out.rec.shape == (2, 3, 32, 48) and out.anchor.shape == (2, 3, 32, 48)
    assert [tuple(f.shape) for f in out.flow_list] == [(2, 4, 16, 24)] * n_flows
    assert out.flow.shape == (2, 4, 32, 48) and out.mask.shape == (2, 1, 32, 48)
    assert out.rec_half.shape == (2, 3, 16, 24) and out.rec_quarter.shape == (2, 3, 8, 12)


def test_padded_inputs_give_coarse_outputs_on_the_input_region_so_distillation_keeps_the_flow_scale():
    """Issue 6 regression: a 40 x 56 crop is padded to 48 x 64 inside the network; the 1/2-grid flows must cover
    the 20 x 28 input region (not 24 x 32), otherwise the teacher flow is resized by 24/40 instead of 1/2."""
    from monai_mcrecon.losses.fgdcn import FlowDistillationLoss, flow_epe

    torch.manual_seed(0)
    net = FGDCN.from_preset("tiny")
    f0, f1 = _frames(1, 40, 56)
    with torch.no_grad():
        out = net(f0, f1)
    assert [tuple(f.shape) for f in out.flow_list] == [(1, 4, 20, 28)] * 2
    assert out.rec_half.shape == (1, 3, 20, 28) and out.rec_quarter.shape == (1, 3, 10, 14)
    # a constant full-resolution teacher flow (3, -2) px is (1.5, -1) px on the 1/2 grid
    teacher = torch.tensor([3.0, -2.0, -3.0, 2.0]).view(1, 4, 1, 1).expand(1, 4, 40, 56)
    half = (teacher[..., :20, :28] / 2).clone()
    loss = FlowDistillationLoss()([half, half], teacher)
    assert loss.item() == pytest.approx(2 * flow_epe(half[:, :2], half[:, :2]).mean().item(), abs=1e-6)


def test_eval_returns_rec_any_size_and_release_input_form():
    torch.manual_seed(0)
    net = FGDCN.from_preset("tiny").eval()
    f0, f1 = _frames(1, 37, 50)
    with torch.no_grad():
        rec = net(f0, f1)
        rec5 = net(torch.stack([f0, f1], 1))
    assert rec.shape == (1, 3, 37, 50)
    torch.testing.assert_close(rec, rec5)
    net.return_all_outputs = True
    with torch.no_grad():
        out = net(f0, f1)
    torch.testing.assert_close(out.rec, rec)


def test_bad_inputs_raise_clear_errors():
    net = FGDCN.from_preset("tiny")
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        net(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[B, 2, 3, H, W\]"):
        net(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="deformable_groups"):
        FGDCN(refine_channels=4, deformable_groups=8)
    with pytest.raises(ValueError, match="same length"):
        FGDCN(ifblock_channels=(16, 8), ifblock_scales=(4,))
    with pytest.raises(ValueError, match="even"):
        GridNet((8, 16, 32), columns=3)


def test_flow_of_plus_one_in_x_samples_the_next_column():
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 4, 5).contiguous()
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 1.0
    out = flow_warp(x, flow)
    torch.testing.assert_close(out[..., :4], x[..., 1:])


@pytest.mark.parametrize("dx, dy", [(0, 0), (2, -1), (-3, 2)])
def test_flow_guided_dcn_at_init_is_half_a_shifted_conv(dx, dy):
    torch.manual_seed(0)
    net = FGDCN.from_preset("small")  # G = 2 deformable groups
    dcn = net.pcd_align.L1_dcnpack_1
    c = dcn.weight.shape[0]
    x = torch.rand(1, c, 20, 24, dtype=torch.float64)
    feat = torch.rand(1, 16, 20, 24, dtype=torch.float64)
    flow = torch.zeros(1, 2, 20, 24, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = dx, dy
    dcn = dcn.double()
    out = dcn(x, feat, flow)
    # out(p) = 0.5 * sum_k w_k x(p + k + flow) + b: a plain conv of the image shifted by the flow
    shifted = torch.roll(x, shifts=(-dy, -dx), dims=(-2, -1))
    ref = 0.5 * F.conv2d(shifted, dcn.weight, None, padding=1) + dcn.bias.view(1, -1, 1, 1)
    m = 1 + max(abs(dx), abs(dy))
    torch.testing.assert_close(out[..., m:-m, m:-m], ref[..., m:-m, m:-m], rtol=1e-10, atol=1e-10)
    offset, mask = dcn.offsets_and_mask(feat, flow)
    assert torch.all(offset[:, 0::2] == dy) and torch.all(offset[:, 1::2] == dx)
    assert torch.all(mask == 0.5)


class _Const(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        b, _, h, w = x.shape
        return torch.full((b, 4, h // 2, w // 2), self.value) if self.value is not None else None


def test_coarse_flows_accumulate_block_increments():
    net = FGDCN()  # three IFBlocks at the paper setting
    fs = net.flow_net
    for i, v in enumerate((0.5, -0.25, 2.0)):
        setattr(fs, f"block{i}", _Const(v))
    f0, f1 = _frames(1, 32, 32)
    # the stub's input is at full resolution, so it returns a half-resolution flow like a real IFBlock
    flow_list = fs.coarse_flows(f0, f1)
    assert [float(f.mean()) for f in flow_list] == pytest.approx([0.5, 0.25, 2.25])
    assert all(f.shape == (1, 4, 16, 16) for f in flow_list)


def test_anchor_frame_with_unit_mask_is_the_warped_first_frame():
    f0, f1 = _frames(1, 16, 16)
    flow = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(anchor_frame(f0, f1, flow, torch.ones(1, 1, 16, 16)), flow_warp(f0, flow[:, :2]))
    torch.testing.assert_close(anchor_frame(f0, f1, flow, torch.zeros(1, 1, 16, 16)), flow_warp(f1, flow[:, 2:]))


def test_zeroed_rgb_head_makes_rec_equal_the_anchor_frame():
    torch.manual_seed(0)
    net = FGDCN.from_preset("tiny")
    nn.init.zeros_(net.flow_fea_fusin.to_RGB[1].weight)
    nn.init.zeros_(net.flow_fea_fusin.to_RGB[1].bias)
    with torch.no_grad():
        out = net(*_frames(1, 32, 32))
    torch.testing.assert_close(out.rec, out.anchor)
    assert not torch.allclose(out.rec_half, F.interpolate(out.anchor, scale_factor=0.5, mode="bilinear"))


def test_gradients_reach_every_stage_and_not_the_teacher():
    torch.manual_seed(0)
    net = FGDCN.from_preset("tiny")
    teacher = nn.Conv2d(6, 2, 1)
    calls = []

    def flow_teacher(ref, other):
        calls.append(torch.is_grad_enabled())
        return teacher(torch.cat([ref, other], 1))

    f0, f1 = _frames(2, 32, 32)
    gt = 0.5 * (f0 + f1)
    # pyramid weights on, so the half / quarter RGB heads of the GridNet are trained too
    loss = FGDCNLoss(teacher=flow_teacher, pyramid_weights=(1.0, 1.0))
    terms = loss(net(f0, f1), {"label": gt, "frame0": f0, "frame1": f1})
    terms["loss"].backward()
    assert calls == [False, False] and teacher.weight.grad is None
    assert float(terms["flow"].detach()) > 0 and float(terms["pyramid"].detach()) > 0
    parts = {
        "ifblocks": net.flow_net.block0, "refine": net.flow_net.refine, "pcd": net.pcd_align, "gridnet": net.flow_fea_fusin,
        "dcn_offsets": net.pcd_align.L1_dcnpack_1.conv_offset,
    }
    for name, part in parts.items():
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


def test_release_state_dict_keys_convert():
    net = FGDCN.from_preset("tiny", release_compatible=True)
    release = {
        ("module." + k).replace(".conv_offset.", ".conv_offset_mask."): v for k, v in net.state_dict().items()
    }
    assert any("conv_offset_mask" in k for k in release)
    missing, unexpected = net.load_state_dict(convert_release_state_dict(release), strict=True)
    assert not missing and not unexpected
