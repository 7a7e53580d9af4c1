"""Losses."""

from monai_mcrecon.losses.contrastive import CLGNetLoss, ContrastiveRegularization, PyramidFeatures, VGG19Features
from monai_mcrecon.losses.reference import ReferenceWeightedL1Loss

__all__ = [
    "CLGNetLoss",
    "ContrastiveRegularization",
    "PyramidFeatures",
    "ReferenceWeightedL1Loss",
    "VGG19Features",
]
