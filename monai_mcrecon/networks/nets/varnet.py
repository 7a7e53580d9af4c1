"""MONAI's end-to-end VarNet as a single-coil baseline for image-in, image-out pipelines.

Paper: A. Sriram et al., "End-to-End Variational Networks for Accelerated MRI Reconstruction",
MICCAI 2020. Implementation: :class:`monai.apps.reconstruction.networks.nets.varnet.VariationalNetworkModel`
(MONAI's port of fastMRI's), used as it is; this file only adapts its interface.

Fidelity: MONAI's model, unchanged. Deliberate differences from the paper's setting: one coil (the
embedded sample is magnitude data; the coil-sensitivity network then only learns a unit-modulus phase
map), small U-Nets for CPU training (preset ``small``), and the k-space and mask are read off the
zero-filled input instead of being passed separately, so the model slots into the bundles'
``network(image)`` pipelines:

- the input is a zero-filled image whose unacquired k-space is exactly zero: a real image
  (``degraded_output="real_irfft"``, one channel) or a complex image as (real, imaginary) channels;
- ``K = fft2c(x)`` (orthonormal, centred: the convention of MONAI's ``fftn_centered_t``, tested equal);
- the column mask is :func:`monai_mcrecon.kspace.infer_sampling_mask` reduced over rows and the batch
  (MONAI's VarNet takes one ``(1, 1, 1, W, 1)`` column mask per batch), so 2-D masks are refused;
- the output is VarNet's root-sum-of-squares magnitude, ``[B, 1, H, W]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from monai.apps.reconstruction.networks.nets.coil_sensitivity_model import CoilSensitivityModel
from monai.apps.reconstruction.networks.nets.complex_unet import ComplexUnet
from monai.apps.reconstruction.networks.nets.varnet import VariationalNetworkModel
from torch import nn

from monai_mcrecon.kspace import channels_to_complex, complex_to_real_last, fft2c, infer_sampling_mask
from monai_mcrecon.networks.presets import PresetMixin

__all__ = ["SingleCoilVarNet"]


class SingleCoilVarNet(PresetMixin, nn.Module):
    """MONAI ``VariationalNetworkModel`` (single coil) taking a zero-filled image.

    Args:
        in_channels: 1 for a real zero-filled image (``"real_irfft"``), 2 for a complex one as
            (real, imaginary) channels.
        num_cascades: VarNet cascades (paper: 12).
        features: ``ComplexUnet`` features of each cascade's refinement U-Net (paper: 18 base channels
            in a 4-level U-Net; MONAI default ``(32, 32, 64, 128, 256, 32)``).
        sens_features: ``ComplexUnet`` features of the coil-sensitivity network.

    Examples::

        net = SingleCoilVarNet.from_preset("small")
        _, zero_filled = undersample_image(image, mask, output="real_irfft")
        recon = net(zero_filled)            # [B, 1, H, W] magnitude
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},
        "small": {"num_cascades": 4, "features": (16, 16, 32, 64, 128, 16), "sens_features": (4, 4, 8, 16, 32, 4)},
        "tiny": {"num_cascades": 2, "features": (4, 4, 8, 8, 16, 4), "sens_features": (2, 2, 4, 4, 8, 2)},
    }

    def __init__(
        self,
        in_channels: int = 1,
        num_cascades: int = 12,
        features: Sequence[int] = (32, 32, 64, 128, 256, 32),
        sens_features: Sequence[int] = (8, 8, 16, 32, 64, 8),
    ) -> None:
        super().__init__()
        if in_channels not in (1, 2):
            raise ValueError(
                f"SingleCoilVarNet takes one zero-filled image: in_channels=1 (real) or 2 (real, imaginary), "
                f"got {in_channels=}."
            )
        self.in_channels = in_channels
        self.varnet = VariationalNetworkModel(
            coil_sensitivity_model=CoilSensitivityModel(spatial_dims=2, features=tuple(sens_features)),
            refinement_model=ComplexUnet(spatial_dims=2, features=tuple(features)),
            num_cascades=num_cascades,
        )

    def measurement_from_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(kspace [B, 1, H, W, 2], column mask [1, 1, 1, W, 1] bool)`` read off the zero-filled input."""
        image = x if self.in_channels == 1 else channels_to_complex(x)
        kspace = fft2c(image)  # [B, 1, H, W] complex
        sampled = infer_sampling_mask(kspace)  # [B, 1, H, W]
        columns = sampled.amax(dim=(0, 1, 2)) > 0  # [W]
        density = float(sampled.mean())
        column_density = float(columns.float().mean())
        if column_density > 0.9 or abs(density - column_density) > 0.02:
            raise ValueError(
                f"SingleCoilVarNet needs a zero-filled image from one Cartesian column mask per batch "
                f"(k-space exactly zero on unacquired columns): found {density:.0%} of k-space and "
                f"{column_density:.0%} of columns acquired. Use degraded_output='real_irfft' or 'complex', a 1-D "
                "column mask (random, equispaced, mc_cdic, gaussian1d) with fixed=True, and crop only along rows."
            )
        return complex_to_real_last(kspace), columns.view(1, 1, 1, -1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_channels, H, W]`` zero-filled image -> ``[B, 1, H, W]`` reconstructed magnitude."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SingleCoilVarNet expects x of shape [B, {self.in_channels}, H, W], got {tuple(x.shape)}."
            )
        kspace, mask = self.measurement_from_input(x)
        return self.varnet(kspace, mask).unsqueeze(1)
