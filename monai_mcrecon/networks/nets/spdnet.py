"""SPDNet: structure-preserving deraining with residue channel prior guidance.

Paper: Q. Yi, J. Li, Q. Dai, F. Fang, G. Zhang, T. Zeng, "Structure-Preserving Deraining with Residue
Channel Prior Guidance", ICCV 2021, pp. 4238-4247 (arXiv:2108.09079). Authors' code:
https://github.com/Joyies/SPDNet (commit c03b8d3b7d60705fdcefda73b3a39afc5198dcd4, ``src/model/spdnet.py``).

Fidelity: **faithful to the authors' released code** (see ``docs/models/spdnet.md``). Mapping of the
paper's modules to the code:

- RCP (residue channel prior, :func:`residue_channel`) and its
  feature extractor :class:`ResidueFeatureExtractor` (release ``res_ch``);
- IFM (interactive fusion module) = ``fuse_res(cat(prior(x, r)))`` inside each WMLM (release ``Prior_Sp`` plus
  the conv unit ``fuse_res``);
- WMLM (wavelet-based multi-level module) = :class:`WaveletMultiLevelModule` (release ``subnet``);
- iterative guidance: three WMLMs, the RCP of iterations 2 and 3 is computed on the previous output.

Deliberate differences from the release (none changes the computation for H, W divisible by 4):

- **Value range.** The release works on RGB in [0, 255]. :class:`SPDNet` takes images in [0, 1] (MONAI
  convention), multiplies them by ``rgb_range`` before the release body and divides the outputs by it:
  with ``rgb_range=255`` (``paper`` preset, the default) the body sees exactly the release's 0-255
  input, so release weights run unchanged; ``small`` and ``tiny`` use ``rgb_range=1`` (the RCP is
  scale-equivariant). :meth:`SPDNet.forward_release` runs the body on [0, rgb_range] inputs directly.
- **Any H, W.** The input is reflect-padded to a multiple of 4 (at least 8) and the outputs are cropped
  back (the release needs H, W divisible by 4).
- **Unused modules.** The release creates, but never applies, six stride-2 conv units and four transposed
  convs of a cross-scale exchange and one extra conv unit per ``Fuse`` in every WMLM, and an affine
  InstanceNorm in every conv unit: 337,216 parameters. They are built only with ``release_compatible=True``
  (then the state-dict keys equal the release's); the default builds the 2,981,525 used parameters.
- ``in_channels`` / ``out_channels`` generalise the RGB input/output convs; the RCP is always repeated to
  3 channels as in the release. For one channel the RCP is zero (no colour), so the guidance carries no
  information; the network still works as a plain multi-level network.
- Haar DWT: the package's :mod:`~monai_mcrecon.networks.blocks.wavelet` (pytorch_wavelets' band order and
  signs). ``band_order`` selects how the ``4n`` channels before each IDWT are read (``"release"``: groups of 4,
  the release's ``_Itransformer``; ``"consistent"``: the inverse of the packing).
- WMLM columns (``rirs_per_branch``) and the width of the IFM are parameters (release: 3 and 32 = n).

The model's private blocks live in this file (``networks/blocks`` holds only blocks that two or more networks
use); module and attribute names follow the release (``src/model/spdnet.py``), so that with
``release_compatible=True`` a release state dict has the same keys:

- :func:`residue_channel` -- the residue channel prior ``r(I) = max_c I - min_c I``;
- :class:`ConvUnit` (release ``convd``) -- reflection pad, conv (bias), ReLU;
- :class:`SqueezeExcitation` (release ``common.SELayer(n, 1)``) -- SE of reduction 1 **without biases**
  (MONAI's ``ChannelSELayer`` has biases, so the parameter count would not match);
- :class:`ResidualBlock` (``RB``), :class:`ResidualInResidual` (``RIR``);
- :class:`InteractiveFusion` (``Prior_Sp``) -- the attention half of the IFM; the IFM of the paper is
  ``ConvUnit(2n -> n)(cat(InteractiveFusion(x, r)))``, the conv unit being the WMLM's ``fuse_res``;
- :class:`TransposedUpsample` (``Upsample``) and :class:`Fuse` (``Fuse``).

Outputs: ``(out3, out2, out1)`` in the release order (:class:`SPDNetOutput`); ``out3`` is the final
derained image. Training mode always returns all three (for :class:`monai.losses.DeepSupervisionLoss`
with ``weight_mode="same"`` and ``MSELoss``, the release loss ``MSE(out3) + MSE(out2) + MSE(out1)``); eval
mode returns ``out3`` only unless ``return_all_outputs=True``.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.blocks.wavelet import BAND_ORDERS, HaarDWT, HaarIDWT, pack_bands, unpack_bands
from monai_mcrecon.networks.presets import PresetMixin

__all__ = [
    "SPDNet",
    "SPDNetOutput",
    "ResidueFeatureExtractor",
    "WaveletMultiLevelModule",
    "ConvUnit",
    "Fuse",
    "InteractiveFusion",
    "ResidualBlock",
    "ResidualInResidual",
    "SqueezeExcitation",
    "TransposedUpsample",
    "residue_channel",
]


def residue_channel(x: torch.Tensor) -> torch.Tensor:
    """Residue channel prior ``r(I) = max_c I - min_c I`` per pixel, ``[B, C, H, W] -> [B, 1, H, W]``.

    Rain streaks are achromatic (white), so they cancel in ``r`` while coloured scene structure
    remains. ``r >= 0``, ``r(I + c) = r(I)``, ``r(a I) = a r(I)`` for ``a > 0``, zero for a grey image;
    it is differentiable (not detached), so iterative guidance back-propagates through it. For a
    single-channel image ``r`` is identically zero.
    """
    return x.amax(dim=1, keepdim=True) - x.amin(dim=1, keepdim=True)


class ConvUnit(nn.Module):
    """``ReLU(Conv_kxk(ReflectionPad(x)))`` with bias (release ``convd``).

    Args:
        in_channels, out_channels, kernel_size, stride: of the convolution.
        release_compatible: also create the affine ``InstanceNorm2d`` of the release (``ins``), which
            the release never applies (state-dict compatibility only; it is unused here too).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, release_compatible: bool = False
    ) -> None:
        super().__init__()
        self.padding = nn.ReflectionPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)
        self.relu = nn.ReLU()
        if release_compatible:
            self.ins = nn.InstanceNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(self.padding(x)))


