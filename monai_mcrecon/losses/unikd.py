"""UniKD: unified-distribution knowledge distillation, and its adaptation to image restoration.

Paper: Y. Huang, Z. Yan, C. Shen, F. Fang, G. Zhang, "Harmonizing Knowledge Transfer in Neural Network
with Unified Distillation", ECCV 2024 (LNCS 15091), doi:10.1007/978-3-031-73414-4_4, arXiv:2409.18565.
No official code is known; the mechanism follows a research fork of mdistiller
(``github.com/FabienCode/mdistiller`` commit 515d2c5c, ``mdistiller/distillers/UniLogits.py``) whose
authorship is itself inferred. Documentation: ``docs/models/unikd.md``.

Fidelity: **reconstructed (inferred; the paper text was not available)**. From the fork: the ABF
aggregation of the student's stage features into a comprehensive representation
(:class:`ABFAggregator`), the Gaussian distribution head ``(mu, log var) -> z = mu + sigma * eps``
(:class:`DistributionHead`), the loss terms and their defaults (:class:`UniKDLoss`). Inferred: heads
on **every** stage (``stages="all"``, the default; ``stages="first"`` reproduces the fork's single pair),
``z = mu`` in eval mode, vanilla KD in place of DKD (``logit_loss="kd"``).

Classification loss (docs/models/unikd.md, 'Losses')::

    L = w_ce   * CE(logits_s, y)
      + w_log  * min(epoch / warmup, 1) * DKD(logits_s, logits_t; alpha, beta, T)     (or KD_T)
      + w_feat * sum_j KD_T'(z_s^j, z_t^j)                      # unified distribution constraint
      + w_supp * sum_j [KD_T'(z_s^j, logits_s) + KD_T'(z_t^j, logits_t)]   # supplementary terms
    KD_T(a, b) = T^2 * mean_batch sum_k softmax(b/T)_k (log softmax(b/T)_k - log softmax(a/T)_k)

Restoration adaptation (**our adaptation, not in the paper**; :class:`UniKDRestorationLoss`): the
class space becomes the image space. Per-stage heads (:class:`GaussianMapHead`) predict a per-pixel
Gaussian ``N(mu, sigma^2)`` of the restored image from a stage feature map; the unified constraint is
the closed-form Gaussian KL between the teacher's and the student's stage distributions, the
supplementary terms are the Gaussian negative log-likelihoods of each network's own output under its
stage distributions, and the logit term becomes output distillation ``L1(pred_s, pred_t)``::

    L = w_task * task(pred_s, label) + w_out * min(epoch / warmup, 1) * L1(pred_s, pred_t)
      + w_feat * min(epoch / feature_warmup, 1) * [task / KL]_sg * KL,   KL = sum_j mean KL(N_t^j || N_s^j)
      + w_supp * sum_j [NLL(pred_s | N_s^j) + NLL(pred_t | N_t^j)]

Why the balancing (``balance=True``; ``[.]_sg``: no gradient): a first version weighted the raw KL
with a fixed ``w_feat`` and lost 3.3 dB against the student trained alone. The supplementary NLL
drives the heads' log-variances down as their means fit the outputs (measured on the bundle: from 0
to -3.5 in 75 iterations, still falling), and the KL's gradient on the student mean is
``(mu_s - mu_t) / sigma_s^2``: its effective weight grows by orders of magnitude during training
(student-gradient norm of the feature term 0.5 % of the pixel loss's at the start, 70 % after 75 of
350 iterations), so no fixed weight fits. With ``balance`` the KL is rescaled every iteration so its
value is ``w_feat`` times the (detached) supervised loss: ``w_feat`` is a fraction of the pixel loss
whatever the KL's scale. The student's features are also detached inside the supplementary NLL
(``supp_trains_student=False``): the NLL calibrates the heads (whose 1 / sigma^2 would otherwise
amplify it on the student the same way) and the student receives the teacher's stage knowledge
through the KL only. ``feature_warmup`` ramps the KL in while the random heads calibrate, as the
logit term's warm-up does for that term. Result on ``bundles/unikd_mccdic`` (3 seeds, ``w_feat`` = 0.03
chosen on the validation volume): the collapse is gone (30.12 +- 0.69 dB instead of 26.98 +- 2.10 dB),
but the distilled student is not above the student trained alone (30.31 +- 0.43 dB).

All heads and the aggregator are trained with the student (put ``loss.parameters()`` into the
optimizer) and discarded at inference; teacher outputs and features carry no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ABF",
    "ABFAggregator",
    "DistributionHead",
    "GaussianMapHead",
    "UniKDLoss",
    "UniKDRestorationLoss",
    "dkd_loss",
    "gaussian_kl",
    "kd_loss",
    "warmup_factor",
]

_STAGES = ("all", "first")
_LOGIT_LOSSES = ("dkd", "kd", "none")


def kd_loss(student: torch.Tensor, target: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """``KD_T(a, b) = T^2 * mean_batch KL(softmax(b/T) || softmax(a/T))`` (the target is the second argument).

    Args:
        student: ``[B, K]`` logits ``a``.
        target: ``[B, K]`` logits ``b`` (not detached: gradients reach both, as in the fork).
        temperature: ``T``.
    """
    if student.shape != target.shape or student.ndim != 2:
        raise ValueError(f"kd_loss expects two [B, K] logit tensors of the same shape, got {tuple(student.shape)} and {tuple(target.shape)}.")
    log_p_s = F.log_softmax(student / temperature, dim=1)
    log_p_t = F.log_softmax(target / temperature, dim=1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(1).mean() * temperature**2


def dkd_loss(
    logits_student: torch.Tensor,
    logits_teacher: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> torch.Tensor:
    """Decoupled KD (Zhao et al., CVPR 2022): ``T^2 * (alpha * KL(q_t || q_s) + beta * KL(p~_t || p~_s))``.

    ``q = (p_y, 1 - p_y)`` with ``p = softmax(z / T)`` and ``p~`` the softmax over the classes other
    than the label ``y`` (target logit masked out). Batch mean of the per-sample KLs.
    """
    if logits_student.shape != logits_teacher.shape or logits_student.ndim != 2:
        raise ValueError(f"dkd_loss expects two [B, K] logit tensors of the same shape, got {tuple(logits_student.shape)} and {tuple(logits_teacher.shape)}.")
    labels = labels.reshape(-1).long()
    gt = F.one_hot(labels, logits_student.shape[1]).bool()
    t = temperature
    p_s = F.softmax(logits_student / t, dim=1)
    p_t = F.softmax(logits_teacher / t, dim=1)
    tiny = torch.finfo(p_s.dtype).tiny
    q_s = torch.stack([(p_s * gt).sum(1), (p_s * ~gt).sum(1)], dim=1).clamp_min(tiny)
    q_t = torch.stack([(p_t * gt).sum(1), (p_t * ~gt).sum(1)], dim=1).clamp_min(tiny)
    tckd = (q_t * (q_t.log() - q_s.log())).sum(1).mean()
    log_pn_s = F.log_softmax(logits_student / t - 1000.0 * gt, dim=1)  # target class masked out (as in DKD's code)
    log_pn_t = F.log_softmax(logits_teacher / t - 1000.0 * gt, dim=1)
    nckd = (log_pn_t.exp() * (log_pn_t - log_pn_s)).masked_fill(gt, 0.0).sum(1).mean()
    return (alpha * tckd + beta * nckd) * t**2


def warmup_factor(epoch: float, warmup: float) -> float:
    """``min(epoch / warmup, 1)`` (1 without warm-up)."""
    if warmup <= 0:
        return 1.0
    return float(min(max(epoch, 0.0) / warmup, 1.0))


def gaussian_kl(mu_p: torch.Tensor, log_var_p: torch.Tensor, mu_q: torch.Tensor, log_var_q: torch.Tensor) -> torch.Tensor:
    """Element-wise ``KL(N(mu_p, var_p) || N(mu_q, var_q))`` in nats."""
    return 0.5 * (log_var_q - log_var_p + (log_var_p.exp() + (mu_p - mu_q) ** 2) / log_var_q.exp() - 1.0)


class ABF(nn.Module):
    """ReviewKD's attention-based fusion (docs/models/unikd.md, 'ABF aggregator')::

        x = ReLU(Conv1x1(in -> mid, no bias)(x))
        if fuse: y = nearest(y_prev, size(x)); a = sigmoid(Conv1x1(2 mid -> 2)(cat(x, y))); x = x a0 + y a1
        x = nearest(x, out_size) if needed;  out = ReLU(Conv3x3(mid -> out, no bias)(x))
        return out, x
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int | None, fuse: bool) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.ReLU(inplace=True))
        # out_channels=None: only the residual is used (the pooled ABF when no head reads its output)
        self.conv2 = (
            nn.Sequential(nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False), nn.ReLU(inplace=True))
            if out_channels
            else None
        )
        self.att_conv = nn.Conv2d(2 * mid_channels, 2, 1) if fuse else None
        for m in (self.conv1[0], *([self.conv2[0]] if self.conv2 is not None else [])):
            nn.init.kaiming_uniform_(m.weight, a=1)

    def forward(self, x: torch.Tensor, y_prev: torch.Tensor | None = None, out_size: Sequence[int] | None = None):
        x = self.conv1(x)
        if self.att_conv is not None:
            if y_prev is None:
                raise ValueError("This ABF fuses the deeper residual: pass y_prev.")
            y = F.interpolate(y_prev, size=x.shape[-2:], mode="nearest")
            a = torch.sigmoid(self.att_conv(torch.cat([x, y], dim=1)))
            x = x * a[:, 0:1] + y * a[:, 1:2]
        if out_size is not None and tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode="nearest")
        return (self.conv2(x) if self.conv2 is not None else None), x


