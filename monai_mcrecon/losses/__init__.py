"""Losses."""

from monai_mcrecon.losses.contrastive import CLGNetLoss, ContrastiveRegularization, PyramidFeatures, VGG19Features
from monai_mcrecon.losses.reference import ReferenceWeightedL1Loss
from monai_mcrecon.losses.distillation import FeatureAdapter, HeterogeneousKDLoss
from monai_mcrecon.losses.mstn import MSTNLoss, VGG16Features
from monai_mcrecon.losses.stereo import SSRDELoss
from monai_mcrecon.losses.fgdcn import CensusLoss, FFTLoss, FGDCNLoss, FlowDistillationLoss, LapLoss
from monai_mcrecon.losses.bvfi import BVFILoss, charbonnier_loss
from monai_mcrecon.losses.unikd import UniKDLoss, UniKDRestorationLoss, dkd_loss, kd_loss

__all__ = [
    "BVFILoss",
    "CensusLoss",
    "FFTLoss",
    "FGDCNLoss",
    "FlowDistillationLoss",
    "LapLoss",
    "SSRDELoss",
    "UniKDLoss",
    "UniKDRestorationLoss",
    "charbonnier_loss",
    "dkd_loss",
    "kd_loss",
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
