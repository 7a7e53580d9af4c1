"""Deep Richardson-Lucy (Deep RL): non-blind deblurring of low-light images with saturated pixels.

Paper: L. Chen, J. Zhang, Z. Li, Y. Wei, F. Fang, J. Ren, J. Pan, "Deep Richardson-Lucy
Deconvolution for Low-Light Image Deblurring", IJCV 2024, doi:10.1007/s11263-023-01877-9,
arXiv:2308.05543. Authors' code: none known.

Fidelity: **reconstructed from the abstract.** The abstract states that saturation is modelled by a
learned latent map, and that the MAP problem is solved by alternating a Map Estimation Network (MEN)
and a Richardson-Lucy latent-image update into which a Prior Estimation Network (PEN) is integrated.
Everything below is **inferred; the paper text was not available** (docs/models/deep_rl.md,
'Forward model, inputs and outputs', 'Architecture', 'Losses', 'Presets'):

- the forward model ``B = M * (K (x) I) + n`` with ``M`` in (0, 1];
- the update (:func:`richardson_lucy_update`)
  ``I+ = I * A^T(B / max(A I, eps)) / max(A^T M + lambda_t * PEN_t(I), eps)``;
- MEN ``M^t = sigmoid(MEN_t(cat(B, A I^t, I^t)))`` and PEN as 4-conv CNNs (or small MONAI U-Nets);
- ``I^0 = max(B, delta)``, T = 3 stages with separate weights, ``lambda_t = softplus(rho_t)``
  initialised at 0.01, the losses (L1 on the final image plus 0.5 x L1 on every earlier stage).

Deliberate project choices (docs/models/deep_rl.md, 'Project choices'): MEN's last convolution starts with
small weights and a bias of ``map_bias_init`` (``M`` starts near 1) and PEN's last convolution starts with
small weights (``P`` starts near 0), so the untrained network is close to T iterations of classic RL; the
kernel is re-normalised to sum 1 inside ``forward``; ``max_value`` optionally bounds the estimate after every
stage (off by default); ``iterations_per_stage`` (default 1, the design) repeats the RL update inside a stage
with the stage's map and prior. The ``small`` preset deviates from the originally planned small (T = 3,
w = 16, one update per stage, lambda 0.01; docs/models/deep_rl.md, 'Presets'): it uses 5 updates per stage
and ``lambda_init = 1`` (see ``PRESETS``; measured in ``bundles/deep_rl_deblur/docs/README.md``).

The model's private blocks live in this file (``networks/blocks`` holds only blocks that two or more
networks use):

- :func:`richardson_lucy_update`: one Richardson-Lucy step with the latent saturation map ``M`` and the
  additive prior term ``P`` in the denominator; with ``M = 1``, ``P = 0`` and a normalised kernel it is
  textbook Richardson-Lucy ``I+ = I * A^T(B / A I)``;
- :class:`ConvEstimator`: the 4-conv CNN (conv3-ReLU x3, conv3) used for MEN and PEN;
- :class:`UNetEstimator`: the 3-level MONAI U-Net variant; pads H, W to a multiple of 4 inside and crops back.

The ``deep_rl_deblur`` bundle's I/O lives with the data and the transforms:
:func:`monai_mcrecon.data.natural.blurred_folder_datalist` (a folder of blurred images with ``<stem>_kernel.npy|png``
files) and :func:`monai_mcrecon.transforms.natural.load_blur_kernel` / :class:`~monai_mcrecon.transforms.natural.LoadBlurKerneld`.

Operators: a cross-correlation such as ``kornia.filters.filter2d`` would serve as well; kornia is not installed
here and the project's single blur operator is a true convolution. Inside the project the orientation
is irrelevant because the same operator synthesises the data.

The blur operator ``A`` is :func:`monai_mcrecon.ops.blur.blur` (true convolution) with the
border ``padding`` (default "replicate"); ``A^T`` is :func:`~monai_mcrecon.ops.blur.blur_adjoint`.
The same operator synthesises the training data (:class:`monai_mcrecon.transforms.degradation.SaturatedMotionBlur`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.ops.blur import PADDING_MODES, as_kernel_batch, blur, blur_adjoint
from monai_mcrecon.networks.presets import PresetMixin

__all__ = ["ConvEstimator", "DeepRL", "DeepRLOutput", "UNetEstimator", "richardson_lucy_update"]


def richardson_lucy_update(
    estimate: torch.Tensor,
    blurred: torch.Tensor,
    kernel: torch.Tensor,
    weight_map: torch.Tensor | float | None = None,
    prior: torch.Tensor | None = None,
    padding: str = "replicate",
    eps: float = 1e-6,
    denominator: str = "clamp",
    blurred_estimate: torch.Tensor | None = None,
) -> torch.Tensor:
    """One (regularised, saturation-aware) Richardson-Lucy step.

    Args:
        estimate: current latent image ``I >= 0``, ``[B, C, H, W]``.
        blurred: observation ``B >= 0``, ``[B, C, H, W]``.
        kernel: ``[B, 1, kh, kw]`` or ``[1, kh, kw]``, non-negative, summing to 1.
        weight_map: latent map ``M`` in (0, 1] (tensor broadcastable to ``estimate`` or a scalar);
            ``None`` means ``M = 1``.
        prior: additive prior term ``P = lambda * grad(phi)(I)`` (any sign); ``None`` means 0.
        padding: border handling of the blur operator (see :func:`monai_mcrecon.ops.blur.blur`).
        eps: lower clamp of the blurred estimate and of the denominator (clamps, not additive, so that
            ``M = 1, P = 0`` reproduces textbook RL up to float error).
        denominator: ``"clamp"`` (``max(den, eps)``) or ``"softplus"`` (``softplus(den) + eps``, smooth).
        blurred_estimate: ``A I`` when the caller already computed it.

    Returns:
        the updated estimate ``[B, C, H, W]`` (non-negative for non-negative ``estimate`` and ``blurred``).
    """
    if denominator not in ("clamp", "softplus"):
        raise ValueError(f"denominator={denominator!r}; use 'clamp' or 'softplus'.")
    ai = blur(estimate, kernel, padding) if blurred_estimate is None else blurred_estimate
    num = blur_adjoint(blurred / ai.clamp_min(eps), kernel, padding)
    if weight_map is None:
        weight_map = 1.0
    if not torch.is_tensor(weight_map):
        weight_map = torch.full_like(estimate, float(weight_map))
    den = blur_adjoint(weight_map.expand_as(estimate), kernel, padding)
    if prior is not None:
        den = den + prior
    den = den.clamp_min(eps) if denominator == "clamp" else F.softplus(den) + eps
    return estimate * num / den


class ConvEstimator(nn.Module):
    """``conv3-ReLU x (num_convs - 1), conv3``: the 4-conv CNN of MEN and PEN (docs/models/deep_rl.md, 'Architecture').

    Args:
        in_channels: input channels.
        out_channels: output channels.
        features: width ``w`` of the hidden convs.
        num_convs: number of 3x3 convolutions (4 in the design).
        out_scale: the last conv's initial weights are multiplied by this (small values start the
            network close to classic RL; project choice).
        out_bias: initial bias of the last conv (MEN uses it to start with ``M = sigmoid(bias)`` close to 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        features: int = 16,
        num_convs: int = 4,
        out_scale: float = 1.0,
        out_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if num_convs < 1:
            raise ValueError(f"num_convs={num_convs}; use at least 1 convolution.")
        layers: list[nn.Module] = []
        ch = in_channels
        for _ in range(num_convs - 1):
            layers += [nn.Conv2d(ch, features, 3, padding=1), nn.ReLU(inplace=True)]
            ch = features
        last = nn.Conv2d(ch, out_channels, 3, padding=1)
        with torch.no_grad():
            last.weight.mul_(out_scale)
            last.bias.fill_(out_bias)
        layers.append(last)
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UNetEstimator(nn.Module):
    """MONAI ``UNet(spatial_dims=2, channels=(w, 2w, 4w), strides=(2, 2))`` for MEN/PEN.

    Any H, W: the input is replicate-padded to a multiple of 4 and the output cropped back.
    ``out_scale``/``out_bias`` as in :class:`ConvEstimator` (applied to the U-Net's last convolution).
    """

    def __init__(
        self, in_channels: int, out_channels: int, features: int = 16, out_scale: float = 1.0, out_bias: float = 0.0
    ) -> None:
        super().__init__()
        from monai.networks.nets import UNet

        self.net = UNet(
            spatial_dims=2,
            in_channels=in_channels,
            out_channels=out_channels,
            channels=(features, 2 * features, 4 * features),
            strides=(2, 2),
            num_res_units=1,
        )
        last = [m for m in self.net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        with torch.no_grad():
            last.weight.mul_(out_scale)
            if last.bias is not None:
                last.bias.fill_(out_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.net(x)[..., :h, :w]


@dataclass
class DeepRLOutput:
    """Named outputs of :meth:`DeepRL.forward_stages`.

    Attributes:
        image: final estimate ``I^T`` ``[B, C, H, W]`` (>= 0, may exceed 1 where highlights were clipped).
        stages: the T stage estimates ``[I^1, ..., I^T]`` (``stages[-1] is image``).
        maps: the T latent maps ``M^t`` (MEN outputs lie in (0, 1); a ``fixed_map`` is expanded to the image shape).
        priors: the T prior terms ``P^t = lambda_t * PEN_t(I^t)`` (zeros when the prior is off).
    """

    image: torch.Tensor
    stages: list[torch.Tensor] = field(default_factory=list)
    maps: list[torch.Tensor] = field(default_factory=list)
    priors: list[torch.Tensor] = field(default_factory=list)


class DeepRL(PresetMixin, nn.Module):
    """Deep Richardson-Lucy: T unrolled RL stages with a learned saturation map (MEN) and prior (PEN).

    One stage t (docs/models/deep_rl.md, 'Architecture'; **inferred; the paper text was not available**)::

        AI   = A(I^t)
        M^t  = sigmoid(MEN_t(cat(B, AI, I^t)))          # 3C -> C channels
        P^t  = lambda_t * PEN_t(I^t)                     # C -> C channels, any sign
        I^{t+1} = I^t * A^T(B / max(AI, eps)) / max(A^T(M^t) + P^t, eps)

    Args:
        in_channels: image channels C (3 for RGB, 1 for gray); the kernel is shared by all channels.
        out_channels: must equal ``in_channels`` (the RL update is per channel); ``None`` = ``in_channels``.
        num_stages: number of unrolled stages T (default 3).
        iterations_per_stage: RL updates per stage with the stage's ``M^t`` and ``P^t`` (``A I`` is
            recomputed before every update); 1 = the design's one update per stage. Project extension: more
            updates let a few stages cover the 10-30 iterations classic RL needs, at the cost of two blurs each.
        features: width ``w`` of MEN/PEN (default 16).
        estimator: ``"cnn"`` (4-conv CNNs, any H, W) or ``"unet"`` (MONAI UNet (w, 2w, 4w), padded inside).
        share_weights: one MEN/PEN pair for all stages (the ``lambda_t`` stay per stage).
        padding: border of the blur operator: "replicate" (default), "reflect", "circular", "constant".
        lambda_init: initial ``lambda_t = softplus(rho_t)`` (default 0.01).
        eps: clamp of ``A I`` and of the denominator (default 1e-6).
        delta: ``I^0 = max(B, delta)`` (default 1e-3).
        denominator: "clamp" or "softplus" (see :func:`richardson_lucy_update`).
        map_bias_init: initial bias of MEN's last conv (``M`` starts at ``sigmoid(map_bias_init)``); project choice.
        head_init_scale: scale of the initial weights of MEN's and PEN's last convs; project choice.
        max_value: if set, clamp the estimate to ``[0, max_value]`` after every stage (default off).
        deep_supervision: in training mode ``forward`` returns ``[I^T, I^{T-1}, ..., I^1]`` for
            :class:`monai.losses.DeepSupervisionLoss`; in eval mode always the final image.

    Shapes: ``forward(image [B, C, H, W] in [0, 1], kernel [B, 1, kh, kw] or [B, kh, kw] or [1, kh, kw])``
    with odd kh, kw; any H, W. The output is ``[B, C, H, W]``, >= 0, not clamped to 1 (metrics clamp).

    Examples::

        net = DeepRL.from_preset("small")
        restored = net.eval()(blurred, kernel)
        out = net.forward_stages(blurred, kernel)        # DeepRLOutput(image, stages, maps, priors)
        rl = net.forward_stages(blurred, kernel, fixed_map=1.0, use_prior=False)  # classic RL, T steps
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "paper": {},
        # project deviation from the originally planned small (T = 3, w = 16): 5 RL updates per stage and
        # lambda_init = 1, chosen by 300-iteration probes (benchmarks/experiments/deep_rl_probe*/): with one
        # update per stage or lambda = 0.01 the network stayed at the level of 3 (or 15) plain RL iterations.
        "small": {"num_stages": 3, "features": 16, "iterations_per_stage": 5, "lambda_init": 1.0},
        "tiny": {"num_stages": 2, "features": 8},
    }

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = None,
        num_stages: int = 3,
        iterations_per_stage: int = 1,
        features: int = 16,
        estimator: str = "cnn",
        share_weights: bool = False,
        padding: str = "replicate",
        lambda_init: float = 0.01,
        eps: float = 1e-6,
        delta: float = 1e-3,
        denominator: str = "clamp",
        map_bias_init: float = 4.0,
        head_init_scale: float = 0.1,
        max_value: float | None = None,
        deep_supervision: bool = False,
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if out_channels != in_channels:
            raise ValueError(
                f"DeepRL updates the image channel by channel, so out_channels ({out_channels}) must equal "
                f"in_channels ({in_channels}); convert the images to {in_channels} channels instead."
            )
        if num_stages < 1:
            raise ValueError(f"num_stages={num_stages}; use at least one stage.")
        if iterations_per_stage < 1:
            raise ValueError(f"iterations_per_stage={iterations_per_stage}; use at least one RL update per stage.")
        if estimator not in ("cnn", "unet"):
            raise ValueError(f"estimator={estimator!r}; use 'cnn' or 'unet'.")
        if padding not in PADDING_MODES:
            raise ValueError(f"padding={padding!r}; use one of {PADDING_MODES}.")
        if denominator not in ("clamp", "softplus"):
            raise ValueError(f"denominator={denominator!r}; use 'clamp' or 'softplus'.")
        if lambda_init <= 0:
            raise ValueError(f"lambda_init={lambda_init} must be > 0 (lambda = softplus(rho) is positive).")
        self.in_channels = self.out_channels = in_channels
        self.num_stages = num_stages
        self.iterations_per_stage = iterations_per_stage
        self.padding = padding
        self.eps = eps
        self.delta = delta
        self.denominator = denominator
        self.max_value = max_value
        self.deep_supervision = deep_supervision

        def make(cin: int, bias: float) -> nn.Module:
            if estimator == "cnn":
                return ConvEstimator(cin, in_channels, features, 4, out_scale=head_init_scale, out_bias=bias)
            return UNetEstimator(cin, in_channels, features, out_scale=head_init_scale, out_bias=bias)

        n_nets = 1 if share_weights else num_stages
        self.men = nn.ModuleList([make(3 * in_channels, map_bias_init) for _ in range(n_nets)])
        self.pen = nn.ModuleList([make(in_channels, 0.0) for _ in range(n_nets)])
        rho = math.log(math.expm1(lambda_init))  # softplus^-1
        self.rho = nn.Parameter(torch.full((num_stages,), rho))

    @property
    def lambdas(self) -> torch.Tensor:
        """``lambda_t = softplus(rho_t)``, one per stage."""
        return nn.functional.softplus(self.rho)

    def _check_inputs(self, image: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not torch.is_tensor(image) or image.ndim != 4:
            shape = tuple(image.shape) if torch.is_tensor(image) else type(image).__name__
            raise ValueError(f"DeepRL expects image as [B, C, H, W], got {shape}; add the batch axis with image[None].")
        if image.shape[1] != self.in_channels:
            raise ValueError(
                f"DeepRL was built for {self.in_channels} channel(s) but the image has {image.shape[1]}; "
                f"build it with in_channels={image.shape[1]} or convert the image."
            )
        if not torch.is_tensor(kernel):
            raise ValueError(f"kernel must be a tensor [B, 1, kh, kw], got {type(kernel).__name__}.")
        kernel = as_kernel_batch(kernel, image.shape[0])
        kernel = kernel.to(dtype=image.dtype, device=image.device)
        total = kernel.sum(dim=(-2, -1), keepdim=True)
        if torch.compiler.is_exporting():  # value checks branch on data, which an exported graph cannot hold
            return image, kernel / total
        if (kernel < 0).any():
            raise ValueError("the blur kernel has negative entries; a Richardson-Lucy kernel must be non-negative.")
        if (total <= 0).any():
            raise ValueError("a blur kernel sums to 0; every kernel needs a positive sum (it is normalised to 1).")
        return image, kernel / total

    def forward_stages(
        self,
        image: torch.Tensor,
        kernel: torch.Tensor,
        fixed_map: float | torch.Tensor | None = None,
        use_prior: bool = True,
    ) -> DeepRLOutput:
        """Run all stages and return every intermediate (see :class:`DeepRLOutput`).

        Args:
            image: blurred observation ``B`` ``[B, C, H, W]`` in [0, 1].
            kernel: blur kernel (normalised to sum 1 here).
            fixed_map: test hook: use this map ``M`` (scalar or tensor) instead of MEN.
            use_prior: test hook: ``False`` sets ``P = 0`` (PEN bypassed).
        """
        blurred, kernel = self._check_inputs(image, kernel)
        estimate = blurred.clamp_min(self.delta)
        lambdas = self.lambdas
        out = DeepRLOutput(image=estimate)
        for t in range(self.num_stages):
            men = self.men[t % len(self.men)]
            pen = self.pen[t % len(self.pen)]
            ai = blur(estimate, kernel, self.padding)
            if fixed_map is None:
                weight_map = torch.sigmoid(men(torch.cat([blurred, ai, estimate], dim=1)))
            elif torch.is_tensor(fixed_map):
                weight_map = fixed_map.to(estimate).expand_as(estimate)
            else:
                weight_map = torch.full_like(estimate, float(fixed_map))
            prior = lambdas[t] * pen(estimate) if use_prior else torch.zeros_like(estimate)
            for i in range(self.iterations_per_stage):
                estimate = richardson_lucy_update(
                    estimate, blurred, kernel, weight_map, prior, self.padding, self.eps, self.denominator,
                    ai if i == 0 else None,
                )
                if self.max_value is not None:
                    estimate = estimate.clamp(0.0, self.max_value)
            out.stages.append(estimate)
            out.maps.append(weight_map)
            out.priors.append(prior)
        out.image = estimate
        return out

    def forward(self, image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Deblur ``image`` with ``kernel``: the final estimate ``[B, C, H, W]`` (or, with
        ``deep_supervision`` in training mode, ``[I^T, I^{T-1}, ..., I^1]``)."""
        out = self.forward_stages(image, kernel)
        if self.deep_supervision and self.training:
            return [out.stages[-1], *out.stages[-2::-1]]
        return out.image
