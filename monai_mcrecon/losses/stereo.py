"""SSRDE-FNet training losses (docs/models/ssrde_fnet.md, 'Losses'; release ``train.py`` / ``loss.py``).

``L = L_SR + 0.1 L_cons + 0.1 (L_photo + L_smooth + L_cycle) + 0.001 L_S + 0.01 L_P``

- ``L_SR``: L1 of all 8 SR outputs against the HR views;
- ``L_photo``: V-masked L1 between the residual ``R = |HR - bicubic(LR)|`` of a view and the other view's
  residual warped by the attention map (LR, bicubically down-sampled residuals) or by ``c_high`` (HR);
- ``L_cycle``: the same after warping there and back;
- ``L_smooth``: L1 between vertically adjacent rows and diagonally adjacent entries of the attention maps;
- ``L_cons``: stereo consistency of the SR error maps ``|HR - SR|`` (down-sampled and warped with the
  detached maps for out1/out3, warped with ``c_high`` for out2/out4), V-masked;
- ``L_S``: edge-aware smoothness of the HR coordinate maps;
- ``L_P``: ``0.15 L1 + 0.85 (1 - SSIM) / 2`` (11 x 11 Gaussian SSIM, sigma 1.5, zero padding, validity-masked)
  between an HR view and the other HR view sampled at each of the four coordinate estimates.

Deviations from the release (docs/models/ssrde_fnet.md, 'Differences from the release'): one warp everywhere
(:func:`~monai_mcrecon.networks.nets.ssrde_fnet.warpx`, zeros padding, align_corners=True; the release's
``L_P`` warp normalises by W with border padding), and the LR validity for ``L_P`` is up-sampled by the
network's scale (the release hard-codes 4). The SSIM map is the release's own (no clamping).

Option (not in the release): ``smoothness_on="disparity"`` applies ``L_S`` to the disparities ``x - c_L`` and
``c_R - x`` instead of the matching coordinates. The release smooths the coordinates, whose x-difference is
about 1 for any locally constant disparity, so its ``L_S`` pulls every row towards one matching column
(issue 6 diagnosis); the two forms differ only in the x-term. The default stays the release's.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.nets.ssrde_fnet import SSRDEFNetOutput, attention_transfer, warpx

__all__ = ["DEFAULT_WEIGHTS", "SSRDELoss", "disparity_smoothness", "photometric_ssim_l1", "ssim_map"]

DEFAULT_WEIGHTS = {"cons": 0.1, "photo": 0.1, "smooth": 0.1, "cycle": 0.1, "disp_smooth": 0.001, "photometric": 0.01}


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM of ``[B, C, H, W]`` images (Gaussian window, zero padding, C1 = 0.01^2, C2 = 0.03^2)."""
    coords = torch.arange(window, dtype=x.dtype, device=x.device) - window // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    k = (g[:, None] * g[None, :]).expand(c, 1, window, window)

    def filt(t):
        return F.conv2d(t, k, padding=window // 2, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x**2
    syy = filt(y * y) - mu_y**2
    sxy = filt(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))


