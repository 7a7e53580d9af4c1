"""Shared building blocks: convolutional dictionaries, channel attention, residual wrappers, spatial-Fourier layers, Haar wavelets, selective-kernel fusion and modulated deformable convolution (the blur operator and the warps are image operators: :mod:`monai_mcrecon.ops`).

A model's private blocks live in its own file under :mod:`monai_mcrecon.networks.nets`; this package holds the
blocks that two or more networks use and the operators whose conventions docs/models/common_ops.md fixes.

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
    "torchvision_kernel": "deform",
    "SelectiveKernelFusion": "selective_kernel",
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
    from .deform import ModulatedDeformConv, flow_to_offset, modulated_deform_conv, torchvision_kernel
    from .dictionary import MultiScaleDictionary, power_iteration
    from .feature_hooks import FeatureHooks
    from .fourier import SpatialFourierLayer, SpatialFourierResidualBlock
    from .rcab import RCAB, ChannelAttention, ResidualGroup
    from .residual import GlobalResidual
    from .selective_kernel import SelectiveKernelFusion
    from .wavelet import HaarDWT, HaarIDWT, haar_dwt, haar_idwt, pack_bands, unpack_bands
