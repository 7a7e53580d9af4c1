"""SSRDE-FNet: the test list of docs/models/ssrde_fnet.md ('Tests') and its losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from monai_mcrecon.losses.stereo import DEFAULT_WEIGHTS, SSRDELoss, disparity_smoothness, photometric_ssim_l1, ssim_map
from monai_mcrecon.networks.nets.ssrde_fnet import (
    CostVolume,
    ParallaxAttention,
    SSRDEFNet,
    SSRDEFNetOutput,
    SSRDEFNetTestOutput,
    attention_transfer,
    coordinates_to_disparity,
    disparity_hypotheses,
    matching_coordinate,
    pam_validity,
    relax,
    soft_argmin,
    warpx,
)


def _views(b=1, h=16, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)


# ------------------------------------------------------------------------------------ 1. PAM arithmetic
def test_attention_rows_sum_to_one_and_a_sharp_identity_cost_gives_identity_maps():
    torch.manual_seed(0)
    cost = 50.0 * torch.eye(7).expand(2, 3, 7, 7)
    m = torch.softmax(cost, -1)
    assert torch.allclose(m.sum(-1), torch.ones(2, 3, 7))
    assert torch.allclose(m, torch.eye(7).expand_as(m), atol=1e-12)
    x_r = torch.rand(2, 5, 3, 7)
    assert torch.allclose(attention_transfer(m, x_r), x_r, atol=1e-6)
    assert torch.allclose(matching_coordinate(m)[:, 0], torch.arange(7.0).expand(2, 3, 7), atol=1e-5)


def test_pam_module_maps_are_row_stochastic():
    torch.manual_seed(0)
    pam = ParallaxAttention(16, 2).eval()
    x_l, x_r = torch.rand(1, 16, 4, 9), torch.rand(1, 16, 4, 9)
    _, _, c_l, c_r, (m_rl, m_lr), (v_l, v_r) = pam(x_l, x_r, x_l, x_r)
    assert m_rl.shape == (1, 4, 9, 9)
    assert torch.allclose(m_rl.sum(-1), torch.ones(1, 4, 9), atol=1e-6)
    assert torch.allclose(m_lr.sum(-1), torch.ones(1, 4, 9), atol=1e-6)
    assert (c_l >= 0).all() and (c_l <= 8).all() and (v_l >= 0).all() and (v_l < 1).all()


def test_relax_of_identity_has_five_diagonals_clipped_at_the_borders():
    r = relax(torch.eye(6)[None], 2)[0]
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    assert torch.equal(r, ((i - j).abs() <= 2).float())


def test_validity_of_consistent_one_hot_maps_is_tanh5():
    perm = torch.eye(5)[None]  # M_{R->L} = M_{L->R} = I: consistent
    v_l, v_r = pam_validity(perm, perm)
    assert torch.allclose(torch.tanh(5 * v_l), torch.full((1, 5), torch.tanh(torch.tensor(5.0)).item()))
    assert torch.allclose(v_r, torch.ones(1, 5))
    w, d = 12, 3
    back = torch.zeros(1, w, w)  # left pixel i sees the right view at i - d (clamped at 0)
    back[0, torch.arange(w), (torch.arange(w) - d).clamp(min=0)] = 1
    fwd = torch.zeros(1, w, w)  # the consistent right -> left map: j sees the left view at j + d
    fwd[0, torch.arange(w), (torch.arange(w) + d).clamp(max=w - 1)] = 1
    inner = slice(2 * d, w - d)  # away from the clamped borders
    v_l, _ = pam_validity(back, fwd)
    assert torch.allclose(v_l[:, inner], torch.ones(1, w - 3 * d))
    v_l, _ = pam_validity(back, back)  # inconsistent: i -> i - 3 -> i - 6, beyond the +-2 relaxation
    assert torch.allclose(v_l[:, inner], torch.zeros(1, w - 3 * d))


# ----------------------------------------------------------------------------------- 2. coordinate warp
@pytest.mark.parametrize("release_grid", [False, True])
def test_warpx_identity_and_one_column_shift(release_grid):
    f = torch.rand(2, 3, 5, 8, dtype=torch.float64)
    xs = torch.arange(8, dtype=torch.float64).view(1, 1, 1, 8).expand(2, 1, 5, 8)
    if not release_grid:
        assert torch.allclose(warpx(f, xs), f, atol=1e-12)
        shifted = warpx(f, xs - 1)
        assert torch.allclose(shifted[..., 1:], f[..., :-1], atol=1e-12)
        assert torch.allclose(shifted[..., 0], torch.zeros_like(f[..., 0]), atol=1e-12)  # zeros padding
    else:  # the release's half-pixel inconsistency: not the identity
        assert not torch.allclose(warpx(f, xs, release_grid=True), f, atol=1e-3)


# -------------------------------------------------------------------------------------- 3. hypotheses
def test_hypotheses_shape_order_range_centre_and_spacing():
    c0 = torch.tensor([[[[0.0, 5.0, 30.0, 63.0]]]])
    hyp = disparity_hypotheses(c0, 12, 6.0, 63.0)
    assert hyp.shape == (1, 12, 1, 4)
    assert (hyp[:, 1:] >= hyp[:, :-1]).all()
    assert hyp.min() >= 0 and hyp.max() <= 63
    mid = hyp[0, :, 0, 2]  # c0 = 30, not clamped: from 24 to 36, centred on 30
    assert mid[0].item() == pytest.approx(24.0) and mid[-1].item() == pytest.approx(36.0)
    assert ((mid[0] + mid[-1]) / 2).item() == pytest.approx(30.0)
    assert torch.allclose(mid[1:] - mid[:-1], torch.full((11,), 12.0 / 11))
    assert hyp[0, 0, 0, 0].item() == 0.0 and hyp[0, -1, 0, 0].item() == pytest.approx(6.0)  # clamped at 0
    assert hyp[0, -1, 0, 3].item() == 63.0  # clamped at maxdisp


# ------------------------------------------------------------------------------------- 4. cost volume
def test_cost_volume_peaks_at_the_true_coordinate_of_a_horizontal_shift():
    torch.manual_seed(0)
    c, h, w, shift = 8, 6, 40, 3
    cv = CostVolume(c)
    with torch.no_grad():
        for conv in (cv.query, cv.key):
            conv.weight.copy_(torch.eye(c).view(c, c, 1, 1))
            conv.bias.zero_()
    other = F.normalize(torch.randn(1, c, h, w), dim=1)  # unit vectors: q . k is largest for k = q
    query = torch.zeros_like(other)
    query[..., shift:] = other[..., :-shift]  # query(x) = other(x - shift): true coordinate x - shift
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w).expand(1, 1, h, w)
    hyp = disparity_hypotheses(xs - shift + 1, 9, 4.0, float(w - 1))  # integer hypotheses, truth off-centre
    cost = cv(query, other, hyp)
    assert cost.shape == (1, 9, h, w)
    best = torch.gather(hyp, 1, cost.argmax(1, keepdim=True))
    interior = (slice(None), slice(None), slice(None), slice(shift + 5, w - 5))
    assert torch.allclose(best[interior], (xs - shift)[interior])


# ------------------------------------------------------------------------------------ 5. soft-argmin
def test_soft_argmin_of_one_hot_probabilities_returns_the_selected_hypothesis():
    hyp = torch.rand(2, 5, 3, 4).cumsum(1)
    idx = torch.randint(0, 5, (2, 1, 3, 4))
    prob = torch.zeros_like(hyp).scatter_(1, idx, 1.0)
    assert torch.equal(soft_argmin(prob, hyp), torch.gather(hyp, 1, idx))


# -------------------------------------------------------------------------------- 6. polyphase split
@pytest.mark.parametrize("s", [2, 4])
def test_polyphase_split_equals_pixel_unshuffle_channels(s):
    c = torch.rand(2, 1, 4 * s, 6 * s)
    un = F.pixel_unshuffle(c, s)
    for i in range(s):
        for j in range(s):
            assert torch.equal(c[:, :, i::s, j::s], un[:, i * s + j : i * s + j + 1])


# ---------------------------------------------------------------------------------- 7. SR residual
def test_with_zeroed_final_convs_all_four_outputs_are_bicubic():
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset("tiny", zero_init_output=True).eval()
    x_l, x_r = _views()
    with torch.no_grad():
        out = net(x_l, x_r)
    up_l = F.interpolate(x_l, scale_factor=2, mode="bicubic", align_corners=False)
    up_r = F.interpolate(x_r, scale_factor=2, mode="bicubic", align_corners=False)
    for k in range(1, 5):
        assert torch.allclose(getattr(out, f"out{k}_left"), up_l, atol=1e-6)
        assert torch.allclose(getattr(out, f"out{k}_right"), up_r, atol=1e-6)


# -------------------------------------------------------------------------------- 8. weight sharing
def test_every_shared_module_serves_both_views_and_both_passes():
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset("tiny").eval()
    calls = {"deep_feature": 0, "pam": 0, "final": 0, "final2": 0, "reconstruct": 0, "cost_volume": 0, "feedback_rdb": 0}
    for name in calls:
        getattr(net, name).register_forward_hook(lambda *a, n=name: calls.__setitem__(n, calls[n] + 1))
    with torch.no_grad():
        net(*_views())
    # 2 views; pam: one call per pass for both views; 2 views x 2 passes; feedback: 2 views x s^2 phases
    assert calls == {"deep_feature": 2, "pam": 2, "final": 4, "final2": 4, "reconstruct": 4, "cost_volume": 4,
                     "feedback_rdb": 8}
    mono = SSRDEFNet.from_preset("tiny", cross_view=False)
    assert sum(p.numel() for p in mono.parameters()) == sum(p.numel() for p in net.parameters())


def test_single_view_baseline_ignores_the_other_view_and_the_stereo_model_does_not():
    torch.manual_seed(0)
    x_l, x_r = _views()
    _, x_r2 = _views(seed=1)
    for cross, same in ((False, True), (True, False)):
        net = SSRDEFNet.from_preset("tiny", cross_view=cross).eval()
        with torch.no_grad():
            a, b = net(x_l, x_r).out4_left, net(x_l, x_r2).out4_left
        assert torch.allclose(a, b) is same


# ------------------------------------------------------------------------------- 9. parameter count
@pytest.mark.parametrize("preset,count", [("default", 2_255_776), ("x2", 2_091_168), ("small", 460_054), ("tiny", 78_343)])
def test_parameter_count(preset, count):
    assert sum(p.numel() for p in SSRDEFNet.from_preset(preset).parameters()) == count


# --------------------------------------------------------------------------------------- 10. outputs
def test_training_outputs_have_the_release_shapes_and_order():
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset("tiny").train()
    out = net(*_views(b=2))
    assert isinstance(out, SSRDEFNetOutput) and len(out.as_tuple()) == 18
    hr, lr = (2, 1, 32, 64), (2, 1, 16, 32)
    for k in range(1, 5):
        assert getattr(out, f"out{k}_left").shape == (2, 3, 32, 64)
    for p in (1, 2):
        assert all(m.shape == (2, 16, 32, 32) for m in getattr(out, f"att{p}"))
        assert all(c.shape == hr for c in getattr(out, f"coord{p}") + getattr(out, f"coord_high{p}"))
    for name, shape in (("valid1", lr), ("valid3", lr), ("valid2", hr), ("valid4", hr)):
        assert all(v.shape == shape and (v >= 0).all() and (v <= 1).all() for v in getattr(out, name))
    names = [f.name for f in dataclasses.fields(out)]
    assert names[6:9] == ["out4_left", "out4_right", "att1"] and names[-1] == "coord_high2"


def test_test_mode_returns_eight_images_and_four_disparity_pairs_in_range():
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset("tiny").eval()
    with torch.no_grad():
        out = net(*_views())
    assert isinstance(out, SSRDEFNetTestOutput) and len(out.as_tuple()) == 12
    for pair in (out.disp_lr1, out.disp_lr2, out.disp_hr1, out.disp_hr2):
        for d in pair:
            assert d.shape == (1, 1, 32, 64) and d.min() >= 0 and d.max() <= 192
    flat = SSRDEFNet.from_preset("tiny", output_format="dict").eval()(*_views())
    assert {"out4_left", "out4_right", "disp_hr2_left", "disp_lr1_right"} <= set(flat)


def test_coordinates_to_disparity_conventions():
    c = torch.tensor([[[[0.0, 0.5, 1.0, 10.0]]]])
    assert torch.equal(coordinates_to_disparity(c, "left"), torch.tensor([[[[0.0, 0.5, 1.0, 0.0]]]]))
    assert torch.equal(coordinates_to_disparity(c, "right", 5.0), torch.tensor([[[[0.0, 0.0, 0.0, 5.0]]]]))


def test_bad_inputs_are_named():
    net = SSRDEFNet.from_preset("tiny")
    with pytest.raises(ValueError, match="same shape"):
        net(torch.rand(1, 3, 16, 32), torch.rand(1, 3, 16, 30))
    with pytest.raises(ValueError, match="smaller than the largest LR pool"):
        net(torch.rand(1, 3, 6, 32), torch.rand(1, 3, 6, 32))
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.rand(1, 3, 17, 32), torch.rand(1, 3, 17, 32))
    with pytest.raises(ValueError, match="2 or 4"):
        SSRDEFNet(upscale_factor=3)
    with pytest.raises(TypeError, match="cross_view must be a bool"):
        SSRDEFNet.from_preset("tiny", cross_view="false")  # a command-line string would silently be true
    with pytest.raises(ValueError, match="Unknown preset"):
        SSRDEFNet.from_preset("huge")
    adaptive = SSRDEFNet.from_preset("tiny", adaptive_pools=True).eval()
    assert adaptive(torch.rand(1, 3, 6, 10), torch.rand(1, 3, 6, 10)).out4_left.shape == (1, 3, 12, 20)


# ------------------------------------------------------------------------------- 11. loss, gradients
def _targets(out, x_l, x_r, seed=2):
    g = torch.Generator().manual_seed(seed)
    hr = out.out1_left.shape
    return {"left": torch.rand(hr, generator=g), "right": torch.rand(hr, generator=g), "lr_left": x_l, "lr_right": x_r}


def test_loss_is_finite_and_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset("tiny").train()
    x_l, x_r = _views(b=2)
    out = net(x_l, x_r)
    terms = SSRDELoss(scale=2)(out, _targets(out, x_l, x_r))
    assert set(terms) == {"loss", "sr", *DEFAULT_WEIGHTS}
    assert all(torch.isfinite(v) for v in terms.values())
    expected = terms["sr"] + sum(DEFAULT_WEIGHTS[k] * terms[k] for k in DEFAULT_WEIGHTS)
    assert torch.allclose(terms["loss"], expected)
    terms["loss"].backward()
    assert [n for n, p in net.named_parameters() if p.grad is None] == []
    # a PReLU slope gets no gradient while all its inputs are positive (the 2-unit CA bottleneck of tiny)
    zero = [n for n, p in net.named_parameters() if not p.grad.abs().sum() > 0 and not n.endswith("fc.1.weight")]
    assert zero == []


def test_sr_only_loss_is_the_sum_of_eight_l1_terms():
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset("tiny").train()
    x_l, x_r = _views()
    out = net(x_l, x_r)
    tgt = _targets(out, x_l, x_r)
    terms = SSRDELoss({k: 0 for k in DEFAULT_WEIGHTS})(out, {"left": tgt["left"], "right": tgt["right"]})
    expected = sum((o_l - tgt["left"]).abs().mean() + (o_r - tgt["right"]).abs().mean() for o_l, o_r in out.sr_outputs())
    assert set(terms) == {"loss", "sr"} and torch.allclose(terms["loss"], expected)
    with pytest.raises(ValueError, match="Unknown SSRDELoss weights"):
        SSRDELoss({"photo_loss": 1.0})
    with pytest.raises(KeyError, match="LR views"):
        SSRDELoss()(out, {"left": tgt["left"], "right": tgt["right"]})
    with pytest.raises(TypeError, match="training-mode"):
        SSRDELoss()(out.to_dict(), tgt)


def test_loss_helpers_vanish_on_perfect_data():
    img = torch.rand(1, 3, 20, 24, dtype=torch.float64)
    assert torch.allclose(ssim_map(img, img), torch.ones_like(img))
    assert disparity_smoothness(torch.full((1, 1, 20, 24), 7.0, dtype=torch.float64), img).item() == 0.0
    ramp = torch.arange(24, dtype=torch.float64).view(1, 1, 1, 24).expand(1, 1, 20, 24)
    assert disparity_smoothness(ramp, torch.zeros_like(img)).item() == pytest.approx(20 * 23 / (20 * 23 + 19 * 24))
    # right view = left shifted by 2 columns; the left view samples it at x - 2 (valid where x >= 2)
    right = torch.zeros_like(img)
    right[..., :-2] = img[..., 2:]
    valid = torch.zeros(1, 1, 20, 24, dtype=torch.float64)
    valid[..., 2:] = 1
    l1_part = photometric_ssim_l1(img, right, ramp - 2, valid)
    assert l1_part.item() < photometric_ssim_l1(img, right, ramp, valid).item()
    assert (warpx(right, ramp - 2) - img)[..., 2:].abs().max() < 1e-12



def test_disparity_form_of_the_smoothness_loss_vanishes_for_a_constant_disparity():
    """Issue 6: the release's L_S smooths matching coordinates, whose x-difference is 1 for a constant
    disparity; ``smoothness_on="disparity"`` smooths ``x - c`` and is zero there."""
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset("tiny").train()
    x_l, x_r = _views()
    with torch.no_grad():
        out = net(x_l, x_r)
    h, w = out.out4_left.shape[-2:]
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w).expand(1, 1, h, w)
    pair = (xs - 3.0, xs + 3.0)  # left matches x - 3, right matches x + 3: disparity 3 everywhere
    out = dataclasses.replace(out, coord_high1=pair, coord_high2=pair)
    target = {**_targets(out, x_l, x_r), "left": torch.zeros(1, 3, h, w), "right": torch.zeros(1, 3, h, w)}
    only_ls = {k: (1.0 if k == "disp_smooth" else 0.0) for k in DEFAULT_WEIGHTS}
    ramp_term = h * (w - 1) / (h * (w - 1) + (h - 1) * w)  # the x-differences of a coordinate ramp
    release = SSRDELoss(only_ls)(out, target)["disp_smooth"]
    assert release.item() == pytest.approx(4 * ramp_term, rel=1e-5)
    fixed = SSRDELoss(only_ls, smoothness_on="disparity")(out, target)["disp_smooth"]
    assert fixed.item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="smoothness_on"):
        SSRDELoss(smoothness_on="disp")