def photometric_ssim_l1(img: torch.Tensor, other: torch.Tensor, coord: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Release ``loss_disp_unsupervised``: ``0.15 L1(w V, I V) + 0.85 mean(V (1 - SSIM(I, w)) / 2)``, ``w = warpx(other, c)``."""
    warped = warpx(other, coord)
    return 0.15 * _l1(warped * valid, img * valid) + 0.85 * (valid * (1 - ssim_map(img, warped)) / 2).mean()


def disparity_smoothness(coord: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness: ``sum |grad c| exp(-mean_c |grad I|) / sum exp(-mean_c |grad I|)`` over x and y."""
    wx = torch.exp(-(img[..., :, :-1] - img[..., :, 1:]).abs().mean(1, keepdim=True))
    wy = torch.exp(-(img[..., :-1, :] - img[..., 1:, :]).abs().mean(1, keepdim=True))
    num = ((coord[..., :, :-1] - coord[..., :, 1:]).abs() * wx).sum() + ((coord[..., :-1, :] - coord[..., 1:, :]).abs() * wy).sum()
    return num / (wx.sum() + wy.sum())


class SSRDELoss(nn.Module):
    """The release's total loss as named terms (for :class:`~monai_mcrecon.engines.multi_io.MultiIOTrainer`).

    ``forward(pred, target)``: ``pred`` an :class:`SSRDEFNetOutput` (training mode); ``target`` a dict with the
    HR views under ``hr_keys`` and the LR inputs under ``lr_keys`` (the LR views are needed for the
    residual maps of ``L_photo`` / ``L_cycle``; they are not needed when those weights are 0).
    Returns ``{"loss": total, "sr": ..., <term>: unweighted value}`` for every term with a non-zero weight.

    Args:
        weights: weights of ``cons, photo, smooth, cycle, disp_smooth (L_S), photometric (L_P)``
            (:data:`DEFAULT_WEIGHTS`, the release); missing names keep the default; 0 skips a term.
        scale: the SR scale s.
        smoothness_on: ``"coordinate"`` (release: ``L_S`` on the HR matching coordinates) or ``"disparity"``
            (``L_S`` on ``x - c``, zero for a constant disparity; see the module docstring).
        hr_keys, lr_keys: target dict keys ``(left, right)``.
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        scale: int = 2,
        hr_keys: tuple[str, str] = ("left", "right"),
        lr_keys: tuple[str, str] = ("lr_left", "lr_right"),
        smoothness_on: str = "coordinate",
    ) -> None:
        super().__init__()
        unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"Unknown SSRDELoss weights {sorted(unknown)}; use {sorted(DEFAULT_WEIGHTS)}.")
        self.weights = {**DEFAULT_WEIGHTS, **dict(weights or {})}
        self.scale, self.hr_keys, self.lr_keys = int(scale), tuple(hr_keys), tuple(lr_keys)
        if smoothness_on not in ("coordinate", "disparity"):
            raise ValueError(
                f"smoothness_on must be 'coordinate' (release) or 'disparity', got {smoothness_on!r}."
            )
        self.smoothness_on = smoothness_on

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=1 / self.scale, mode="bicubic", align_corners=False)

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)

    def forward(self, pred: SSRDEFNetOutput, target: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not isinstance(pred, SSRDEFNetOutput):
            raise TypeError(
                f"SSRDELoss needs the training-mode SSRDEFNetOutput (network.train(), output_format='dataclass'), "
                f"got {type(pred).__name__}."
            )
        if not isinstance(target, Mapping):
            raise TypeError("SSRDELoss needs a target dict with the HR (and LR) views; use several target_keys.")
        missing = [k for k in self.hr_keys if k not in target]
        if missing:
            raise KeyError(f"SSRDELoss target has no {missing} (it has {sorted(target)}).")
        hr_l, hr_r = (target[k] for k in self.hr_keys)
        w = self.weights
        passes = [
            {"att": pred.att1, "v": pred.valid1, "v2": pred.valid2, "ch": pred.coord_high1, "clr": pred.coord1,
             "sr_lr": (pred.out1_left, pred.out1_right), "sr_hr": (pred.out2_left, pred.out2_right)},
            {"att": pred.att2, "v": pred.valid3, "v2": pred.valid4, "ch": pred.coord_high2, "clr": pred.coord2,
             "sr_lr": (pred.out3_left, pred.out3_right), "sr_hr": (pred.out4_left, pred.out4_right)},
        ]
        terms: dict[str, torch.Tensor] = {}
        terms["sr"] = sum(_l1(o_l, hr_l) + _l1(o_r, hr_r) for o_l, o_r in pred.sr_outputs())

        if w["photo"] or w["cycle"]:
            if any(k not in target for k in self.lr_keys):
                raise KeyError(f"L_photo / L_cycle need the LR views {self.lr_keys} in the target (it has {sorted(target)}).")
            lr_l, lr_r = (target[k] for k in self.lr_keys)
            res = ((hr_l - self._up(lr_l)).abs(), (hr_r - self._up(lr_r)).abs())
            res_low = (self._down(res[0]), self._down(res[1]))
            photo, cycle = 0.0, 0.0
            for p in passes:
                (m_rl, m_lr), (v_l, v_r), (v2_l, v2_r), (c_l, c_r) = p["att"], p["v"], p["v2"], p["ch"]
                t_low = (attention_transfer(m_rl, res_low[1]), attention_transfer(m_lr, res_low[0]))
                t_hr = (warpx(res[1], c_l), warpx(res[0], c_r))
                photo = photo + _l1(res_low[0] * v_l, t_low[0] * v_l) + _l1(res_low[1] * v_r, t_low[1] * v_r)
                photo = photo + _l1(res[0] * v2_l, t_hr[0] * v2_l) + _l1(res[1] * v2_r, t_hr[1] * v2_r)
                if w["cycle"]:
                    cyc_low = (attention_transfer(m_rl, t_low[1]), attention_transfer(m_lr, t_low[0]))
                    cyc_hr = (warpx(t_hr[1], c_l), warpx(t_hr[0], c_r))
                    cycle = cycle + _l1(res_low[0] * v_l, cyc_low[0] * v_l) + _l1(res_low[1] * v_r, cyc_low[1] * v_r)
                    cycle = cycle + _l1(res[0] * v2_l, cyc_hr[0] * v2_l) + _l1(res[1] * v2_r, cyc_hr[1] * v2_r)
            if w["photo"]:
                terms["photo"] = photo
            if w["cycle"]:
                terms["cycle"] = cycle

        if w["smooth"]:
            terms["smooth"] = sum(
                _l1(m[:, :-1], m[:, 1:]) + _l1(m[:, :, :-1, :-1], m[:, :, 1:, 1:]) for p in passes for m in p["att"]
            )

        if w["cons"]:
            cons = 0.0
            for p in passes:
                (m_rl, m_lr), (v_l, v_r), (v2_l, v2_r), (c_l, c_r) = p["att"], p["v"], p["v2"], p["ch"]
                e_l, e_r = self._down((hr_l - p["sr_lr"][0]).abs()), self._down((hr_r - p["sr_lr"][1]).abs())
                cons = cons + _l1(e_l * v_l, attention_transfer(m_rl.detach(), e_r) * v_l)
                cons = cons + _l1(e_r * v_r, attention_transfer(m_lr.detach(), e_l) * v_r)
                e_l, e_r = (hr_l - p["sr_hr"][0]).abs(), (hr_r - p["sr_hr"][1]).abs()
                cons = cons + _l1(e_l * v2_l, warpx(e_r, c_l) * v2_l) + _l1(e_r * v2_r, warpx(e_l, c_r) * v2_r)
            terms["cons"] = cons

        if w["disp_smooth"]:
            if self.smoothness_on == "disparity":
                xs = torch.arange(hr_l.shape[-1], dtype=hr_l.dtype, device=hr_l.device).view(1, 1, 1, -1)
                maps = [(xs - p["ch"][0], xs - p["ch"][1]) for p in passes]  # left d = x - c; right: -(c - x)
            else:
                maps = [p["ch"] for p in passes]
            terms["disp_smooth"] = sum(disparity_smoothness(m_l, hr_l) + disparity_smoothness(m_r, hr_r) for m_l, m_r in maps)

        if w["photometric"]:
            lp = 0.0
            for p in passes:
                (v_l, v_r), (v2_l, v2_r) = p["v"], p["v2"]
                up_v = (F.interpolate(v_l, scale_factor=self.scale, mode="nearest"),
                        F.interpolate(v_r, scale_factor=self.scale, mode="nearest"))
                lp = lp + photometric_ssim_l1(hr_l, hr_r, p["clr"][0], up_v[0]) + photometric_ssim_l1(hr_r, hr_l, p["clr"][1], up_v[1])
                lp = lp + photometric_ssim_l1(hr_l, hr_r, p["ch"][0], v2_l) + photometric_ssim_l1(hr_r, hr_l, p["ch"][1], v2_r)
            terms["photometric"] = lp

        total = terms["sr"]
        for name, value in terms.items():
            if name != "sr":
                total = total + w[name] * value
        return {"loss": total, **terms}
