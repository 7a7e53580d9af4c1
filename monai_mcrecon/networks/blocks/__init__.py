"""Shared building blocks: convolutional dictionaries, channel attention, residual wrappers, spatial-Fourier layers, Haar wavelets, selective-kernel fusion, modulated deformable convolution, and the natural-image models' blocks (the blur operator and the warps are image operators: :mod:`monai_mcrecon.ops`).

The names load on first use (PEP 562, :mod:`monai_mcrecon._lazy`), so a network imports only the
blocks it needs: ``MultiScaleDictionary`` needs ``torch`` only, ``ResidualGroup`` also ``monai``
(its channel attention is MONAI's ``ChannelSELayer``), ``ModulatedDeformConv`` ``torchvision``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monai_mcrecon._lazy import attach

_EXPORTS = {
    "MultiScaleDictionary": "dictionary",
    "power_iteration": "dictionary",
    "SpatialFourierLayer": "fourier",
    "SpatialFourierResidualBlock": "fourier",
    "RCAB": "rcab",
    "ChannelAttention": "rcab",
    "ResidualGroup": "rcab",
    "GlobalResidual": "residual",
    "FeatureHooks": "feature_hooks",
    "ModulatedDeformConv": "deform",
    "flow_to_offset": "deform",
    "modulated_deform_conv": "deform",
    "ConvEstimator": "deep_rl_blocks",
    "UNetEstimator": "deep_rl_blocks",
    "richardson_lucy_update": "deep_rl_blocks",
    "MDRBlock": "mdrn_blocks",
    "MSRB": "mstn_blocks",
    "MSTNConvLayer": "mstn_blocks",
    "MSTNFusion": "mstn_blocks",
    "MSTNUpsample": "mstn_blocks",
    "SelectiveKernelFusion": "selective_kernel",
    "ConvUnit": "spdnet_blocks",
    "Fuse": "spdnet_blocks",
    "InteractiveFusion": "spdnet_blocks",
    "ResidualBlock": "spdnet_blocks",
    "ResidualInResidual": "spdnet_blocks",
    "SqueezeExcitation": "spdnet_blocks",
    "TransposedUpsample": "spdnet_blocks",
    "residue_channel": "spdnet_blocks",
    "HaarDWT": "wavelet",
    "HaarIDWT": "wavelet",
    "haar_dwt": "wavelet",
    "haar_idwt": "wavelet",
    "pack_bands": "wavelet",
    "unpack_bands": "wavelet",
}

__all__ = [*_EXPORTS]

__getattr__, __dir__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from .deep_rl_blocks import ConvEstimator, UNetEstimator, richardson_lucy_update
    from .deform import ModulatedDeformConv, flow_to_offset, modulated_deform_conv
    from .dictionary import MultiScaleDictionary, power_iteration
    from .feature_hooks import FeatureHooks
    from .fourier import SpatialFourierLayer, SpatialFourierResidualBlock
    from .mdrn_blocks import MDRBlock
    from .mstn_blocks import MSRB, MSTNConvLayer, MSTNFusion, MSTNUpsample
    from .rcab import RCAB, ChannelAttention, ResidualGroup
    from .residual import GlobalResidual
    from .selective_kernel import SelectiveKernelFusion
    from .spdnet_blocks import (
        ConvUnit,
        Fuse,
        InteractiveFusion,
        ResidualBlock,
        ResidualInResidual,
        SqueezeExcitation,
        TransposedUpsample,
        residue_channel,
    )
    from .wavelet import HaarDWT, HaarIDWT, haar_dwt, haar_idwt, pack_bands, unpack_bands
