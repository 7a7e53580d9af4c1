import csv

import pytest
import torch
from ignite.engine import Engine
from monai.handlers import from_engine

from monai_mcrecon.handlers import MetricsCSVWriter, ReconstructionFigureWriter
from monai_mcrecon.metrics import FastMRIPSNR, psnr

CASES = [["case_a", "case_b"], ["case_c"]]


def _cases():
    """Decollated batches (lists of dicts, as MONAI's evaluators hold them) with outputs ``[1, D, H, W]``."""
    g = torch.Generator().manual_seed(0)
    batches = []
    for ids in CASES:
        batch = []
        for k, case in enumerate(ids):
            label = torch.rand(1, 3, 16, 20, generator=g)
            noise = 0.05 * (k + 1) * torch.randn(1, 3, 16, 20, generator=g)
            batch.append({"case_id": case, "label": label, "pred": label + noise, "image_degraded": label + 3 * noise})
        batches.append(batch)
    return batches


def _engine():
    def step(engine, batch):
        # the batch already holds the outputs; copy them as an evaluator's decollated output would
        return [{k: item[k] for k in ("image_degraded", "pred", "label")} for item in batch]

    return Engine(step)


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], {r[0]: [float(v) for v in r[1:]] for r in rows[1:]}, [r[0] for r in rows[1:]]


def test_metrics_csv_and_figures(tmp_path):
    batches = _cases()
    engine = _engine()
    FastMRIPSNR(output_transform=from_engine(["pred", "label"]), save_details=True).attach(engine, "psnr")
    FastMRIPSNR(output_transform=from_engine(["image_degraded", "label"]), save_details=True).attach(engine, "psnr_input")
    MetricsCSVWriter(str(tmp_path / "metrics"), {"psnr": "psnr", "psnr_input": "psnr_input"}).attach(engine)
    ReconstructionFigureWriter(str(tmp_path / "figures")).attach(engine)
    engine.run(batches, max_epochs=1)

    header, values, order = _read_csv(tmp_path / "metrics" / "metrics.csv")
    assert header == ["case_id", "psnr", "psnr_input"]
    assert order == ["mean", "case_a", "case_b", "case_c"]
    items = [item for batch in batches for item in batch]
    for item in items:
        expected = [float(psnr(item["label"], item["pred"])), float(psnr(item["label"], item["image_degraded"]))]
        assert values[item["case_id"]] == pytest.approx(expected, abs=2e-6)
    for col in range(2):
        per_case = [values[c][col] for c in order[1:]]
        assert values["mean"][col] == pytest.approx(sum(per_case) / 3, abs=2e-6)
    # the noisier input has the lower PSNR, and noisier cases rank lower
    assert all(values[c][0] > values[c][1] for c in order[1:])
    assert values["case_a"][0] > values["case_b"][0]
    assert engine.state.metrics["psnr"] == pytest.approx(values["mean"][0], abs=1e-4)

    pngs = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert pngs == ["case_a.png", "case_b.png", "case_c.png"]
    for name in pngs:
        data = (tmp_path / "figures" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_metrics_csv_is_rewritten_per_epoch(tmp_path):
    engine = _engine()
    FastMRIPSNR(output_transform=from_engine(["pred", "label"]), save_details=True).attach(engine, "psnr")
    MetricsCSVWriter(str(tmp_path), {"psnr": "psnr"}, filename="m.csv").attach(engine)
    engine.run(_cases(), max_epochs=2)
    _, _, order = _read_csv(tmp_path / "m.csv")
    assert order == ["mean", "case_a", "case_b", "case_c"]


def test_metrics_csv_without_details_raises(tmp_path):
    engine = _engine()
    FastMRIPSNR(output_transform=from_engine(["pred", "label"]), save_details=False).attach(engine, "psnr")
    MetricsCSVWriter(str(tmp_path), {"psnr": "psnr"}).attach(engine)
    with pytest.raises(RuntimeError, match=r"\['psnr'\].*save_details=True"):
        engine.run(_cases(), max_epochs=1)
    assert not (tmp_path / "metrics.csv").exists()
