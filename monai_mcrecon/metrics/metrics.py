"""MONAI metric classes for the fastMRI and MATLAB image-quality conventions.

Each class wraps one function of :mod:`monai_mcrecon.metrics.functional` as a
:class:`monai.metrics.CumulativeIterationMetric` (through :class:`monai.metrics.RegressionMetric`, which
supplies ``aggregate``, ``reduction`` and ``get_not_nans``). Inputs are ``y_pred, y`` of shape
``[B, C, H, W]`` (one slice per batch item) or ``[B, C, D, H, W]`` (one volume per batch item, slices
along ``D``). The metric is computed **per batch item**, as fastMRI computes it per volume: the item's
``C x D`` slices form the volume, and ``maxval`` defaults to that item's ground-truth maximum. The
per-iteration result has shape ``[B, 1]`` in float64, like MONAI's regression metrics; note that
MONAI's ``do_metric_reduction`` (used by ``aggregate``) averages in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from monai.metrics.regression import RegressionMetric
from monai.utils import MetricReduction

from . import functional

__all__ = ["FastMRINMSEMetric", "FastMRIPSNRMetric", "FastMRISSIMMetric", "MatlabSSIMMetric"]

class _PerItemMetric(RegressionMetric):
    """Applies a functional metric ``func(gt, pred)`` to every batch item of ``[B, C, *spatial]`` inputs."""

    def __init__(
        self,
        func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction=reduction, get_not_nans=get_not_nans)
        self.func = func

    def _check_shape(self, y_pred: torch.Tensor, y: torch.Tensor) -> None:
        super()._check_shape(y_pred, y)
        if y_pred.ndim not in (4, 5):
            raise ValueError(
                f"{self.__class__.__name__} expects [B, C, H, W] or [B, C, D, H, W] inputs, "
                f"got shape {tuple(y_pred.shape)}."
            )

    def _compute_metric(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.func(gt, pred) for gt, pred in zip(y, y_pred)]).reshape(-1, 1)


class FastMRIPSNRMetric(_PerItemMetric):
    """PSNR per batch item, as ``fastmri.evaluate.psnr`` computes it per volume.

    See :func:`monai_mcrecon.metrics.functional.psnr`.

    Args:
        maxval: peak value; defaults to each item's ground-truth maximum (fastMRI).
        reduction: mode of reduction over the buffered ``[N, 1]`` values, applied to not-nan values only:
            {``"none"``, ``"mean"``, ``"sum"``, ``"mean_batch"``, ``"sum_batch"``, ``"mean_channel"``,
            ``"sum_channel"``}; default ``"mean"``.
        get_not_nans: whether ``aggregate()`` also returns the count of not-nan values.
    """

    def __init__(
        self,
        maxval: float | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(partial(functional.psnr, maxval=maxval), reduction, get_not_nans)
        self.maxval = maxval


class FastMRISSIMMetric(_PerItemMetric):
    """SSIM per batch item, as ``fastmri.evaluate.ssim`` computes it per volume.

    See :func:`monai_mcrecon.metrics.functional.ssim`.

    Args:
        maxval: data range; defaults to each item's ground-truth maximum (fastMRI).
        reduction: mode of reduction over the buffered ``[N, 1]`` values, applied to not-nan values only:
            {``"none"``, ``"mean"``, ``"sum"``, ``"mean_batch"``, ``"sum_batch"``, ``"mean_channel"``,
            ``"sum_channel"``}; default ``"mean"``.
        get_not_nans: whether ``aggregate()`` also returns the count of not-nan values.
    """

    def __init__(
        self,
        maxval: float | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(partial(functional.ssim, maxval=maxval), reduction, get_not_nans)
        self.maxval = maxval


class FastMRINMSEMetric(_PerItemMetric):
    """NMSE per batch item, as ``fastmri.evaluate.nmse`` computes it per volume.

    See :func:`monai_mcrecon.metrics.functional.nmse`.

    Args:
        reduction: mode of reduction over the buffered ``[N, 1]`` values, applied to not-nan values only:
            {``"none"``, ``"mean"``, ``"sum"``, ``"mean_batch"``, ``"sum_batch"``, ``"mean_channel"``,
            ``"sum_channel"``}; default ``"mean"``.
        get_not_nans: whether ``aggregate()`` also returns the count of not-nan values.
    """

    def __init__(self, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False) -> None:
        super().__init__(functional.nmse, reduction, get_not_nans)


class MatlabSSIMMetric(_PerItemMetric):
    """MATLAB-style SSIM (``ssim.m`` / BasicSR ``calculate_ssim``) per batch item, mean over its slices.

    See :func:`monai_mcrecon.metrics.functional.ssim_matlab`.

    Args:
        data_range: dynamic range of the images, 255 by default as in ``ssim.m``.
        reduction: mode of reduction over the buffered ``[N, 1]`` values, applied to not-nan values only:
            {``"none"``, ``"mean"``, ``"sum"``, ``"mean_batch"``, ``"sum_batch"``, ``"mean_channel"``,
            ``"sum_channel"``}; default ``"mean"``.
        get_not_nans: whether ``aggregate()`` also returns the count of not-nan values.
    """

    def __init__(
        self,
        data_range: float = 255.0,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(partial(functional.ssim_matlab, data_range=data_range), reduction, get_not_nans)
        self.data_range = data_range
