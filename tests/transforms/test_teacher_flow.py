"""Precomputed flow-distillation targets: TeacherFlowd and the flow-aware flip / time-reversal transforms.

The invariant checked throughout: after any augmentation, warping each input frame by its teacher flow
still reproduces the middle frame as well as before (flip changes the sign of the flipped component,
time reversal swaps the two flows with the frames).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_mcrecon.losses.fgdcn import FGDCNLoss
from monai_mcrecon.ops.warp import flow_warp
from monai_mcrecon.transforms.video import RandFlipFramesd, RandSwapFramesd, TeacherFlowd, swap_flow_pairs


def _texture(h: int = 40, w: int = 56) -> np.ndarray:
    y, x = np.mgrid[0 : h + 8, 0 : w + 8]
    return np.stack([0.5 + 0.3 * np.sin(x / 3.0 + c) * np.cos(y / 4.0) + 0.15 * np.sin((x + 2 * y) / 5.0) for c in range(3)])


@pytest.fixture(scope="module")
def triplet() -> dict:
    """A texture moving 2 px right and 1 px down per frame (frame0 -> label -> frame1), inner crop."""
    tex = _texture()
    frames = [torch.from_numpy(np.roll(tex, (i, 2 * i), axis=(1, 2))[:, 4:44, 4:60].copy()).float() for i in range(3)]
    d = {"frame0": frames[0], "label": frames[1], "frame1": frames[2], "case_id": "pan"}
    return TeacherFlowd()(d)  # the default TV-L1 teacher


def _warp_errors(d: dict) -> tuple[float, float]:
    f = d["teacher_flow"][None]
    gt = d["label"][None]
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    e0 = (flow_warp(d["frame0"][None], f[:, :2]) - gt)[inner].abs().mean().item()
    e1 = (flow_warp(d["frame1"][None], f[:, 2:]) - gt)[inner].abs().mean().item()
    return e0, e1


def test_teacher_flow_is_the_known_motion_and_warps_the_frames_onto_the_middle(triplet):
    flow = triplet["teacher_flow"]
    assert flow.shape == (4, 40, 56) and flow.dtype == torch.float32
    inner = flow[:, 8:-8, 8:-8].mean((1, 2))
    # warp(frame0, F) ~ label: label(x) = frame0(x - (2, 1)) -> F_to_0 = (-2, -1); F_to_1 = (+2, +1)
    np.testing.assert_allclose(inner.numpy(), [-2.0, -1.0, 2.0, 1.0], atol=0.15)
    e0, e1 = _warp_errors(triplet)
    still = (triplet["frame0"] - triplet["label"]).abs().mean().item()
    assert e0 < 0.1 * still and e1 < 0.1 * still


@pytest.mark.parametrize("seed", range(6))
def test_flips_and_time_reversal_keep_the_flows_consistent_with_the_frames(triplet, seed):
    keys = ["frame0", "label", "frame1"]
    flip = RandFlipFramesd(keys, prob=0.5, flow_keys="teacher_flow", seed=seed)
    swap = RandSwapFramesd(prob=0.5, flow_keys="teacher_flow", seed=seed + 100)
    out = swap(flip(triplet))
    e_before, e_after = _warp_errors(triplet), _warp_errors(out)
    assert sorted(e_after) == pytest.approx(sorted(e_before), abs=1e-6)


def test_horizontal_flip_negates_x_only_and_swap_exchanges_the_halves():
    flow = torch.arange(4 * 2 * 3, dtype=torch.float32).reshape(4, 2, 3) + 1
    d = {"a": torch.zeros(3, 2, 3), "teacher_flow": flow}
    flip = RandFlipFramesd("a", prob=1.0, flow_keys="teacher_flow")
    flip.randomize = lambda data=None: setattr(flip, "_dims", (-1,))  # horizontal only
    out = flip(d)["teacher_flow"]
    torch.testing.assert_close(out[0::2], -torch.flip(flow[0::2], (-1,)))
    torch.testing.assert_close(out[1::2], torch.flip(flow[1::2], (-1,)))
    torch.testing.assert_close(swap_flow_pairs(flow), torch.cat([flow[2:], flow[:2]]))
    with pytest.raises(ValueError, match=r"\[\.\.\., 4, H, W\]"):
        swap_flow_pairs(flow[:3])
    with pytest.raises(ValueError, match="exactly two keys"):
        RandSwapFramesd(keys=["a", "b", "c"])


def test_teacher_flowd_calls_an_injected_teacher_once_per_frame_and_names_missing_frames():
    calls = []

    def teacher(reference, other):
        calls.append(other.shape)
        return torch.full((reference.shape[0], 2, *reference.shape[-2:]), float(len(calls)))

    d = {k: torch.rand(3, 8, 10) for k in ("frame0", "label", "frame1")}
    out = TeacherFlowd(teacher=teacher)(d)
    assert len(calls) == 2 and out["teacher_flow"].shape == (4, 8, 10)
    assert out["teacher_flow"][:2].unique().tolist() == [1.0] and out["teacher_flow"][2:].unique().tolist() == [2.0]
    with pytest.raises(KeyError, match="frame1"):
        TeacherFlowd(teacher=teacher)({"frame0": d["frame0"], "label": d["label"]})


def test_fgdcn_loss_uses_precomputed_flows_from_the_target_dict():
    """The same flows given precomputed or through the teacher callable give the same distillation term."""
    torch.manual_seed(0)
    b, h, w = 2, 64, 64
    gt, f0, f1 = (torch.rand(b, 3, h, w) for _ in range(3))
    flows = torch.randn(b, 4, h, w)
    flow_list = [torch.randn(b, 4, h // 2, w // 2), torch.randn(b, 4, h // 2, w // 2)]
    pred = {"rec": torch.rand(b, 3, h, w), "flow_list": flow_list}
    teacher = lambda ref, other: flows[:, :2] if other is f0 else flows[:, 2:]  # noqa: E731
    on_the_fly = FGDCNLoss(teacher=teacher, flow_weight=1.0)(pred, {"label": gt, "frame0": f0, "frame1": f1})
    precomputed = FGDCNLoss(flow_weight=1.0)(pred, {"label": gt, "teacher_flow": flows})
    assert on_the_fly["flow"].item() > 0.1
    torch.testing.assert_close(precomputed["flow"], on_the_fly["flow"])
    torch.testing.assert_close(precomputed["loss"], on_the_fly["loss"])
