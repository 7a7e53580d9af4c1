"""CLGNet (reconstructed from the abstract): local and global learning for MRI reconstruction.

Paper: Q. Yi, J. Liu, L. Hu, F. Fang, G. Zhang, "Contrastive Learning for Local and Global Learning
MRI Reconstruction", arXiv:2111.15200 (2021). Authors' code: none public.

Fidelity: **reconstructed from the abstract**, not a reproduction. The abstract states a
single-contrast network whose main component is a Spatial and Fourier Residual Block (SFRB) built
on a Spatial and Fourier Layer (SFL), trained with a contrastive term that pulls the output towards
the fully sampled image and pushes it away from the undersampled input. Everything else is the
project's design (docs/models/clgnet.md, 'Architecture'), every choice configurable:

- the SFL's two branches (Conv3x3; ``rfft2 -> Conv1x1 -> ReLU -> Conv1x1 -> irfft2``) and their
  fusion (sum, or Conv1x1 on the concatenation), see :mod:`monai_mcrecon.networks.blocks.fourier`;
- the SFRB ``f + SFL(ReLU(SFL(f)))``;
- the network ``Conv3x3(in -> C) -> N SFRBs -> Conv3x3(C -> in)`` with a global residual on the
  zero-filled input (C = 64, N = 8 by default: 1,120,449 parameters for a magnitude input);
- hard data consistency at the output (docs/models/clgnet.md, 'Architecture');
- the contrastive loss: :class:`monai_mcrecon.losses.CLGNetLoss`.

Project extension (not part of CLGNet): ``reference_channels`` concatenates fully sampled
reference contrast(s) to the input, so the model can run as a multi-contrast baseline.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from monai_mcrecon.kspace import (
    channels_to_complex,
    complex_to_channels,
    data_consistency,
    fft2c,
    ifft2c,
    infer_sampling_mask,
)
from monai_mcrecon.networks.blocks import SpatialFourierResidualBlock
from monai_mcrecon.networks.presets import PresetMixin

__all__ = ["CLGNet"]


class CLGNet(PresetMixin, nn.Module):
    """CLGNet (reconstructed from the abstract): SFRB network with a global residual and optional DC.

    ``x^ = x_u + Conv3x3(SFRB_N(... SFRB_1(Conv3x3(cat(x_u, ref)))))``, followed, when a mask is given
    and ``data_consistency`` is on, by hard data consistency
    ``x^ <- F^-1(M * K_meas + (1 - M) * F x^)`` (:func:`monai_mcrecon.kspace.data_consistency`,
    centred orthonormal FFT).

    Args:
        in_channels: channels of the degraded target and of the output: 1 for a magnitude image,
            2 for a complex image as (real, imaginary) channels (an even number ``2k``: ``k``
            complex images).
        features: feature channels ``C`` (design: 64).
        num_blocks: number of SFRBs ``N`` (design: 8).
        fourier: ``False`` removes the Fourier branch of every SFL (ablation).
        fusion: fusion of the SFL branches, ``"sum"`` or ``"conv1x1"``.
        data_consistency: apply hard data consistency when ``forward`` gets a ``mask``.
        reference_channels: extra fully sampled contrast channels concatenated at the input
            (project extension; 0 = single-contrast CLGNet).
        mask_from_input: with ``data_consistency`` and no ``mask`` passed, read the mask and the
            measurement off the zero-filled input (exact for complex or ``"real_irfft"`` zero-filled
            inputs, an error for magnitude inputs); lets image-only pipelines such as the bundles
            use DC (project extension). With ``in_channels=1`` the DC output is then the real part
            (exact), not the magnitude.

    Data consistency needs the mask, so without a ``mask`` the output is the network's estimate
    alone (the bundles pass images only). ``K_meas`` is ``kspace`` when given, otherwise
    ``fft2c`` of the zero-filled input. For complex input (``in_channels=2``) this is exact: the
    zero-filled image's k-space equals the measurement on the sampled locations. For magnitude
    input (``in_channels=1``) the k-space of the zero-filled *magnitude* only approximates the
    measurement (the phase is lost), the real estimate is treated as a zero-phase image and the
    output is the magnitude ``|F^-1(...)|`` after DC: an approximation of DC, not exact.

    Examples::

        net = CLGNet.from_preset("small")
        x_hat = net(zero_filled)                          # [B, 1, H, W], no DC
        net = CLGNet(in_channels=2)
        x_hat = net(zf_channels, mask=mask)               # [B, 2, H, W], DC with fft2c(zero-filled)
        net = CLGNet(reference_channels=1)
        x_hat = net(torch.cat([zero_filled, reference], 1))
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "small": {"features": 32, "num_blocks": 4},
        "tiny": {"features": 8, "num_blocks": 2},
    }

    def __init__(
        self,
        in_channels: int = 1,
        features: int = 64,
        num_blocks: int = 8,
        fourier: bool = True,
        fusion: str = "sum",
        data_consistency: bool = True,
        reference_channels: int = 0,
        mask_from_input: bool = False,
    ) -> None:
        super().__init__()
        if in_channels < 1 or (in_channels > 1 and in_channels % 2):
            raise ValueError(
                f"in_channels must be 1 (magnitude) or even (real, imaginary pairs), got {in_channels=}."
            )
        if reference_channels < 0:
            raise ValueError(f"reference_channels must be >= 0, got {reference_channels=}.")
        self.in_channels = int(in_channels)
        self.reference_channels = int(reference_channels)
        self.data_consistency = bool(data_consistency)
        self.mask_from_input = bool(mask_from_input)
        self.head = nn.Conv2d(self.in_channels + self.reference_channels, features, 3, padding=1)
        self.body = nn.Sequential(
            *(SpatialFourierResidualBlock(features, fusion=fusion, fourier=fourier) for _ in range(num_blocks))
        )
        self.tail = nn.Conv2d(features, self.in_channels, 3, padding=1)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, kspace: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruct the target.

        Args:
            x: ``[B, in_channels + reference_channels, H, W]``: channels ``0 .. in_channels - 1``
                the zero-filled target, the rest the fully sampled reference(s).
            mask: sampling mask broadcastable to ``[..., H, W]`` (``[1, W]``, ``[H, W]``,
                ``[B, 1, H, W]``, 1 = acquired); ``None`` skips data consistency.
            kspace: measured centred k-space (orthonormal convention), complex
                ``[B, in_channels // 2 or 1, H, W]`` or as real/imaginary channels
                ``[B, 2 * (in_channels // 2 or 1), H, W]``; default ``fft2c`` of the zero-filled input.

        Returns:
            ``[B, in_channels, H, W]``: magnitude (``in_channels=1``) or real/imaginary channels.

        Raises:
            ValueError: when ``x`` is not 4-D or has the wrong number of channels.
        """
        expected = self.in_channels + self.reference_channels
        if x.ndim != 4 or x.shape[1] != expected:
            raise ValueError(
                f"CLGNet expects x of shape [B, {expected}, H, W] ({self.in_channels} target channel(s) + "
                f"{self.reference_channels} reference channel(s)), got {tuple(x.shape)}."
            )
        zero_filled = x[:, : self.in_channels]
        out = zero_filled + self.tail(self.body(self.head(x)))
        if self.data_consistency and mask is None and self.mask_from_input:
            kspace, mask = self.measurement_from_input(zero_filled)
        if self.data_consistency and mask is not None:
            out = self.apply_data_consistency(out, zero_filled, mask, kspace)
        return out

    def measurement_from_input(self, zero_filled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(K_meas, M)`` read off the zero-filled input (``mask_from_input=True``).

        Exact when the input is a zero-filled *complex* image (``in_channels=2``) or a zero-filled
        real image in the release convention (``degraded_output="real_irfft"``): their k-space is
        exactly zero where nothing was acquired (:func:`monai_mcrecon.kspace.infer_sampling_mask`).
        Raises ``ValueError`` for a zero-filled magnitude input, whose k-space is dense.
        """
        kspace = fft2c(zero_filled if self.in_channels == 1 else channels_to_complex(zero_filled))
        mask = infer_sampling_mask(kspace)
        density = float(mask.mean())
        if density > 0.9:
            raise ValueError(
                f"mask_from_input=True found {density:.0%} of k-space acquired: the input is not a zero-filled "
                "image with exactly-zero unacquired k-space (a magnitude image is not). Use "
                "degraded_output='real_irfft' or 'complex' for the degraded input, or pass the mask to forward()."
            )
        return kspace, mask

    def apply_data_consistency(
        self,
        image: torch.Tensor,
        zero_filled: torch.Tensor,
        mask: torch.Tensor,
        kspace: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hard DC ``F^-1(M * K_meas + (1 - M) * F x^)`` in the network's channel layout (see the class)."""
        magnitude = self.in_channels == 1

        def as_image(t: torch.Tensor) -> torch.Tensor:  # fft2c takes a real magnitude as it is
            return t if magnitude else channels_to_complex(t)

        if kspace is None:
            kspace = fft2c(as_image(zero_filled))
        elif not kspace.is_complex():
            kspace = channels_to_complex(kspace)
        k_pred = fft2c(as_image(image))
        mask = mask.to(device=k_pred.device, dtype=k_pred.real.dtype)
        result = ifft2c(data_consistency(k_pred, kspace.to(k_pred.dtype), mask))
        if magnitude:  # a real zero-filled input (mask_from_input) keeps DC exact with the real part
            out = result.real if self.mask_from_input else result.abs()
        else:
            out = complex_to_channels(result)
        return out.to(image.dtype)
