"""Shared building blocks: convolutional dictionaries, channel attention, residual wrappers, spatial-Fourier layers, blur operator, Haar wavelets, selective-kernel fusion, modulated deformable convolution, flow/disparity warps, and the natural-image models' blocks."""

from .dictionary import MultiScaleDictionary, power_iteration
from .fourier import SpatialFourierLayer, SpatialFourierResidualBlock
from .rcab import RCAB, ChannelAttention, ResidualGroup
from .residual import GlobalResidual
from .blur import PADDING_MODES, blur, blur_adjoint
from .feature_hooks import FeatureHooks
from .deform import ModulatedDeformConv, flow_to_offset, modulated_deform_conv
from .deep_rl_blocks import ConvEstimator, UNetEstimator, richardson_lucy_update
from .mdrn_blocks import MDRBlock
from .mstn_blocks import MSRB, MSTNConvLayer, MSTNFusion, MSTNUpsample
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

__all__ = [
    "FeatureHooks",
    "ModulatedDeformConv",
    "flow_to_offset",
    "modulated_deform_conv",
    "coord_warp_x",
    "disparity_to_coord",
    "disparity_warp",
    "flow_warp",
    "resize_flow",
    "blur",
    "blur_adjoint",
    "ChannelAttention",
    "ConvEstimator",
    "ConvUnit",
    "Fuse",
    "GlobalResidual",
    "haar_dwt",
    "haar_idwt",
    "HaarDWT",
    "HaarIDWT",
    "InteractiveFusion",
    "MDRBlock",
    "MSRB",
    "MSTNConvLayer",
    "MSTNFusion",
    "MSTNUpsample",
    "MultiScaleDictionary",
    "pack_bands",
    "PADDING_MODES",
    "power_iteration",
    "RCAB",
    "ResidualBlock",
    "ResidualGroup",
    "ResidualInResidual",
    "residue_channel",
    "richardson_lucy_update",
    "SelectiveKernelFusion",
    "SpatialFourierLayer",
    "SpatialFourierResidualBlock",
    "SqueezeExcitation",
    "TransposedUpsample",
    "UNetEstimator",
    "unpack_bands",
]
