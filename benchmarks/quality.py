"""Quality table on the embedded sample's held-out (test) slices: zero-filled vs a single-contrast
MONAI BasicUNet vs MC-CDic, both trained with the same budget (same epochs, batch, patches, optimiser
and schedule; see ``runs/*.cmd``).

    python benchmarks/quality.py --mc_cdic bundles/mc_cdic_recon/models/model.pt \
        --unet runs/unet_baseline_4x/model.pt --unet_residual runs/unet_residual_baseline_4x/model.pt \
        --clgnet bundles/clgnet_recon/models/model.pt \
        --acceleration 4 --out benchmarks/results/quality_4x.md

Both models are evaluated with ``bundles/mc_cdic_recon/configs/evaluate.json`` (the baseline with the
``benchmarks/unet_baseline.json`` / ``unet_residual_baseline.json`` overrides: BasicUNet, plain or with a
global residual, input = zero-filled target only). Metrics are
fastMRI's PSNR / SSIM / NMSE per volume, mean over the test cases.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import bundle_mean, emit, metrics_table

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "bundles" / "mc_cdic_recon" / "configs"


def _evaluate(config_files: list[str], ckpt: str, acceleration: float, **overrides) -> dict[str, float]:
    return bundle_mean(config_files, ckpt_path=ckpt, acceleration=acceleration, **overrides)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mc_cdic", required=True, help="MC-CDic checkpoint (small preset)")
    p.add_argument("--unet", required=True, help="BasicUNet baseline checkpoint")
    p.add_argument("--unet_residual", default=None, help="residual BasicUNet baseline checkpoint (optional)")
    p.add_argument("--clgnet", default=None, help="CLGNet small checkpoint (optional, clgnet_recon bundle)")
    p.add_argument("--acceleration", type=float, default=4)
    p.add_argument("--out", default=None, help="write the markdown table here")
    args = p.parse_args()
    mc = _evaluate([str(CFG / "evaluate.json")], args.mc_cdic, args.acceleration, preset="small")
    un = _evaluate([str(CFG / "evaluate.json"), str(ROOT / "benchmarks" / "unet_baseline.json")], args.unet, args.acceleration)
    ur = cl = None
    if args.unet_residual:
        residual = [str(CFG / "evaluate.json"), str(ROOT / "benchmarks" / "unet_residual_baseline.json")]
        ur = _evaluate(residual, args.unet_residual, args.acceleration)
    if args.clgnet:
        clgnet = [str(ROOT / "bundles" / "clgnet_recon" / "configs" / "evaluate.json")]
        cl = _evaluate(clgnet, args.clgnet, args.acceleration, preset="small")
    rows = [
        ("zero-filled", mc["psnr_input"], mc["ssim_input"], mc["nmse_input"]),
        ("BasicUNet (target only)", un["psnr"], un["ssim"], un["nmse"]),
        *([("BasicUNet + global residual (target only)", ur["psnr"], ur["ssim"], ur["nmse"])] if ur else []),
        *([("CLGNet small, reconstructed (target only)", cl["psnr"], cl["ssim"], cl["nmse"])] if cl else []),
        ("MC-CDic small (target + T1 reference)", mc["psnr"], mc["ssim"], mc["nmse"]),
    ]
    caption = (
        f"Embedded sample, test split (icbm_test_a, icbm_test_b; 32 slices), T2 target, T1 reference, "
        f"MC-CDic column mask {args.acceleration:g}x, fastMRI metrics per volume, mean over cases."
    )
    lines = [
        *metrics_table(caption, rows),
        "",
        f"MC-CDic - zero-filled: {mc['psnr'] - mc['psnr_input']:+.2f} dB; MC-CDic - BasicUNet: {mc['psnr'] - un['psnr']:+.2f} dB"
        + (f"; MC-CDic - residual BasicUNet: {mc['psnr'] - ur['psnr']:+.2f} dB." if ur else "."),
    ]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
