"""MC-CDic: deep unfolding multi-contrast convolutional dictionary model.

Paper: P. Lei, F. Fang, G. Zhang, M. Xu, "Deep Unfolding Convolutional Dictionary Model for
Multi-Contrast MRI Super-resolution and Reconstruction", IJCAI 2023, pp. 1008-1016,
doi:10.24963/ijcai.2023/112, arXiv:2309.01171 (v2 matches the released code).
Authors' code: https://github.com/lpcccc-cv/MC-CDic (``models/modules/MCCDic.py``).

Fidelity: **faithful to the authors' release, latest version** (5 steps = one initialisation and 4
unrolled updates, fused unique parts, 2-channel common decoder; the release trains with
``L1(x^, x) + 0.1 L1(y^, y)``). Documentation: ``docs/models/mc_cdic.md``. 9,537,484 trainable
parameters at the defaults.

Deliberate differences from the release (docs/models/mc_cdic.md, 'Differences from the release'):

- step sizes ``eta`` and thresholds ``lambda`` are registered buffers (saved in the state dict,
  moved with the module); ``learnable_steps=True`` makes them parameters. The release keeps them in
  plain Python lists, so they are neither trained nor saved. Thresholds exist only for the
  initialisation step, the only one that uses them (the release also allocates unused ones for the
  later steps);
- P and G start as exact copies of D. In the release a mutable default argument
  (``get_all_conv(net, conv_list=[])``) re-initialises earlier dictionaries, so P_x, G_x, P_y, G_y
  do not equal D_x, D_y at the start. The common decoder G_z (``n_out=2``) cannot be a copy of D_z
  (``n_out=64``) and keeps PyTorch's default initialisation, as in the release;
- the unused 74,304-parameter ``decoder`` of the release is not reproduced;
- inputs of any size are replicate-padded at the bottom / right to a multiple of ``2^(S-1)``
  (4 for three scales) and the outputs cropped back. The release instead zero-pads the up-sampled
  maps inside the dictionaries, so its coarse codes do not cover the last row / column of an odd
  size; for multiples of 4 (the paper's 240 and 256) both are identical;
- the up-sampler of a dictionary level maps ``w_{s-1} -> w_s`` channels (the release hard-codes
  ``w_{s-1} - 32``, the same for the paper's widths), so the ``small`` and ``tiny`` presets build.

Weights trained with the release load through :mod:`monai_mcrecon.networks.nets.mc_cdic_release`
(the module tree maps one to one; ``python -m monai_mcrecon.networks.nets.mc_cdic_release --help``).

Interface (project contract): one input ``[B, 2, H, W]`` in [0, 1], channel 0 the degraded target
``x``, channel 1 the reference ``y``. In training mode the output is ``[B, 2, H, W]`` =
``cat(x^, y^)`` (restored target, reconstructed reference, for the reference-weighted loss); in
eval mode only ``[B, 1, H, W]`` = ``x^``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.networks.blocks import MultiScaleDictionary, ResidualGroup, power_iteration
from monai_mcrecon.networks.blocks.dictionary import analyse, synthesis_features
from monai_mcrecon.networks.presets import PresetMixin
from monai_mcrecon.ops.winograd import MIN_CHANNELS as WINOGRAD_MIN_CHANNELS
from monai_mcrecon.ops.winograd import WinogradConvolutions, winograd_usable

__all__ = ["MCCDic"]

_VARIABLES = ("x", "y", "z")


class MCCDic(PresetMixin, nn.Module):
    """Multi-contrast convolutional dictionary network (release version of MC-CDic).

    The target features ``x_in`` are modelled as ``D_x a_x + D_zx a_z`` (unique + common part),
    the reference features ``y_in`` as ``D_y a_y + D_zy a_z``; the sparse codes ``a`` are estimated
    by ``K`` unrolled proximal-gradient (ISTA) steps whose proximal operators are learned residual
    groups of RCABs.

    Args:
        widths: code channels per scale, coarse to fine (paper: 128, 96, 64).
        features: channels of the lifted images and of the dictionaries' output (paper: 64).
        num_steps: ``K``, the initialisation plus ``K - 1`` unrolled updates (paper / release: 5).
        rcabs_per_scale: RCABs in the proximal network of each scale (paper: 1, 3, 5).
        lasso_lambda: initial threshold ``lambda`` per channel and scale (release: 0.01).
        reduction: channel-attention reduction ratio of the RCABs (16).
        kernel_size: kernel size of the dictionaries' and RCABs' convolutions (3).
        learnable_steps: register step sizes and thresholds as parameters instead of buffers.
        power_iterations: power-iteration steps for ``L`` at construction (release: 20).
        power_iteration_size: spatial size of the power-iteration codes' image (release: 64).
        fast: run :meth:`unfold_fast` (dictionary filters prepared once per forward, the data-term
            operators fused; same outputs up to float rounding, see its docstring) instead of the
            straightforward :meth:`unfold`. Not saved in the state dict; switch with ``net.fast = False``.
        winograd: in the fast forward on the CPU without autograd (``torch.no_grad`` / ``torch.inference_mode``),
            run the wide 3x3 convolutions through NNPACK's Winograd convolution
            (:class:`~monai_mcrecon.ops.winograd.WinogradConvolutions`; same outputs up to float rounding, about
            2e-6 relative; 1.4-1.5x faster per convolution than oneDNN) on maps in the default (NCHW) layout instead
            of oneDNN on channels-last maps. Used only where the full-resolution maps have at least 32 channels
            (``features`` and ``widths[-1]``: the default configuration, not the ``small`` / ``tiny`` presets);
            ignored where NNPACK is missing, in training, on GPUs and under ``torch.export`` / ``torch.compile``.
            Not saved in the state dict; switch with ``net.winograd = False``.

    Examples::

        net = MCCDic()                          # paper / release configuration
        net = MCCDic.from_preset("small")       # CPU-trainable
        out = net(torch.rand(2, 2, 240, 240))   # train mode: [2, 2, 240, 240] = cat(x^, y^)
        net.eval(); x_hat = net(image)          # eval mode: [B, 1, H, W]
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "small": {"widths": (32, 24, 16), "features": 16, "num_steps": 3, "rcabs_per_scale": (1, 1, 2)},
        "tiny": {"widths": (8, 8, 8), "features": 8, "num_steps": 2, "rcabs_per_scale": (1, 1, 1)},
    }

    def __init__(
        self,
        widths: Sequence[int] = (128, 96, 64),
        features: int = 64,
        num_steps: int = 5,
        rcabs_per_scale: Sequence[int] = (1, 3, 5),
        lasso_lambda: float = 0.01,
        reduction: int = 16,
        kernel_size: int = 3,
        learnable_steps: bool = False,
        power_iterations: int = 20,
        power_iteration_size: int = 64,
        fast: bool = True,
        winograd: bool = True,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        rcabs_per_scale = tuple(int(n) for n in rcabs_per_scale)
        if len(rcabs_per_scale) != len(widths):
            raise ValueError(
                f"rcabs_per_scale needs one entry per scale: {len(widths)=} but {len(rcabs_per_scale)=}."
            )
        if num_steps < 2:
            raise ValueError(f"num_steps must be >= 2 (initialisation + at least one update), got {num_steps=}.")
        self.widths = widths
        self.features = int(features)
        self.num_steps = int(num_steps)
        self.learnable_steps = bool(learnable_steps)
        self.fast = bool(fast)
        self.winograd = bool(winograd)
        self.size_multiple = 2 ** (len(widths) - 1)

        def dictionary(n_out: int = self.features) -> MultiScaleDictionary:
            return MultiScaleDictionary(widths, n_out, kernel_size)

        # lifting (with bias)
        self.lift_x = nn.Conv2d(1, self.features, 3, padding=1)
        self.lift_y = nn.Conv2d(1, self.features, 3, padding=1)
        self.lift_z = nn.Conv2d(2, self.features, 3, padding=1)

        # dictionaries: D (synthesis in the data term), P (its adjoint gives the gradient), G (decoder)
        self.dict_x, self.precond_x, self.decoder_x = dictionary(), dictionary(), dictionary()
        self.dict_y, self.precond_y, self.decoder_y = dictionary(), dictionary(), dictionary()
        self.dict_z, self.precond_z = dictionary(), dictionary()
        self.dict_zx, self.dict_zy = dictionary(), dictionary()
        self.decoder_z = dictionary(n_out=2)
        for d in (self.dict_x, self.dict_y, self.dict_z, self.dict_zx, self.dict_zy):
            d.reset_parameters()
        for source, copies in (
            (self.dict_x, (self.precond_x, self.decoder_x)),
            (self.dict_y, (self.precond_y, self.decoder_y)),
            (self.dict_z, (self.precond_z,)),
        ):
            for copy in copies:
                copy.load_state_dict(source.state_dict())

        # proximal networks, one per variable and scale
        self.prox_x, self.prox_y, self.prox_z = (
            nn.ModuleList(ResidualGroup(w, n, reduction, kernel_size) for w, n in zip(widths, rcabs_per_scale))
            for _ in _VARIABLES
        )

        self.compress_z = nn.Conv2d(2 * self.features, self.features, 3, padding=1)
        self.fuse_x = nn.Conv2d(self.features * (self.num_steps - 1), self.features, 1)
        self.fuse_y = nn.Conv2d(self.features * (self.num_steps - 1), self.features, 1)
        self.head_x = nn.Conv2d(self.features, 1, 3, padding=1)
        self.head_y = nn.Conv2d(self.features, 1, 3, padding=1)

        # step sizes eta = 1 / L (one per step) and thresholds lambda (per channel and scale)
        for v in _VARIABLES:
            lipschitz = power_iteration(
                getattr(self, f"dict_{v}"), (power_iteration_size, power_iteration_size), power_iterations
            )
            self._register_hyper(f"step_size_{v}", torch.ones(self.num_steps) / lipschitz)
            for s, w in enumerate(widths):
                self._register_hyper(f"threshold_{v}_{s}", torch.full((1, w, 1, 1), float(lasso_lambda)))

    def _register_hyper(self, name: str, value: torch.Tensor) -> None:
        if self.learnable_steps:
            self.register_parameter(name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def _thresholds(self, v: str) -> list[torch.Tensor]:
        return [getattr(self, f"threshold_{v}_{s}") for s in range(len(self.widths))]

    def forward(self, x: torch.Tensor, return_reference: bool | None = None) -> torch.Tensor:
        """Restore the target (and reconstruct the reference).

        Args:
            x: ``[B, 2, H, W]`` in [0, 1]; channel 0 the degraded target, channel 1 the reference.
                Any ``H, W``: replicate-padded to a multiple of ``2^(S-1)`` and cropped back.
            return_reference: also return the reconstructed reference. ``None`` follows
                ``self.training`` (train: yes, eval: no).

        Returns:
            ``[B, 2, H, W]`` = ``cat(x^, y^)`` when the reference is returned, else ``[B, 1, H, W]`` = ``x^``.

        Raises:
            ValueError: when ``x`` is not 4-D with 2 channels.
        """
        if x.ndim != 4 or x.shape[1] != 2:
            raise ValueError(
                f"MCCDic expects x of shape [B, 2, H, W] with channel 0 the degraded target and channel 1 "
                f"the reference contrast; got shape {tuple(x.shape)}."
            )
        if return_reference is None:
            return_reference = self.training
        height, width = x.shape[-2:]
        pad_h = -height % self.size_multiple
        pad_w = -width % self.size_multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        if self.fast:
            # NNPACK pays only where the full-resolution maps are wide enough to be routed to it: otherwise oneDNN
            # on channels-last maps is faster (the 'small' preset, 16 channels at full resolution: 0.87 s against
            # 1.28 s per 240 x 240 slice with NNPACK, one thread)
            wide = min(self.features, self.widths[-1]) >= WINOGRAD_MIN_CHANNELS
            winograd = self.winograd and wide and winograd_usable(x)
            with WinogradConvolutions() if winograd else nullcontext():
                x_hat, y_hat = self.unfold_fast(
                    x[:, 0:1], x[:, 1:2], return_reference=return_reference, channels_last=not winograd
                )
        else:
            x_hat, y_hat = self.unfold(x[:, 0:1], x[:, 1:2])
        out = torch.cat([x_hat, y_hat], dim=1) if return_reference else x_hat
        return out[..., :height, :width]

    def unfold(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The unrolled multi-contrast ISTA of the release on ``[B, 1, H, W]`` images (H, W multiples of ``2^(S-1)``).

        Lifting and initialisation (``s`` indexes scales, ``eta_v[k]`` the step size of variable
        ``v`` at step ``k``)::

            x_in = Conv(x), y_in = Conv(y), z_in = Conv(cat[x, y])
            xD = P_x^T x_in ; yH = P_y^T y_in ; zD = P_z^T z_in
            a_v[s] = ReLU(eta_v[0] * D_v[s] - ReLU(eta_v[0] * lambda_v[s]))   v in x, y, z

        For ``k = 1 .. K-1`` (Gauss-Seidel: x and y use the previous ``a_z``, then z is updated)::

            g_x = P_x^T(D_x a_x + D_zx a_z) ; g_y = P_y^T(D_y a_y + D_zy a_z)
            a_x[s] = Prox_x[s](ReLU(a_x[s] - eta_x[k] (g_x[s] - xD[s])))
            a_y[s] = Prox_y[s](ReLU(a_y[s] - eta_y[k] (g_y[s] - yH[s])))
            u_x = G_x a_x ; c_x = x_in - u_x ; u_y = G_y a_y ; c_y = y_in - u_y
            z~ = Conv3x3(cat[c_x, c_y])
            a_z[s] = Prox_z[s](ReLU(a_z[s] - eta_z[k] (P_z^T(D_z a_z - z~))[s]))

        Reconstruction::

            C  = G_z a_z                                        (2 channels)
            x^ = C[:, 0] + Conv3x3(Conv1x1(cat[u_x^1 .. u_x^(K-1)])) + x
            y^ = C[:, 1] + Conv3x3(Conv1x1(cat[u_y^1 .. u_y^(K-1)])) + y

        Returns:
            ``(x^, y^)``, each ``[B, 1, H, W]``.
        """
        eta_x, eta_y, eta_z = self.step_size_x, self.step_size_y, self.step_size_z
        x_in = self.lift_x(x)
        y_in = self.lift_y(y)
        z_in = self.lift_z(torch.cat([x, y], dim=1))
        xD = self.precond_x.adjoint(x_in)
        yH = self.precond_y.adjoint(y_in)
        zD = self.precond_z.adjoint(z_in)

        def soft_threshold(codes: list[torch.Tensor], eta: torch.Tensor, lambdas: list[torch.Tensor]):
            return [F.relu(eta * c - F.relu(eta * lam)) for c, lam in zip(codes, lambdas)]

        a_x = soft_threshold(xD, eta_x[0], self._thresholds("x"))
        a_y = soft_threshold(yH, eta_y[0], self._thresholds("y"))
        a_z = soft_threshold(zD, eta_z[0], self._thresholds("z"))

        unique_x: list[torch.Tensor] = []
        unique_y: list[torch.Tensor] = []
        for k in range(1, self.num_steps):
            g_x = self.precond_x.adjoint(self.dict_x(a_x) + self.dict_zx(a_z))
            g_y = self.precond_y.adjoint(self.dict_y(a_y) + self.dict_zy(a_z))
            a_x = [prox(F.relu(a - eta_x[k] * (g - d))) for prox, a, g, d in zip(self.prox_x, a_x, g_x, xD)]
            a_y = [prox(F.relu(a - eta_y[k] * (g - d))) for prox, a, g, d in zip(self.prox_y, a_y, g_y, yH)]

            u_x = self.decoder_x(a_x)
            u_y = self.decoder_y(a_y)
            unique_x.append(u_x)
            unique_y.append(u_y)
            z_tilde = self.compress_z(torch.cat([x_in - u_x, y_in - u_y], dim=1))

            g_z = self.precond_z.adjoint(self.dict_z(a_z) - z_tilde)
            a_z = [prox(F.relu(a - eta_z[k] * g)) for prox, a, g in zip(self.prox_z, a_z, g_z)]

        common = self.decoder_z(a_z)
        x_hat = common[:, 0:1] + self.head_x(self.fuse_x(torch.cat(unique_x, dim=1))) + x
        y_hat = common[:, 1:2] + self.head_y(self.fuse_y(torch.cat(unique_y, dim=1))) + y
        return x_hat, y_hat

    def unfold_fast(
        self, x: torch.Tensor, y: torch.Tensor, return_reference: bool = True, channels_last: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`unfold` with the same arithmetic rearranged: equal outputs up to float rounding.

        - Every dictionary's weights are rearranged once per forward instead of at each of the
          ``K`` steps (:meth:`MultiScaleDictionary.synthesis_filters` / ``analysis_filters``):
          transposed convolutions as convolutions, the stride-2 up-sampler as a 1x1 convolution and
          pixel shuffle, the adjoint's transposed fuse convolution and stride-2 Conv2x2 as one
          strided convolution.
        - The gradient residual uses linearity, ``P^T(D_x a_x + D_zx a_z) - P^T x_in =
          P^T(D_x a_x + D_zx a_z - x_in)``: one analysis per step and variable and no per-scale
          subtraction; ``out_P^T x_in`` is computed once, and the 1x1 output convolutions of
          ``D_x``, ``D_zx`` and ``P_x^T`` are composed (``out_P^T out_D W_fuse``) into the last 3x3
          convolution of the synthesis, the two dictionaries' last convolutions into one.
        - In eval mode without the reference, ``y^``'s head is skipped.
        - On CPU (``channels_last``) the feature maps are kept in the channels-last memory format, oneDNN's
          preferred layout (the values are the same; the up-sampler is then a strided ``conv_transpose2d``).
          :meth:`forward` turns it off when the wide convolutions run through NNPACK's Winograd path
          (``winograd``), whose layout is NCHW.

        ``lift_*``, ``prox_*``, ``decoder_*``, ``compress_z``, ``fuse_*`` and ``head_*`` are still called
        as modules (forward hooks see the same features); ``dict_*`` and ``precond_*`` are applied
        through their prepared filters, not as module calls.

        Returns:
            ``(x^, y^)``, ``y^`` is ``None`` when ``return_reference`` is ``False``.
        """
        eta_x, eta_y, eta_z = self.step_size_x, self.step_size_y, self.step_size_z
        pad = self.dict_x.kernel_size // 2
        analysis = {v: getattr(self, f"precond_{v}").analysis_filters() for v in _VARIABLES}
        synthesis = {
            name: getattr(self, f"dict_{name}").synthesis_filters(fold_out=False) for name in ("x", "zx", "y", "zy", "z")
        }
        decoders = {v: getattr(self, f"decoder_{v}").synthesis_filters() for v in _VARIABLES}

        def residual_weight(precond: str, *dictionaries: str) -> torch.Tensor:
            # out_P^T out_D W_last of each dictionary, concatenated along the input channels
            out_t = analysis[precond].out_t[:, :, 0, 0]
            return torch.cat(
                [
                    torch.einsum("om,mn,nikl->oikl", out_t, synthesis[d].out[:, :, 0, 0], synthesis[d].last)
                    for d in dictionaries
                ],
                dim=1,
            )

        weight_x, weight_y, weight_z = residual_weight("x", "x", "zx"), residual_weight("y", "y", "zy"), residual_weight("z", "z")

        x_in = self.lift_x(x)
        y_in = self.lift_y(y)
        z_in = self.lift_z(torch.cat([x, y], dim=1))
        if channels_last and x.device.type == "cpu":  # oneDNN's convolutions are faster on channels-last maps
            x_in, y_in, z_in = (t.contiguous(memory_format=torch.channels_last) for t in (x_in, y_in, z_in))
        x_in_t = F.conv2d(x_in, analysis["x"].out_t)  # out_P^T x_in, reused at every step
        y_in_t = F.conv2d(y_in, analysis["y"].out_t)
        xD = analyse(x_in_t, analysis["x"])
        yH = analyse(y_in_t, analysis["y"])
        zD = self.precond_z.adjoint(z_in, analysis["z"])

        def soft_threshold(codes: list[torch.Tensor], eta: torch.Tensor, lambdas: list[torch.Tensor]):
            return [F.relu(eta * c - F.relu(eta * lam)) for c, lam in zip(codes, lambdas)]

        a_x = soft_threshold(xD, eta_x[0], self._thresholds("x"))
        a_y = soft_threshold(yH, eta_y[0], self._thresholds("y"))
        a_z = soft_threshold(zD, eta_z[0], self._thresholds("z"))

        def residual(parts: list[torch.Tensor], weight: torch.Tensor, measured_t: torch.Tensor, v: str):
            # (P_v^T (sum of syntheses - measured)) as codes, from the parts of the last convolutions' inputs
            t = F.conv2d(torch.cat(parts, dim=1), weight, padding=pad) - measured_t
            return analyse(t, analysis[v])

        unique_x: list[torch.Tensor] = []
        unique_y: list[torch.Tensor] = []
        for k in range(1, self.num_steps):
            parts_zx = synthesis_features(a_z, synthesis["zx"])
            parts_zy = synthesis_features(a_z, synthesis["zy"])
            r_x = residual(synthesis_features(a_x, synthesis["x"]) + parts_zx, weight_x, x_in_t, "x")
            r_y = residual(synthesis_features(a_y, synthesis["y"]) + parts_zy, weight_y, y_in_t, "y")
            a_x = [prox(torch.addcmul(a, r, eta_x[k], value=-1).relu_()) for prox, a, r in zip(self.prox_x, a_x, r_x)]
            a_y = [prox(torch.addcmul(a, r, eta_y[k], value=-1).relu_()) for prox, a, r in zip(self.prox_y, a_y, r_y)]

            u_x = self.decoder_x(a_x, decoders["x"])
            u_y = self.decoder_y(a_y, decoders["y"])
            unique_x.append(u_x)
            unique_y.append(u_y)
            z_tilde = self.compress_z(torch.cat([x_in - u_x, y_in - u_y], dim=1))

            r_z = residual(synthesis_features(a_z, synthesis["z"]), weight_z, F.conv2d(z_tilde, analysis["z"].out_t), "z")
            a_z = [prox(torch.addcmul(a, r, eta_z[k], value=-1).relu_()) for prox, a, r in zip(self.prox_z, a_z, r_z)]

        common = self.decoder_z(a_z, decoders["z"])
        x_hat = common[:, 0:1] + self.head_x(self.fuse_x(torch.cat(unique_x, dim=1))) + x
        if not return_reference:
            return x_hat, None
        y_hat = common[:, 1:2] + self.head_y(self.fuse_y(torch.cat(unique_y, dim=1))) + y
        return x_hat, y_hat
