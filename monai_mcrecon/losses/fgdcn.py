"""FGDCN training losses (Lei et al., IEEE TMM 2024; release ``models/modules/loss.py`` and ``VideoSR_base_model.py``).

The release's final training step (docs/models/fgdcn.md, 'Losses')::

    L = LapLoss(rec, GT)
      + 0.01 / 2 * sum_l [ EPE(F_l[:, :2], T0) + EPE(F_l[:, 2:], T1) ]      # flow distillation
      + 0.1 * ( mean|Re D| + mean|Im D| ),  D = fft2(rec) - fft2(GT)       # frequency loss
      + 2 * census(rec, GT)                                                # ternary / census loss

- :class:`LapLoss`: the release's Laplacian pyramid (5x5 kernel that is a *sum* of squared 1-D Gaussians,
  replicate padding, no up-sampling), not kornia's standard pyramid.
- :class:`FlowDistillationLoss`: EPE of the coarse IFBlock flows against teacher flows from the ground-truth
  middle frame to each input frame. The teacher is an **injected callable** ``teacher(reference, other) ->
  flow [B, 2, H, W]`` (project flow convention: ``warp(other, flow) ~ reference``); nothing is downloaded. The
  release uses LiteFlowNet; :class:`~monai_mcrecon.ops.optical_flow.TVL1FlowTeacher` is a classical stand-in
  (scikit-image TV-L1, slow, CPU).
- The paper's "task-oriented" distillation is not in the release (inferred; docs/models/fgdcn.md, 'Losses'). It is
  offered as an option, ``robust_beta`` > 0, in the form of IFRNet (Kong et al., CVPR 2022), whose task-oriented
  flow distillation the paper follows: a per-pixel robustness ``w = exp(-beta * |F_final - T|)`` from the end-point
  error of the network's final (refined) flow against the teacher's, and the adaptive Charbonnier penalty
  ``((d^2 + eps^2)^(w / 2))``, ``eps = 10^(-(10 w - 1) / 3)``, on each flow component difference ``d``: where the
  network's flow disagrees with the teacher the penalty flattens (w -> 0), where they agree it is the Charbonnier
  (L1-like) penalty (w = 1). IFRNet uses beta = 0.3. Default 0: the release's plain EPE. The "pyramid loss" is
  offered as the release's commented-out variant: L1 of ``rec_half`` / ``rec_quarter`` against the bilinearly
  down-sampled GT with ``pyramid_weights`` (release default ``(0, 0)``: off).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.ops.warp import resize_flow

__all__ = [
    "CensusLoss",
    "FFTLoss",
    "FGDCNLoss",
    "FlowDistillationLoss",
    "FlowStepLoss",
    "LapLoss",
    "adaptive_charbonnier",
    "flow_epe",
    "laplacian_kernel",
    "laplacian_pyramid",
    "robust_weight",
]


def laplacian_kernel(size: int = 5, sigma: float = 2.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The release's kernel ``k(i, j) ∝ exp(-(i - c)^2 / sigma^2) + exp(-(j - c)^2 / sigma^2)``, ``c = size // 2``,
    normalised to sum 1 (``build_gauss_kernel``: squared 1-D Gaussians summed, not multiplied). Shape ``[size, size]``.

    Raises:
        ValueError: even ``size``.
    """
    if size % 2 != 1 or size < 1:
        raise ValueError(f"Laplacian kernel size must be odd and positive, got {size}.")
    r = (torch.arange(size, dtype=torch.float64) - size // 2).pow(2)
    g = torch.exp(-r / sigma**2)
    k = g[:, None] + g[None, :]
    return (k / k.sum()).to(dtype)


def laplacian_pyramid(img: torch.Tensor, kernel: torch.Tensor, levels: int = 5) -> list[torch.Tensor]:
    """``d_l = x_l - k * x_l``, ``x_{l+1} = avgpool2(k * x_l)`` (replicate padding, per channel); returns
    ``[d_0, ..., d_{levels-1}, x_levels]``."""
    c = img.shape[1]
    w = kernel.to(img)[None, None].expand(c, 1, *kernel.shape)
    p = kernel.shape[-1] // 2
    pyr, cur = [], img
    for _ in range(levels):
        filtered = F.conv2d(F.pad(cur, (p, p, p, p), mode="replicate"), w, groups=c)
        pyr.append(cur - filtered)
        cur = F.avg_pool2d(filtered, 2)
    pyr.append(cur)
    return pyr


class LapLoss(nn.Module):
    """Release ``LapLoss``: ``sum_l mean|d_l(x) - d_l(y)| + mean|x_L(x) - x_L(y)|`` over :func:`laplacian_pyramid`.

    Accepts ``[B, C, H, W]`` or ``[B, N, C, H, W]`` (flattened). ``H, W`` should be divisible by ``2**max_levels``
    for the coarse levels to cover the image (the release trains on 256 x 256 crops).
    """

    def __init__(self, max_levels: int = 5, kernel_size: int = 5, sigma: float = 2.0) -> None:
        super().__init__()
        self.max_levels = max_levels
        self.register_buffer("kernel", laplacian_kernel(kernel_size, sigma), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"LapLoss needs inputs of the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}.")
        if pred.ndim == 5:
            pred, target = pred.flatten(0, 1), target.flatten(0, 1)
        if min(pred.shape[-2:]) < 2**self.max_levels:
            raise ValueError(
                f"LapLoss with {self.max_levels} levels needs H, W >= {2 ** self.max_levels}, got {tuple(pred.shape[-2:])};"
                " use larger crops or fewer max_levels."
            )
        pa = laplacian_pyramid(pred, self.kernel, self.max_levels)
        pb = laplacian_pyramid(target, self.kernel, self.max_levels)
        return sum(F.l1_loss(a, b) for a, b in zip(pa, pb))


class FFTLoss(nn.Module):
    """Release ``fftLoss``: ``mean|Re D| + mean|Im D|`` with ``D = fft2(pred) - fft2(target)`` (per channel, unnormalised)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = torch.fft.fft2(pred) - torch.fft.fft2(target)
        return diff.real.abs().mean() + diff.imag.abs().mean()


class CensusLoss(nn.Module):
    """Release ``Ternary`` (census) loss on RGB images, as the training step uses it (mean of the masked map).

    grey = 0.2989 R + 0.5870 G + 0.1140 B; for the offsets of a ``patch_size``^2 window (zero padding)
    ``tau = (g(p + delta) - g(p)) / sqrt(0.81 + (g(p + delta) - g(p))^2)``; per pixel
    ``mean_delta (tau_a - tau_b)^2 / (0.1 + (tau_a - tau_b)^2)``; a 1-pixel border is zeroed; the loss is the mean.
    """

    def __init__(self, patch_size: int = 7) -> None:
        super().__init__()
        n = patch_size * patch_size
        self.register_buffer("w", torch.eye(n).reshape(n, 1, patch_size, patch_size), persistent=False)
        self.patch_size = patch_size

    @staticmethod
    def rgb2gray(rgb: torch.Tensor) -> torch.Tensor:
        return 0.2989 * rgb[:, 0:1] + 0.5870 * rgb[:, 1:2] + 0.1140 * rgb[:, 2:3]

    def transform(self, gray: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(gray, self.w.to(gray), padding=self.patch_size // 2) - gray
        return t / torch.sqrt(0.81 + t**2)

    def distance_map(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-pixel masked census distance ``[B, 1, H, W]``."""
        if pred.ndim != 4 or pred.shape[1] != 3 or pred.shape != target.shape:
            raise ValueError(
                f"CensusLoss expects two RGB batches [B, 3, H, W] of the same shape, got {tuple(pred.shape)} and "
                f"{tuple(target.shape)}."
            )
        d = (self.transform(self.rgb2gray(pred)) - self.transform(self.rgb2gray(target))) ** 2
        dist = (d / (0.1 + d)).mean(1, keepdim=True)
        mask = torch.zeros_like(dist)
        mask[..., 1:-1, 1:-1] = 1
        return dist * mask

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.distance_map(pred, target).mean()


def flow_epe(flow: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Release ``EPE`` (per pixel): ``sqrt(sum_c (flow - target)^2 + 1e-6)`` ``[B, 1, H, W]``; the target is detached."""
    return ((flow - target.detach()) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()


def robust_weight(flow: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """IFRNet's robustness ``exp(-beta * |flow - target|)`` per pixel ``[B, 1, H, W]`` (both detached)."""
    epe = ((flow.detach() - target.detach()) ** 2).sum(1, keepdim=True).sqrt()
    return torch.exp(-beta * epe)


def adaptive_charbonnier(diff: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """IFRNet's ``mean((diff^2 + eps^2)^(w / 2))`` with ``eps = 10^(-(10 w - 1) / 3)``; ``weight`` broadcasts over
    the channels of ``diff``. At w = 1 the Charbonnier penalty ``sqrt(diff^2 + 1e-6)``, at w = 0 the constant 1."""
    eps = 10.0 ** (-(10.0 * weight - 1.0) / 3.0)
    return ((diff**2 + eps**2) ** (weight / 2.0)).mean()


class FlowDistillationLoss(nn.Module):
    """``1/2 sum_l [ mean EPE(F_l[:, :2], T0) + mean EPE(F_l[:, 2:], T1) ]`` (unweighted; FGDCNLoss applies 0.01).

    Teacher flows ``T = cat(T0, T1)`` ``[B, 4, H, W]`` (full resolution, pixels) are resized to each ``F_l``'s grid
    (bilinear, values scaled by the size ratio). They come either from a ``teacher`` callable (called without
    gradient as ``teacher(gt, frame0)`` and ``teacher(gt, frame1)``) or precomputed.

    With ``robust_beta`` > 0 (the paper's task-oriented distillation, in IFRNet's form) each direction's term is
    :func:`adaptive_charbonnier` of the component differences, weighted per pixel by :func:`robust_weight` of the
    network's final full-resolution flow ``final_flow [B, 4, H, W]`` against the teacher (computed at the teacher's
    resolution, then resized bilinearly to each level's grid).
    """

    def __init__(
        self, teacher: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None, robust_beta: float = 0.0
    ) -> None:
        super().__init__()
        if robust_beta < 0:
            raise ValueError(f"robust_beta must be >= 0 (0: plain EPE; IFRNet uses 0.3), got {robust_beta}.")
        self.teacher = teacher
        self.robust_beta = float(robust_beta)

    def teacher_flows(self, gt: torch.Tensor, frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
        if self.teacher is None:
            raise ValueError("FlowDistillationLoss has no teacher: pass teacher=callable or precomputed teacher flows.")
        with torch.no_grad():
            t0, t1 = self.teacher(gt, frame0), self.teacher(gt, frame1)
        for t in (t0, t1):
            if t.shape != (gt.shape[0], 2, *gt.shape[-2:]):
                raise ValueError(
                    f"The teacher must return a flow [B, 2, H, W] = {(gt.shape[0], 2, *gt.shape[-2:])} (x, y) in pixels, "
                    f"got {tuple(t.shape)}."
                )
        return torch.cat([t0, t1], 1).detach()

    def forward(
        self, flow_list: Sequence[torch.Tensor], teacher_flow: torch.Tensor, final_flow: torch.Tensor | None = None
    ) -> torch.Tensor:
        weights = None
        if self.robust_beta:
            if final_flow is None or final_flow.shape != teacher_flow.shape:
                raise ValueError(
                    "The task-oriented (robust) distillation needs the network's final flow on the teacher's grid, "
                    f"final_flow {tuple(teacher_flow.shape)}; got "
                    f"{None if final_flow is None else tuple(final_flow.shape)}."
                )
            weights = [robust_weight(final_flow[:, i : i + 2], teacher_flow[:, i : i + 2], self.robust_beta) for i in (0, 2)]
        total = 0.0
        for f in flow_list:
            size = f.shape[-2:]
            for i, d in enumerate((0, 2)):
                t = resize_flow(teacher_flow[:, d : d + 2], size=size).detach()
                if weights is None:
                    total = total + flow_epe(f[:, d : d + 2], t).mean()
                else:
                    w = weights[i]
                    w = w if w.shape[-2:] == size else F.interpolate(w, size=size, mode="bilinear", align_corners=False)
                    total = total + adaptive_charbonnier(f[:, d : d + 2] - t, w)
        return total / 2.0


def _get(pred: Any, name: str) -> Any:
    if isinstance(pred, Mapping):
        return pred[name]
    if dataclasses.is_dataclass(pred):
        return getattr(pred, name)
    raise TypeError(
        f"FGDCNLoss needs the network's named outputs (FGDCNOutput or a dict with {name!r}); got a "
        f"{type(pred).__name__}. Keep the network in training mode or set return_all_outputs=True."
    )


class FGDCNLoss(nn.Module):
    """The release's training objective with named terms (for :class:`~monai_mcrecon.engines.multi_io.MultiIOTrainer`).

    ``loss(pred, target)`` with ``pred`` an :class:`~monai_mcrecon.networks.nets.fgdcn.FGDCNOutput` (or dict) and
    ``target`` the ground-truth middle frame ``[B, 3, H, W]`` or a dict holding it under ``label_key`` and, for
    distillation, ``frame0``/``frame1`` (teacher callable) or precomputed ``teacher_flow`` ``[B, 4, H, W]``.

    Returns ``{"loss", "lap", "fft", "census", "flow", "pyramid", "anchor", "refined"}`` (weighted terms; absent
    terms are 0).

    Args:
        teacher: flow teacher ``teacher(reference, other) -> [B, 2, H, W]``; ``None`` disables distillation unless
            the target carries ``teacher_flow``.
        lap_weight, flow_weight, fft_weight, census_weight: release 1, 0.01, 0.1, 2.
        pyramid_weights: L1 weights of ``rec_half`` and ``rec_quarter`` against the down-sampled GT (release (0, 0);
            the release's commented-out variant uses (1, 1)).
        anchor_weight: LapLoss of the anchor frame ``I_mid`` against the GT (this package; release 0).
        refined_flow_weight: end-point error of the refined full-resolution flows against the teacher flows, as
            :class:`FlowStepLoss` (this package; release 0). The release supervises only the rec and the coarse
            IFBlock flows; these two terms train the flow step to align by itself while the whole network trains.
        robust_beta: > 0 replaces the EPE of both flow terms by the paper's task-oriented distillation
            (:class:`FlowDistillationLoss`, IFRNet's form, which uses 0.3); 0 (release): plain EPE.
        label_key, frame_keys, teacher_key: names in a dict target.
    """

    def __init__(
        self,
        teacher: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        lap_weight: float = 1.0,
        flow_weight: float = 0.01,
        fft_weight: float = 0.1,
        census_weight: float = 2.0,
        pyramid_weights: Sequence[float] = (0.0, 0.0),
        anchor_weight: float = 0.0,
        refined_flow_weight: float = 0.0,
        robust_beta: float = 0.0,
        label_key: str = "label",
        frame_keys: Sequence[str] = ("frame0", "frame1"),
        teacher_key: str = "teacher_flow",
    ) -> None:
        super().__init__()
        if len(pyramid_weights) != 2:
            raise ValueError(f"pyramid_weights must hold two weights (rec_half, rec_quarter), got {pyramid_weights}.")
        self.lap, self.fft, self.census = LapLoss(), FFTLoss(), CensusLoss()
        self.distill = FlowDistillationLoss(teacher, robust_beta)
        self.weights = {
            "lap": lap_weight, "flow": flow_weight, "fft": fft_weight, "census": census_weight,
            "anchor": anchor_weight, "refined": refined_flow_weight,
        }
        self.pyramid_weights = tuple(float(w) for w in pyramid_weights)
        self.label_key, self.frame_keys, self.teacher_key = label_key, tuple(frame_keys), teacher_key

    def forward(self, pred: Any, target: torch.Tensor | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        extras: Mapping[str, torch.Tensor] = target if isinstance(target, Mapping) else {}
        gt = extras[self.label_key] if isinstance(target, Mapping) else target
        rec = _get(pred, "rec")
        terms = {
            "lap": self.weights["lap"] * self.lap(rec, gt),
            "fft": self.weights["fft"] * self.fft(rec, gt),
            "census": self.weights["census"] * self.census(rec, gt),
        }
        zero = rec.new_zeros(())
        teacher_flow = extras.get(self.teacher_key)
        wants_flow = self.weights["flow"] or self.weights["refined"]
        if teacher_flow is None and self.distill.teacher is not None and wants_flow:
            missing = [k for k in self.frame_keys if k not in extras]
            if missing:
                raise KeyError(
                    f"Flow distillation with a teacher needs the input frames {missing} in the target dict; pass "
                    f"target_keys=['{self.label_key}', '{self.frame_keys[0]}', '{self.frame_keys[1]}'] to the trainer."
                )
            teacher_flow = self.distill.teacher_flows(gt, extras[self.frame_keys[0]], extras[self.frame_keys[1]])
        final = _get(pred, "flow") if self.distill.robust_beta and teacher_flow is not None else None
        terms["flow"] = (
            self.weights["flow"] * self.distill(_get(pred, "flow_list"), teacher_flow, final)
            if teacher_flow is not None
            else zero
        )
        pyr = zero
        for w, name in zip(self.pyramid_weights, ("rec_half", "rec_quarter")):
            if w:
                r = _get(pred, name)
                pyr = pyr + w * F.l1_loss(r, F.interpolate(gt, size=r.shape[-2:], mode="bilinear", align_corners=False))
        terms["pyramid"] = pyr
        # this package's additions (off in the release): LapLoss of the anchor frame, EPE of the refined flows
        terms["anchor"] = self.weights["anchor"] * self.lap(_get(pred, "anchor"), gt) if self.weights["anchor"] else zero
        refined = self.weights["refined"] and teacher_flow is not None
        terms["refined"] = (
            self.weights["refined"] * self.distill([_get(pred, "flow")], teacher_flow, final) if refined else zero
        )
        terms["loss"] = sum(terms[k] for k in ("lap", "fft", "census", "flow", "pyramid", "anchor", "refined"))
        return terms


class FlowStepLoss(nn.Module):
    """Warm-up objective of the flow step alone (a training recipe of this package, not in the release).

    ``loss(pred, target)`` with ``pred`` the dict of :class:`~monai_mcrecon.networks.nets.fgdcn.FlowStep`
    (``anchor``, ``flow``, ``flow_list``) and ``target`` a dict with the middle frame (``label_key``) and flows
    ``[B, 4, H, W]`` (``teacher_key``: a teacher's, or the exact flows of synthetic motion)::

        L = anchor_weight * LapLoss(anchor, GT) + coarse_weight * FlowDistillationLoss(flow_list, T)
          + refined_weight * 1/2 [ mean EPE(flow[:, :2], T0) + mean EPE(flow[:, 2:], T1) ]

    The release distils only the coarse IFBlock flows, and through the image loss alone the refined flows of a
    small network stay near zero for thousands of iterations; supervising them directly is what this warm-up adds.
    ``robust_beta`` > 0 uses the paper's task-oriented distillation for both flow terms, as in :class:`FGDCNLoss`.
    Returns ``{"loss", "anchor", "coarse", "refined"}`` (weighted terms).
    """

    def __init__(self, anchor_weight: float = 1.0, coarse_weight: float = 0.1, refined_weight: float = 0.1,
                 label_key: str = "label", teacher_key: str = "teacher_flow", robust_beta: float = 0.0) -> None:
        super().__init__()
        self.lap, self.distill = LapLoss(), FlowDistillationLoss(robust_beta=robust_beta)
        self.weights = {"anchor": anchor_weight, "coarse": coarse_weight, "refined": refined_weight}
        self.label_key, self.teacher_key = label_key, teacher_key

    def forward(self, pred: Mapping[str, Any], target: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [k for k in (self.label_key, self.teacher_key) if not isinstance(target, Mapping) or k not in target]
        if missing:
            raise KeyError(
                f"FlowStepLoss needs {missing} in the target dict: train with precomputed teacher flows "
                f"(--precompute_teacher true) and/or synthetic motion, and target_keys=['{self.label_key}', "
                f"'{self.teacher_key}']."
            )
        gt, t = target[self.label_key], target[self.teacher_key]
        final = _get(pred, "flow") if self.distill.robust_beta else None
        terms = {
            "anchor": self.weights["anchor"] * self.lap(_get(pred, "anchor"), gt),
            "coarse": self.weights["coarse"] * self.distill(_get(pred, "flow_list"), t, final),
            # the same EPE on the full-resolution refined flows (no resize: they share the teacher's grid)
            "refined": self.weights["refined"] * self.distill([_get(pred, "flow")], t, final),
        }
        terms["loss"] = terms["anchor"] + terms["coarse"] + terms["refined"]
        return terms