class SqueezeExcitation(nn.Module):
    """``x * sigmoid(W2 ReLU(W1 avgpool(x)))`` with bias-free ``W1, W2`` of size ``n x n`` (2 n^2 parameters)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels, bias=False),
            nn.ReLU(),
            nn.Linear(channels, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x * self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)


class ResidualBlock(nn.Module):
    """``RB(x) = x + SE(ReLU(Conv3(ReLU(Conv3(x)))))`` (zero-padded convs with bias, no activation after the sum)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.module_body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.ReLU(),
        )
        self.se = SqueezeExcitation(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.se(self.module_body(x))


class ResidualInResidual(nn.Module):
    """``RIR(x) = ReLU(x + Conv3(RB_b(... RB_1(x))))``."""

    def __init__(self, channels: int, num_blocks: int) -> None:
        super().__init__()
        self.module_body = nn.Sequential(
            *(ResidualBlock(channels) for _ in range(num_blocks)), nn.Conv2d(channels, channels, 3, 1, 1)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.module_body(x))


class InteractiveFusion(nn.Module):
    """Attention half of the Interactive Fusion Module (release ``Prior_Sp``, width ``n``, hard-coded 32 there).

    ::

        A   = sigmoid(Conv3(x) * Conv3(r));  x_a = x * A;  r_a = r * A
        gx  = Conv3(2n -> 2)(cat(x, x_a));   x' = x * gx[0] + x_a * gx[1]
        gr  = Conv3(2n -> 2)(cat(r, r_a));   r' = r * gr[0] + r_a * gr[1]

    Returns ``(x', r')``; the WMLM fuses them with a conv unit ``CU(2n -> n)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query_conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.key_conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.gamma1 = nn.Conv2d(2 * channels, 2, 3, 1, 1)
        self.gamma2 = nn.Conv2d(2 * channels, 2, 3, 1, 1)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attention = torch.sigmoid(self.query_conv(x) * self.key_conv(prior))
        x_a = x * attention
        p_a = prior * attention
        gx = self.gamma1(torch.cat((x, x_a), dim=1))
        gp = self.gamma2(torch.cat((prior, p_a), dim=1))
        return x * gx[:, 0:1] + x_a * gx[:, 1:2], prior * gp[:, 0:1] + p_a * gp[:, 1:2]


class TransposedUpsample(nn.Module):
    """``ReLU(ConvTranspose2d(k, stride s)(ReflectionPad(k // 2)(u)))`` (size ``2h + 5`` for k = 3, s = 2), then a
    nearest-neighbour resize to the size of ``like`` (release ``Upsample``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride)
        self.relu = nn.ReLU()

    def forward(self, u: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.relu(self.conv2d(self.reflection_pad(u))), like.shape[2:], mode="nearest")


class Fuse(nn.Module):
    """``Fuse(u, skip) = ReLU(RB(Upsample(u, skip) + skip))``; returns the skip's shape.

    ``release_compatible`` also creates the release's unused conv unit ``conv``.
    """

    def __init__(self, channels: int, release_compatible: bool = False) -> None:
        super().__init__()
        self.up = TransposedUpsample(channels, channels, 3, 2)
        if release_compatible:
            self.conv = ConvUnit(channels, channels, 3, 1, release_compatible=True)
        self.rb = ResidualBlock(channels)
        self.relu = nn.ReLU()

    def forward(self, u: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.relu(self.rb(self.up(u, skip) + skip))


class SPDNetOutput(NamedTuple):
    """SPDNet's three estimates, in the release's return order; ``out3`` is the final output."""

    out3: torch.Tensor
    out2: torch.Tensor
    out1: torch.Tensor


def _rep3(r: torch.Tensor) -> torch.Tensor:
    return torch.cat((r, r, r), dim=1)


class ResidueFeatureExtractor(nn.Module):
    """RCP feature extractor (release ``res_ch``): ``RIR(n, b)(CU(n/2 -> n)(CU(3 -> n/2)(rep3(r))))``."""

    def __init__(self, features: int, num_blocks: int, release_compatible: bool = False) -> None:
        super().__init__()
        self.conv_init1 = ConvUnit(3, features // 2, 3, 1, release_compatible)
        self.conv_init2 = ConvUnit(features // 2, features, 3, 1, release_compatible)
        self.extra = ResidualInResidual(features, num_blocks)

    def forward(self, r3: torch.Tensor) -> torch.Tensor:
        return self.extra(self.conv_init2(self.conv_init1(r3)))


class WaveletMultiLevelModule(nn.Module):
    """WMLM (release ``subnet``): IFM, two Haar levels, three branches of RIRs, fusion back to full size.

    ::

        f1 = IFM(x, r) = CU(2n -> n)(cat(InteractiveFusion(x, r)))     # full resolution
        f2 = CU(4n -> n)(pack(DWT(f1)));  f3 = CU(4n -> n)(pack(DWT(f2)))  # 1/2, 1/4
        b_i = RIR_{i,k}(... RIR_{i,1}(f_i))                             # k columns, no sharing
        u3 = IDWT(unpack(CU(n -> 4n)(b3)));  g2 = Fuse(u3, b2)
        u2 = IDWT(unpack(CU(n -> 4n)(g2)));  WMLM(x, r) = Fuse(u2, b1)

    Args:
        features: ``n``.
        num_blocks: RBs per RIR ``b``.
        rirs_per_branch: RIRs in sequence per branch (release: 3).
        band_order: ``"release"`` or ``"consistent"`` (see :func:`~monai_mcrecon.networks.blocks.wavelet.unpack_bands`).
        release_compatible: also build the release's unused cross-scale modules and conv units.
    """

    def __init__(
        self,
        features: int,
        num_blocks: int,
        rirs_per_branch: int = 3,
        band_order: str = "release",
        release_compatible: bool = False,
    ) -> None:
        super().__init__()
        n, rc = features, release_compatible
        self.band_order = band_order
        self.rirs_per_branch = rirs_per_branch
        self.DWT = HaarDWT()
        self.IDWT = HaarIDWT()
        self.DWT_2 = ConvUnit(4 * n, n, 3, 1, rc)
        self.DWT_3 = ConvUnit(4 * n, n, 3, 1, rc)
        self.IDWT_2 = ConvUnit(n, 4 * n, 3, 1, rc)
        self.IDWT_3 = ConvUnit(n, 4 * n, 3, 1, rc)
        self.prior = InteractiveFusion(n)
        self.fuse_res = ConvUnit(2 * n, n, 3, 1, rc)
        for branch in (1, 2, 3):
            for col in range(1, rirs_per_branch + 1):
                setattr(self, f"branch{branch}_{col}", ResidualInResidual(n, num_blocks))
        if release_compatible:  # constructed but never applied by the release's forward pass
            self.down2 = ConvUnit(n, n, 3, 2, True)
            self.down3 = ConvUnit(n, n, 3, 2, True)
            for col in range(1, rirs_per_branch):
                setattr(self, f"branch1_{col}_d", ConvUnit(n, n, 3, 2, True))
                setattr(self, f"branch2_{col}_u", TransposedUpsample(n, n, 3, 2))
                setattr(self, f"branch2_{col}_d", ConvUnit(n, n, 3, 2, True))
                setattr(self, f"branch3_{col}_u", TransposedUpsample(n, n, 3, 2))
        self.fuse12 = Fuse(n, rc)
        self.fuse23 = Fuse(n, rc)

    def ifm(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Interactive fusion module: ``CU(2n -> n)(cat(x', r'))`` with ``(x', r') = InteractiveFusion(x, r)``."""
        return self.fuse_res(torch.cat(self.prior(x, r), dim=1))

    def _branch(self, index: int, f: torch.Tensor) -> torch.Tensor:
        for col in range(1, self.rirs_per_branch + 1):
            f = getattr(self, f"branch{index}_{col}")(f)
        return f

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        f1 = self.ifm(x, r)
        f2 = self.DWT_2(pack_bands(*self.DWT(f1)))
        f3 = self.DWT_3(pack_bands(*self.DWT(f2)))
        b1, b2, b3 = self._branch(1, f1), self._branch(2, f2), self._branch(3, f3)
        u3 = self.IDWT(*unpack_bands(self.IDWT_3(b3), self.band_order))
        g2 = self.fuse23(u3, b2)
        u2 = self.IDWT(*unpack_bands(self.IDWT_2(g2), self.band_order))
        return self.fuse12(u2, b1)


class SPDNet(PresetMixin, nn.Module):
    """SPDNet (faithful to the authors' release): three progressive WMLM iterations guided by the RCP.

    ::

        x0   = CU(n/2 -> n)(CU(in -> n/2)(I))
        x1   = WMLM1(x0, E1(rep3(r(I))));                           out1 = Conv3(x1)
        x2   = WMLM2(CU(2n -> n)(cat(x1, x0)), E2(rep3(r(out1))));  out2 = Conv3(CU(2n -> n)(cat(x2, x1)))
        x3   = WMLM3(CU(3n -> n)(cat(x2, x1, x0)), E3(rep3(r(out2))))
        out3 = Conv3(CU(3n -> n)(cat(x3, x2, x1)))

    No global residual, outputs not clamped. Parameters at the ``paper`` preset: 2,981,525 (used), 3,318,741
    with ``release_compatible=True`` (the release's 3.32 M).

    Args:
        in_channels: image channels of the input (release: 3, RGB).
        out_channels: image channels of the outputs (release: 3).
        features: ``n`` (release ``n_feats`` 32; also the IFM width, hard-coded 32 in the release).
        num_blocks: RBs per RIR ``b`` (release ``n_resblocks`` 3).
        rirs_per_branch: RIRs per WMLM branch (release 3).
        rgb_range: the input ([0, 1]) is multiplied by this before the release body and the outputs divided by
            it (release: 255, the body then sees 0-255 values; ``small``/``tiny``: 1).
        band_order: ``"release"`` (default) or ``"consistent"`` reading of the channels before each IDWT.
        release_compatible: build the release's unused modules too (its state-dict keys and 3,318,741 parameters).
        return_all_outputs: in eval mode return :class:`SPDNetOutput` instead of ``out3`` (training mode always
            returns all three).

    Examples::

        net = SPDNet.from_preset("small")
        outs = net(rainy)            # training mode: SPDNetOutput(out3, out2, out1), each [B, 3, H, W] in [0, 1] units
        net.eval(); derained = net(rainy)   # out3 only
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "paper": {},
        "small": {"features": 16, "num_blocks": 1, "rirs_per_branch": 3, "rgb_range": 1.0},
        "tiny": {"features": 8, "num_blocks": 1, "rirs_per_branch": 1, "rgb_range": 1.0},
    }

    MULTIPLE = 4  # two Haar levels

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        features: int = 32,
        num_blocks: int = 3,
        rirs_per_branch: int = 3,
        rgb_range: float = 255.0,
        band_order: str = "release",
        release_compatible: bool = False,
        return_all_outputs: bool = False,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels=}, {out_channels=}.")
        if features < 2:
            raise ValueError(f"features must be >= 2 (the stem has features // 2 channels), got {features=}.")
        if num_blocks < 1 or rirs_per_branch < 1:
            raise ValueError(f"num_blocks and rirs_per_branch must be >= 1, got {num_blocks=}, {rirs_per_branch=}.")
        if band_order not in BAND_ORDERS:
            raise ValueError(f"Unknown band_order {band_order!r}; choose one of {BAND_ORDERS}.")
        if not rgb_range > 0:
            raise ValueError(f"rgb_range must be > 0 (1 for [0, 1] training, 255 for the release), got {rgb_range=}.")
        n, rc = features, release_compatible
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.rgb_range = float(rgb_range)
        self.return_all_outputs = bool(return_all_outputs)
        self.conv_init1 = ConvUnit(in_channels, n // 2, 3, 1, rc)
        self.conv_init2 = ConvUnit(n // 2, n, 3, 1, rc)
        for i in (1, 2, 3):
            setattr(self, f"res_extra{i}", ResidueFeatureExtractor(n, num_blocks, rc))
            setattr(self, f"sub{i}", WaveletMultiLevelModule(n, num_blocks, rirs_per_branch, band_order, rc))
        self.ag1 = ConvUnit(2 * n, n, 3, 1, rc)
        self.ag2 = ConvUnit(3 * n, n, 3, 1, rc)
        self.ag2_en = ConvUnit(2 * n, n, 3, 1, rc)
        self.ag_en = ConvUnit(3 * n, n, 3, 1, rc)
        self.output1 = nn.Conv2d(n, out_channels, 3, 1, 1)
        self.output2 = nn.Conv2d(n, out_channels, 3, 1, 1)
        self.output3 = nn.Conv2d(n, out_channels, 3, 1, 1)

    def forward_release(self, x: torch.Tensor) -> SPDNetOutput:
        """The release's ``Rainnet.forward``: ``x`` in [0, rgb_range], H and W divisible by 4 (at least 8)."""
        x_init = self.conv_init2(self.conv_init1(x))
        x1 = self.sub1(x_init, self.res_extra1(_rep3(residue_channel(x))))
        out1 = self.output1(x1)
        x2 = self.sub2(self.ag1(torch.cat((x1, x_init), dim=1)), self.res_extra2(_rep3(residue_channel(out1))))
        out2 = self.output2(self.ag2_en(torch.cat((x2, x1), dim=1)))
        x3 = self.sub3(self.ag2(torch.cat((x2, x1, x_init), dim=1)), self.res_extra3(_rep3(residue_channel(out2))))
        out3 = self.output3(self.ag_en(torch.cat((x3, x2, x1), dim=1)))
        return SPDNetOutput(out3, out2, out1)

    def forward(self, x: torch.Tensor) -> SPDNetOutput | torch.Tensor:
        """Derain ``x``.

        Args:
            x: rainy images ``[B, in_channels, H, W]`` in [0, 1] (any H, W >= 1).

        Returns:
            training mode or ``return_all_outputs``: :class:`SPDNetOutput` ``(out3, out2, out1)``, each
            ``[B, out_channels, H, W]`` in [0, 1] units (not clamped); eval mode: ``out3``.

        Raises:
            ValueError: when ``x`` is not ``[B, in_channels, H, W]``.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SPDNet expects rainy images of shape [B, {self.in_channels}, H, W] in [0, 1], got {tuple(x.shape)}; "
                "add a batch axis or set in_channels to the number of image channels."
            )
        h, w = x.shape[-2:]
        ph = max(-(-h // self.MULTIPLE) * self.MULTIPLE, 2 * self.MULTIPLE) - h
        pw = max(-(-w // self.MULTIPLE) * self.MULTIPLE, 2 * self.MULTIPLE) - w
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        outs = self.forward_release(x * self.rgb_range)
        outs = SPDNetOutput(*(o[..., :h, :w] / self.rgb_range for o in outs))
        if self.training or self.return_all_outputs:
            return outs
        return outs.out3
