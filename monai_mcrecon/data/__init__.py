"""Data: the embedded sample, datalists and slice datasets."""

from monai_mcrecon.data.datalist import NIFTI_SUFFIXES, build_datalist, check_contrasts, load_datalist
from monai_mcrecon.data.fastmri_h5 import (
    ISMRMRD_NAMESPACE,
    FastMRISliceDataset,
    FastMRIVolume,
    parse_ismrmrd_header,
    write_fastmri_h5,
)
from monai_mcrecon.data.sample import SAMPLE_DIR, SPLITS, sample_datalist, sample_datalist_file
from monai_mcrecon.data.slices import VolumeSliceDataset

__all__ = [
    "FastMRISliceDataset",
    "FastMRIVolume",
    "ISMRMRD_NAMESPACE",
    "NIFTI_SUFFIXES",
    "SAMPLE_DIR",
    "SPLITS",
    "VolumeSliceDataset",
    "build_datalist",
    "check_contrasts",
    "load_datalist",
    "parse_ismrmrd_header",
    "sample_datalist",
    "sample_datalist_file",
    "write_fastmri_h5",
]
