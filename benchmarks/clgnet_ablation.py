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
from pathlib import Path

from common import bundle_mean, emit, metrics_table

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
        overrides = {} if fourier else {"network_def#fourier": False}
        mean = bundle_mean(str(CFG), ckpt_path=ckpt, acceleration=args.acceleration, preset="small", **overrides)
        zero_filled = ("zero-filled input", mean["psnr_input"], mean["ssim_input"], mean["nmse_input"])
        rows.append((label, mean["psnr"], mean["ssim"], mean["nmse"]))
    caption = (
        f"CLGNet small (reconstructed), embedded sample test split, T2, MC-CDic column mask {args.acceleration:g}x, "
        "fastMRI metrics per volume, mean over cases; same budget for every variant."
    )
    emit(metrics_table(caption, [zero_filled, *rows], first="variant"), args.out)


if __name__ == "__main__":
    main()
