"""The timing benchmarks finish their report: the Markdown cites the load average measured *after* the run
(``benchmarks/common.finish_timing_run`` records it before rendering; both timing scripts once crashed there
after their whole run). The measurement itself is replaced by a fixed row, so this takes a second."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their neighbour ``common``
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(network: str, variant: str, wall: float) -> dict:
    return {"network": network, "variant": variant, "threads": 1, "repeats": 1, "wall_s": wall, "cpu_s": wall,
            "wall_s_all": [wall], "cpu_s_all": [wall], "speedup_wall": 2.0 / wall, "speedup_cpu": 2.0 / wall,
            "max_rel_deviation": 0.0}


@pytest.mark.parametrize("size", [240, 256])
def test_inference_speed_report_names_the_size_and_the_load_after_the_run(size, tmp_path, monkeypatch):
    module = _load("inference_speed", monkeypatch)
    calls = []

    def fake_measure(name, threads, repeats, log=print, size=256):
        calls.append(size)
        return [_row(name, "straightforward", 2.0), _row(name, "fast", 1.25)]

    monkeypatch.setattr(module, "measure", fake_measure)
    out, md = tmp_path / "speed.json", tmp_path / "speed.md"
    argv = ["inference_speed.py", "--networks", "mc_cdic", "--threads", "1", "--repeats", "1",
            "--size", str(size), "--out", str(out), "--markdown", str(md)]
    monkeypatch.setattr(sys, "argv", argv)
    module.main()
    assert calls == [size]
    result = json.loads(out.read_text())
    assert result["size"] == size and len(result["machine"]["load_after"]) == 3
    text = md.read_text()
    assert text.startswith(f"# Inference speed-up at {size}x{size} on CPU")
    assert f"{result['machine']['load_after']} after" in text
    assert "| mc_cdic | fast | 1 | 1.25 | 1.25 | 1.60x | 1.60x |" in text
    assert text.rstrip().endswith("--repeats 1`" if size == 256 else f"--repeats 1 --size {size}`")