class ABFAggregator(nn.Module):
    """ABF chain over the student's stage maps plus the pooled last stage, deepest first.

    See docs/models/unikd.md, 'ABF aggregator'.

    Args:
        in_channels: channels of the student stage maps, shallow to deep.
        out_channels: output channels per stage (default: ``in_channels``).
        mid_channels: ``mid_c`` (default ``min(512, in_channels[-1])``, the pooled feature's width).

    ``forward(feats)`` returns ``results`` (shallow to deep, one per stage): ``results[j]`` has the
    spatial size of ``feats[j]`` and ``out_channels[j]`` channels and, through the chain, information
    from every deeper stage. The pooled feature ``GAP(feats[-1])`` enters first; its ABF has no
    attention conv and, as no head reads its 1x1 output, no output conv (only its residual is used).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int] | None = None, mid_channels: int | None = None) -> None:
        super().__init__()
        in_channels = [int(c) for c in in_channels]
        out_channels = list(in_channels) if out_channels is None else [int(c) for c in out_channels]
        if not in_channels or len(out_channels) != len(in_channels):
            raise ValueError(f"ABFAggregator needs one out_channels entry per stage: {in_channels=} {out_channels=}.")
        mid = int(mid_channels) if mid_channels else min(512, in_channels[-1])
        self.mid_channels = mid
        # deepest first: the pooled feature (no fusion), then the stages from deep to shallow
        chain_in = [in_channels[-1]] + in_channels[::-1]
        chain_out = [None] + out_channels[::-1]
        self.abfs = nn.ModuleList(ABF(i, mid, o, fuse=k > 0) for k, (i, o) in enumerate(zip(chain_in, chain_out)))

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != len(self.abfs) - 1:
            raise ValueError(f"ABFAggregator was built for {len(self.abfs) - 1} stages, got {len(feats)} feature maps.")
        pooled = F.adaptive_avg_pool2d(feats[-1], 1)
        _, residual = self.abfs[0](pooled)
        results: list[torch.Tensor] = []
        for abf, f in zip(self.abfs[1:], feats[::-1]):
            out, residual = abf(f, residual, f.shape[-2:])
            results.insert(0, out)
        return results


class DistributionHead(nn.Module):
    """Gaussian head into class space: ``h = GAP(F)``, ``mu = Linear(h)``, ``log var = Linear(h)``.

    See docs/models/unikd.md, 'Distribution heads'.

    ``forward(F) -> (z, mu, log_var)`` with ``z = mu + exp(log_var / 2) * eps`` in training mode and
    ``z = mu`` in eval mode (inferred). Accepts ``[B, C, H, W]`` maps or ``[B, C]`` vectors.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.mu = nn.Linear(in_channels, num_classes)
        self.log_var = nn.Linear(in_channels, num_classes)

    def forward(self, feat: torch.Tensor):
        h = feat.flatten(2).mean(-1) if feat.ndim > 2 else feat
        mu, log_var = self.mu(h), self.log_var(h)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu) if self.training else mu
        return z, mu, log_var


