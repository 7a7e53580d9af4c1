"""Shared building blocks: convolutional dictionaries, channel attention, residual wrappers, spatial-Fourier layers."""

from .dictionary import MultiScaleDictionary, power_iteration
from .fourier import SpatialFourierLayer, SpatialFourierResidualBlock
from .rcab import RCAB, ChannelAttention, ResidualGroup
from .residual import GlobalResidual

__all__ = ["RCAB", "ChannelAttention", "GlobalResidual", "MultiScaleDictionary", "ResidualGroup",
           "SpatialFourierLayer", "SpatialFourierResidualBlock", "power_iteration"]
