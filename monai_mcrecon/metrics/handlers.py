"""Ignite metric handlers for the fastMRI and MATLAB image-quality metrics.

Thin :class:`monai.handlers.IgniteMetricHandler` wrappers (the pattern of :class:`monai.handlers.PSNR`)
around the classes of :mod:`monai_mcrecon.metrics.metrics`, for evaluators and bundle configs, e.g.::

    "val_key_metric": {
        "val_psnr": {
            "_target_": "monai_mcrecon.metrics.FastMRIPSNR",
            "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"
        }
    }

Each handler computes its metric per batch item (per volume, fastMRI semantics) and reports the mean
over all items seen in the epoch; with ``save_details`` the per-item values are kept in
``engine.state.metric_details[name]``.
"""

from __future__ import annotations

from collections.abc import Callable

from monai.handlers import IgniteMetricHandler
from monai.utils import MetricReduction

from .metrics import FastMRINMSEMetric, FastMRIPSNRMetric, FastMRISSIMMetric, MatlabSSIMMetric

__all__ = ["FastMRINMSE", "FastMRIPSNR", "FastMRISSIM", "MatlabSSIM"]


class FastMRIPSNR(IgniteMetricHandler):
    """Mean fastMRI PSNR over the items of an epoch; see :class:`~monai_mcrecon.metrics.FastMRIPSNRMetric`.

    Args:
        maxval: peak value; defaults to each item's ground-truth maximum (fastMRI).
        reduction: reduction of the per-item values, ``"mean"`` by default (see MONAI's ``MetricReduction``).
        output_transform: callable mapping ``engine.state.output`` to ``(y_pred, y)``, batch-first tensors
            ``[B, C, H, W]`` / ``[B, C, D, H, W]`` or lists of channel-first tensors, e.g.
            ``monai.handlers.from_engine(["pred", "label"])``.
        save_details: whether to save the per-item values to ``engine.state.metric_details[name]``.
    """

    def __init__(
        self,
        maxval: float | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = FastMRIPSNRMetric(maxval=maxval, reduction=reduction)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class FastMRISSIM(IgniteMetricHandler):
    """Mean fastMRI SSIM over the items of an epoch; see :class:`~monai_mcrecon.metrics.FastMRISSIMMetric`.

    Args:
        maxval: data range; defaults to each item's ground-truth maximum (fastMRI).
        reduction: reduction of the per-item values, ``"mean"`` by default (see MONAI's ``MetricReduction``).
        output_transform: callable mapping ``engine.state.output`` to ``(y_pred, y)``, batch-first tensors
            ``[B, C, H, W]`` / ``[B, C, D, H, W]`` or lists of channel-first tensors, e.g.
            ``monai.handlers.from_engine(["pred", "label"])``.
        save_details: whether to save the per-item values to ``engine.state.metric_details[name]``.
    """

    def __init__(
        self,
        maxval: float | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = FastMRISSIMMetric(maxval=maxval, reduction=reduction)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class FastMRINMSE(IgniteMetricHandler):
    """Mean fastMRI NMSE over the items of an epoch; see :class:`~monai_mcrecon.metrics.FastMRINMSEMetric`.

    Args:
        reduction: reduction of the per-item values, ``"mean"`` by default (see MONAI's ``MetricReduction``).
        output_transform: callable mapping ``engine.state.output`` to ``(y_pred, y)``, batch-first tensors
            ``[B, C, H, W]`` / ``[B, C, D, H, W]`` or lists of channel-first tensors, e.g.
            ``monai.handlers.from_engine(["pred", "label"])``.
        save_details: whether to save the per-item values to ``engine.state.metric_details[name]``.
    """

    def __init__(
        self,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = FastMRINMSEMetric(reduction=reduction)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class MatlabSSIM(IgniteMetricHandler):
    """Mean MATLAB-style SSIM over the items of an epoch; see :class:`~monai_mcrecon.metrics.MatlabSSIMMetric`.

    Args:
        data_range: dynamic range of the images, 255 by default as in ``ssim.m``.
        reduction: reduction of the per-item values, ``"mean"`` by default (see MONAI's ``MetricReduction``).
        output_transform: callable mapping ``engine.state.output`` to ``(y_pred, y)``, batch-first tensors
            ``[B, C, H, W]`` / ``[B, C, D, H, W]`` or lists of channel-first tensors, e.g.
            ``monai.handlers.from_engine(["pred", "label"])``.
        save_details: whether to save the per-item values to ``engine.state.metric_details[name]``.
    """

    def __init__(
        self,
        data_range: float = 255.0,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric_fn = MatlabSSIMMetric(data_range=data_range, reduction=reduction)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)
