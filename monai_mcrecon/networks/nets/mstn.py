"""MSTN: Multi-Scale Topological Network for single-image dehazing.

Paper: Q. Yi, J. Li, F. Fang, A. Jiang, G. Zhang, "Efficient and Accurate Multi-Scale Topological
Network for Single Image Dehazing", IEEE Transactions on Multimedia, 2022,
DOI 10.1109/TMM.2021.3093724 (arXiv, February 2021). Authors' code:
https://github.com/Joyies/MSTN, commit 76ed88997e6f7cf4a38322ac027e8348e08f32ae (``models/net.py``).

Fidelity: **faithful to the authors' released code** (see ``docs/models/mstn.md``). Inferred: only
the mapping of the paper's module names to the code (fusion node = MFFM, selective-kernel fusion =
AFSM). Module and parameter names follow the release (``conv2_init_1``, ``c{column}_{scale}``,
``f{column}_{scale}``, ``d{column}_{scale}``, ``Output``), so a release state dict loads into
``MSTN(release_compatible=True)``.

Deliberate differences (none change the function of the paper configuration):

- ``n_scales`` (5 in the release), ``features`` (``16 n`` = 32), ``in_channels`` and
  ``out_channels`` (3) are constructor arguments; the release hard-codes them.
- The six down-sampling layers the release creates but never calls (``d2_1 .. d4_1``) are built only
  with ``release_compatible=True`` (18,914,627 parameters used, 19,412,995 with them).
- Inputs smaller than the coarsest scale's reflection padding allows (``H`` or ``W`` <=
  ``2 ** (n_scales - 1)``; the release fails there) are replicate-padded at the bottom/right up to
  the minimum size and the output is cropped back. Larger sizes run as released: odd sizes are
  absorbed by the stride-2 convolutions (``ceil(H / 2)``) and the fusion nodes' bilinear resize.
- ``output_bias`` (project addition, default ``None`` = the release's PyTorch default init):
  the release's output is ``ReLU(conv)``; with the default init, whole output channels can start
  negative everywhere and then never receive a gradient (measured: 3 of 6 seeds of the paper
  network had at least one all-zero output channel on random input). Initialising the final
  bias to 0.5 (the middle of [0, 1]; pre-activations without bias are about ±0.2 at init) keeps
  every channel alive; the bundle uses it.
- ``residual_prior`` (project addition, default off; the ``mstn_dehaze`` bundle uses it): the network refines
  the dark-channel-prior result ``P`` (:func:`monai_mcrecon.ops.dehaze.dark_channel_prior` of the whole input,
  guided-filter radius ``prior_radius``, or a ``prior`` given to ``forward``, as training on patches does with
  priors computed on the whole image): the head reads ``[I, P]`` and the output is ``ReLU(P + conv(features))``
  with that final convolution zero-initialised, so that the untrained network returns the prior exactly and
  training learns a correction of the classical method. The prior is part of the graph (one input, ONNX
  export included).
- The optional perceptual term of the release's loss is
  :class:`monai_mcrecon.losses.mstn.MSTNLoss` with a user-supplied feature extractor (no
  ImageNet download); off by default.

The model's private blocks live in this file (``networks/blocks`` holds only blocks that two or more networks
use; the selective-kernel fusion is :mod:`monai_mcrecon.networks.blocks.selective_kernel`):
:class:`MSTNConvLayer` (the release's ``ConvLayer``), :class:`MSTNUpsample` (``Upsample``), :class:`MSRB` (the
residual block) and :class:`MSTNFusion` (the fusion node). Their module and parameter names follow the release
(``conv2d``, ``conv1``/``conv2``, ``downsample``/``middle``/``upsample``/``sk``) so that its state dicts load; all
their convolutions have biases and use reflection padding.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.blocks.selective_kernel import SelectiveKernelFusion
from monai_mcrecon.networks.presets import PresetMixin
from monai_mcrecon.ops.dehaze import dark_channel_prior

__all__ = ["MSRB", "MSTN", "MSTNConvLayer", "MSTNFusion", "MSTNUpsample"]


class MSTNConvLayer(nn.Module):
    """``ReLU(Conv_k,stride(reflect_pad_{k//2}(x)))`` (the release's ``ConvLayer``; its batch norm option is off).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size ``k``.
        stride: convolution stride (2 halves the size: ``ceil(H / 2)``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect")))


class MSTNUpsample(nn.Module):
    """``ReLU(ConvTranspose_k,stride(reflect_pad_{k//2}(x)))`` (the release's ``Upsample``).

    For ``k = 3``, stride 2 and an ``h``-row input the output has ``2h + 5`` rows; the fusion node
    resizes it bilinearly to the target size (so the resize is never an identity).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect")))


class MSRB(nn.Module):
    """MSTN residual block: ``ReLU(x + Conv3(ReLU(Conv3(x))))``, each conv after reflection pad 1, with bias.

    Args:
        channels: channels ``C`` (input = output).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3)
        self.conv2 = nn.Conv2d(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(F.pad(x, [1] * 4, mode="reflect")))
        out = self.conv2(F.pad(out, [1] * 4, mode="reflect"))
        return F.relu(out + x)


class MSTNFusion(nn.Module):
    """Fusion node (MFFM, inferred mapping) of a scale ``x_i`` (``C`` channels) with the next coarser ``x_{i+1}`` (``2C``).

    ```
    a = ConvLayer(C -> 2C, 3, stride 2)(x_i)
    m = ConvLayer(2C -> 2C, 3, stride 1)(SK(a, x_{i+1}))
    u = ReLU(ConvTranspose2d(2C -> C, 3, stride 2)(reflect_pad_1(m)))
    u = bilinear_resize(u, size(x_i), align_corners=False)
    return x_i + u
    ```

    ``SK`` is :class:`~monai_mcrecon.networks.blocks.selective_kernel.SelectiveKernelFusion` on
    ``2C`` channels with ``d = max(C, 64)``.

    Args:
        channels: channels ``C`` of the finer input ``x_i``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.downsample = MSTNConvLayer(channels, 2 * channels, 3, stride=2)
        self.middle = MSTNConvLayer(2 * channels, 2 * channels, 3, stride=1)
        self.upsample = MSTNUpsample(2 * channels, channels, 3, stride=2)
        self.sk = SelectiveKernelFusion(2 * channels, reduction=2, min_features=64)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fuse ``x [B, C, H, W]`` with ``y [B, 2C, ceil(H/2), ceil(W/2)]``; returns ``[B, C, H, W]``."""
        a = self.downsample(x)
        if a.shape != y.shape:
            raise ValueError(
                f"MSTNFusion expects the coarser input with shape {tuple(a.shape)} (2C channels, ceil(H/2), "
                f"ceil(W/2)), got {tuple(y.shape)}."
            )
        u = self.upsample(self.middle(self.sk(a, y)))
        u = F.interpolate(u, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x + u


class MSTN(PresetMixin, nn.Module):
    """MSTN dehazing network: a triangular multi-scale grid of residual blocks and SK fusion nodes.

    With ``S = n_scales`` scales of widths ``w_i = features * 2 ** (i - 1)``:

    ```
    o_1 = MSRB(head(I));  o_{i+1} = MSRB(D_i(o_i)), i = 1 .. S-1        # column 1
    for column j = 1 .. S-1 (L_j = S - j + 1 active scales):
        if j > 1: o_i = MSRB_{j,i}(o_i) for i = 1 .. L_j
        o_i = fusion_{j,i}(o_i, o_{i+1}) for i = 1 .. L_j - 1         # all use the pre-fusion o_{i+1}
        drop o_{L_j}
    out = ConvLayer(w_1 -> out_channels, 3)(MSRB_{S,1}(o_1))           # final conv + ReLU, no residual
    ```

    ``head`` is ``ReLU(Conv5x5(w_1 -> ...))`` twice (``in -> w_1 / 2 -> w_1``, reflection pad 2);
    ``D_i`` a stride-2 :class:`MSTNConvLayer`; the blocks are defined above in this module.
    ``S (S + 1) / 2`` MSRBs, ``S (S - 1) / 2`` fusion nodes, ``S - 1`` down-sampling layers
    (15, 10, 4 at the paper's ``S = 5``).

    Args:
        in_channels: channels of the hazy input (3 for RGB).
        out_channels: channels of the output (3).
        features: width ``w_1 = 16 n`` at full resolution (release: ``n = 2`` -> 32); must be even.
        n_scales: number of scales ``S`` >= 2 (release: 5).
        output_bias: initial value of the final convolution's bias (project addition against dead
            output channels at init, see the module docstring); ``None`` keeps PyTorch's default.
        release_compatible: also build the release's six (generally ``(S-2)(S-1)/2``) unused
            down-sampling layers so its state dict loads with ``strict=True``.
        residual_prior: refine the dark-channel-prior result (module docstring); needs ``in_channels`` ==
            ``out_channels`` (1 or 3), no ``output_bias``, ``release_compatible=False``.
        prior_radius: the prior's guided-filter radius (fixed, so that the graph does not depend on the size);
            inputs smaller than it are padded like those below :attr:`min_size`.

    Input ``[B, in_channels, H, W]`` in [0, 1], any ``H, W``; output ``[B, out_channels, H, W]`` >= 0.

    Examples::

        net = MSTN()                                  # paper / release, 18,914,627 parameters
        net = MSTN.from_preset("small")               # features 8, 4 scales
        dehazed = net(hazy)
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "paper": {},
        "small": {"features": 8, "n_scales": 4},
        "tiny": {"features": 8, "n_scales": 3},
    }

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        features: int = 32,
        n_scales: int = 5,
        output_bias: float | None = None,
        release_compatible: bool = False,
        residual_prior: bool = False,
        prior_radius: int = 32,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels=}, {out_channels=}.")
        if features < 2 or features % 2:
            raise ValueError(f"features (16 n in the paper) must be an even number >= 2, got {features=}.")
        if n_scales < 2:
            raise ValueError(f"n_scales must be >= 2 (the grid needs a coarser scale to fuse), got {n_scales=}.")
        if residual_prior and (in_channels != out_channels or in_channels not in (1, 3) or output_bias is not None
                               or release_compatible or prior_radius < 1):
            raise ValueError(
                "residual_prior needs in_channels == out_channels (1 or 3), no output_bias, release_compatible=False "
                f"and prior_radius >= 1; got {in_channels=}, {out_channels=}, {output_bias=}, {release_compatible=}, "
                f"{prior_radius=}."
            )
        self.residual_prior, self.prior_radius = bool(residual_prior), int(prior_radius)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.features, self.n_scales = int(features), int(n_scales)
        self.release_compatible = bool(release_compatible)
        s = self.n_scales
        widths = [self.features * 2**i for i in range(s)]
        head_in = self.in_channels * (2 if self.residual_prior else 1)
        self.conv2_init_1 = nn.Conv2d(head_in, self.features // 2, kernel_size=5)
        self.conv2_init_2 = nn.Conv2d(self.features // 2, self.features, kernel_size=5)
        for j in range(1, s + 1):  # columns
            n_active = s - j + 1
            for i in range(1, n_active + 1):
                self.add_module(f"c{j}_{i}", MSRB(widths[i - 1]))
                if i < n_active:
                    self.add_module(f"f{j}_{i}", MSTNFusion(widths[i - 1]))
                    if j == 1 or (self.release_compatible and j < s):
                        self.add_module(f"d{j}_{i}", MSTNConvLayer(widths[i - 1], widths[i], 3, stride=2))
        self.Output = MSTNConvLayer(self.features, self.out_channels, 3, stride=1)
        if output_bias is not None:
            nn.init.constant_(self.Output.conv2d.bias, float(output_bias))
        if self.residual_prior:
            nn.init.zeros_(self.Output.conv2d.weight)
            nn.init.zeros_(self.Output.conv2d.bias)

    @property
    def min_size(self) -> int:
        """Smallest ``H`` (and ``W``) the grid runs on without padding: the 1/2^(S-1) map needs 2 pixels (and the
        prior's guided filter ``prior_radius`` pixels)."""
        return max(2 ** (self.n_scales - 1) + 1, self.prior_radius if self.residual_prior else 0)

    def msrbs(self) -> list[MSRB]:
        """The used residual blocks, column by column (release order)."""
        s = self.n_scales
        return [getattr(self, f"c{j}_{i}") for j in range(1, s + 1) for i in range(1, s - j + 2)]

    def fusions(self) -> list[MSTNFusion]:
        """The fusion nodes, column by column (release order)."""
        s = self.n_scales
        return [getattr(self, f"f{j}_{i}") for j in range(1, s) for i in range(1, s - j + 1)]

    def downsamplers(self) -> list[MSTNConvLayer]:
        """The down-sampling layers called in ``forward`` (column 1)."""
        return [getattr(self, f"d1_{i}") for i in range(1, self.n_scales)]

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """``ReLU(Conv5x5(pad2(ReLU(Conv5x5(pad2(x))))))`` (reflection padding)."""
        out = F.relu(self.conv2_init_1(F.pad(x, [2] * 4, mode="reflect")))
        return F.relu(self.conv2_init_2(F.pad(out, [2] * 4, mode="reflect")))

    def forward(self, x: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Dehaze ``x [B, in_channels, H, W]`` (values in [0, 1]); returns ``[B, out_channels, H, W]``.

        ``prior`` (``residual_prior`` only): the dark-channel-prior result of ``x``'s whole image, when ``x`` is a
        crop of it; by default computed from ``x``.

        Raises:
            ValueError: when ``x`` is not 4-D or has the wrong number of channels, or ``prior`` is not ``x``'s shape.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"MSTN expects a hazy image of shape [B, {self.in_channels}, H, W], got {tuple(x.shape)}; "
                f"set in_channels to match (e.g. in_channels=1 for grayscale)."
            )
        if prior is not None and (not self.residual_prior or prior.shape != x.shape):
            raise ValueError(
                f"MSTN takes a prior only with residual_prior=True, of the input's shape {tuple(x.shape)}; got "
                f"{None if prior is None else tuple(prior.shape)} (residual_prior={self.residual_prior})."
            )
        h, w = x.shape[-2:]
        pad_h, pad_w = max(self.min_size - h, 0), max(self.min_size - w, 0)
        if pad_h or pad_w:
            x = F.pad(x, [0, pad_w, 0, pad_h], mode="replicate")
            prior = None if prior is None else F.pad(prior, [0, pad_w, 0, pad_h], mode="replicate")
        if self.residual_prior:
            prior = dark_channel_prior(x, radius=self.prior_radius) if prior is None else prior
            x = torch.cat([x, prior], 1)
        s = self.n_scales
        o = [self.c1_1(self.head(x))]
        for i in range(1, s):
            o.append(getattr(self, f"c1_{i + 1}")(getattr(self, f"d1_{i}")(o[-1])))
        for j in range(1, s):
            if j > 1:
                o = [getattr(self, f"c{j}_{i + 1}")(t) for i, t in enumerate(o)]
            # every fusion reads the pre-fusion coarser tensor o[i + 1]; the coarsest scale is dropped
            o = [getattr(self, f"f{j}_{i + 1}")(o[i], o[i + 1]) for i in range(len(o) - 1)]
        feat = getattr(self, f"c{s}_1")(o[0])
        if self.residual_prior:  # ReLU(prior + conv(features)): the Output layer's convolution without its ReLU
            conv = self.Output.conv2d(F.pad(feat, [self.Output.pad] * 4, mode="reflect"))
            out = F.relu(prior + conv)
        else:
            out = self.Output(feat)
        return out[..., :h, :w]
