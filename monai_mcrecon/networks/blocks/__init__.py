"""Shared building blocks: convolutional dictionaries, channel attention, residual wrappers, spatial-Fourier layers, blur operator, Haar wavelets, selective-kernel fusion, modulated deformable convolution, flow/disparity warps, and the natural-image models' blocks.

The names load on first use (PEP 562, :mod:`monai_mcrecon._lazy`), so a network imports only the
blocks it needs: ``MultiScaleDictionary`` needs ``torch`` only, ``ResidualGroup`` also ``monai``
(its channel attention is MONAI's ``ChannelSELayer``), ``ModulatedDeformConv`` ``torchvision``.
``blur`` / ``blur_adjoint`` / ``PADDING_MODES`` are imported eagerly: ``blur`` is also the name of
their submodule, which would otherwise shadow the function once imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monai_mcrecon._lazy import attach

from .blur import PADDING_MODES, blur, blur_adjoint

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
    "coord_warp_x": "warp",
    "disparity_to_coord": "warp",
    "disparity_warp": "warp",
    "flow_warp": "warp",
    "resize_flow": "warp",
    "HaarDWT": "wavelet",
    "HaarIDWT": "wavelet",
    "haar_dwt": "wavelet",
    "haar_idwt": "wavelet",
    "pack_bands": "wavelet",
    "unpack_bands": "wavelet",
}

__all__ = ["PADDING_MODES", "blur", "blur_adjoint", *_EXPORTS]

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
    from .warp import coord_warp_x, disparity_to_coord, disparity_warp, flow_warp, resize_flow
    from .wavelet import HaarDWT, HaarIDWT, haar_dwt, haar_idwt, pack_bands, unpack_bands
