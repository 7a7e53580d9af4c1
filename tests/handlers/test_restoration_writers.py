"""RestorationFigureWriter and MetricsCSVWriter on a MONAI evaluator over natural images."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedEvaluator
from monai.handlers import from_engine
from monai.transforms import Compose
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from monai_mcrecon.handlers import MetricsCSVWriter, RestorationFigureWriter
from monai_mcrecon.metrics import ImagePSNR, ImageSSIM
from monai_mcrecon.transforms import AddGaussianNoised, LoadNaturalImaged


class Halve(torch.nn.Module):
    """A 'restoration' that pulls noisy values half-way to a 3x3 mean."""

    def forward(self, x):
        return 0.5 * x + 0.5 * torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _evaluator(tmp_path, channels, items):
    transform = Compose([
        LoadNaturalImaged(keys="label", channels=channels),
        AddGaussianNoised(sigma=25, clip=True, seed=0, case_seed_key="case_id"),
    ])
    loader = DataLoader(Dataset(items, transform), batch_size=1, num_workers=0)
    handlers = [
        RestorationFigureWriter(str(tmp_path / "figures")),
        MetricsCSVWriter(str(tmp_path), columns={"psnr": "psnr", "ssim": "ssim", "psnr_input": "psnr_input"}),
    ]
    metrics = {
        "psnr": ImagePSNR(output_transform=from_engine(["pred", "label"])),
        "ssim": ImageSSIM(output_transform=from_engine(["pred", "label"])),
    }
    extra = {"psnr_input": ImagePSNR(output_transform=from_engine(["image", "label"]))}
    return SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=loader, network=Halve(), key_val_metric=metrics,
        additional_metrics=extra, val_handlers=handlers,
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_figures_and_metrics_csv(tmp_path, channels):
    items = []
    rng = np.random.default_rng(channels)
    for name in ("a", "b"):
        yy, xx = np.mgrid[:30, :44]
        phase = rng.random(3)[None, None] * 6
        arr = (127 + 100 * np.sin(xx[..., None] / 7 + yy[..., None] / 9 + phase)).astype(np.uint8)  # smooth
        Image.fromarray(arr).save(tmp_path / f"{name}.png")
        items.append({"label": str(tmp_path / f"{name}.png"), "case_id": name})
    ev = _evaluator(tmp_path, channels, items)
    ev.run()
    for name in ("a", "b"):
        fig = np.asarray(Image.open(tmp_path / "figures" / f"{name}.png"))
        assert fig.ndim == 3 and fig.shape[1] > 3 * fig.shape[0]  # four panels side by side
    rows = list(csv.reader(open(tmp_path / "metrics.csv")))
    assert rows[0] == ["case_id", "psnr", "ssim", "psnr_input"]
    assert [r[0] for r in rows[1:]] == ["mean", "a", "b"]
    vals = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(vals[0], vals[1:].mean(0), atol=1e-5)
    assert (vals[1:, 0] > vals[1:, 2]).all()  # smoothing helps on smooth images
    # per-case PSNR equals skimage on the same tensors
    d = ev.state.output[0]
    ref = peak_signal_noise_ratio(d["label"].numpy(), d["pred"].numpy(), data_range=1.0)
    assert abs(vals[2, 0] - ref) < 1e-4


def test_bad_shapes_raise(tmp_path):
    writer = RestorationFigureWriter(str(tmp_path))

    class State:
        output = [{"image": torch.zeros(3, 8, 8), "pred": torch.zeros(3, 8, 10), "label": torch.zeros(3, 8, 8)}]
        batch = [{"case_id": "x"}]
        iteration = 1

    class E:
        state = State()

    with pytest.raises(ValueError, match="differ in size"):
        writer(E())
    State.output = [{"image": torch.zeros(2, 8, 8), "pred": torch.zeros(2, 8, 8), "label": torch.zeros(2, 8, 8)}]
    with pytest.raises(ValueError, match="C = 1 or 3"):
        writer(E())