class GaussianMapHead(nn.Module):
    """Per-pixel Gaussian head for dense regression (our restoration adaptation).

    ``mu = Conv3x3(C -> out)(F)``, ``log var = clamp(Conv3x3(C -> out)(F), *log_var_range)``;
    ``forward(F) -> (z, mu, log_var)`` with the reparameterised sample in training mode, ``z = mu`` in eval.
    """

    def __init__(self, in_channels: int, out_channels: int = 1, log_var_range: Sequence[float] = (-10.0, 10.0)) -> None:
        super().__init__()
        self.mu = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.log_var = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.log_var_range = (float(log_var_range[0]), float(log_var_range[1]))

    def forward(self, feat: torch.Tensor):
        if feat.ndim != 4:
            raise ValueError(f"GaussianMapHead expects a [B, C, H, W] feature map, got shape {tuple(feat.shape)}.")
        mu = self.mu(feat)
        log_var = self.log_var(feat).clamp(*self.log_var_range)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu) if self.training else mu
        return z, mu, log_var


def _check_features(feats: Sequence[torch.Tensor], channels: Sequence[int], who: str) -> None:
    if len(feats) < len(channels):
        raise ValueError(f"The {who} returned {len(feats)} stage features but the loss was built for {len(channels)}; make its FeatureHooks layers match {who}_channels.")
    for j, (f, c) in enumerate(zip(feats, channels)):
        if f.shape[1] != c:
            raise ValueError(f"{who} stage {j} has {f.shape[1]} channels but {who}_channels[{j}] = {c}; fix {who}_channels.")


