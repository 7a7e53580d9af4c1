"""SSRDE-FNet: feedback network for mutually boosted stereo image super-resolution and disparity estimation.

Paper: Q. Dai, J. Li, Q. Yi, F. Fang, G. Zhang, "Feedback Network for Mutually Boosted Stereo Image
Super-Resolution and Disparity Estimation", ACM Multimedia 2021, pp. 1985-1993, DOI 10.1145/3474085.3475356.
Authors' code: https://github.com/MIVRC/SSRDEFNet-PyTorch (commit 4d95c175fc60526fecbb42172a211fbd4472adf6,
``model.py``, ``common.py``, ``train.py``).

Fidelity: **faithful to the authors' released code** (see ``docs/models/ssrde_fnet.md``); nothing in the
architecture is inferred. At the ``paper`` preset the network has exactly the release's parameters
(2,255,776 for x4, 2,091,168 for x2) and every constructed module is used. Pipeline (all weights shared
between the two views and between the two passes):

1. LR features ``x = RDG(Conv3(x_LR))``;
2. stereo matching features ``SPP(ResB(BN(x)))`` and parallax attention (:class:`ParallaxAttention`, 4 PABs),
   cross-view transfer ``x (1 - V) + (M @ x_other) V`` and matching coordinates ``c(i) = sum_j M[i, j] j``;
3. LR fusion + SR: ``out1 = Conv3(PixelShuffle(Conv1x1(RDG(CA(x + RDB6(x_T - x)))))) + bicubic(x_LR)``;
4. HR disparity: HR SPP features, :func:`disparity_hypotheses` around the up-scaled LR coordinate,
   :class:`CostVolume`, 3-D-free aggregation with an hourglass, :func:`soft_argmin` -> ``c_high``;
5. HR fusion ``out2 = Conv3'(CA2(f + RDB6'((warpx(f_other, c_high) - f) corr))) + bicubic(x_LR)``;
6. HRDIF feedback (:class:`FeedbackAttention`, polyphase coordinate warps) -> new LR features
   ``x' = Conv1x1(cat(draft, back))``; 7. second pass of 2-5 on ``x'`` -> ``out3`` and ``out4`` (the final SR).

**Coordinates, not displacements.** Every "disparity" inside the network is the matching x-coordinate in
the other view (pixels); eval mode converts them to disparities (left ``x - c``, right ``c - x``, clamped
to ``[0, max_disparity]``), as the release's test mode.

Deliberate differences from the release (docs/models/ssrde_fnet.md, 'Differences from the release'):

- ``align_corners``: the release normalises coordinates by ``(W - 1) / 2`` but calls ``grid_sample`` with
  its default ``align_corners=False`` (a half-pixel inconsistency). All warps here use the project's
  :func:`~monai_mcrecon.ops.warp.coord_warp_x` (``align_corners=True``);
  ``release_grid=True`` reproduces the release call.
- Geometric validity: the release's ``|c_high - warpx(c_high_other, c_high)|`` compares absolute
  coordinates (for a consistent pair it equals the disparity, not a cycle error). Reproduced by default;
  ``geometric_validity="cycle"`` uses the true left-right check ``|x - warpx(c_high_other, c_high)|``.
- Spatial pyramid pools are configurable (``lr_pools``, ``hr_pools``); ``adaptive_pools=True`` replaces
  ``AvgPool(k, stride k)`` by an adaptive average pool to ``(max(h // k, 1), max(w // k, 1))`` (identical
  when h, w are multiples of k) so that any input size works.
- Named outputs (:class:`SSRDEFNetOutput` in training mode, :class:`SSRDEFNetTestOutput` in eval mode, or
  plain dicts with ``output_format="dict"`` for MONAI engines that decollate outputs) instead of tuples;
  ``as_tuple()`` gives the release order.
- ``cross_view=False`` builds the *single-view baseline of the same size* [project]: every cross-view
  operation (parallax attention, HR cost volume and warp, feedback drafts) pairs each view with itself, so
  the network has the same parameters and compute but no information from the other view.
- ``paper`` and ``default`` presets are the release; ``small`` / ``tiny`` are project presets
  (docs/models/ssrde_fnet.md, 'Presets').

Inputs ``x_left, x_right [B, 3, h, w]`` in [0, 1]; ``h, w`` at least the largest LR pool (release 30) unless
``adaptive_pools``; the HR size ``s h x s w`` must be a multiple of 4 (hourglass with two stride-2 levels).

Over 600 lines by design: the model's private blocks stay in its own ``nets/`` file (``networks/blocks`` holds
only blocks that two or more networks use), so the whole network reads top to bottom in one place.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from monai.networks.blocks import ChannelSELayer
from torch import nn

from monai_mcrecon.ops.warp import coord_warp_x
from monai_mcrecon.networks.presets import PresetMixin

__all__ = [
    "CostVolume",
    "FeedbackAttention",
    "HRStereoFeature",
    "Hourglass",
    "ParallaxAttention",
    "RDB",
    "RDG",
    "ResB",
    "SSRDEFNet",
    "SSRDEFNetOutput",
    "SSRDEFNetTestOutput",
    "StereoFeature",
    "attention_transfer",
    "coordinates_to_disparity",
    "disparity_hypotheses",
    "matching_coordinate",
    "pam_validity",
    "relax",
    "soft_argmin",
    "warpx",
]


# ----------------------------------------------------------------------------------------------- outputs
def _split_pairs(obj: Any) -> dict[str, torch.Tensor]:
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            out[f"{f.name}_left"], out[f"{f.name}_right"] = value
        else:
            out[f.name] = value
    return out


@dataclasses.dataclass
class SSRDEFNetOutput:
    """Training outputs, in the release's order (18 items; pairs are ``(left, right)``).

    ``out4_left`` / ``out4_right`` are the final SR images. ``att*`` are ``(M_{R->L}, M_{L->R})``
    ``[B, h, w, w]``; ``coord1``/``coord2`` the LR matching coordinates scaled by s and upsampled
    ``[B, 1, sh, sw]``; ``valid1``/``valid3`` the LR validity ``[B, 1, h, w]``; ``valid2``/``valid4`` the HR
    validity ``[B, 1, sh, sw]``; ``coord_high1``/``coord_high2`` the HR coordinates. Suffix 1/2 of
    att/coord/coord_high = pass 1/2.
    """

    out1_left: torch.Tensor
    out1_right: torch.Tensor
    out2_left: torch.Tensor
    out2_right: torch.Tensor
    out3_left: torch.Tensor
    out3_right: torch.Tensor
    out4_left: torch.Tensor
    out4_right: torch.Tensor
    att1: tuple[torch.Tensor, torch.Tensor]
    coord1: tuple[torch.Tensor, torch.Tensor]
    valid1: tuple[torch.Tensor, torch.Tensor]
    valid2: tuple[torch.Tensor, torch.Tensor]
    coord_high1: tuple[torch.Tensor, torch.Tensor]
    att2: tuple[torch.Tensor, torch.Tensor]
    coord2: tuple[torch.Tensor, torch.Tensor]
    valid3: tuple[torch.Tensor, torch.Tensor]
    valid4: tuple[torch.Tensor, torch.Tensor]
    coord_high2: tuple[torch.Tensor, torch.Tensor]

    def as_tuple(self) -> tuple:
        """The 18 items in the release's return order."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def sr_outputs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[(out1_left, out1_right), ..., (out4_left, out4_right)]``."""
        return [(getattr(self, f"out{k}_left"), getattr(self, f"out{k}_right")) for k in range(1, 5)]

    def to_dict(self) -> dict[str, torch.Tensor]:
        """Flat dict; pairs become ``<name>_left`` / ``<name>_right``."""
        return _split_pairs(self)


