"""Route consistency: one case and one mask through every way of running ``mc_cdic_recon``.

    python benchmarks/route_consistency.py --out benchmarks/results/route_consistency.md
    python benchmarks/route_consistency.py --slices 6:9 --device cpu      # quick, 3 slices

The embedded sample's first test case (``monai_mcrecon.data.sample_datalist("test")[0]``: t2
target, t1 reference; optionally a slab of its slices), undersampled with the bundle's fixed mask
(``mc_cdic``, 4x, seed 42), goes through

1. ``configs/evaluate.json``, the overlay of ``configs/inference.json`` (run as the list of both; it simulates the
   acquisition and keeps the k-space);
2. ``configs/inference.json`` with ``simulate_acquisition true`` (the same simulation);
3. ``monai-mcrecon simulate`` then ``monai-mcrecon reconstruct``

   a. on the zero-filled NIfTI ``target_degraded.nii.gz`` (a magnitude image: no acquired k-space,
      so no data consistency whatever is asked; ``run_info.json`` says so);
   b. on the single-coil fastMRI file ``target_kspace.h5`` (``simulate --single-coil-h5``: the
      k-space behind the same zero-filled image), which the command runs through the bundle's
      ``kspace_file`` route so that data consistency applies;

each with output data consistency on and off (``--data_consistency_output`` / ``--data-consistency``).
Every output volume is scored the same way, fastMRI PSNR / SSIM (:func:`monai_mcrecon.metrics.psnr`,
:func:`~monai_mcrecon.metrics.ssim`) against the fully sampled t2 ``[S, H, W]`` in its own units,
with the largest voxel difference to route 1 under the same data-consistency setting. The claim
checked: routes agree within ``--tol`` dB (0.1) for the same *applied* data-consistency setting.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = "mc_cdic_recon"


@dataclass
class Row:
    route: str
    dc_requested: bool
    dc_applied: bool
    dc_note: str
    psnr: float
    ssim: float
    max_diff: float | None = None  # largest |voxel difference| to route 1 with the same DC setting
    output: str = ""


def _slices(arr: np.ndarray) -> torch.Tensor:
    """``[X, Y, Z]`` -> ``[Z, X, Y]`` float64 (slice axis first)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(arr, dtype=np.float64), -1, 0)))


def _read(path: str | Path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)


def prepare_case(workdir: Path, slices: slice | None = None, index: int = 0) -> dict[str, Any]:
    """The sample's test case ``index`` as ``<workdir>/data/<case_id>/{t2,t1}.nii.gz`` (a data folder
    the bundles' ``dataset_dir`` takes): the files themselves, or a slab ``slices`` of them (same
    voxel type, the slab's affine)."""
    from monai_mcrecon.data import sample_datalist

    item = sample_datalist("test")[index]
    case_dir = workdir / "data" / item["case_id"]
    case_dir.mkdir(parents=True, exist_ok=True)
    for c in ("t2", "t1"):
        if slices is None:
            shutil.copyfile(item[c], case_dir / f"{c}.nii.gz")
        else:
            img = nib.load(item[c])
            nib.save(img.slicer[:, :, slices], str(case_dir / f"{c}.nii.gz"))
    return {
        "case_id": item["case_id"],
        "data_dir": workdir / "data",
        "t2": case_dir / "t2.nii.gz",
        "t1": case_dir / "t1.nii.gz",
        "truth": _read(case_dir / "t2.nii.gz"),
    }


def _score(truth: np.ndarray, path: Path) -> tuple[float, float, np.ndarray]:
    from monai_mcrecon.metrics import psnr, ssim

    pred = _read(path)
    if pred.shape != truth.shape:
        raise RuntimeError(f"{path} has shape {pred.shape}, the truth {truth.shape}.")
    gt, img = _slices(truth), _slices(pred)
    return float(psnr(gt, img)), float(ssim(gt, img)), pred


