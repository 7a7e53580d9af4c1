"""CLGNet (reconstructed) ablations on the embedded sample's test split, 4x, same training budget
for every variant (``runs/clgnet_small_4x*.cmd``):

    python benchmarks/clgnet_ablation.py \
        --run "SFRB + contrastive (beta 0.1, pyramid)=runs/clgnet_small_4x/model.pt" \
        --run "SFRB, no contrastive (beta 0)=runs/clgnet_small_4x_beta0/model.pt" \
        --run "no Fourier branch, no contrastive=runs/clgnet_small_4x_beta0_nofourier/model.pt:nofourier" \
        --out benchmarks/results/clgnet_ablation_4x.md

A ``:nofourier`` suffix builds the network without its Fourier branch (as it was trained).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from monai.bundle import run

CFG = Path(__file__).resolve().parents[1] / "bundles" / "clgnet_recon" / "configs" / "evaluate.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="'label=checkpoint[:nofourier]'")
    p.add_argument("--acceleration", type=float, default=4)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    rows, zero_filled = [], None
    for spec in args.run:
        label, ckpt = spec.rsplit("=", 1)
        fourier = not ckpt.endswith(":nofourier")
        ckpt = ckpt.removesuffix(":nofourier")
        with tempfile.TemporaryDirectory() as tmp:
            overrides = {} if fourier else {"network_def#fourier": False}
            run(config_file=str(CFG), ckpt_path=ckpt, acceleration=args.acceleration, preset="small", output_dir=tmp, save_nifti=False, **overrides)
            mean = next(r for r in csv.DictReader(open(Path(tmp) / "metrics.csv")) if r["case_id"] == "mean")
        zero_filled = (float(mean["psnr_input"]), float(mean["ssim_input"]), float(mean["nmse_input"]))
        rows.append((label, float(mean["psnr"]), float(mean["ssim"]), float(mean["nmse"])))
    lines = [
        f"CLGNet small (reconstructed), embedded sample test split, T2, MC-CDic column mask {args.acceleration:g}x, "
        "fastMRI metrics per volume, mean over cases; same budget for every variant.",
        "",
        "| variant | PSNR (dB) | SSIM | NMSE |",
        "|---|---|---|---|",
        f"| zero-filled input | {zero_filled[0]:.2f} | {zero_filled[1]:.4f} | {zero_filled[2]:.5f} |",
        *(f"| {n} | {a:.2f} | {b:.4f} | {c:.5f} |" for n, a, b, c in rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
