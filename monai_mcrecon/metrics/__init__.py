"""Image-quality metrics: fastMRI and MATLAB-style conventions as functions, MONAI metrics and Ignite handlers."""

from __future__ import annotations

from .functional import nmse, psnr, rmse, ssim, ssim_matlab
from .handlers import FastMRINMSE, FastMRIPSNR, FastMRISSIM, ImagePSNR, ImageSSIM, MatlabSSIM
from .metrics import FastMRINMSEMetric, FastMRIPSNRMetric, FastMRISSIMMetric, MatlabSSIMMetric

__all__ = [
    "FastMRINMSE",
    "FastMRINMSEMetric",
    "FastMRIPSNR",
    "FastMRIPSNRMetric",
    "FastMRISSIM",
    "FastMRISSIMMetric",
    "ImagePSNR",
    "ImageSSIM",
    "MatlabSSIM",
    "MatlabSSIMMetric",
    "nmse",
    "psnr",
    "rmse",
    "ssim",
    "ssim_matlab",
]
