"""Shared building blocks: convolutional dictionaries, channel attention, ..."""

from .dictionary import MultiScaleDictionary, power_iteration
from .rcab import RCAB, ChannelAttention, ResidualGroup
