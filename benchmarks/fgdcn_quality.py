"""FGDCN frame interpolation on the held-out clips of the video sample: frame averaging vs TV-L1 vs FGDCN.

    python benchmarks/fgdcn_quality.py --ckpt bundles/fgdcn_vfi/models/model.pt \
        --out benchmarks/results/fgdcn_quality.md --figure benchmarks/results/fgdcn_quality.png
    python benchmarks/fgdcn_quality.py --time_only          # seconds per training iteration of `small`
    python benchmarks/fgdcn_quality.py --no_self_ensemble   # plain FGDCN only (one network call per triplet)

Runs ``bundles/fgdcn_vfi/configs/evaluate.json`` (every triplet ``i, i + 1, i + 2`` of the test clips at full
frame size, the middle frame interpolated from the outer two), so the numbers are that bundle's
``metrics.csv``: PSNR over all RGB channels and SSIM (11x11 Gaussian window, sigma 1.5, mean over channels),
both with data range 1, FGDCN output clamped to [0, 1]. Baselines (``monai_mcrecon.baselines``): the mean of
the two frames, and TV-L1 optical flow (scikit-image) with both frames warped to t = 0.5 and blended. The table
gives the mean over all triplets and per clip. A second run adds FGDCN with the bundle's ``--self_ensemble true``
(``monai_mcrecon.inference.SelfEnsembleInferer``: the mean over the frames as given and swapped, each also
flipped horizontally and vertically, 6 network calls per triplet).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from common import emit, save_bar_figure
from monai.bundle import run

from monai_mcrecon.bundle.locate import config_files
from monai_mcrecon.losses.fgdcn import FGDCNLoss
from monai_mcrecon.networks.nets.fgdcn import FGDCN

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "bundles" / "fgdcn_vfi" / "configs"
EVALUATE = [str(f) for f in config_files(CFG.parent, "evaluate.json")]  # evaluate.json is an overlay: [inference.json, evaluate.json]
METHODS = (("frame averaging", "input"), ("TV-L1 warping", "tvl1"), ("FGDCN", ""))
SELF_ENSEMBLE = ("FGDCN + self-ensemble", "se")


def evaluate(ckpt: str, preset: str, dataset_dir: str | None, **overrides) -> list[dict]:
    """Per-triplet rows of the bundle's metrics.csv (the ``mean`` row dropped)."""
    with tempfile.TemporaryDirectory() as tmp:
        run(config_file=EVALUATE, ckpt_path=ckpt, preset=preset, dataset_dir=dataset_dir,
            output_dir=tmp, save_figures=False, device="$torch.device('cpu')", **overrides)
        rows = list(csv.DictReader(open(Path(tmp) / "metrics.csv")))
    return [r for r in rows if r["case_id"] != "mean"]


def time_training_step(preset: str = "small", iters: int = 5, batch: int = 4, size: int = 64) -> float:
    """Mean seconds per Adam step of ``preset`` with the release loss on ``batch`` x 3 x ``size``^2 pairs."""
    torch.manual_seed(0)
    net = FGDCN.from_preset(preset)
    loss = FGDCNLoss()
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    x0, x1, gt = (torch.rand(batch, 3, size, size) for _ in range(3))
    times = []
    for i in range(iters + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss(net(x0, x1), gt)["loss"].backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(ROOT / "bundles" / "fgdcn_vfi" / "models" / "model.pt"))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--dataset_dir", default=None, help="folder <clip>/NNNN.png (default: the sample's test clips)")
    ap.add_argument("--out", default=None, help="Markdown table to write")
    ap.add_argument("--figure", default=None, help="PNG bar figure of the mean PSNR / SSIM")
    ap.add_argument("--time_only", action="store_true", help="only measure seconds per training iteration")
    ap.add_argument("--no_self_ensemble", action="store_true", help="skip the self-ensemble run")
    args = ap.parse_args()

    sec = time_training_step(args.preset)
    if args.time_only:
        print(f"FGDCN {args.preset}: {sec:.3f} s per training iteration (batch 4, 64x64, Adam, release loss, CPU)")
        return
    ckpt = Path(args.ckpt).resolve()
    rows = evaluate(str(ckpt), args.preset, args.dataset_dir)
    methods = METHODS
    if not args.no_self_ensemble:
        se = evaluate(str(ckpt), args.preset, args.dataset_dir, self_ensemble=True, tvl1_baseline=False)
        if [r["case_id"] for r in se] != [r["case_id"] for r in rows]:
            raise RuntimeError("the self-ensemble run evaluated other triplets than the plain run")
        for r, e in zip(rows, se):
            r["psnr_se"], r["ssim_se"] = e["psnr"], e["ssim"]
        methods = (*METHODS, SELF_ENSEMBLE)
    clips = defaultdict(list)
    for r in rows:
        clips[r["case_id"].rpartition("_")[0]].append(r)
    groups = [("all triplets", rows), *sorted(clips.items())]

    def mean(rs, col):
        return float(np.mean([float(r[col]) for r in rs]))

    shown = ckpt.relative_to(ROOT) if ckpt.is_relative_to(ROOT) else ckpt
    lines = [
        f"FGDCN `{args.preset}` frame interpolation (t = 0.5) on the held-out clips (bundle evaluate.json, full frames, "
        f"{len(rows)} triplets); checkpoint `{shown}`. PSNR (dB) / SSIM on RGB in [0, 1].",
        "",
        "| triplets | n | " + " | ".join(f"PSNR {m}" for m, _ in methods) + " | " + " | ".join(f"SSIM {m}" for m, _ in methods) + " |",
        "|---|---|" + "---|" * (2 * len(methods)),
    ]
    for name, rs in groups:
        p = " | ".join(f"{mean(rs, ('psnr_' + s) if s else 'psnr'):.2f}" for _, s in methods)
        s_ = " | ".join(f"{mean(rs, ('ssim_' + s) if s else 'ssim'):.4f}" for _, s in methods)
        lines.append(f"| {name} | {len(rs)} | {p} | {s_} |")
    wins_avg = sum(float(r["psnr"]) > float(r["psnr_input"]) for r in rows)
    wins_tv = sum(float(r["psnr"]) > float(r["psnr_tvl1"]) for r in rows)
    lines += [
        "",
        f"FGDCN beats frame averaging on {wins_avg}/{len(rows)} triplets and TV-L1 warping on {wins_tv}/{len(rows)} "
        f"(PSNR). Training step of `{args.preset}` (batch 4, 64x64, release loss, CPU): {sec:.2f} s.",
    ]
    if not args.no_self_ensemble:
        se_avg = sum(float(r["psnr_se"]) > float(r["psnr_input"]) for r in rows)
        se_tv = sum(float(r["psnr_se"]) > float(r["psnr_tvl1"]) for r in rows)
        lines.append(f"With the self-ensemble: above frame averaging on {se_avg}/{len(rows)} triplets, above TV-L1 warping "
                     f"on {se_tv}/{len(rows)}.")
    emit(lines, args.out)
    if args.figure:
        bars = [(m, mean(rows, ("psnr_" + s) if s else "psnr"), mean(rows, ("ssim_" + s) if s else "ssim"), float("nan"))
                for m, s in methods]
        save_bar_figure(bars, args.figure, f"FGDCN {args.preset}: held-out video triplets ({len(rows)})")


if __name__ == "__main__":
    main()
