"""Ignite metric handlers for the fastMRI and MATLAB image-quality metrics, and fixed-range PSNR/SSIM for
natural images (:class:`ImagePSNR`, :class:`ImageSSIM`).

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

__all__ = ["FastMRINMSE", "FastMRIPSNR", "FastMRISSIM", "ImagePSNR", "ImageSSIM", "MatlabSSIM"]


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


class ImagePSNR(IgniteMetricHandler):
    """Mean PSNR over the images of an epoch with a **fixed** data range (natural images in [0, 1]).

    Builds on :class:`monai.metrics.PSNRMetric`: per image, ``10 log10(data_range^2 / MSE)`` with the MSE
    over all channels and pixels (= ``skimage.metrics.peak_signal_noise_ratio(..., data_range=1)``).
    Clamp predictions to [0, 1] beforehand (post-transform) if the network can leave that range.

    Args:
        data_range: peak-to-peak range of the images (1.0 for [0, 1]).
        reduction: reduction of the per-image values, ``"mean"`` by default.
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)`` (``[B, C, H, W]`` or lists of
            ``[C, H, W]``), e.g. ``monai.handlers.from_engine(["pred", "label"])``.
        save_details: keep the per-image values in ``engine.state.metric_details[name]``.
    """

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        from monai.metrics import PSNRMetric

        super().__init__(
            metric_fn=PSNRMetric(max_val=data_range, reduction=reduction),
            output_transform=output_transform,
            save_details=save_details,
        )


class ImageSSIM(IgniteMetricHandler):
    """Mean SSIM over the images of an epoch (Wang et al. 2004) with a fixed data range.

    Builds on :class:`monai.metrics.SSIMMetric`: Gaussian 11 x 11 window, sigma 1.5, K1 0.01, K2 0.03,
    valid (no padding) filtering, mean over the pixels and channels of each image; this equals
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1, channel_axis=0)``. Needs images of at least 11 x 11.

    Args:
        data_range: peak-to-peak range of the images (1.0 for [0, 1]).
        reduction, output_transform, save_details: as in :class:`ImagePSNR`.
    """

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        from monai.metrics import SSIMMetric

        super().__init__(
            metric_fn=SSIMMetric(spatial_dims=2, data_range=data_range, kernel_type="gaussian", win_size=11,
                                 kernel_sigma=1.5, reduction=reduction),
            output_transform=output_transform,
            save_details=save_details,
        )
