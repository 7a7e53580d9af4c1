"""Shared pieces of the benchmark scripts: evaluate a bundle and read its mean metrics, and print /
write a Markdown metrics table."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from monai.bundle import run


def bundle_rows(config_files: str | Sequence[str], **overrides) -> dict[str, dict[str, float]]:
    """Run a bundle's ``evaluate.json`` (no NIfTI written) and return every row of its metrics.csv,
    by case id (``"mean"`` included)."""
    with tempfile.TemporaryDirectory() as tmp:
        run(config_file=config_files, output_dir=tmp, save_nifti=False, **overrides)
        rows = list(csv.DictReader(open(Path(tmp) / "metrics.csv")))
    return {r["case_id"]: {k: float(v) for k, v in r.items() if k != "case_id"} for r in rows}


def bundle_mean(config_files: str | Sequence[str], **overrides) -> dict[str, float]:
    """Run a bundle's ``evaluate.json`` (no NIfTI written) and return the ``mean`` row of its metrics.csv."""
    return bundle_rows(config_files, **overrides)["mean"]


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


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for timing tables."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_json(result: dict, out: str | None) -> None:
    """Write a timing run's results as JSON (after every row, so that partial results survive)."""
    if out:
        import json

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")


def finish_timing_run(
    result: dict, render: Callable[[dict], Sequence[str]], out: str | None, markdown: str | None
) -> None:
    """Record the load after a timing run, then render its Markdown (``render(result)``, which may
    cite that load), print it, write the JSON and the Markdown."""
    import os

    result["machine"]["load_after"] = [round(v, 2) for v in os.getloadavg()]
    text = "\n".join(render(result)) + "\n"
    print(text)
    write_json(result, out)
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(text)


def save_bar_figure(rows: Sequence[tuple[str, float, float, float]], path: str | Path, title: str) -> None:
    """Horizontal bars of PSNR (left) and SSIM (right) per method, written to ``path``; classical
    baselines (zero-filled, k-space zero-padding, bicubic) in grey, learned models in blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r[0] for r in rows][::-1]
    psnr = [r[1] for r in rows][::-1]
    ssim = [r[2] for r in rows][::-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.4), sharey=True)
    for ax, values, label, fmt in ((axes[0], psnr, "PSNR (dB)", "{:.2f}"), (axes[1], ssim, "SSIM", "{:.4f}")):
        bars = ax.barh(names, values, color=["#8c8c8c" if n.startswith(("zero-filled", "k-space", "bicubic")) else "#3b75af" for n in names])
        lo = min(values)
        ax.set_xlim(lo - (max(values) - lo) * 0.25 - 1e-3, max(values) + (max(values) - lo) * 0.25 + 1e-3)
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2, fontsize=8)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")