def run_routes(
    workdir: str | Path,
    slices: slice | None = None,
    device: str = "cpu",
    ckpt: str | Path | None = None,
    mask_type: str = "mc_cdic",
    acceleration: float = 4.0,
    log: Callable[[str], None] = print,
    nifti_dc_on: bool = True,
) -> list[Row]:
    """Run every route on the case (see the module docstring) and score its output; ``nifti_dc_on=False``
    skips route 3a with data consistency requested (it cannot apply there, so it repeats 3a off)."""
    from monai.bundle import run

    from monai_mcrecon.cli import main as cli

    workdir = Path(workdir)
    case = prepare_case(workdir, slices)
    truth, case_id = case["truth"], case["case_id"]
    configs = ROOT / "bundles" / BUNDLE / "configs"
    common: dict[str, Any] = {
        "dataset_dir": str(case["data_dir"]),
        "device": device,
        "mask_type": mask_type,
        "acceleration": acceleration,
    }
    if ckpt is not None:
        common["ckpt_path"] = str(Path(ckpt).resolve())
    rows: list[Row] = []
    outputs: dict[tuple[str, bool], np.ndarray] = {}

    def add(route: str, dc: bool, applied: bool, note: str, path: Path) -> None:
        p, s, pred = _score(truth, path)
        outputs[(route, dc)] = pred
        rows.append(Row(route, dc, applied, note, p, s, output=str(path)))
        log(f"{route:<44} DC {'on ' if dc else 'off'} applied={applied!s:<5} PSNR {p:.4f} SSIM {s:.5f}")

    for dc in (True, False):
        tag = "dc" if dc else "nodc"
        out = workdir / f"evaluate_{tag}"
        evaluate = [str(configs / "inference.json"), str(configs / "evaluate.json")]  # the overlay on its base
        run(config_file=evaluate, output_dir=str(out), data_consistency_output=dc, **common)
        with open(out / "metrics.csv") as f:
            own = {r["case_id"]: r for r in csv.DictReader(f)}[case_id]
        note = f"hard (acquired k-space simulated); its own metrics.csv: PSNR {float(own['psnr']):.4f}" if dc else "off"
        add("(1) evaluate.json", dc, dc, note, out / case_id / "t2_recon.nii.gz")

        out = workdir / f"inference_{tag}"
        run(
            config_file=str(configs / "inference.json"), output_dir=str(out), simulate_acquisition=True,
            data_consistency_output=dc, overwrite=True, **common,
        )
        add("(2) inference.json, simulate_acquisition", dc, dc, "hard (simulated)" if dc else "off",
            out / case_id / "t2_recon.nii.gz")

    study = workdir / "study"
    rc = cli([
        "simulate", "-i", str(case["t2"]), "-r", str(case["t1"]), "-o", str(study), "--mask-type", mask_type,
        "--acceleration", str(acceleration), "--single-coil-h5", "--overwrite",
    ])
    if rc != 0:
        raise RuntimeError(f"monai-mcrecon simulate failed (exit status {rc}).")
    p_zf, s_zf, _ = _score(truth, study / "target_degraded.nii.gz")
    for target, name in (("target_degraded.nii.gz", "(3a) simulate + reconstruct, NIfTI"),
                         ("target_kspace.h5", "(3b) simulate + reconstruct, single-coil h5")):
        for dc in (True, False) if nifti_dc_on or target.endswith(".h5") else (False,):
            out = workdir / f"reconstruct_{target.split('.')[0]}_{'dc' if dc else 'nodc'}"
            args = [
                "reconstruct", "-t", str(study / target), "-r", str(study / "reference.nii.gz"), "-o", str(out),
                "--device", device, "--no-progress", "--overwrite",
                "--data-consistency" if dc else "--no-data-consistency",
            ]
            if ckpt is not None:
                args += ["--ckpt", str(ckpt)]
            rc = cli(args)
            if rc != 0:
                raise RuntimeError(f"monai-mcrecon reconstruct failed (exit status {rc}): {args}")
            info = json.loads((out / "run_info.json").read_text())
            add(name, dc, bool(info["data_consistency_applied"]), info["data_consistency"], Path(info["nifti"]))

    for r in rows:
        base = outputs.get(("(1) evaluate.json", r.dc_applied))
        r.max_diff = float(np.abs(outputs[(r.route, r.dc_requested)] - base).max()) if base is not None else None
    rows.append(Row("zero-filled input (simulate)", False, False, "target_degraded.nii.gz", p_zf, s_zf))
    return rows


def spread(rows: list[Row], applied: bool) -> float:
    """Largest PSNR difference between the routes whose data consistency was ``applied`` (or not)."""
    psnrs = [r.psnr for r in rows if r.dc_applied == applied and r.route.startswith("(")]
    return max(psnrs) - min(psnrs) if psnrs else 0.0


def table(rows: list[Row]) -> str:
    lines = [
        "| route | DC requested | DC applied | PSNR (dB) | SSIM | max abs diff to (1), same DC applied | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = "" if r.max_diff is None else f"{r.max_diff:.3g}"
        lines.append(
            f"| {r.route} | {'on' if r.dc_requested else 'off'} | {'yes' if r.dc_applied else 'no'} | {r.psnr:.3f} | "
            f"{r.ssim:.4f} | {diff} | {r.dc_note.replace('|', '/')} |"
        )
    return "\n".join(lines)


def _parse_slices(text: str | None) -> slice | None:
    if not text:
        return None
    a, b = text.split(":")
    return slice(int(a) if a else None, int(b) if b else None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slices", default=None, help="a slab of the case, e.g. 6:9 (default: all 16 slices)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--ckpt", default=None, help="weights (default: the bundle's shipped models/model.pt)")
    p.add_argument("--mask-type", default="mc_cdic")
    p.add_argument("--acceleration", type=float, default=4.0)
    p.add_argument("--tol", type=float, default=0.1, help="agreement claimed between routes, dB")
    p.add_argument("--workdir", default=None, help="keep the outputs here (default: a temporary folder)")
    p.add_argument("--out", default=None, help="write the Markdown table here")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))

    with tempfile.TemporaryDirectory(prefix="route_consistency_") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        rows = run_routes(
            workdir, _parse_slices(args.slices), args.device, args.ckpt, args.mask_type, args.acceleration,
        )
    on, off = spread(rows, True), spread(rows, False)
    ok = on <= args.tol and off <= args.tol
    text = (
        f"# Route consistency, {BUNDLE}\n\n"
        f"Case: embedded sample test case 0 (t2 target, t1 reference), slices {args.slices or 'all'}; mask "
        f"{args.mask_type} {args.acceleration:g}x (seed 42); weights {args.ckpt or 'shipped models/model.pt'}; "
        f"device {args.device}. fastMRI PSNR / SSIM of every output NIfTI against the fully sampled t2 (its own "
        "units).\n\n"
        f"{table(rows)}\n\n"
        f"PSNR spread between routes: {on:.4f} dB with data consistency applied, {off:.4f} dB without "
        f"({'within' if ok else 'NOT within'} {args.tol:g} dB).\n\n"
        "Reproduce: `python benchmarks/route_consistency.py"
        + (f" --slices {args.slices}" if args.slices else "")
        + (f" --device {args.device}" if args.device != "cpu" else "")
        + " --out <file>`\n"
    )
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
