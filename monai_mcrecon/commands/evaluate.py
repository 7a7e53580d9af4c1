"""``monai-mcrecon evaluate``: fastMRI PSNR / SSIM / NMSE per volume against the truth, each image placed on
the truth's grid in physical space, as CSV and Markdown, plus a figure.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_mcrecon.commands.batch import check_output_dir
from monai_mcrecon.data.volume import Log, Volume, check_volume, has_geometry, load_volume, volume_slices
from monai_mcrecon.run_record import removes_new_outputs_on_failure
from monai_mcrecon.safe_io import atomic_path, atomic_write_text

__all__ = [
    "EVAL_FILES",
    "evaluate",
]


EVAL_FILES = ("metrics.csv", "metrics.md", "comparison.png")


def _metrics(truth: torch.Tensor, img: torch.Tensor) -> dict[str, float]:
    from monai_mcrecon.metrics.functional import nmse, psnr, ssim

    return {"psnr": float(psnr(truth, img)), "ssim": float(ssim(truth, img)), "nmse": float(nmse(truth, img))}


@removes_new_outputs_on_failure("output")  # a failed run leaves no empty folder, nor files it wrote
def evaluate(
    pred: str | Path,
    truth: str | Path,
    output: str | Path,
    input: str | Path | None = None,
    overwrite: bool = False,
    error_gain: float = 5.0,
    log: Log = print,
) -> list[dict[str, Any]]:
    """fastMRI PSNR / SSIM / NMSE of a prediction (and optionally the degraded input) per volume.

    Metrics follow :mod:`monai_mcrecon.metrics.functional` (fastMRI: ``maxval`` the truth's
    maximum over the volume, SSIM averaged over the slices along Z), on the truth's grid: a
    prediction or input on another grid (another slice order, handedness, axis order, or another
    sampling) is first put onto it in physical space by the affines (exact re-indexing when the
    voxels are the same, else trilinear resampling), never paired by array index; ``metrics.md``
    says what was done. Writes ``metrics.csv``,
    ``metrics.md`` (the printed Markdown table) and ``comparison.png`` (input / prediction / truth /
    ``|error|`` of the middle slice) to ``output``.

    Returns:
        one row per image: ``name``, ``file``, ``psnr``, ``ssim``, ``nmse``.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: missing files, existing outputs without
            ``overwrite``, grids that differ where a volume has no patient geometry, no overlap.
    """
    paths = {"prediction": Path(pred), "truth": Path(truth)}
    if input is not None:
        paths["input"] = Path(input)
    for name, p in paths.items():
        if not p.exists():
            raise FileNotFoundError(f"{name} {str(p)!r} does not exist; check --{'pred' if name == 'prediction' else name}.")
    out = check_output_dir(output, overwrite, names=EVAL_FILES)
    vols = {name: check_volume(load_volume(p, log=log), name, allow_constant=True) for name, p in paths.items()}
    gt = vols["truth"].array
    placement = _place_on_truth_grid(vols, log)
    truth_t = volume_slices(gt).double()
    rows = []
    for name in ("input", "prediction"):
        if name in vols:
            m = _metrics(truth_t, volume_slices(vols[name].array).double())
            rows.append({"name": name, "file": str(vols[name].path), **m})
    with atomic_path(out / "metrics.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["name", "file", "psnr", "ssim", "nmse"])
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| image | PSNR (dB) | SSIM | NMSE |", "|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['nmse']:.5f} |" for r in rows]
    table = "\n".join(lines)
    where = "; ".join(f"{name}: {how}" for name, how in placement.items())
    atomic_write_text(
        out / "metrics.md",
        f"fastMRI metrics per volume (truth: {paths['truth']}, {gt.shape[2]} slices), computed on the truth's grid "
        f"in physical space ({where})\n\n{table}\n",
    )
    log(table)
    _figure(vols, rows, out / "comparison.png", error_gain)
    log(f"Wrote {out / 'metrics.csv'}, {out / 'metrics.md'} and {out / 'comparison.png'}.")
    return rows


def _place_on_truth_grid(vols: dict[str, Volume], log: Log) -> dict[str, str]:
    """Put the prediction (and input) onto the truth's grid in physical space (in place), so that
    voxels are compared where they are in the patient, not by array index; returns how, per image.

    Raises:
        ValueError: grids that differ while a volume has no patient geometry (an h5 file without it).
    """
    from monai_mcrecon.data.grid import match_to_grid, same_grid

    truth = vols["truth"]
    how_by_name: dict[str, str] = {}
    for name, v in vols.items():
        if name == "truth":
            continue
        if same_grid(v.array.shape, v.affine, truth.array.shape, truth.affine):
            how_by_name[name] = "identical grid"
            continue
        if not (has_geometry(v) and has_geometry(truth)):
            if v.array.shape == truth.array.shape:
                how_by_name[name] = "paired by index (no patient geometry in the h5 file)"
                log(f"WARNING: the {name} or the truth has no patient geometry (h5); compared by array index.")
                continue
            raise ValueError(
                f"{name} {str(v.path)!r} has shape {v.array.shape} but the truth has {truth.array.shape}, and one of them "
                "has no patient geometry (h5); compare images on the same grid (NIfTI / DICOM carry their geometry)."
            )
        arr, how = match_to_grid(v.array, v.affine, truth.array.shape, truth.affine)
        if not np.any(arr):
            raise ValueError(
                f"{name} {str(v.path)!r} does not overlap the truth's field of view in physical space; check that both "
                "images belong to the same study and that their affines / DICOM positions are right."
            )
        vols[name] = Volume(arr, truth.affine.copy(), v.kind, v.path, v.info)
        how_by_name[name] = how
        log(f"The {name} is on another grid than the truth: {how} onto the truth's grid.")
    return how_by_name


def _figure(vols: dict[str, Volume], rows: list[dict], path: Path, error_gain: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = vols["truth"].array.shape[2] // 2
    truth = vols["truth"].array[:, :, z]
    pred = vols["prediction"].array[:, :, z]
    by_name = {r["name"]: r for r in rows}
    panels = []
    if "input" in vols:
        panels.append((vols["input"].array[:, :, z], f"input ({by_name['input']['psnr']:.2f} dB)"))
    panels += [
        (pred, f"prediction ({by_name['prediction']['psnr']:.2f} dB)"),
        (truth, "truth"),
        (np.abs(pred - truth) * error_gain, f"|error| x{error_gain:g}"),
    ]
    vmax = float(truth.max()) if truth.max() > 0 else 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.6))
    for ax, (img, title) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img.T, cmap="gray", origin="lower", vmin=0, vmax=vmax)
        ax.set_title(title)
        ax.axis("off")
    fig.suptitle(f"slice {z} (volume PSNR in the titles)")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=80)
    finally:
        plt.close(fig)
