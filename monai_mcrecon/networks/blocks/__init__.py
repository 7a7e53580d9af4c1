"""Shared building blocks: convolutional dictionaries, channel attention, residual wrappers."""

from .dictionary import MultiScaleDictionary, power_iteration
from .rcab import RCAB, ChannelAttention, ResidualGroup
from .residual import GlobalResidual

__all__ = ["RCAB", "ChannelAttention", "GlobalResidual", "MultiScaleDictionary", "ResidualGroup", "power_iteration"]