class UniKDLoss(nn.Module):
    """UniKD classification distillation loss (reconstructed; inferred multi-stage heads, docs/models/unikd.md).

    Args:
        student_channels: widths of the student stage maps, shallow to deep.
        teacher_channels: widths of the teacher stage maps (same number of stages).
        num_classes: ``K``.
        stages: ``"all"`` (one head pair per stage, inferred) or ``"first"`` (the fork: one pair on
            ``results[0]`` and the teacher's first stage).
        aggregate: aggregate the student stages with the ABF chain (fork); ``False`` puts the student
            heads on the raw student stage maps.
        mid_channels: ABF ``mid_c`` (default ``min(512, student_channels[-1])``).
        logit_loss: ``"dkd"`` (fork), ``"kd"`` (vanilla KD, project option) or ``"none"``.
        temperature: ``T`` of the logit term (4); ``supp_temperature``: ``T'`` of the feature and
            supplementary terms (1).
        alpha, beta: DKD weights (1, 8).
        warmup: epochs of the linear warm-up of the logit term (20); call :meth:`set_epoch` (the
            :class:`~monai_mcrecon.engines.distillation.DistillationTrainer` does it every epoch).
        w_ce, w_logit, w_feat, w_supp: term weights (all 1).

    ``forward(logits_s, labels, student_features, teacher_results)`` with ``teacher_results`` a list
    holding one ``(logits_t, [teacher stage maps])`` (computed without gradients). Returns a dict
    ``{"loss", "loss_ce", "loss_logits", "loss_feature", "loss_supp"}``; without teacher results only
    the cross-entropy (plain training). The last sampled vectors are kept in ``self.last_z = (z_s, z_t)``.
    """

    def __init__(
        self,
        student_channels: Sequence[int],
        teacher_channels: Sequence[int],
        num_classes: int,
        stages: str = "all",
        aggregate: bool = True,
        mid_channels: int | None = None,
        logit_loss: str = "dkd",
        temperature: float = 4.0,
        supp_temperature: float = 1.0,
        alpha: float = 1.0,
        beta: float = 8.0,
        warmup: float = 20.0,
        w_ce: float = 1.0,
        w_logit: float = 1.0,
        w_feat: float = 1.0,
        w_supp: float = 1.0,
    ) -> None:
        super().__init__()
        if stages not in _STAGES:
            raise ValueError(f"stages must be one of {_STAGES}, got {stages!r}.")
        if logit_loss not in _LOGIT_LOSSES:
            raise ValueError(f"logit_loss must be one of {_LOGIT_LOSSES}, got {logit_loss!r}.")
        self.student_channels = [int(c) for c in student_channels]
        self.teacher_channels = [int(c) for c in teacher_channels]
        if len(self.student_channels) != len(self.teacher_channels):
            raise ValueError(
                f"Teacher and student need the same number of stages: {self.student_channels=} {self.teacher_channels=}; "
                "hook matching stages (FeatureHooks layers)."
            )
        self.stages, self.logit_loss = stages, logit_loss
        self.temperature, self.supp_temperature = float(temperature), float(supp_temperature)
        self.alpha, self.beta, self.warmup = float(alpha), float(beta), float(warmup)
        self.w_ce, self.w_logit, self.w_feat, self.w_supp = float(w_ce), float(w_logit), float(w_feat), float(w_supp)
        self.aggregator = ABFAggregator(self.student_channels, mid_channels=mid_channels) if aggregate else None
        n = 1 if stages == "first" else len(self.student_channels)
        self.student_heads = nn.ModuleList(DistributionHead(c, num_classes) for c in self.student_channels[:n])
        self.teacher_heads = nn.ModuleList(DistributionHead(c, num_classes) for c in self.teacher_channels[:n])
        self.epoch = 0.0
        self.last_z: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])

    def set_epoch(self, epoch: float) -> None:
        """Set the epoch used by the warm-up ``min(epoch / warmup, 1)``."""
        self.epoch = float(epoch)

    def distributions(self, student_features: Sequence[torch.Tensor], teacher_features: Sequence[torch.Tensor]):
        """``([z_s^j], [z_t^j])`` over the distilled stages (aggregated student maps, raw teacher maps)."""
        _check_features(student_features, self.student_channels, "student")
        _check_features(teacher_features, self.teacher_channels, "teacher")
        s_maps = self.aggregator(list(student_features[: len(self.student_channels)])) if self.aggregator is not None else list(student_features)
        z_s = [head(f)[0] for head, f in zip(self.student_heads, s_maps)]
        z_t = [head(f.detach())[0] for head, f in zip(self.teacher_heads, teacher_features)]
        return z_s, z_t

    def forward(self, logits_s: torch.Tensor, labels: torch.Tensor, student_features=None, teacher_results=None) -> dict:
        labels = labels.reshape(-1).long()
        loss_ce = F.cross_entropy(logits_s, labels)
        zero = loss_ce.new_zeros(())
        terms = {"loss_ce": loss_ce, "loss_logits": zero, "loss_feature": zero, "loss_supp": zero}
        if teacher_results:
            logits_t, teacher_features = teacher_results[0]
            logits_t = logits_t.detach()
            if self.logit_loss != "none":
                factor = warmup_factor(self.epoch, self.warmup)
                if self.logit_loss == "dkd":
                    logit = dkd_loss(logits_s, logits_t, labels, self.alpha, self.beta, self.temperature)
                else:
                    logit = kd_loss(logits_s, logits_t, self.temperature)
                terms["loss_logits"] = factor * logit
            if self.w_feat or self.w_supp:
                z_s, z_t = self.distributions(student_features or [], teacher_features)
                self.last_z = (z_s, z_t)
                tp = self.supp_temperature
                terms["loss_feature"] = sum(kd_loss(s, t, tp) for s, t in zip(z_s, z_t))
                terms["loss_supp"] = sum(kd_loss(s, logits_s, tp) + kd_loss(t, logits_t, tp) for s, t in zip(z_s, z_t))
        terms["loss"] = (
            self.w_ce * terms["loss_ce"]
            + self.w_logit * terms["loss_logits"]
            + self.w_feat * terms["loss_feature"]
            + self.w_supp * terms["loss_supp"]
        )
        return terms


