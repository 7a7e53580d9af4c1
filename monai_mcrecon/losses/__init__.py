"""Losses."""

from monai_mcrecon.losses.contrastive import CLGNetLoss, ContrastiveRegularization, PyramidFeatures, VGG19Features
from monai_mcrecon.losses.reference import ReferenceWeightedL1Loss
from monai_mcrecon.losses.distillation import FeatureAdapter, HeterogeneousKDLoss
from monai_mcrecon.losses.mstn import MSTNLoss, VGG16Features

__all__ = [
    "CLGNetLoss",
    "ContrastiveRegularization",
    "FeatureAdapter",
    "HeterogeneousKDLoss",
    "MSTNLoss",
    "PyramidFeatures",
    "ReferenceWeightedL1Loss",
    "VGG16Features",
    "VGG19Features",
]
