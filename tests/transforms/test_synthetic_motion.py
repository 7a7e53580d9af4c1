"""Synthetic-motion triplets (RandSyntheticMotiond) with exact flows, their datalist, and the flow-step loss."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.data.video import synthetic_motion_count, synthetic_motion_datalist
from monai_mcrecon.losses.fgdcn import FlowStepLoss, LapLoss
from monai_mcrecon.ops.warp import flow_warp
from monai_mcrecon.networks.nets.fgdcn import FGDCN
from monai_mcrecon.transforms.video import RandSyntheticMotiond


def _frames(h=72, w=88, seed=0):
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(2, 3, h, w, generator=g), 3, 1, 1, count_include_pad=False)
    return {"background": smooth[0], "foreground": 1 - smooth[1]}


def _psnr(a, b):
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def test_static_scene_gives_three_equal_frames_and_zero_flow():
    t = RandSyntheticMotiond(32, static_prob=1.0, object_prob=0.0, seed=0)
    d = t(_frames())
    assert d["frame0"].shape == d["label"].shape == d["frame1"].shape == (3, 32, 32)
    assert d["teacher_flow"].shape == (4, 32, 32) and d["teacher_flow"].abs().max() == 0
    torch.testing.assert_close(d["frame0"], d["label"]) and torch.testing.assert_close(d["frame1"], d["label"])


@pytest.mark.parametrize("seed", range(4))
def test_camera_motion_flows_warp_the_frames_onto_the_middle_frame(seed):
    t = RandSyntheticMotiond((32, 48), static_prob=0.0, object_prob=0.0, max_camera_motion=6.0, seed=seed)
    d = t(_frames())
    f = d["teacher_flow"]
    # one velocity everywhere, opposite halves for the two frames
    torch.testing.assert_close(f[:2], -f[2:])
    assert (f[:2] - f[:2, :1, :1]).abs().max() < 1e-6 and f.abs().max() > 0
    inner = (slice(None), slice(4, -4), slice(4, -4))

    def mse(frame, flow):
        return float(((flow_warp(frame[None], flow[None])[0] - d["label"])[inner] ** 2).mean())

    for frame, flow in ((d["frame0"], f[:2]), (d["frame1"], f[2:])):
        # the exact flow explains the motion (only resampling blur remains); no warp or the opposite sign does not
        assert mse(frame, flow) < 0.35 * mse(frame, 0 * flow)
        assert mse(frame, -flow) > 2.5 * mse(frame, flow)
        assert -10 * torch.log10(torch.tensor(mse(frame, flow))) > 33


def test_moving_object_has_its_own_velocity_over_a_static_background():
    t = RandSyntheticMotiond(48, static_prob=1.0, object_prob=1.0, max_object_motion=8.0, seed=3)
    d = t(_frames())
    f0 = d["teacher_flow"][:2]
    moving = f0.abs().sum(0) > 0
    assert 0.02 < moving.float().mean() < 0.9  # an object, not the whole frame
    vel = f0[:, moving]
    assert (vel - vel[:, :1]).abs().max() < 1e-6  # one velocity inside the object
    torch.testing.assert_close(d["frame0"][:, ~moving & (d["frame0"] == d["label"]).all(0)],
                               d["label"][:, ~moving & (d["frame0"] == d["label"]).all(0)])


def test_seeded_draws_repeat_and_small_frames_are_refused():
    a = RandSyntheticMotiond(32, seed=7)(_frames())
    b = RandSyntheticMotiond(32, seed=7)(_frames())
    for k in ("frame0", "label", "frame1", "teacher_flow"):
        torch.testing.assert_close(a[k], b[k])
    with pytest.raises(ValueError, match="at least 44 x 44"):
        RandSyntheticMotiond(32, max_object_motion=8.0)(_frames(40, 88))


def test_synthetic_count_and_datalist():
    assert synthetic_motion_count(100, 0.0) == 0
    assert synthetic_motion_count(100, 0.5) == 100
    assert synthetic_motion_count(90, 0.25) == 30
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        synthetic_motion_count(10, 1.0)
    with pytest.raises(ValueError, match="--precompute_teacher true"):
        synthetic_motion_count(10, 0.5, has_teacher_flow=False)
    clips = [{"clip": "a", "frames": [f"a/{i}.png" for i in range(5)]}, {"clip": "b", "frames": ["b/0.png"]}]
    items = synthetic_motion_datalist(clips, 20, seed=1)
    assert len(items) == 20 and items == synthetic_motion_datalist(clips, 20, seed=1)
    assert all(it["background"] != it["foreground"] for it in items)
    assert {it["background"] for it in items} <= {f for c in clips for f in c["frames"]}


def test_flow_step_loss_terms():
    torch.manual_seed(0)
    net = FGDCN.from_preset("tiny").flow_net
    f0, f1, gt = torch.rand(3, 2, 3, 32, 32)
    pred = net(f0, f1)
    loss = FlowStepLoss()
    # teacher equal to the predicted refined flow: the refined term is only the EPE's sqrt(1e-6)
    terms = loss(pred, {"label": gt, "teacher_flow": pred["flow"].detach()})
    assert set(terms) == {"loss", "anchor", "coarse", "refined"}
    assert float(terms["refined"]) == pytest.approx(0.1 * 1e-3, rel=1e-3)
    assert float(terms["anchor"]) == pytest.approx(float(LapLoss()(pred["anchor"], gt)), rel=1e-6)
    shifted = loss(pred, {"label": gt, "teacher_flow": pred["flow"].detach() + torch.tensor([3.0, 4.0, 0.0, 0.0]).view(1, 4, 1, 1)})
    assert float(shifted["refined"]) == pytest.approx(0.1 * 5.0 / 2, rel=1e-3)  # |(3, 4)| = 5 on one of two flows
    terms["loss"].backward()
    assert all(p.grad is not None for p in net.blocks[0].parameters())
    with pytest.raises(KeyError, match="precompute_teacher"):
        loss(pred, {"label": gt})
    # the task-oriented (robust) form: where the final flow agrees with the teacher it is the Charbonnier penalty
    robust = FlowStepLoss(robust_beta=0.3)(pred, {"label": gt, "teacher_flow": pred["flow"].detach()})
    assert float(robust["refined"]) == pytest.approx(0.1 * 1e-3, rel=1e-3)
    far = pred["flow"].detach() + torch.tensor([30.0, 40.0, 0.0, 0.0]).view(1, 4, 1, 1)
    flat = FlowStepLoss(robust_beta=0.3)(pred, {"label": gt, "teacher_flow": far})
    # direction 0 is 50 px off: weight exp(-15), penalty about 1 per component instead of the EPE's 50
    assert float(flat["refined"]) == pytest.approx(0.1 * (1.0 + 1e-3) / 2, rel=1e-2)


def test_flow_step_alone_names_the_size_it_needs():
    net = FGDCN.from_preset("tiny").flow_net
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.rand(1, 3, 40, 48), torch.rand(1, 3, 40, 48))