class UniKDRestorationLoss(nn.Module):
    """UniKD adapted to dense regression (**our adaptation**, see the module docstring).

    Args:
        student_channels: widths of the student stage maps (e.g. MC-CDic's hooked ``compress_z``,
            ``fuse_x``, ``decoder_z`` outputs).
        teacher_channels: widths of the teacher stage maps, one per student stage.
        out_channels: channels of the image space (the first ``out_channels`` channels of the
            predictions are the restored image; MC-CDic: 1, its reference reconstruction follows).
        task_loss: supervised loss ``task(pred_s, label)`` (default ``L1``; e.g.
            :class:`~monai_mcrecon.losses.ReferenceWeightedL1Loss`).
        w_task, w_out, w_feat, w_supp: weights of the supervised, output-distillation, unified
            (Gaussian KL) and supplementary (Gaussian NLL) terms. With ``balance``, ``w_feat`` is the
            KL term's value as a fraction of the supervised loss.
        warmup: epochs of the linear warm-up of the output-distillation term (0: none).
        feature_warmup: epochs of the linear warm-up of the unified (KL) term (0: none).
        balance: rescale the KL every iteration to ``w_feat * task`` (gradient ``w_feat * task * grad KL / KL``,
            both ratios detached); ``False`` weights the raw KL by ``w_feat`` (the first version).
        supp_trains_student: let the supplementary NLL reach the student's stage features (``False``:
            the student's features are detached in it, the NLL trains the heads only).
        log_var_range: clamp of the heads' log-variances.

    ``forward(pred_s, label, student_features, teacher_results)`` returns
    ``{"loss", "loss_task", "loss_out", "loss_feature", "loss_supp"}``; without teacher results only
    the supervised term. Stage distributions of different sizes are compared at the teacher's size
    (the student's mean and log-variance are resized bilinearly); the NLL targets (the outputs) are
    area-resized to each stage's size. Per-pixel terms are averaged over pixels and channels.
    Unlike the classification loss, the student's output is detached inside its NLL term: the
    supplementary term trains the heads (and through them the stage features), not the output.
    """

    def __init__(
        self,
        student_channels: Sequence[int],
        teacher_channels: Sequence[int],
        out_channels: int = 1,
        task_loss: Callable | None = None,
        w_task: float = 1.0,
        w_out: float = 1.0,
        w_feat: float = 0.01,
        w_supp: float = 0.01,
        warmup: float = 0.0,
        log_var_range: Sequence[float] = (-10.0, 10.0),
        feature_warmup: float = 0.0,
        balance: bool = True,
        supp_trains_student: bool = False,
    ) -> None:
        super().__init__()
        self.student_channels = [int(c) for c in student_channels]
        self.teacher_channels = [int(c) for c in teacher_channels]
        if len(self.student_channels) != len(self.teacher_channels):
            raise ValueError(f"One teacher stage per student stage: {self.student_channels=} {self.teacher_channels=}.")
        self.feature_warmup, self.balance, self.supp_trains_student = float(feature_warmup), bool(balance), bool(supp_trains_student)
        self.out_channels = int(out_channels)
        self.task_loss = task_loss if task_loss is not None else nn.L1Loss()
        self.w_task, self.w_out, self.w_feat, self.w_supp = float(w_task), float(w_out), float(w_feat), float(w_supp)
        self.warmup = float(warmup)
        self.student_heads = nn.ModuleList(GaussianMapHead(c, self.out_channels, log_var_range) for c in self.student_channels)
        self.teacher_heads = nn.ModuleList(GaussianMapHead(c, self.out_channels, log_var_range) for c in self.teacher_channels)
        self.epoch = 0.0

    def set_epoch(self, epoch: float) -> None:
        """Set the epoch used by the warm-up ``min(epoch / warmup, 1)``."""
        self.epoch = float(epoch)

    @staticmethod
    def _nll(target: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        if target.shape[-2:] != mu.shape[-2:]:
            target = F.interpolate(target, size=mu.shape[-2:], mode="area")
        return (0.5 * (log_var + (target - mu) ** 2 / log_var.exp() + math.log(2 * math.pi))).mean()

    def distributions(self, student_features: Sequence[torch.Tensor], teacher_features: Sequence[torch.Tensor]):
        """Per stage ``(mu, log_var)`` of the student and the teacher heads (eval mode: deterministic)."""
        _check_features(student_features, self.student_channels, "student")
        _check_features(teacher_features, self.teacher_channels, "teacher")
        s = [head(f)[1:] for head, f in zip(self.student_heads, student_features)]
        t = [head(f.detach())[1:] for head, f in zip(self.teacher_heads, teacher_features)]
        return s, t

    def forward(self, pred: torch.Tensor, label: torch.Tensor, student_features=None, teacher_results=None) -> dict:
        loss_task = self.task_loss(pred, label)
        zero = loss_task.new_zeros(())
        terms = {"loss_task": loss_task, "loss_out": zero, "loss_feature": zero, "loss_supp": zero}
        if teacher_results:
            out_t, teacher_features = teacher_results[0]
            k = self.out_channels
            out_s, out_t = pred[:, :k], out_t[:, :k].detach()
            if out_t.shape != out_s.shape:
                raise ValueError(f"Teacher output {tuple(out_t.shape)} and student output {tuple(out_s.shape)} differ in the first {k} channels.")
            if self.w_out:
                terms["loss_out"] = warmup_factor(self.epoch, self.warmup) * F.l1_loss(out_s, out_t)
            if self.w_feat or self.w_supp:
                dist_s, dist_t = self.distributions(student_features or [], teacher_features)
                kl, nll = zero, zero
                if not self.supp_trains_student:  # the same heads on detached student features: the NLL trains the heads only
                    s_maps = (student_features or [])[: len(self.student_heads)]
                    dist_nll = [head(f.detach())[1:] for head, f in zip(self.student_heads, s_maps)]
                else:
                    dist_nll = dist_s
                for (mu_n, lv_n), (mu_t, lv_t) in zip(dist_nll, dist_t):
                    nll = nll + self._nll(out_s.detach(), mu_n, lv_n) + self._nll(out_t, mu_t, lv_t)
                for (mu_s, lv_s), (mu_t, lv_t) in zip(dist_s, dist_t):
                    if mu_s.shape[-2:] != mu_t.shape[-2:]:
                        mu_s = F.interpolate(mu_s, size=mu_t.shape[-2:], mode="bilinear", align_corners=False)
                        lv_s = F.interpolate(lv_s, size=mu_t.shape[-2:], mode="bilinear", align_corners=False)
                    kl = kl + gaussian_kl(mu_t, lv_t, mu_s, lv_s).mean()
                terms["loss_feature"], terms["loss_supp"] = kl, nll
        feature = terms["loss_feature"] * warmup_factor(self.epoch, self.feature_warmup)
        if self.balance:
            # the KL's value becomes w_feat * task: its scale (1 / sigma^2 of shrinking head variances) no longer sets its weight
            ratio = loss_task.detach().abs() / terms["loss_feature"].detach().clamp_min(torch.finfo(loss_task.dtype).tiny)
            feature = feature * ratio
        terms["loss"] = (
            self.w_task * terms["loss_task"]
            + self.w_out * terms["loss_out"]
            + self.w_feat * feature
            + self.w_supp * terms["loss_supp"]
        )
        return terms