@dataclasses.dataclass
class SSRDEFNetTestOutput:
    """Eval-mode outputs (release test mode): the 8 SR images and 4 disparity pairs ``[B, 1, sh, sw]``.

    Disparities (pixels of the HR image, ``>= 0``, clamped to ``max_disparity``): left ``x - c_L``, right
    ``c_R - x``. ``disp_lr1`` / ``disp_lr2``: LR parallax-attention estimates of pass 1 / 2 (up-scaled);
    ``disp_hr1`` / ``disp_hr2``: HR cost-volume estimates of pass 1 / 2 (``disp_hr2`` is the final one).
    """

    out1_left: torch.Tensor
    out1_right: torch.Tensor
    out2_left: torch.Tensor
    out2_right: torch.Tensor
    out3_left: torch.Tensor
    out3_right: torch.Tensor
    out4_left: torch.Tensor
    out4_right: torch.Tensor
    disp_lr1: tuple[torch.Tensor, torch.Tensor]
    disp_lr2: tuple[torch.Tensor, torch.Tensor]
    disp_hr1: tuple[torch.Tensor, torch.Tensor]
    disp_hr2: tuple[torch.Tensor, torch.Tensor]

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def to_dict(self) -> dict[str, torch.Tensor]:
        """Flat dict; pairs become ``<name>_left`` / ``<name>_right`` (e.g. ``disp_hr2_left``)."""
        return _split_pairs(self)


