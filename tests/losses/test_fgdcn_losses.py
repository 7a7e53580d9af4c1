"""FGDCN losses (docs/models/fgdcn.md, 'Losses', 'Tests'): LapLoss, census, FFT, flow distillation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.losses.fgdcn import (
    CensusLoss,
    FFTLoss,
    FGDCNLoss,
    FlowDistillationLoss,
    LapLoss,
    adaptive_charbonnier,
    flow_epe,
    laplacian_kernel,
    robust_weight,
)
from monai_mcrecon.networks.nets.fgdcn import FGDCNOutput
from monai_mcrecon.ops.optical_flow import TVL1FlowTeacher
from monai_mcrecon.ops.warp import flow_warp, resize_flow


def _img(b=2, c=3, h=32, w=32, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_laplacian_kernel_is_the_release_sum_of_squared_gaussians():
    k = laplacian_kernel(5, 2.0, torch.float64)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(k, k.T)
    torch.testing.assert_close(k, k.flip(0))
    i = np.arange(5)[:, None]
    j = np.arange(5)[None, :]
    ref = np.exp(-((i - 2) ** 2) / 4.0) + np.exp(-((j - 2) ** 2) / 4.0)
    np.testing.assert_allclose(k.numpy(), ref / ref.sum(), rtol=1e-12)
    # a sum, not the separable product: the corner is not the product of the edge values
    assert float(k[0, 0] / k[2, 2]) == pytest.approx(2 * np.exp(-1) / 2)
    with pytest.raises(ValueError, match="odd"):
        laplacian_kernel(4)


def _filter_replicate(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    p = k.shape[0] // 2
    xp = np.pad(x, p, mode="edge")
    out = np.zeros_like(x)
    for y in range(x.shape[0]):
        for xx in range(x.shape[1]):
            out[y, xx] = (xp[y : y + k.shape[0], xx : xx + k.shape[1]] * k).sum()
    return out


def test_laplacian_loss_matches_a_hand_computed_two_level_example():
    a, b = _img(1, 1, 8, 8, 1), _img(1, 1, 8, 8, 2)
    k = laplacian_kernel(5, 2.0, torch.float64).numpy()

    def pyramid(x):
        out, cur = [], x
        for _ in range(2):
            f = _filter_replicate(cur, k)
            out.append(cur - f)
            cur = f.reshape(f.shape[0] // 2, 2, f.shape[1] // 2, 2).mean((1, 3))
        return out + [cur]

    pa, pb = pyramid(a[0, 0].numpy()), pyramid(b[0, 0].numpy())
    expected = sum(np.abs(x - y).mean() for x, y in zip(pa, pb))
    loss = LapLoss(max_levels=2)
    assert float(loss(a, b)) == pytest.approx(expected, rel=1e-6)
    assert float(loss(a, a)) == 0.0
    with pytest.raises(ValueError, match="H, W >= 32"):
        LapLoss()(a, b)


def test_laplacian_loss_accepts_five_dimensional_inputs():
    a, b = _img(2, 3, 32, 32, 1), _img(2, 3, 32, 32, 2)
    loss = LapLoss()
    assert float(loss(a[:, None], b[:, None])) == pytest.approx(float(loss(a, b)))


def test_census_is_zero_for_identical_images_and_ignores_brightness_offsets_inside():
    a, b = _img(seed=3), _img(seed=4)
    census = CensusLoss()
    assert float(census(a, a)) == 0.0
    d = census.distance_map(a, b)
    d_shift = census.distance_map(a + 0.3, b)
    torch.testing.assert_close(d_shift[..., 3:-3, 3:-3], d[..., 3:-3, 3:-3])
    assert not torch.allclose(d_shift, d)  # the zero padding makes the border depend on the offset
    assert float(d[..., 0, :].abs().sum()) == 0.0 and float(d[..., :, -1].abs().sum()) == 0.0
    assert float(census(a, b)) == pytest.approx(float(d.mean()))
    assert 0 < float(census(a, b)) < 1
    with pytest.raises(ValueError, match="RGB"):
        census(a[:, :1], b[:, :1])


def test_census_single_pixel_example():
    a = torch.zeros(1, 3, 9, 9, dtype=torch.float64)
    b = a.clone()
    b[..., 4, 4] = 1.0  # gray 0.9999 at the centre
    d = CensusLoss().distance_map(a, b)
    g = 0.2989 + 0.5870 + 0.1140
    tau = g / np.sqrt(0.81 + g**2)  # each neighbour sees -g at its offset, the centre sees +g at all 48 others
    per = tau**2 / (0.1 + tau**2)
    assert float(d[0, 0, 4, 4]) == pytest.approx(48 / 49 * per)
    assert float(d[0, 0, 4, 5]) == pytest.approx(1 / 49 * per)


def test_fft_loss_is_zero_for_identical_images_and_matches_numpy():
    a, b = _img(seed=5), _img(seed=6)
    fft = FFTLoss()
    assert float(fft(a, a)) == 0.0
    d = np.fft.fft2(a.numpy()) - np.fft.fft2(b.numpy())
    assert float(fft(a, b)) == pytest.approx(np.abs(d.real).mean() + np.abs(d.imag).mean())
    assert float(fft(a, b)) > 0


def _translation_pair(shift: float, size: int = 32):
    """A smooth texture and its horizontal translation: other(p) = reference(p - shift)."""
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    ref = 0.5 + 0.25 * torch.sin(x / 3.0) * torch.cos(y / 4.0) + 0.2 * torch.sin((x + 2 * y) / 5.0)
    flow = torch.zeros(1, 2, size, size, dtype=torch.float64)
    flow[:, 0] = -shift
    other = flow_warp(ref.expand(1, 3, size, size), flow)  # other(p) = ref(p - shift)
    return ref.expand(1, 3, size, size).contiguous(), other


def test_oracle_teacher_exact_flow_gives_the_epe_floor():
    """frame0(p) = GT(p - 2), frame1(p) = GT(p + 2) (horizontal): the exact flows GT->frame0 and GT->frame1 are
    (+2, 0) and (-2, 0) (``warp(frame, flow) = GT``); an analytic oracle returns them, and the EPE of the exact
    flow is the floor sqrt(1e-6) per pixel."""
    gt, _ = _translation_pair(0.0)

    def oracle(reference, other):
        f = torch.zeros(reference.shape[0], 2, *reference.shape[-2:], dtype=reference.dtype)
        f[:, 0] = 2.0 if other is frame0 else -2.0
        return f

    frame0 = flow_warp(gt, torch.stack([torch.full_like(gt[:, 0], -2.0), torch.zeros_like(gt[:, 0])], 1))
    frame1 = flow_warp(gt, torch.stack([torch.full_like(gt[:, 0], 2.0), torch.zeros_like(gt[:, 0])], 1))
    distill = FlowDistillationLoss(oracle)
    t = distill.teacher_flows(gt, frame0, frame1)
    # the oracle's flows really align the frames to the ground truth (interior, away from border clamping)
    torch.testing.assert_close(flow_warp(frame0, t[:, :2])[..., 4:-4], gt[..., 4:-4])
    torch.testing.assert_close(flow_warp(frame1, t[:, 2:])[..., 4:-4], gt[..., 4:-4])
    exact = [torch.cat([resize_flow(t[:, :2], scale_factor=0.5), resize_flow(t[:, 2:], scale_factor=0.5)], 1)] * 3
    torch.testing.assert_close(flow_epe(exact[0][:, :2], resize_flow(t[:, :2], scale_factor=0.5)),
                               torch.full((1, 1, 16, 16), 1e-3, dtype=torch.float64))
    assert float(distill(exact, t)) == pytest.approx(3 * 1e-3)
    wrong = [e + 1.0 for e in exact]
    assert float(distill(wrong, t)) == pytest.approx(3 * np.sqrt(2 + 1e-6))


def test_teacher_shape_is_checked():
    distill = FlowDistillationLoss(lambda ref, other: torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, 2, H, W\]"):
        distill.teacher_flows(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="no teacher"):
        FlowDistillationLoss().teacher_flows(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def _output(rec, flows=None):
    b, _, h, w = rec.shape
    flows = flows or [torch.zeros(b, 4, h // 2, w // 2, dtype=rec.dtype)]
    return FGDCNOutput(rec=rec, flow_list=flows, flow=torch.zeros(b, 4, h, w), mask=torch.ones(b, 1, h, w), anchor=rec,
                       rec_half=F.interpolate(rec, scale_factor=0.5, mode="bilinear"),
                       rec_quarter=F.interpolate(rec, scale_factor=0.25, mode="bilinear") + 0.1)


def test_fgdcn_loss_combines_the_release_terms_with_their_weights():
    a, b = _img(seed=7), _img(seed=8)
    terms = FGDCNLoss()(_output(a), b)
    assert float(terms["lap"]) == pytest.approx(float(LapLoss()(a, b)))
    assert float(terms["fft"]) == pytest.approx(0.1 * float(FFTLoss()(a, b)))
    assert float(terms["census"]) == pytest.approx(2 * float(CensusLoss()(a, b)))
    assert float(terms["flow"]) == 0.0 and float(terms["pyramid"]) == 0.0
    total = sum(float(terms[k]) for k in ("lap", "fft", "census", "flow", "pyramid"))
    assert float(terms["loss"]) == pytest.approx(total)
    # precomputed teacher flows in the target dict switch distillation on (weight 0.01)
    tf = torch.ones(2, 4, 32, 32, dtype=torch.float64)
    with_flow = FGDCNLoss()(_output(a), {"label": b, "teacher_flow": tf})
    assert float(with_flow["flow"]) == pytest.approx(0.01 * float(FlowDistillationLoss()(_output(a).flow_list, tf)))
    # the release's commented-out pyramid variant: L1 of rec_quarter (offset by 0.1) against the down-sampled GT
    pyr = FGDCNLoss(pyramid_weights=(0.0, 1.0))(_output(b), b)
    assert float(pyr["pyramid"]) == pytest.approx(0.1, rel=1e-6)


def test_fgdcn_loss_anchor_and_refined_flow_terms_are_off_by_default_and_exact_when_on():
    a, b = _img(seed=7), _img(seed=8)
    tf = torch.full((2, 4, 32, 32), 0.5, dtype=torch.float64)
    out = _output(a)
    out.anchor = a + 0.05
    release = FGDCNLoss()(out, {"label": b, "teacher_flow": tf})
    assert float(release["anchor"]) == 0.0 and float(release["refined"]) == 0.0
    terms = FGDCNLoss(anchor_weight=0.5, refined_flow_weight=0.2)(out, {"label": b, "teacher_flow": tf})
    assert float(terms["anchor"]) == pytest.approx(0.5 * float(LapLoss()(a + 0.05, b)))
    # refined flows are zero, teacher flows (0.5, 0.5) per direction: EPE = sqrt(0.5) everywhere
    assert float(terms["refined"]) == pytest.approx(0.2 * 0.5 ** 0.5, rel=1e-6)
    assert float(terms["loss"]) == pytest.approx(float(release["loss"]) + float(terms["anchor"]) + float(terms["refined"]))
    # without teacher flows the refined term is absent, the anchor term is not
    no_teacher = FGDCNLoss(anchor_weight=0.5, refined_flow_weight=0.2)(out, b)
    assert float(no_teacher["refined"]) == 0.0 and float(no_teacher["anchor"]) == pytest.approx(float(terms["anchor"]))


def test_adaptive_charbonnier_is_charbonnier_at_full_weight_and_flat_at_zero_weight():
    d = torch.tensor([[[[0.0, 0.5, -2.0, 3.0]]]], dtype=torch.float64)
    one, zero = torch.ones_like(d), torch.zeros_like(d)
    assert float(adaptive_charbonnier(d, one)) == pytest.approx(float(torch.sqrt(d**2 + 1e-6).mean()))
    assert float(adaptive_charbonnier(d, zero)) == pytest.approx(1.0)
    # w = 0.5: exponent 1/4, eps = 10^(-4/3) (IFRNet's Charbonnier_Ada by hand)
    half = torch.full_like(d, 0.5)
    expected = np.mean((d.numpy() ** 2 + 10 ** (-8 / 3)) ** 0.25)
    assert float(adaptive_charbonnier(d, half)) == pytest.approx(expected)
    # no gradient where the weight is 0: the teacher is ignored where the network's flow disagrees with it
    d.requires_grad_(True)
    adaptive_charbonnier(d, zero).backward()
    assert torch.count_nonzero(d.grad) == 0


def test_robust_distillation_weights_each_pixel_by_the_final_flow_agreement():
    """robust_beta = 0.3 (IFRNet): w = exp(-0.3 EPE(final, T)); with the final flow equal to the teacher's, w = 1 and
    the loss is the mean Charbonnier of the component differences; where the final flow is far off, the pixel's
    term flattens to 1."""
    b, h, w = 1, 32, 32
    t = torch.zeros(b, 4, h, w, dtype=torch.float64)
    t[:, 0], t[:, 2] = 2.0, -2.0
    coarse = [torch.zeros(b, 4, h // 2, w // 2, dtype=torch.float64)]  # zero flow: component differences (-1, 0), (1, 0)
    assert float(robust_weight(t, t, 0.3).min()) == 1.0
    agree = FlowDistillationLoss(robust_beta=0.3)(coarse, t, final_flow=t)
    assert float(agree) == pytest.approx(float(torch.sqrt(torch.tensor([1.0, 1e-6], dtype=torch.float64)).mean()))
    # final flow 10 px off in the left half: w = exp(-3) there, whose penalty is near 1 instead of 0.5
    final = t.clone()
    final[..., : w // 2] += 10.0
    rw = robust_weight(final[:, :2], t[:, :2], 0.3)  # per direction: (10, 10) px off
    assert torch.allclose(rw[..., : w // 2], torch.full_like(rw[..., : w // 2], np.exp(-0.3 * np.sqrt(200.0))))
    off = FlowDistillationLoss(robust_beta=0.3)(coarse, t, final_flow=final)
    assert float(agree) < float(off) < 1.0
    # the release's EPE is the default, and the robust form needs the final flow on the teacher's grid
    assert float(FlowDistillationLoss()(coarse, t)) == pytest.approx(float(np.sqrt(1 + 1e-6)))
    with pytest.raises(ValueError, match="final flow"):
        FlowDistillationLoss(robust_beta=0.3)(coarse, t)
    with pytest.raises(ValueError, match="robust_beta"):
        FlowDistillationLoss(robust_beta=-1.0)
    # FGDCNLoss uses the network's refined flow as the final flow for both flow terms
    out = _output(_img(b=1, h=h, w=w))
    out.flow = t.clone()
    terms = FGDCNLoss(flow_weight=1.0, refined_flow_weight=1.0, robust_beta=0.3)(out, {"label": out.rec, "teacher_flow": t})
    assert float(terms["flow"]) == pytest.approx(float(agree))
    assert float(terms["refined"]) == pytest.approx(float(np.sqrt(1e-6)))


def test_fgdcn_loss_errors_name_the_fix():
    a = _img()
    with pytest.raises(KeyError, match="target_keys"):
        FGDCNLoss(teacher=lambda r, o: torch.zeros_like(r[:, :2]))(_output(a), {"label": a})
    with pytest.raises(TypeError, match="return_all_outputs"):
        FGDCNLoss()(a, a)


def test_tvl1_teacher_recovers_a_translation_in_the_project_convention():
    reference, other = _translation_pair(2.0, 48)  # other(p) = reference(p - 2) -> warp(other, +2) = reference
    flow = TVL1FlowTeacher()(reference.float(), other.float())
    assert flow.shape == (1, 2, 48, 48) and flow.dtype == torch.float32
    inner = flow[..., 8:-8, 8:-8]
    assert float(inner[:, 0].median()) == pytest.approx(2.0, abs=0.25)
    assert float(inner[:, 1].abs().median()) < 0.25
