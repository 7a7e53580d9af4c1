"""Data: the embedded MRI and natural-image and video samples, datalists and slice datasets."""

from monai_mcrecon.data.datalist import NIFTI_SUFFIXES, build_datalist, check_contrasts, load_datalist
from monai_mcrecon.data.dicom import (
    DEFAULT_SERIES_DESCRIPTION,
    LPS_TO_RAS,
    SeriesGeometry,
    list_dicom_series,
    read_dicom_series,
)
from monai_mcrecon.data.dicom_write import make_test_series, save_nifti_like, write_dicom_series
from monai_mcrecon.data.fastmri_h5 import (
    ISMRMRD_NAMESPACE,
    FastMRISliceDataset,
    FastMRIVolume,
    parse_ismrmrd_header,
    write_fastmri_h5,
)
from monai_mcrecon.data.natural import (
    IMAGE_SUFFIXES,
    NATURAL_SPLITS,
    image_folder_datalist,
    natural_sample_datalist,
    natural_sample_dir,
    stereo_sample,
)
from monai_mcrecon.data.sample import SAMPLE_DIR, SPLITS, sample_datalist, sample_datalist_file
from monai_mcrecon.data.slices import VolumeSliceDataset
from monai_mcrecon.data.stereo import stereo_folder_datalist, stereo_sample_dir, stereo_sample_pairs
from monai_mcrecon.data.zero_filled import read_zero_filled_volume
from monai_mcrecon.data.video import (
    VIDEO_SPLITS,
    frame_folder_clips,
    triplet_datalist,
    video_sample_clips,
    video_sample_dir,
    window_datalist,
)

__all__ = [
    "stereo_folder_datalist",
    "stereo_sample_dir",
    "stereo_sample_pairs",
    "VIDEO_SPLITS",
    "frame_folder_clips",
    "triplet_datalist",
    "read_zero_filled_volume",
    "video_sample_clips",
    "video_sample_dir",
    "window_datalist",
    "DEFAULT_SERIES_DESCRIPTION",
    "FastMRISliceDataset",
    "FastMRIVolume",
    "IMAGE_SUFFIXES",
    "ISMRMRD_NAMESPACE",
    "LPS_TO_RAS",
    "NATURAL_SPLITS",
    "NIFTI_SUFFIXES",
    "SAMPLE_DIR",
    "SPLITS",
    "SeriesGeometry",
    "VolumeSliceDataset",
    "build_datalist",
    "check_contrasts",
    "image_folder_datalist",
    "list_dicom_series",
    "load_datalist",
    "make_test_series",
    "natural_sample_datalist",
    "natural_sample_dir",
    "parse_ismrmrd_header",
    "read_dicom_series",
    "sample_datalist",
    "sample_datalist_file",
    "save_nifti_like",
    "stereo_sample",
    "write_dicom_series",
    "write_fastmri_h5",
]

from monai_mcrecon.data.synthesis import (  # noqa: E402
    ALLOWED_Z,
    SYNTH_SOURCE_DIR,
    SyntheticPairDataset,
    save_synthesis_figure,
)

__all__ += ["ALLOWED_Z", "SYNTH_SOURCE_DIR", "SyntheticPairDataset", "save_synthesis_figure"]

from monai_mcrecon.data.real_validation import REAL_VAL_DIR, real_validation_file  # noqa: E402

__all__ += ["REAL_VAL_DIR", "real_validation_file"]
