"""Shared pieces of the benchmark scripts: evaluate a bundle and read its mean metrics, and print /
write a Markdown metrics table."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from pathlib import Path

from monai.bundle import run


def bundle_mean(config_files: str | Sequence[str], **overrides) -> dict[str, float]:
    """Run a bundle's ``evaluate.json`` (no NIfTI written) and return the ``mean`` row of its metrics.csv."""
    with tempfile.TemporaryDirectory() as tmp:
        run(config_file=config_files, output_dir=tmp, save_nifti=False, **overrides)
        mean = next(r for r in csv.DictReader(open(Path(tmp) / "metrics.csv")) if r["case_id"] == "mean")
    return {k: float(v) for k, v in mean.items() if k != "case_id"}


def metrics_table(caption: str, rows: Sequence[tuple[str, float, float, float]], first: str = "method") -> list[str]:
    """Markdown lines: caption, then one ``| name | PSNR | SSIM | NMSE |`` row per entry."""
    return [
        caption,
        "",
        f"| {first} | PSNR (dB) | SSIM | NMSE |",
        "|---|---|---|---|",
        *(f"| {n} | {a:.2f} | {b:.4f} | {c:.5f} |" for n, a, b, c in rows),
    ]


def emit(lines: Sequence[str], out: str | None) -> None:
    """Print the table and, when ``out`` is given, write it there."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