# ------------------------------------------------------------------------------------- pure functions
def warpx(f: torch.Tensor, coord: torch.Tensor, release_grid: bool = False) -> torch.Tensor:
    """Sample each row of ``f [B, C, H, W]`` at the absolute x-coordinate ``coord [B, 1, H, W]`` (zeros outside).

    ``release_grid=True`` reproduces the release (coordinates normalised by ``(W - 1) / 2`` but
    ``grid_sample(align_corners=False)``); otherwise the project's :func:`coord_warp_x` (align_corners=True).
    """
    if not release_grid:
        return coord_warp_x(f, coord)
    b, _, h, w = f.shape
    ys = torch.arange(h, dtype=coord.dtype, device=coord.device).view(1, h, 1).expand(b, h, w)
    grid = torch.stack((coord[:, 0] / ((w - 1.0) / 2.0) - 1.0, ys / ((h - 1.0) / 2.0) - 1.0), dim=-1)
    return F.grid_sample(f, grid.to(f.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)


def relax(m: torch.Tensor, num_pixels: int = 2) -> torch.Tensor:
    """Release ``M_Relax``: ``m [N, u, v]`` plus copies shifted by ``1..num_pixels`` along dim 1 both ways (zero fill)."""
    out = m.clone()
    for i in range(1, num_pixels + 1):
        out[:, i:] += m[:, :-i]
        out[:, :-i] += m[:, i:]
    return out


def pam_validity(m_rl: torch.Tensor, m_lr: torch.Tensor, num_pixels: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Cycle-consistency validity of two attention maps ``[N, w, w]`` (detached, before ``tanh(5 .)``).

    ``V_L[i] = sum_j relax(M_{R->L})[i, j] M_{L->R}[j, i]`` and symmetrically ``V_R``; returns ``[N, w]`` each.
    """
    v_l = (relax(m_rl, num_pixels) * m_lr.transpose(1, 2)).sum(-1)
    v_r = (relax(m_lr, num_pixels) * m_rl.transpose(1, 2)).sum(-1)
    return v_l.detach(), v_r.detach()


def attention_transfer(m: torch.Tensor, x_other: torch.Tensor) -> torch.Tensor:
    """``x_T = M @ x_other`` per row: ``m [B, h, w, w]``, ``x_other [B, C, h, w]`` -> ``[B, C, h, w]``."""
    return torch.matmul(m, x_other.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def matching_coordinate(m: torch.Tensor) -> torch.Tensor:
    """``c(i) = sum_j M[i, j] j``: ``m [B, h, w, w]`` -> ``[B, 1, h, w]``."""
    index = torch.arange(m.shape[-1], dtype=m.dtype, device=m.device)
    return (m * index).sum(-1).unsqueeze(1)


def disparity_hypotheses(c0: torch.Tensor, num: int, half_width: float, max_disp: float | torch.Tensor) -> torch.Tensor:
    """``num`` coordinates per pixel uniformly from ``max(c0 - hw, 0)`` to ``min(c0 + hw, max_disp)``.

    ``c0 [B, 1, H, W]`` -> ``[B, num, H, W]`` (release ``get_disp_range_samples``).
    """
    lo = (c0 - half_width).clamp(min=0.0)
    hi = (c0 + half_width).clamp(max=max_disp)
    steps = torch.arange(num, dtype=c0.dtype, device=c0.device).view(1, num, 1, 1)
    return lo + steps * (hi - lo) / (num - 1)


def soft_argmin(prob: torch.Tensor, hypotheses: torch.Tensor) -> torch.Tensor:
    """``sum_k p_k hyp_k`` over dim 1: ``[B, D, H, W]`` x2 -> ``[B, 1, H, W]``."""
    return (prob * hypotheses).sum(1, keepdim=True)


def coordinates_to_disparity(coord: torch.Tensor, view: str, max_disparity: float = 192.0) -> torch.Tensor:
    """Matching x-coordinate -> disparity: left ``x - c``, right ``c - x``, clamped to ``[0, max_disparity]``."""
    xs = torch.arange(coord.shape[-1], dtype=coord.dtype, device=coord.device).view(1, 1, 1, -1)
    if view == "left":
        d = xs - coord
    elif view == "right":
        d = coord - xs
    else:
        raise ValueError(f"view must be 'left' or 'right', got {view!r}.")
    return d.clamp(0.0, max_disparity)


# ------------------------------------------------------------------------------------------- blocks
def convbn(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Release ``convbn``: conv without bias + BatchNorm."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, growth, 3, 1, 1)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.act(self.conv(x))), dim=1)


class RDB(nn.Module):
    """Residual dense block: C layers ``x <- cat(x, PReLU(Conv3(x -> G)))``, ``Conv1x1(G0 + C G -> G0)`` + input."""

    def __init__(self, channels: int, layers: int, growth: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*(_DenseLayer(channels + i * growth, growth) for i in range(layers)))
        self.fuse = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.conv(x)) + x


class RDG(nn.Module):
    """Residual dense group: RDBs in sequence, all outputs concatenated and fused by ``Conv1x1`` (no group residual)."""

    def __init__(self, channels: int, layers: int, growth: int, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(RDB(channels, layers, growth) for _ in range(blocks))
        self.fuse = nn.Conv2d(channels * blocks, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return self.fuse(torch.cat(outs, dim=1))


class ResB(nn.Module):
    """Two grouped (groups 4) 3x3 convs with PReLU between, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, groups=4), nn.PReLU(), nn.Conv2d(channels, channels, 3, 1, 1, groups=4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


def _pool(x: torch.Tensor, k: int, adaptive: bool) -> torch.Tensor:
    h, w = x.shape[-2:]
    if adaptive:
        return F.adaptive_avg_pool2d(x, (max(h // k, 1), max(w // k, 1)))
    if h < k or w < k:
        raise ValueError(
            f"Feature map {h}x{w} is smaller than the pyramid pool {k}; use larger inputs, smaller pools "
            "(lr_pools / hr_pools) or adaptive_pools=True."
        )
    return F.avg_pool2d(x, k, k)


class _SPP(nn.Module):
    """Spatial pyramid: per pool ``AvgPool(k, k) -> convbn1x1 -> PReLU -> bilinear up``; concat with the input."""

    def __init__(self, channels: int, branch: int, out: int, pools: tuple[int, ...], adaptive: bool) -> None:
        super().__init__()
        self.pools, self.adaptive = tuple(pools), adaptive
        self.branches = nn.ModuleList(nn.Sequential(convbn(channels, branch, 1), nn.PReLU()) for _ in self.pools)
        self.last = nn.Sequential(
            convbn(channels + branch * len(self.pools), channels, 3), nn.PReLU(), nn.Conv2d(channels, out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        # concatenation order of the release: input, then the branches from the smallest to the largest pool
        ups = {
            k: F.interpolate(br(_pool(x, k, self.adaptive)), size=size, mode="bilinear", align_corners=False)
            for k, br in zip(self.pools, self.branches)
        }
        return self.last(torch.cat([x, *(ups[k] for k in sorted(self.pools))], dim=1))


class StereoFeature(_SPP):
    """LR stereo matching features: SPP with pools ``(30, 10, 5)`` -> ``convbn1x1(C -> C/2)`` branches -> C channels."""

    def __init__(self, channels: int, pools: tuple[int, ...] = (30, 10, 5), adaptive: bool = False) -> None:
        super().__init__(channels, channels // 2, channels, pools, adaptive)


class HRStereoFeature(_SPP):
    """HR stereo features: SPP with pools ``(16, 8)``, branches of ``cost_channels``, output ``cost_channels``."""

    def __init__(self, channels: int, cost_channels: int, pools: tuple[int, ...] = (16, 8), adaptive: bool = False):
        super().__init__(channels, cost_channels, cost_channels, pools, adaptive)


class PAB(nn.Module):
    """Parallax attention block: ``head`` (conv3-BN-PReLU-conv3-BN-PReLU), width-centred 1x1 Q / K, row scores."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels // 2, 3, 1, 1), nn.BatchNorm2d(channels // 2), nn.PReLU(),
            nn.Conv2d(channels // 2, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.PReLU(),
        )
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Conv2d(channels, channels, 1)

    def forward(self, f_l: torch.Tensor, f_r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the updated features ``f + head(f)`` and ``score [B, h, w, w]`` = ``Q_row^T K_row``."""
        h_l, h_r = self.head(f_l), self.head(f_r)
        q, k = self.query(h_l), self.key(h_r)
        q = q - q.mean(3, keepdim=True)
        k = k - k.mean(3, keepdim=True)
        score = torch.matmul(q.permute(0, 2, 3, 1), k.permute(0, 2, 1, 3))  # [B, h, w_l, w_r]
        return f_l + h_l, f_r + h_r, score


class ParallaxAttention(nn.Module):
    """PAM: cascaded PABs accumulate ``cost_RL`` (and its transpose ``cost_LR``); softmax -> attention maps.

    Returns ``(x_l', x_r', c_l, c_r, (M_RL, M_LR), (V_l, V_r))``: cross-view features
    ``x (1 - V) + (M @ x_other) V`` of the feature maps ``x_*`` (the RDG features, not the SPP features),
    matching coordinates ``[B, 1, h, w]``, maps ``[B, h, w, w]`` and validity ``tanh(5 V) [B, 1, h, w]``.
    """

    def __init__(self, channels: int, blocks: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(PAB(channels) for _ in range(blocks))

    def forward(self, x_l, x_r, f_l, f_r):
        cost = 0.0
        for pab in self.blocks:
            f_l, f_r, score = pab(f_l, f_r)
            cost = cost + score
        m_rl = torch.softmax(cost, dim=-1)
        m_lr = torch.softmax(cost.transpose(2, 3), dim=-1)
        b, h, w, _ = m_rl.shape
        v_l, v_r = pam_validity(m_rl.reshape(b * h, w, w), m_lr.reshape(b * h, w, w))
        v_l, v_r = torch.tanh(5 * v_l.view(b, 1, h, w)), torch.tanh(5 * v_r.view(b, 1, h, w))
        out_l = x_l * (1 - v_l) + attention_transfer(m_rl, x_r) * v_l
        out_r = x_r * (1 - v_r) + attention_transfer(m_lr, x_l) * v_r
        return out_l, out_r, matching_coordinate(m_rl), matching_coordinate(m_lr), (m_rl, m_lr), (v_l, v_r)


class CostVolume(nn.Module):
    """``cost_k(p) = mean_c Q(p) warpx(K, hyp_k)(p)`` with ``Q = Conv1x1(h_query)``, ``K = Conv1x1(h_other)``."""

    def __init__(self, channels: int, release_grid: bool = False) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Conv2d(channels, channels, 1)
        self.release_grid = release_grid

    def forward(self, h_query: torch.Tensor, h_other: torch.Tensor, hypotheses: torch.Tensor) -> torch.Tensor:
        q, k = self.query(h_query), self.key(h_other)
        b, c, hh, ww = k.shape
        d = hypotheses.shape[1]
        k_rep = k.unsqueeze(1).expand(b, d, c, hh, ww).reshape(b * d, c, hh, ww)
        warped = warpx(k_rep, hypotheses.reshape(b * d, 1, hh, ww), self.release_grid).view(b, d, c, hh, ww)
        return (q.unsqueeze(1) * warped).mean(2)


class Hourglass(nn.Module):
    """Release ``hourglass`` (2-D): two stride-2 convbn levels and two transposed convs with a skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.conv1 = nn.Sequential(convbn(c, c, 3, 2), nn.PReLU())
        self.conv2 = convbn(c, c, 3)
        self.conv3 = nn.Sequential(convbn(c, c, 3, 2), nn.PReLU())
        self.conv4 = nn.Sequential(convbn(c, c, 3), nn.PReLU())
        self.conv5 = nn.Sequential(nn.ConvTranspose2d(c, c, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(c))
        self.conv6 = nn.Sequential(nn.ConvTranspose2d(c, c, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(c))
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.prelu(self.conv2(self.conv1(x)))
        out = self.conv4(self.conv3(pre))
        post = self.prelu(self.conv5(out) + pre)
        return self.conv6(post)


class CostAggregation(nn.Module):
    """``a = PReLU(cb(PReLU(cb(cost))))``; ``a += cb(PReLU(cb(a)))``; ``a += Hourglass(a)`` (cb = convbn3)."""

    def __init__(self, hypotheses: int) -> None:
        super().__init__()
        d = hypotheses
        self.dres0 = nn.Sequential(convbn(d, d, 3), nn.PReLU(), convbn(d, d, 3), nn.PReLU())
        self.dres1 = nn.Sequential(convbn(d, d, 3), nn.PReLU(), convbn(d, d, 3))
        self.hourglass = Hourglass(d)

    def forward(self, cost: torch.Tensor) -> torch.Tensor:
        a = self.dres0(cost)
        a = self.dres1(a) + a
        return self.hourglass(a) + a


class FeedbackAttention(nn.Module):
    """HRDIF attention: ``ReLU(back - resize(PReLU(ConvT(k8, s4, p2)(AvgPool4(back)))))`` (release ``FeedbackBlock``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(channels, channels, 8, 4, 2)
        self.act = nn.PReLU()

    def forward(self, back: torch.Tensor) -> torch.Tensor:
        low = self.act(self.up(F.avg_pool2d(back, 4, 4)))
        low = F.interpolate(low, size=back.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(back - low)


# ---------------------------------------------------------------------------------------------- model
_FEEDBACK_CONV = {2: (6, 2, 2), 4: (8, 4, 2)}  # kernel, stride, padding of the HR -> LR conv


class SSRDEFNet(PresetMixin, nn.Module):
    """SSRDE-FNet (release ``SSRDEFNet``) for stereo SR at scale 2 or 4 with HR disparity estimation.

    Args:
        upscale_factor: s, 2 or 4.
        channels: feature channels (release 64).
        growth: RDB growth G (24).
        rdg_blocks, rdg_layers: RDBs per RDG and layers per RDB of the two RDGs (4, 4).
        fusion_layers: layers of the LR and HR fusion RDBs (6).
        feedback_layers: layers of the HRDIF RDB (2).
        pam_blocks: PABs (4).
        hypotheses: HR disparity hypotheses D (24).
        half_width: hypothesis half-width (default ``hypotheses / 2``).
        hr_cost_channels: HR stereo feature / cost-volume channels (24).
        lr_pools, hr_pools: SPP pool sizes ((30, 10, 5), (16, 8)).
        adaptive_pools: adaptive average pools (any input size) instead of ``AvgPool(k, stride k)``.
        release_grid: reproduce the release's ``grid_sample(align_corners=False)`` call (section 10).
        geometric_validity: ``"release"`` (default) or ``"cycle"`` (section 10).
        cross_view: False = single-view baseline of the same size (each view is paired with itself).
        max_disparity: clamp of the eval-mode disparities (192).
        output_format: ``"dataclass"`` (default) or ``"dict"`` (flat dict, for MONAI engines that decollate).
        zero_init_output: zero-initialise the two final SR convs so that training starts from bicubic
            up-sampling (a training-speed choice of the project; the release uses PyTorch's default init).

    Forward ``(x_left, x_right) [B, 3, h, w]`` in [0, 1] -> :class:`SSRDEFNetOutput` (training mode) or
    :class:`SSRDEFNetTestOutput` (eval mode).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "paper": {},
        "x2": {"upscale_factor": 2},
        "small": {
            "upscale_factor": 2, "channels": 32, "growth": 16, "rdg_blocks": 3, "rdg_layers": 3, "fusion_layers": 4,
            "feedback_layers": 2, "pam_blocks": 4, "hypotheses": 12, "hr_cost_channels": 16,
            "lr_pools": (16, 8, 4), "hr_pools": (16, 8),
        },
        "tiny": {
            "upscale_factor": 2, "channels": 16, "growth": 8, "rdg_blocks": 2, "rdg_layers": 2, "fusion_layers": 2,
            "feedback_layers": 1, "pam_blocks": 2, "hypotheses": 8, "half_width": 4, "hr_cost_channels": 8,
            "lr_pools": (8, 4, 2), "hr_pools": (4, 2),
        },
    }

    def __init__(
        self,
        upscale_factor: int = 4,
        channels: int = 64,
        growth: int = 24,
        rdg_blocks: int = 4,
        rdg_layers: int = 4,
        fusion_layers: int = 6,
        feedback_layers: int = 2,
        pam_blocks: int = 4,
        hypotheses: int = 24,
        half_width: float | None = None,
        hr_cost_channels: int = 24,
        lr_pools: tuple[int, ...] = (30, 10, 5),
        hr_pools: tuple[int, ...] = (16, 8),
        adaptive_pools: bool = False,
        release_grid: bool = False,
        geometric_validity: str = "release",
        cross_view: bool = True,
        max_disparity: float = 192.0,
        output_format: str = "dataclass",
        zero_init_output: bool = False,
    ) -> None:
        super().__init__()
        if upscale_factor not in _FEEDBACK_CONV:
            raise ValueError(f"upscale_factor must be 2 or 4 (the release's feedback convs), got {upscale_factor}.")
        if channels % 8 or channels < 8:
            raise ValueError(f"channels must be a positive multiple of 8 (grouped convs, CA reduction 8), got {channels}.")
        if hypotheses < 2:
            raise ValueError(f"hypotheses must be at least 2, got {hypotheses}.")
        if geometric_validity not in ("release", "cycle"):
            raise ValueError(f"geometric_validity must be 'release' or 'cycle', got {geometric_validity!r}.")
        for name, flag in (("adaptive_pools", adaptive_pools), ("release_grid", release_grid), ("cross_view", cross_view),
                           ("zero_init_output", zero_init_output)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r} ({type(flag).__name__}); e.g. the string "
                                "'false' would be true. Parse command-line flags before building the network.")
        if output_format not in ("dataclass", "dict"):
            raise ValueError(f"output_format must be 'dataclass' or 'dict', got {output_format!r}.")
        s, c = upscale_factor, channels
        self.upscale_factor = s
        self.hypotheses = hypotheses
        self.half_width = hypotheses / 2 if half_width is None else float(half_width)
        self.lr_pools, self.hr_pools = tuple(lr_pools), tuple(hr_pools)
        self.adaptive_pools, self.release_grid = adaptive_pools, release_grid
        self.geometric_validity, self.cross_view = geometric_validity, cross_view
        self.max_disparity, self.output_format = max_disparity, output_format

        self.init_feature = nn.Conv2d(3, c, 3, 1, 1)
        self.deep_feature = RDG(c, rdg_layers, growth, rdg_blocks)
        self.pam = ParallaxAttention(c, pam_blocks)
        self.transition = nn.Sequential(nn.BatchNorm2d(c), ResB(c))
        self.transition2 = nn.Sequential(nn.BatchNorm2d(c), ResB(c))
        self.stereo_feature = StereoFeature(c, self.lr_pools, adaptive_pools)
        self.stereo_feature_high = HRStereoFeature(c, hr_cost_channels, self.hr_pools, adaptive_pools)
        self.encode = RDB(c, fusion_layers, growth)
        self.encode2 = RDB(c, fusion_layers, growth)
        self.ca = ChannelSELayer(2, c, r=8, acti_type_1="prelu", acti_type_2="sigmoid")
        self.ca2 = ChannelSELayer(2, c, r=8, acti_type_1="prelu", acti_type_2="sigmoid")
        self.reconstruct = RDG(c, rdg_layers, growth, rdg_blocks)
        self.upscale = nn.Sequential(nn.Conv2d(c, c * s * s, 1), nn.PixelShuffle(s))
        self.final = nn.Conv2d(c, 3, 3, 1, 1)
        self.final2 = nn.Conv2d(c, 3, 3, 1, 1)
        if zero_init_output:
            for conv in (self.final, self.final2):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        self.cost_volume = CostVolume(hr_cost_channels, release_grid)
        self.aggregation = CostAggregation(hypotheses)
        self.att1 = nn.Conv2d(c, c // 2, 1)
        self.att2 = nn.Conv2d(c, c // 2, 1)
        self.backatt1 = nn.Conv2d(c, c // 2, 1)
        self.backatt2 = nn.Conv2d(c, c // 2, 1)
        k, st, p = _FEEDBACK_CONV[s]
        self.down = nn.Sequential(nn.Conv2d(c, c, k, st, p), nn.PReLU())
        self.feedback_attention = FeedbackAttention(c)
        self.compress_in = nn.Conv2d(2 * c, c, 1)
        self.feedback_rdb = RDB(c, feedback_layers, growth)

    # -- helpers -----------------------------------------------------------------------------------
    def _warpx(self, f: torch.Tensor, coord: torch.Tensor) -> torch.Tensor:
        return warpx(f, coord, self.release_grid)

    def _pair(self, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The partner of each view: (other of left, other of right); the view itself when not cross_view."""
        return (right, left) if self.cross_view else (left, right)

    def _check_input(self, x_left: torch.Tensor, x_right: torch.Tensor) -> None:
        if x_left.ndim != 4 or x_left.shape[1] != 3 or x_left.shape != x_right.shape:
            raise ValueError(
                f"SSRDEFNet expects two RGB views of the same shape [B, 3, h, w], got {tuple(x_left.shape)} and "
                f"{tuple(x_right.shape)}."
            )
        h, w = x_left.shape[-2:]
        s = self.upscale_factor
        if (s * h) % 4 or (s * w) % 4:
            raise ValueError(
                f"The HR size {s * h}x{s * w} (= {s} x the LR size {h}x{w}) must be a multiple of 4 for the "
                "cost-volume hourglass; crop or pad the LR views."
            )
        if not self.adaptive_pools and min(h, w) < max(self.lr_pools):
            raise ValueError(
                f"LR views {h}x{w} are smaller than the largest LR pool {max(self.lr_pools)}; use larger views, "
                "smaller lr_pools or adaptive_pools=True."
            )

    def _attention(self, x_l, x_r):
        f_l = self.stereo_feature(self.transition(x_l))
        f_r = self.stereo_feature(self.transition(x_r))
        if self.cross_view:
            return self.pam(x_l, x_r, f_l, f_r)
        left = self.pam(x_l, x_l, f_l, f_l)
        right = self.pam(x_r, x_r, f_r, f_r)
        return (left[0], right[1], left[2], right[3], (left[4][0], right[4][1]), (left[5][0], right[5][1]))

    def _hr_coordinates(self, feat_l, feat_r, c_l, c_r):
        """HR disparity estimation: hypotheses around the up-scaled LR coordinates, cost volume, soft-argmin."""
        s = self.upscale_factor
        hs_l = self.stereo_feature_high(self.transition2(feat_l))
        hs_r = self.stereo_feature_high(self.transition2(feat_r))
        c0_l = F.interpolate(c_l * s, scale_factor=s, mode="bilinear", align_corners=False)
        c0_r = F.interpolate(c_r * s, scale_factor=s, mode="bilinear", align_corners=False)
        if torch.compiler.is_exporting():  # float() of a symbolic width would fix the graph to the example's width
            max_disp = feat_l.new_ones(()) * feat_l.shape[-1]
        else:
            max_disp = float(feat_l.shape[-1])
        other_l, other_r = self._pair(hs_l, hs_r)
        coords = []
        for query, other, c0 in ((hs_l, other_l, c0_l), (hs_r, other_r, c0_r)):
            hyp = disparity_hypotheses(c0.detach(), self.hypotheses, self.half_width, max_disp)
            prob = torch.softmax(self.aggregation(self.cost_volume(query, other, hyp)), dim=1)
            coords.append(soft_argmin(prob, hyp))
        return (c0_l, c0_r), tuple(coords)

    def _geometric_validity(self, c_high, c_high_other, v_lr):
        back = self._warpx(c_high_other, c_high)
        if self.geometric_validity == "release":
            err = (c_high - back).abs()
        else:
            xs = torch.arange(c_high.shape[-1], dtype=c_high.dtype, device=c_high.device).view(1, 1, 1, -1)
            err = (xs - back).abs()
        v2 = 1 - torch.tanh(0.1 * err.detach())
        return torch.maximum(F.interpolate(v_lr, scale_factor=self.upscale_factor, mode="nearest"), v2)

    def _hr_fusion(self, f: torch.Tensor, f_w: torch.Tensor, up: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        corr = (torch.tanh(5 * (self.att1(f) * self.att2(f_w)).sum(1, keepdim=True)) + 1) / 2
        fused = self.ca2(f + self.encode2((f_w - f) * corr))
        return fused, self.final2(fused) + up

    def _pass(self, x_l, x_r, up_l, up_r) -> dict:
        """Steps 2-6 of the pipeline (docs/models/ssrde_fnet.md, 'Architecture') on LR features ``x_l, x_r``."""
        xt_l, xt_r, c_l, c_r, att, v_lr = self._attention(x_l, x_r)
        feat = []
        sr_lr = []
        for x, xt, up in ((x_l, xt_l, up_l), (x_r, xt_r, up_r)):
            fused = self.reconstruct(self.ca(x + self.encode(xt - x)))
            f = self.upscale(fused)
            feat.append(f)
            sr_lr.append(self.final(f) + up)
        coord_lr, (ch_l, ch_r) = self._hr_coordinates(feat[0], feat[1], c_l, c_r)
        fo_l, fo_r = self._pair(*feat)
        cho_l, cho_r = self._pair(ch_l, ch_r)
        v2 = (self._geometric_validity(ch_l, cho_l, v_lr[0]), self._geometric_validity(ch_r, cho_r, v_lr[1]))
        hr_l, sr_hr_l = self._hr_fusion(feat[0], self._warpx(fo_l, ch_l), up_l)
        hr_r, sr_hr_r = self._hr_fusion(feat[1], self._warpx(fo_r, ch_r), up_r)
        return {
            "sr_lr": tuple(sr_lr), "sr_hr": (sr_hr_l, sr_hr_r), "att": att, "coord_lr": coord_lr, "valid_lr": v_lr,
            "valid_hr": v2, "coord_high": (ch_l, ch_r), "hr_feat": (hr_l, hr_r),
        }

    def _feedback(self, x: torch.Tensor, x_other: torch.Tensor, hr_feat: torch.Tensor, c_high: torch.Tensor):
        """HRDIF: HR fused features -> LR (``back``), polyphase coordinate warps of the other view -> ``draft``."""
        s = self.upscale_factor
        back = self.down(hr_feat)
        back = back + 0.1 * back * self.feedback_attention(back)
        q = self.backatt1(x)
        draft = 0.0
        for i in range(s):
            for j in range(s):
                d = self._warpx(x_other, c_high[:, :, i::s, j::s] / s)
                g = (torch.tanh(5 * (q * self.backatt2(d)).sum(1, keepdim=True)) + 1) / 2
                d = (1 - g) * x + g * d
                draft = draft + x + self.feedback_rdb(d - x)
        return self.compress_in(torch.cat((draft / (s * s), back), dim=1))

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, x_left: torch.Tensor, x_right: torch.Tensor):
        self._check_input(x_left, x_right)
        s = self.upscale_factor
        up_l = F.interpolate(x_left, scale_factor=s, mode="bicubic", align_corners=False)
        up_r = F.interpolate(x_right, scale_factor=s, mode="bicubic", align_corners=False)
        x_l = self.deep_feature(self.init_feature(x_left))
        x_r = self.deep_feature(self.init_feature(x_right))
        p1 = self._pass(x_l, x_r, up_l, up_r)
        xo_l, xo_r = self._pair(x_l, x_r)
        x2_l = self._feedback(x_l, xo_l, p1["hr_feat"][0], p1["coord_high"][0])
        x2_r = self._feedback(x_r, xo_r, p1["hr_feat"][1], p1["coord_high"][1])
        p2 = self._pass(x2_l, x2_r, up_l, up_r)
        srs = (*p1["sr_lr"], *p1["sr_hr"], *p2["sr_lr"], *p2["sr_hr"])
        if self.training:
            out = SSRDEFNetOutput(
                *srs,
                p1["att"], p1["coord_lr"], p1["valid_lr"], p1["valid_hr"], p1["coord_high"],
                p2["att"], p2["coord_lr"], p2["valid_lr"], p2["valid_hr"], p2["coord_high"],
            )
        else:
            def disp(pair):
                return tuple(coordinates_to_disparity(c, v, self.max_disparity) for c, v in zip(pair, ("left", "right")))

            out = SSRDEFNetTestOutput(
                *srs, disp(p1["coord_lr"]), disp(p2["coord_lr"]), disp(p1["coord_high"]), disp(p2["coord_high"])
            )
        return out.to_dict() if self.output_format == "dict" else out
