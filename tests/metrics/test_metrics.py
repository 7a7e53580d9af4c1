"""Specification of monai_mcrecon.metrics: fastMRI metrics equal fastmri.evaluate, MATLAB SSIM equals ssim.m."""

from __future__ import annotations

import fastmri.evaluate as fastmri_eval
import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.bundle import ConfigParser
from monai.handlers import from_engine
from numpy.lib.stride_tricks import sliding_window_view
from skimage.data import camera, shepp_logan_phantom
from skimage.metrics import structural_similarity

from monai_mcrecon.metrics import (
    FastMRINMSE,
    FastMRINMSEMetric,
    FastMRIPSNR,
    FastMRIPSNRMetric,
    FastMRISSIM,
    FastMRISSIMMetric,
    MatlabSSIM,
    MatlabSSIMMetric,
    nmse,
    psnr,
    rmse,
    ssim,
    ssim_matlab,
)

RTOL, ATOL = 1e-9, 1e-10  # float64 round-off
AGG_RTOL = 1e-6  # MONAI's do_metric_reduction averages in float32
FASTMRI = {"psnr": (psnr, fastmri_eval.psnr), "ssim": (ssim, fastmri_eval.ssim), "nmse": (nmse, fastmri_eval.nmse)}


def _pair(shape, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    gt = rng.random(shape)
    return gt, gt + noise * rng.standard_normal(shape)


def _phantom_volume(num_slices=4, size=160, seed=0):
    """Shepp-Logan slices of varying contrast with Gaussian noise: an MRI-like magnitude volume."""
    rng = np.random.default_rng(seed)
    base = shepp_logan_phantom()[:: 400 // size, :: 400 // size]
    start = (base.shape[0] - size) // 2
    base = base[start : start + size, start : start + size]
    gt = np.stack([base * (1.0 + 0.2 * k) for k in range(num_slices)])
    return gt, np.abs(gt + 0.05 * rng.standard_normal(gt.shape))


def _camera_pair(seed=0):
    """8-bit camera image and a noisy 8-bit version, as float64 in [0, 255]."""
    rng = np.random.default_rng(seed)
    gt = camera()[::4, ::4].astype(np.float64)
    return gt, np.clip(np.round(gt + 12.0 * rng.standard_normal(gt.shape)), 0, 255)


def _fastmri(name, gt, pred, maxval=None):
    ref = FASTMRI[name][1]
    return np.asarray(ref(gt, pred) if name == "nmse" else ref(gt, pred, maxval)).item()


def _ours(name, gt, pred, maxval=None):
    fn = FASTMRI[name][0]
    return (fn(gt, pred) if name == "nmse" else fn(gt, pred, maxval)).item()


def _ssim_matlab_reference(gt, pred, data_range=255.0):
    """ssim.m written out: every 11x11 'valid' window weighted by fspecial('gaussian', 11, 1.5)."""
    x, y = np.mgrid[-5:6, -5:6]
    window = np.exp(-(x**2 + y**2) / (2 * 1.5**2))
    window /= window.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for a, b in zip(gt.reshape(-1, *gt.shape[-2:]), pred.reshape(-1, *pred.shape[-2:])):
        wa, wb = sliding_window_view(a, (11, 11)), sliding_window_view(b, (11, 11))
        mu_a, mu_b = (wa * window).sum((-2, -1)), (wb * window).sum((-2, -1))
        var_a = (window * (wa - mu_a[..., None, None]) ** 2).sum((-2, -1))
        var_b = (window * (wb - mu_b[..., None, None]) ** 2).sum((-2, -1))
        cov = (window * (wa - mu_a[..., None, None]) * (wb - mu_b[..., None, None])).sum((-2, -1))
        ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        values.append(ssim_map.mean())
    return float(np.mean(values))


# --- fastMRI functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FASTMRI))
@pytest.mark.parametrize("shape", [(1, 7, 7), (3, 32, 29), (4, 33, 47), (2, 64, 64), (6, 20, 11)])
def test_fastmri_metrics_equal_fastmri_evaluate_on_random_volumes(name, shape):
    gt, pred = _pair(shape, seed=sum(shape))
    assert _ours(name, gt, pred) == pytest.approx(_fastmri(name, gt, pred), rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_explicit_maxval_is_used_as_data_range(name):
    gt, pred = _pair((3, 24, 24), seed=1)
    assert _ours(name, gt, pred, maxval=2.5) == pytest.approx(_fastmri(name, gt, pred, 2.5), rel=RTOL, abs=ATOL)
    assert _ours(name, gt, pred, maxval=torch.tensor(2.5)) == pytest.approx(_ours(name, gt, pred, 2.5), rel=RTOL)


@pytest.mark.parametrize("name", sorted(FASTMRI))
def test_fastmri_metrics_equal_fastmri_evaluate_on_phantom_volume(name):
    gt, pred = _phantom_volume()
    assert _ours(name, gt, pred) == pytest.approx(_fastmri(name, gt, pred), rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("name", sorted(FASTMRI))
def test_fastmri_metrics_equal_fastmri_evaluate_on_noisy_camera(name):
    gt, pred = _camera_pair()
    gt, pred = np.stack([gt, gt[::-1]]), np.stack([pred, pred[::-1] * 0.9])
    assert _ours(name, gt, pred) == pytest.approx(_fastmri(name, gt, pred), rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("name", sorted(FASTMRI))
def test_float32_inputs_are_computed_in_float64(name):
    gt, pred = (a.astype(np.float32) for a in _phantom_volume(num_slices=2, size=64))
    ours = _ours(name, torch.from_numpy(gt), torch.from_numpy(pred))
    assert ours == pytest.approx(_fastmri(name, gt.astype(np.float64), pred.astype(np.float64)), rel=RTOL, abs=ATOL)
    # skimage itself works in float32 for float32 inputs
    assert ours == pytest.approx(_fastmri(name, gt, pred), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", sorted(FASTMRI))
def test_2d_image_is_one_slice(name):
    gt, pred = _pair((40, 37), seed=3)
    assert _ours(name, gt, pred) == pytest.approx(_fastmri(name, gt[None], pred[None]), rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("name", sorted(FASTMRI))
def test_leading_dimensions_are_slices(name):
    gt, pred = _pair((2, 3, 16, 18), seed=4)
    expected = _fastmri(name, gt.reshape(6, 16, 18), pred.reshape(6, 16, 18))
    assert _ours(name, gt, pred) == pytest.approx(expected, rel=RTOL, abs=ATOL)


def test_results_are_float64_tensors_on_the_input_device():
    gt, pred = (torch.from_numpy(a).float() for a in _pair((2, 16, 16)))
    for value in (nmse(gt, pred), psnr(gt, pred), ssim(gt, pred), ssim_matlab(gt, pred), rmse(gt, pred)):
        assert isinstance(value, torch.Tensor) and value.ndim == 0 and value.dtype == torch.float64
        assert value.device == gt.device


def test_rmse_is_root_mean_squared_error():
    gt, pred = _pair((3, 10, 12), seed=5)
    assert rmse(gt, pred).item() == pytest.approx(np.sqrt(np.mean((gt - pred) ** 2)), rel=RTOL)


def test_identical_inputs_give_perfect_scores():
    gt, _ = _phantom_volume(num_slices=2, size=32)
    assert psnr(gt, gt).item() == float("inf")
    assert ssim(gt, gt).item() == pytest.approx(1.0, abs=1e-12)
    assert ssim_matlab(gt, gt, data_range=1.0).item() == pytest.approx(1.0, abs=1e-12)
    assert nmse(gt, gt).item() == 0.0 and rmse(gt, gt).item() == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_results_equal_fastmri_evaluate():
    gt, pred = _phantom_volume(num_slices=3, size=96)
    gt_t, pred_t = torch.from_numpy(gt).cuda(), torch.from_numpy(pred).cuda()
    for name in sorted(FASTMRI):
        assert _ours(name, gt_t, pred_t) == pytest.approx(_fastmri(name, gt, pred), rel=RTOL, abs=ATOL)
    assert ssim_matlab(gt_t, pred_t, 1.0).device.type == "cuda"
    assert ssim_matlab(gt_t, pred_t, 1.0).item() == pytest.approx(ssim_matlab(gt, pred, 1.0).item(), rel=RTOL)


# --- MATLAB SSIM ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(11, 11), (2, 20, 23), (3, 31, 16)])
def test_ssim_matlab_equals_windowed_reference_on_random_images(shape):
    gt, pred = _pair(shape, seed=sum(shape))
    gt, pred = 255 * gt, 255 * pred
    assert ssim_matlab(gt, pred).item() == pytest.approx(_ssim_matlab_reference(gt, pred), rel=RTOL, abs=ATOL)


def test_ssim_matlab_equals_windowed_reference_on_noisy_camera():
    gt, pred = _camera_pair(seed=1)
    assert ssim_matlab(gt, pred).item() == pytest.approx(_ssim_matlab_reference(gt, pred), rel=RTOL, abs=ATOL)


def test_ssim_matlab_equals_skimage_gaussian_population_ssim():
    # skimage's 5-pixel crop of its 11-tap Gaussian filtering is exactly the 'valid' region of ssim.m
    gt, pred = _camera_pair(seed=2)
    expected = structural_similarity(
        gt, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255.0
    )
    assert ssim_matlab(gt, pred).item() == pytest.approx(expected, rel=RTOL, abs=ATOL)


def test_ssim_matlab_is_mean_over_slices_and_uses_data_range():
    gt, pred = _phantom_volume(num_slices=3, size=48)
    per_slice = [_ssim_matlab_reference(g, p, data_range=1.0) for g, p in zip(gt, pred)]
    assert ssim_matlab(gt, pred, data_range=1.0).item() == pytest.approx(np.mean(per_slice), rel=RTOL, abs=ATOL)
    assert ssim_matlab(gt, pred, data_range=1.0).item() != pytest.approx(ssim_matlab(gt, pred).item(), rel=1e-3)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [nmse, psnr, ssim, ssim_matlab, rmse])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"gt.shape=\(2, 16, 16\).*pred.shape=\(2, 16, 15\)"):
        fn(torch.zeros(2, 16, 16), torch.zeros(2, 16, 15))


@pytest.mark.parametrize("fn", [nmse, psnr, ssim, ssim_matlab, rmse])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_rejected(fn, bad):
    gt, pred = torch.rand(1, 16, 16), torch.rand(1, 16, 16)
    pred[0, 3, 4] = bad
    with pytest.raises(ValueError, match="pred contains non-finite"):
        fn(gt, pred)
    with pytest.raises(ValueError, match="gt contains non-finite"):
        fn(pred, gt)


def test_too_small_slices_and_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(torch.rand(2, 6, 9), torch.rand(2, 6, 9))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_matlab(torch.rand(12, 10), torch.rand(12, 10))
    with pytest.raises(ValueError, match="Expected an image"):
        psnr(torch.rand(8), torch.rand(8))
    with pytest.raises(ValueError, match="complex"):
        nmse(torch.rand(8, 8, dtype=torch.complex64), torch.rand(8, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match="maxval must be a positive"):
        psnr(torch.rand(8, 8), torch.rand(8, 8), maxval=0.0)
    with pytest.raises(ValueError, match="data_range must be a positive"):
        ssim_matlab(torch.rand(12, 12), torch.rand(12, 12), data_range=-1.0)


# --- MONAI metric classes ------------------------------------------------------------------------

METRIC_CLASSES = [
    (FastMRIPSNRMetric, psnr, {}),
    (FastMRISSIMMetric, ssim, {}),
    (FastMRINMSEMetric, nmse, {}),
    (MatlabSSIMMetric, ssim_matlab, {"data_range": 1.0}),
]


def _batch(spatial, batch=3, seed=0):
    """Items of different intensity scale, so a per-item maxval differs from the batch maximum."""
    gt, pred = _pair((batch, 1, *spatial), seed=seed)
    scale = np.arange(1, batch + 1).reshape(-1, *[1] * (len(spatial) + 1))
    return torch.from_numpy(gt * scale), torch.from_numpy(pred * scale)


@pytest.mark.parametrize("metric_cls, fn, kwargs", METRIC_CLASSES)
@pytest.mark.parametrize("spatial", [(24, 21), (4, 24, 21)])
def test_metric_class_computes_each_batch_item_like_the_function(metric_cls, fn, kwargs, spatial):
    metric = metric_cls(**kwargs)
    y, y_pred = _batch(spatial)
    values = metric(y_pred=y_pred, y=y)
    assert values.shape == (3, 1)
    expected = [fn(y[b], y_pred[b], *kwargs.values()).item() for b in range(3)]
    np.testing.assert_allclose(values[:, 0].numpy(), expected, rtol=RTOL, atol=ATOL)
    y2, y_pred2 = _batch(spatial, batch=2, seed=7)
    metric(y_pred=y_pred2, y=y2)
    expected += [fn(y2[b], y_pred2[b], *kwargs.values()).item() for b in range(2)]
    assert metric.aggregate().item() == pytest.approx(np.mean(expected), rel=AGG_RTOL)
    np.testing.assert_allclose(metric.aggregate("none")[:, 0].numpy(), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("metric_cls, name", [(FastMRIPSNRMetric, "psnr"), (FastMRISSIMMetric, "ssim")])
def test_metric_class_uses_per_volume_maxval_like_fastmri(metric_cls, name):
    y, y_pred = _batch((3, 20, 20))
    values = metric_cls(reduction="none")(y_pred=y_pred, y=y)
    expected = [_fastmri(name, y[b, 0].numpy(), y_pred[b, 0].numpy()) for b in range(3)]
    np.testing.assert_allclose(values[:, 0].numpy(), expected, rtol=RTOL, atol=ATOL)
    fixed = metric_cls(maxval=5.0)(y_pred=y_pred, y=y)
    expected = [_fastmri(name, y[b, 0].numpy(), y_pred[b, 0].numpy(), 5.0) for b in range(3)]
    np.testing.assert_allclose(fixed[:, 0].numpy(), expected, rtol=RTOL, atol=ATOL)


def test_metric_class_accepts_lists_of_channel_first_items_and_reports_not_nans():
    y, y_pred = _batch((20, 20))
    metric = FastMRIPSNRMetric(get_not_nans=True)
    metric(y_pred=list(y_pred), y=list(y))
    value, not_nans = metric.aggregate()
    assert value.item() == pytest.approx(np.mean([psnr(y[b], y_pred[b]).item() for b in range(3)]), rel=AGG_RTOL)
    assert not_nans.item() == 3
    metric.reset()
    with pytest.raises(ValueError):
        metric.aggregate()


def test_metric_class_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shapes dont match"):
        FastMRISSIMMetric()(y_pred=torch.rand(2, 1, 16, 16), y=torch.rand(2, 1, 16, 17))
    with pytest.raises(ValueError, match=r"expects \[B, C, H, W\] or \[B, C, D, H, W\]"):
        FastMRIPSNRMetric()(y_pred=torch.rand(2, 16, 16), y=torch.rand(2, 16, 16))


# --- Ignite handlers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "handler_cls, fn, kwargs",
    [(FastMRIPSNR, psnr, {}), (FastMRISSIM, ssim, {}), (FastMRINMSE, nmse, {}), (MatlabSSIM, ssim_matlab, {})],
)
def test_handler_reports_mean_over_all_items_of_an_engine_run(handler_cls, fn, kwargs):
    batches = [_batch((2, 20, 20), batch=2, seed=s) for s in range(3)]
    engine = Engine(lambda engine, batch: {"pred": batch[1], "label": batch[0]})
    handler = handler_cls(output_transform=from_engine(["pred", "label"]), **kwargs)
    handler.attach(engine, "metric")
    engine.run(batches, max_epochs=1)
    expected = [fn(y[b], y_pred[b]).item() for y, y_pred in batches for b in range(2)]
    assert engine.state.metrics["metric"] == pytest.approx(np.mean(expected), rel=AGG_RTOL)
    np.testing.assert_allclose(engine.state.metric_details["metric"][:, 0].numpy(), expected, rtol=RTOL, atol=ATOL)


def test_handler_is_instantiable_from_a_bundle_config():
    parser = ConfigParser(
        {
            "metric": {
                "_target_": "monai_mcrecon.metrics.handlers.FastMRIPSNR",
                "output_transform": "$monai.handlers.from_engine(['pred', 'label'])",
                "save_details": False,
            }
        }
    )
    handler = parser.get_parsed_content("metric")
    assert isinstance(handler, FastMRIPSNR)
    y, y_pred = _batch((20, 20), batch=2)
    engine = Engine(lambda engine, batch: [{"pred": p, "label": t} for p, t in zip(batch[1], batch[0])])
    handler.attach(engine, "psnr")
    engine.run([(y, y_pred)], max_epochs=1)
    expected = np.mean([psnr(y[b], y_pred[b]).item() for b in range(2)])
    assert engine.state.metrics["psnr"] == pytest.approx(expected, rel=AGG_RTOL)
