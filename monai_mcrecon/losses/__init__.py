"""Losses."""

from monai_mcrecon.losses.reference import ReferenceWeightedL1Loss

__all__ = ["ReferenceWeightedL1Loss"]
