"""MONAI transforms over the k-space physics, array and dictionary versions."""

from monai_mcrecon.transforms.array import CheckFinite, KspaceTruncate, KspaceUndersample, MoveSliceAxis, ScaleIntensityRecord
from monai_mcrecon.transforms.dictionary import (
    CheckFinited,
    CheckPairedShaped,
    ComplexToRealLastd,
    KspaceTruncated,
    KspaceUndersampled,
    MoveSliceAxisd,
    PrepareSRInputd,
    RestoreIntensityd,
    SaveReconstructiond,
    ScaleIntensityRecordd,
    SelectContrastsd,
    paired_augmentation,
)
from monai_mcrecon.transforms.registration import REGISTRATION_MODES, RegisterReference, RegisterReferenced

__all__ = [
    "CheckFinite",
    "CheckFinited",
    "CheckPairedShaped",
    "ComplexToRealLastd",
    "KspaceTruncate",
    "KspaceTruncated",
    "KspaceUndersample",
    "KspaceUndersampled",
    "MoveSliceAxis",
    "MoveSliceAxisd",
    "PrepareSRInputd",
    "REGISTRATION_MODES",
    "RegisterReference",
    "RegisterReferenced",
    "RestoreIntensityd",
    "SaveReconstructiond",
    "ScaleIntensityRecord",
    "ScaleIntensityRecordd",
    "SelectContrastsd",
    "paired_augmentation",
]
