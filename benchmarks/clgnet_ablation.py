"""CLGNet (reconstructed) ablations on the embedded sample's test split, same training budget for every
variant (35 epochs x 40 iterations, batch 2 of 64-row full-width strips, Adam 5e-4 cosine to 1e-5; commands
in ``bundles/clgnet_recon/training/clgnet_small_4x_strips/`` for beta 0 and
``benchmarks/weights/clgnet_small_4x_strips_*/`` for the others). The beta-0 row of ``benchmarks/results/clgnet_ablation_4x.md`` is that run's weights, shipped
until issue 21 (``git show d0e6a30:bundles/clgnet_recon/models/model.pt > /tmp/clgnet_strips.pt``; today's
``models/model.pt`` was fine-tuned from it on synthetic pairs):

    python benchmarks/clgnet_ablation.py \
        --run "SFRBs, no contrastive term (beta 0; shipped)=/tmp/clgnet_strips.pt" \
        --run "SFRBs + contrastive term (beta 0.1, pyramid)=benchmarks/weights/clgnet_small_4x_strips_beta0.1/model.pt" \
        --run "no Fourier branch, beta 0=benchmarks/weights/clgnet_small_4x_strips_nofourier/model.pt:nofourier" \
        --run "SFRBs, beta 0, hard DC (real zero-filled input)=benchmarks/weights/clgnet_small_4x_strips_dc/model.pt:dc" \
        --out benchmarks/results/clgnet_ablation_4x.md

Suffixes after ``:`` (comma-separated) rebuild the variant as it was trained: ``nofourier`` (no
Fourier branch), ``dc`` (hard data consistency, mask read off the input; the input is then the real
zero-filled image of the release convention, ``degraded_output="real_irfft"``). Each input form gets
its own zero-filled row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import bundle_mean, emit, metrics_table

from monai_mcrecon.bundle.locate import config_files

# evaluate.json is an overlay: [inference.json, evaluate.json]
CFG = [str(f) for f in config_files(Path(__file__).resolve().parents[1] / "bundles" / "clgnet_recon", "evaluate.json")]
OPTIONS = {
    "nofourier": {"network_def#fourier": False},
    "dc": {"degraded_output": "real_irfft", "data_consistency": True},
}
INPUT_NAMES = {"magnitude": "zero-filled input (magnitude)", "real_irfft": "zero-filled input (real part, release convention)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="'label=checkpoint[:option,...]'")
    p.add_argument("--acceleration", type=float, default=4)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    rows, zero_filled = [], {}
    for spec in args.run:
        label, ckpt = spec.rsplit("=", 1)
        ckpt, _, opts = ckpt.partition(":")
        overrides: dict = {}
        for opt in filter(None, opts.split(",")):
            if opt not in OPTIONS:
                raise SystemExit(f"Unknown option {opt!r} in {spec!r}; choose from {sorted(OPTIONS)}.")
            overrides.update(OPTIONS[opt])
        mean = bundle_mean(CFG, ckpt_path=ckpt, acceleration=args.acceleration, preset="small", **overrides)
        form = overrides.get("degraded_output", "magnitude")
        zero_filled[form] = (INPUT_NAMES[form], mean["psnr_input"], mean["ssim_input"], mean["nmse_input"])
        rows.append((label, mean["psnr"], mean["ssim"], mean["nmse"]))
    caption = (
        f"CLGNet small (reconstructed), embedded sample test split, T2, MC-CDic column mask {args.acceleration:g}x, "
        "fastMRI metrics per volume, mean over cases; same budget for every variant."
    )
    emit(metrics_table(caption, [*zero_filled.values(), *rows], first="variant"), args.out)


if __name__ == "__main__":
    main()
