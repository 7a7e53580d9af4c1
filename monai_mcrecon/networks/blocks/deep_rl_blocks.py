"""Building blocks of Deep Richardson-Lucy (:class:`monai_mcrecon.networks.nets.deep_rl.DeepRL`).

- :func:`richardson_lucy_update`: one Richardson-Lucy step with a latent saturation map ``M`` and an
  additive prior term ``P`` in the denominator (docs/models/deep_rl.md, 'Architecture';
  **inferred; the paper text was not available**)::

      I+ = I * A^T( B / max(A I, eps) ) / max( A^T M + P, eps )

  With ``M = 1``, ``P = 0`` and a normalised kernel this is textbook Richardson-Lucy
  ``I+ = I * A^T(B / A I)``.
- :class:`ConvEstimator`: the 4-conv CNN (conv3-ReLU x3, conv3) used for MEN and PEN.
- :class:`UNetEstimator`: the 3-level MONAI U-Net variant; pads H, W to a multiple of 4 inside and crops back.

The ``deep_rl_deblur`` bundle's I/O lives with the data and the transforms:
:func:`monai_mcrecon.data.natural.blurred_folder_datalist` (a folder of blurred images with ``<stem>_kernel.npy|png``
files) and :func:`monai_mcrecon.transforms.natural.load_blur_kernel` / :class:`~monai_mcrecon.transforms.natural.LoadBlurKerneld`.

The blur operator ``A`` and its adjoint come from :mod:`monai_mcrecon.ops.blur` (the
project's single blur operator, also used to synthesise the training data).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from monai_mcrecon.ops.blur import blur, blur_adjoint

__all__ = ["ConvEstimator", "UNetEstimator", "richardson_lucy_update"]


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
