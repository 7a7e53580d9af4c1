"""Data: the embedded sample, datalists and slice datasets."""

from monai_mcrecon.data.datalist import NIFTI_SUFFIXES, build_datalist, check_contrasts, load_datalist
from monai_mcrecon.data.sample import SAMPLE_DIR, SPLITS, sample_datalist, sample_datalist_file
from monai_mcrecon.data.slices import VolumeSliceDataset

__all__ = [
    "NIFTI_SUFFIXES",
    "SAMPLE_DIR",
    "SPLITS",
    "VolumeSliceDataset",
    "build_datalist",
    "check_contrasts",
    "load_datalist",
    "sample_datalist",
    "sample_datalist_file",
]
