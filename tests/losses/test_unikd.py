"""UniKD losses (docs/models/unikd.md, 'Tests') and the restoration adaptation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from monai.networks.nets import resnet18

from monai_mcrecon.engines.distillation import DistillationTrainer
from monai_mcrecon.losses.unikd import (
    ABFAggregator,
    DistributionHead,
    GaussianMapHead,
    UniKDLoss,
    UniKDRestorationLoss,
    dkd_loss,
    gaussian_kl,
    kd_loss,
    warmup_factor,
)
from monai_mcrecon.networks.blocks.feature_hooks import FeatureHooks
from monai_mcrecon.networks.nets.kd_students import StageNet, Top1Accuracy
from monai_mcrecon.networks.nets.mc_cdic import MCCDic


def _tiny_pair(seed: int = 0):
    torch.manual_seed(seed)
    teacher = StageNet.from_preset("teacher_tiny").eval().requires_grad_(False)
    student = StageNet.from_preset("tiny")
    loss = UniKDLoss(student.widths, teacher.widths, num_classes=10, mid_channels=16, warmup=1)
    return teacher, student, loss


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(4, 3, 32, 32, generator=g), torch.randint(0, 10, (4,), generator=g)


# --- 1. temperature KD ------------------------------------------------------------------------------


def test_kd_is_zero_for_equal_logits_nonnegative_and_matches_a_hand_computed_example():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 7, generator=g, dtype=torch.float64)
    b = torch.randn(5, 7, generator=g, dtype=torch.float64)
    assert kd_loss(a, a, 4.0).item() == pytest.approx(0.0, abs=1e-12)
    assert kd_loss(a, b, 4.0).item() > 0 and kd_loss(b, a, 2.0).item() > 0
    # 3 classes, T = 2: p = softmax(b / 2), q = softmax(a / 2), KD = 4 * sum p (log p - log q)
    s = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    t = torch.tensor([[3.0, 1.0, 0.0]], dtype=torch.float64)
    p = [math.exp(x / 2) for x in (3.0, 1.0, 0.0)]
    q = [math.exp(x / 2) for x in (1.0, 2.0, 3.0)]
    p = [x / sum(p) for x in p]
    q = [x / sum(q) for x in q]
    expected = 4 * sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
    assert kd_loss(s, t, 2.0).item() == pytest.approx(expected, rel=1e-12)
    # by hand: p = (.6285, .2312, .1402), q = (.1863, .3072, .5065), KL = .5185, x T^2 = 2.074
    assert expected == pytest.approx(2.074, abs=2e-3)


def test_kd_rejects_mismatched_logits():
    with pytest.raises(ValueError, match="same shape"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 4))


# --- 2. DKD ---------------------------------------------------------------------------------------


def test_dkd_decomposition_identity():
    g = torch.Generator().manual_seed(1)
    t = 3.0
    zs = torch.randn(8, 6, generator=g, dtype=torch.float64) * 2
    zt = torch.randn(8, 6, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 6, (8,), generator=g)
    for i in range(8):  # per sample: KD/T^2 = KL(q_t||q_s) + (1 - p_t,y) KL(p~_t||p~_s)
        s1, t1, y1 = zs[i : i + 1], zt[i : i + 1], y[i : i + 1]
        tckd = dkd_loss(s1, t1, y1, alpha=1.0, beta=0.0, temperature=t) / t**2
        nckd = dkd_loss(s1, t1, y1, alpha=0.0, beta=1.0, temperature=t) / t**2
        p_ty = F.softmax(t1 / t, dim=1)[0, y1].item()
        lhs = kd_loss(s1, t1, t) / t**2
        assert lhs.item() == pytest.approx((tckd + (1 - p_ty) * nckd).item(), abs=1e-6)
    assert dkd_loss(zs, zs, y).item() == pytest.approx(0.0, abs=1e-10)


# --- 3. warm-up -----------------------------------------------------------------------------------


def test_warmup_scales_the_logit_term_from_zero_to_full_weight():
    teacher, student, loss = _tiny_pair()
    loss.warmup = 4
    x, y = _batch()
    with torch.no_grad():
        tr = teacher(x, return_features=True)
    logits, feats = student(x, return_features=True)
    full = dkd_loss(logits, tr[0], y, 1.0, 8.0, 4.0).item()
    assert full > 0
    for epoch, factor in ((0, 0.0), (1, 0.25), (4, 1.0), (9, 1.0)):
        loss.set_epoch(epoch)
        assert loss(logits, y, feats, [tr])["loss_logits"].item() == pytest.approx(factor * full, rel=1e-6)
    assert warmup_factor(3, 0) == 1.0


# --- 4. ABF chain -----------------------------------------------------------------------------------


def test_abf_chain_shapes_and_first_abf_has_no_attention():
    agg = ABFAggregator([8, 16, 32], out_channels=[5, 6, 7], mid_channels=16)
    feats = [torch.rand(2, 8, 32, 32), torch.rand(2, 16, 16, 16), torch.rand(2, 32, 8, 8)]
    results = agg(feats)
    assert [tuple(r.shape) for r in results] == [(2, 5, 32, 32), (2, 6, 16, 16), (2, 7, 8, 8)]
    assert agg.abfs[0].att_conv is None and all(a.att_conv is not None for a in agg.abfs[1:])
    assert agg.mid_channels == 16 and ABFAggregator([8, 16, 600]).mid_channels == 512
    # the shallowest result depends on the deepest stage (information flows deep -> shallow)
    feats2 = [feats[0], feats[1], torch.rand(2, 32, 8, 8)]
    assert not torch.allclose(agg(feats2)[0], results[0])


# --- 5. distribution head ---------------------------------------------------------------------------


def test_distribution_head_eval_is_deterministic_train_reparameterises_and_tiny_variance_gives_mu():
    torch.manual_seed(0)
    head = DistributionHead(8, 10)
    f = torch.rand(3, 8, 4, 4)
    head.eval()
    z1, mu, _ = head(f)
    z2, _, _ = head(f)
    assert torch.equal(z1, z2) and torch.equal(z1, mu)
    head.train()
    torch.manual_seed(5)
    z, mu, log_var = head(f)
    torch.manual_seed(5)
    eps = torch.randn_like(mu)
    assert torch.allclose(z, mu + torch.exp(0.5 * log_var) * eps, atol=1e-6)
    assert not torch.allclose(z, mu)
    with torch.no_grad():
        head.log_var.weight.zero_()
        head.log_var.bias.fill_(-60.0)
    z, mu, _ = head(f)
    assert torch.allclose(z, mu, atol=1e-10)


def test_gaussian_map_head_and_kl():
    head = GaussianMapHead(4, 1).eval()
    f = torch.rand(2, 4, 6, 6)
    z, mu, lv = head(f)
    assert z.shape == (2, 1, 6, 6) and torch.equal(z, mu)
    m = torch.tensor([0.3], dtype=torch.float64)
    # KL(N(0.3, e^0.2) || N(-0.1, e^-0.4)) by hand
    expected = 0.5 * (-0.4 - 0.2 + (math.exp(0.2) + 0.16) / math.exp(-0.4) - 1)
    assert gaussian_kl(m, m * 0 + 0.2, m * 0 - 0.1, m * 0 - 0.4).item() == pytest.approx(expected, rel=1e-12)
    assert gaussian_kl(m, m, m, m).item() == 0.0
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        head(torch.rand(2, 4))


# --- 6. gradient routing ----------------------------------------------------------------------------


def test_gradients_never_reach_the_teacher_and_train_student_abf_and_both_heads():
    teacher, student, loss = _tiny_pair()
    teacher.requires_grad_(True)  # even a teacher left trainable gets no gradient through the loss
    loss.set_epoch(1)
    x, y = _batch()
    with torch.no_grad():
        tr = teacher(x, return_features=True)
    logits, feats = student(x, return_features=True)
    loss(logits, y, feats, [tr])["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    for module in (student, loss.aggregator, loss.student_heads, loss.teacher_heads):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_distillation_trainer_keeps_the_teacher_frozen_and_logs_the_terms():
    teacher, student, loss = _tiny_pair()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    x, y = _batch()
    data = [{"image": x[i], "label": y[i]} for i in range(4)]
    opt = torch.optim.SGD(list(student.parameters()) + list(loss.parameters()), lr=0.05)
    trainer = DistillationTrainer(
        device=torch.device("cpu"), max_epochs=2, train_data_loader=torch.utils.data.DataLoader(data, batch_size=4),
        network=student, optimizer=opt, loss_function=loss, teachers=teacher, teacher_kwargs={"return_features": True},
    )
    trainer.run()
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # BN statistics too (eval mode)
    assert loss.epoch == 2  # set_epoch is called at every epoch start
    output = trainer.state.output
    terms = (output[0] if isinstance(output, list) else output)["loss_terms"]  # decollated per sample
    assert set(terms) == {"loss_ce", "loss_logits", "loss_feature", "loss_supp"} and terms["loss_logits"] > 0


def test_trainer_rejects_heads_missing_from_the_optimizer():
    teacher, student, loss = _tiny_pair()
    with pytest.raises(ValueError, match="not in the optimizer"):
        DistillationTrainer(
            device=torch.device("cpu"), max_epochs=1, train_data_loader=[], network=student,
            optimizer=torch.optim.SGD(student.parameters(), lr=0.1), loss_function=loss, teachers=teacher,
        )


# --- 7. stages="first" ------------------------------------------------------------------------------


def test_first_stage_mode_uses_one_head_pair_on_results0_and_the_teacher_stage1_map():
    teacher, student, _ = _tiny_pair()
    loss = UniKDLoss(student.widths, teacher.widths, 10, stages="first", mid_channels=16).eval()
    assert len(loss.student_heads) == len(loss.teacher_heads) == 1
    assert loss.teacher_heads[0].mu.in_features == teacher.widths[0]
    x, _ = _batch()
    _, sf = student(x, return_features=True)
    _, tf = teacher(x, return_features=True)
    z_s, z_t = loss.distributions(sf, tf)
    assert len(z_s) == len(z_t) == 1
    assert torch.allclose(z_s[0], loss.student_heads[0](loss.aggregator(sf)[0])[1])
    assert torch.allclose(z_t[0], loss.teacher_heads[0](tf[0])[1])


# --- 8. finite, overfit -----------------------------------------------------------------------------


def test_five_sgd_steps_on_one_batch_reduce_the_total_loss():
    teacher, student, loss = _tiny_pair()
    loss.set_epoch(1)
    x, y = _batch()
    with torch.no_grad():
        tr = teacher(x, return_features=True)
    opt = torch.optim.SGD(list(student.parameters()) + list(loss.parameters()), lr=0.02, momentum=0.9)
    values = []
    for _ in range(6):
        torch.manual_seed(0)  # same reparameterisation noise every step
        logits, feats = student(x, return_features=True)
        total = loss(logits, y, feats, [tr])["loss"]
        assert torch.isfinite(total)
        values.append(total.item())
        opt.zero_grad()
        total.backward()
        opt.step()
    assert values[-1] < values[0]


# --- acceptance-level properties ---------------------------------------------------------------------


def test_distillation_terms_are_zero_for_the_same_network_with_the_same_heads():
    torch.manual_seed(0)
    net = StageNet.from_preset("tiny").eval()
    loss = UniKDLoss(net.widths, net.widths, 10, aggregate=False).eval()
    loss.teacher_heads.load_state_dict(loss.student_heads.state_dict())
    loss.set_epoch(100)
    for logit_loss in ("dkd", "kd"):
        loss.logit_loss = logit_loss
        x, y = _batch()
        logits, feats = net(x, return_features=True)
        terms = loss(logits, y, feats, [net(x, return_features=True)])
        assert terms["loss_logits"].item() == pytest.approx(0.0, abs=1e-7)
        assert terms["loss_feature"].item() == pytest.approx(0.0, abs=1e-7)
    # the restoration loss of a network against itself is zero but for the supervised and NLL terms
    torch.manual_seed(0)
    mc = FeatureHooks(MCCDic.from_preset("tiny"), ["compress_z", "fuse_x"]).eval()
    rl = UniKDRestorationLoss([8, 8], [8, 8]).eval()
    rl.teacher_heads.load_state_dict(rl.student_heads.state_dict())
    img = torch.rand(1, 2, 16, 16)
    out, feats = mc(img, return_features=True)
    terms = rl(out, img[:, :1], feats, [mc(img, return_features=True)])
    assert terms["loss_out"].item() == 0.0 and terms["loss_feature"].item() == pytest.approx(0.0, abs=1e-7)


def test_evaluation_is_deterministic():
    teacher, student, loss = _tiny_pair()
    student.eval()
    loss.eval()
    x, y = _batch()
    tr = teacher(x, return_features=True)
    r1 = loss(*student(x, return_features=True)[:1], y, student(x, return_features=True)[1], [tr])
    r2 = loss(*student(x, return_features=True)[:1], y, student(x, return_features=True)[1], [tr])
    assert all(torch.equal(r1[k], r2[k]) for k in r1)
    metric = Top1Accuracy()
    metric(student(x), y)
    acc1 = metric.aggregate().item()
    metric.reset()
    metric(student(x), y)
    assert metric.aggregate().item() == acc1


def test_top1_accuracy_counts_argmax_hits():
    metric = Top1Accuracy()
    metric(torch.tensor([[0.1, 0.9], [2.0, 1.0], [0.0, 1.0]]), torch.tensor([1, 1, 1]))
    assert metric.aggregate().item() == pytest.approx(2 / 3)
    assert metric.get_buffer().reshape(-1).tolist() == [1.0, 0.0, 1.0]


def test_unikd_works_on_a_monai_resnet_through_feature_hooks():
    torch.manual_seed(0)
    layers = ["layer1", "layer2", "layer3"]
    teacher = FeatureHooks(resnet18(spatial_dims=2, n_input_channels=3, num_classes=10), layers).eval()
    student = StageNet.from_preset("tiny")
    loss = UniKDLoss(student.widths, [64, 128, 256], 10, warmup=0)
    x, y = _batch()
    with torch.no_grad():
        tr = teacher(x, return_features=True)
    logits, feats = student(x, return_features=True)
    terms = loss(logits, y, feats, [tr])
    terms["loss"].backward()
    assert all(torch.isfinite(v) for v in terms.values())
    assert all(p.grad is None for p in teacher.parameters())


def test_stage_count_and_width_mismatch_errors_name_the_fix():
    with pytest.raises(ValueError, match="same number of stages"):
        UniKDLoss([8, 16], [16, 32, 64], 10)
    loss = UniKDLoss([8, 16, 32], [16, 32, 64], 10)
    feats = [torch.rand(1, 8, 8, 8), torch.rand(1, 16, 4, 4), torch.rand(1, 30, 2, 2)]
    with pytest.raises(ValueError, match="student_channels"):
        loss.distributions(feats, feats)
    with pytest.raises(ValueError, match="logit_loss"):
        UniKDLoss([8], [8], 10, logit_loss="mse")


# --- restoration adaptation -------------------------------------------------------------------------


def test_restoration_loss_terms_gradients_and_plain_mode():
    torch.manual_seed(0)
    teacher = FeatureHooks(MCCDic.from_preset("tiny"), ["compress_z", "fuse_x", "decoder_z"]).eval().requires_grad_(False)
    student = FeatureHooks(MCCDic.from_preset("tiny", features=4, widths=(4, 4, 4)), ["compress_z", "fuse_x", "decoder_z"])
    loss = UniKDRestorationLoss([4, 4, 2], [8, 8, 2], out_channels=1)
    img, label = torch.rand(2, 2, 16, 16), torch.rand(2, 2, 16, 16)
    with torch.no_grad():
        tr = teacher(img, return_features=True)
    assert tr[0].shape == (2, 1, 16, 16)  # the eval-mode teacher returns the target only
    pred, feats = student(img, return_features=True)
    assert pred.shape == (2, 2, 16, 16)
    terms = loss(pred, label[:, :2], feats, [tr])
    assert terms["loss_out"].item() == pytest.approx(F.l1_loss(pred[:, :1], tr[0]).item(), rel=1e-6)
    assert terms["loss_feature"].item() > 0
    terms["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in loss.teacher_heads.parameters())
    assert sum(float(p.grad.abs().sum()) for p in student.network.lift_x.parameters()) > 0
    plain = loss(pred.detach(), label)
    assert plain["loss"].item() == pytest.approx(F.l1_loss(pred[:, :, :, :], label).item(), rel=1e-6)


def test_restoration_kl_compares_different_resolutions_at_the_teacher_size():
    loss = UniKDRestorationLoss([3], [5])
    s, t = [torch.rand(1, 3, 8, 8)], [torch.rand(1, 5, 16, 16)]
    terms = loss(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), s, [(torch.rand(1, 1, 16, 16), t)])
    assert torch.isfinite(terms["loss"]) and terms["loss_feature"].item() > 0


def _restoration_case(**kwargs):
    torch.manual_seed(0)
    layers = ["compress_z", "fuse_x", "decoder_z"]
    teacher = FeatureHooks(MCCDic.from_preset("tiny"), layers).eval().requires_grad_(False)
    student = FeatureHooks(MCCDic.from_preset("tiny", features=4, widths=(4, 4, 4)), layers)
    loss = UniKDRestorationLoss([4, 4, 2], [8, 8, 2], out_channels=1, **kwargs)
    img, label = torch.rand(2, 2, 16, 16), torch.rand(2, 2, 16, 16)
    with torch.no_grad():
        tr = teacher(img, return_features=True)
    pred, feats = student(img, return_features=True)
    return student, loss, pred, label, feats, tr


def test_restoration_balance_makes_the_feature_term_a_fixed_fraction_of_the_task_loss():
    # the first version's failure: shrinking head variances inflate the raw KL (and its weight) by orders of magnitude
    for balance in (True, False):
        student, loss, pred, label, feats, tr = _restoration_case(w_out=0.0, w_supp=0.0, w_feat=0.1, balance=balance)
        loss.set_epoch(10)
        before = loss(pred, label, feats, [tr])
        with torch.no_grad():
            for head in loss.student_heads:
                head.log_var.bias.sub_(5.0)  # 150x smaller student variances
        after = loss(pred, label, feats, [tr])
        assert after["loss_feature"].item() > 20 * before["loss_feature"].item()
        extra_before = (before["loss"] - before["loss_task"]).item()
        extra_after = (after["loss"] - after["loss_task"]).item()
        if balance:
            assert extra_before == pytest.approx(0.1 * before["loss_task"].item(), rel=1e-5)
            assert extra_after == pytest.approx(0.1 * after["loss_task"].item(), rel=1e-5)
        else:
            assert extra_after > 20 * extra_before
    # balancing rescales, it does not change the direction: the gradient is parallel to the raw KL's
    grads = []
    for balance in (True, False):
        student, loss, pred, label, feats, tr = _restoration_case(w_task=0.0, w_out=0.0, w_supp=0.0, w_feat=1.0, balance=balance)
        loss(pred, label, feats, [tr])["loss"].backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in student.network.lift_x.parameters()]))
    assert F.cosine_similarity(grads[0], grads[1], dim=0).item() == pytest.approx(1.0, abs=1e-4)


def test_restoration_feature_warmup_ramps_the_kl_in():
    student, loss, pred, label, feats, tr = _restoration_case(w_out=0.0, w_supp=0.0, w_feat=0.1, feature_warmup=4)
    for epoch, factor in ((0, 0.0), (1, 0.25), (4, 1.0), (9, 1.0)):
        loss.set_epoch(epoch)
        terms = loss(pred, label, feats, [tr])
        assert (terms["loss"] - terms["loss_task"]).item() == pytest.approx(factor * 0.1 * terms["loss_task"].item(), rel=1e-5, abs=1e-9)


def test_restoration_supplementary_term_trains_the_heads_not_the_student_by_default():
    for trains_student in (False, True):
        student, loss, pred, label, feats, tr = _restoration_case(w_task=0.0, w_out=0.0, w_feat=0.0, w_supp=1.0, supp_trains_student=trains_student)
        terms = loss(pred, label, feats, [tr])
        assert terms["loss_supp"].item() != 0.0
        terms["loss"].backward()
        student_grad = sum(float(p.grad.abs().sum()) for p in student.parameters() if p.grad is not None)
        assert all(float(p.grad.abs().sum()) > 0 for p in loss.student_heads.parameters())
        assert all(float(p.grad.abs().sum()) > 0 for p in loss.teacher_heads.parameters())
        assert (student_grad > 0) == trains_student


def test_digits_low_label_subset_is_stratified_fixed_and_validated():
    from monai_mcrecon.networks.nets.kd_students import digits_datalist

    full, sub = digits_datalist("train", 8), digits_datalist("train", 8, per_class=10)
    assert len(full) == 1257 and len(sub) == 100
    assert sorted(d["label"] for d in sub) == sorted(list(range(10)) * 10)
    ids = {d["case_id"] for d in full}
    assert {d["case_id"] for d in sub} <= ids and not {d["case_id"] for d in sub} & {d["case_id"] for d in digits_datalist("test", 8)}
    assert [d["case_id"] for d in digits_datalist("train", 8, per_class=10)] == [d["case_id"] for d in sub]
    with pytest.raises(ValueError, match="training split only"):
        digits_datalist("test", 8, per_class=10)
    with pytest.raises(ValueError, match="smallest training class"):
        digits_datalist("train", 8, per_class=1000)
