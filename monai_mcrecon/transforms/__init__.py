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
from monai_mcrecon.transforms.kspace_input import (
    FastMRIKspaceToImage,
    FastMRIKspaceToImaged,
    kspace_file_datalist,
    read_zero_filled_volume,
)
from monai_mcrecon.transforms.registration import REGISTRATION_MODES, RegisterReference, RegisterReferenced

__all__ = [
    "CheckFinite",
    "CheckFinited",
    "CheckPairedShaped",
    "FastMRIKspaceToImage",
    "FastMRIKspaceToImaged",
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
    "kspace_file_datalist",
    "paired_augmentation",
    "read_zero_filled_volume",
]
