"""Reconstruction quality on the embedded sample's held-out (test) slices at one acceleration:
zero-filled, MONAI BasicUNet, MONAI VarNet (single coil), CLGNet small and MC-CDic small.

    python benchmarks/quality.py --acceleration 4 \
        --unet runs/unet_single_4x/model_final.pt --varnet runs/varnet_small_4x/model_final.pt \
        --clgnet bundles/clgnet_recon/models/model.pt --mc_cdic bundles/mc_cdic_recon/models/model.pt \
        --out benchmarks/results/quality_4x.md

Every model is evaluated by a bundle's ``evaluate.json`` (fastMRI PSNR / SSIM / NMSE per volume, mean
over the test cases); the single-contrast baselines run inside ``bundles/clgnet_recon`` with the
``benchmarks/*_baseline.json`` overrides, so they see exactly CLGNet's input. The training commands
(one budget: 1,400 iterations of about 25k-30k pixels each) are in ``runs/*.cmd``. Writes the Markdown
table to ``--out`` and a bar chart next to it (same name, ``.png``). Any model left out is skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import bundle_mean, emit, metrics_table, save_bar_figure

ROOT = Path(__file__).resolve().parents[1]
MC_CDIC = [str(ROOT / "bundles" / "mc_cdic_recon" / "configs" / "evaluate.json")]
CLGNET = [str(ROOT / "bundles" / "clgnet_recon" / "configs" / "evaluate.json")]
BASELINE = ROOT / "benchmarks"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--acceleration", type=float, default=4)
    p.add_argument("--unet", default=None, help="BasicUNet + global residual checkpoint (unet_single_baseline.json)")
    p.add_argument("--varnet", default=None, help="SingleCoilVarNet small checkpoint (varnet_baseline.json)")
    p.add_argument("--clgnet", default=None, help="CLGNet small checkpoint (clgnet_recon bundle defaults)")
    p.add_argument("--mc_cdic", default=None, help="MC-CDic small checkpoint (mc_cdic_recon bundle defaults)")
    p.add_argument("--out", default=None, help="write the Markdown table here (and the figure beside it)")
    args = p.parse_args()
    acc = args.acceleration

    def single(overrides: str | None, ckpt: str, **kw) -> dict[str, float]:
        files = CLGNET + ([str(BASELINE / overrides)] if overrides else [])
        return bundle_mean(files, ckpt_path=ckpt, acceleration=acc, **kw)

    rows = []
    # zero-filled in the two input forms: the magnitude image (MC-CDic's input) and the real image of the
    # release convention (the single-contrast models' input, whose k-space keeps the measurement exactly)
    zf_mag = bundle_mean(MC_CDIC, ckpt_path=args.mc_cdic, acceleration=acc, preset="small") if args.mc_cdic else None
    zf_real = None
    results: dict[str, dict[str, float]] = {}
    if args.unet:
        results["BasicUNet + global residual (MONAI, target only)"] = single("unet_single_baseline.json", args.unet)
    if args.varnet:
        results["VarNet (MONAI VariationalNetworkModel, single coil, small)"] = single("varnet_baseline.json", args.varnet)
    if args.clgnet:
        results["CLGNet small, reconstructed (target only, DC)"] = single(None, args.clgnet, preset="small")
    if results:
        zf_real = next(iter(results.values()))
    if zf_mag:
        rows.append(("zero-filled, magnitude", zf_mag["psnr_input"], zf_mag["ssim_input"], zf_mag["nmse_input"]))
    if zf_real:
        rows.append(("zero-filled, real part (release convention)", zf_real["psnr_input"], zf_real["ssim_input"], zf_real["nmse_input"]))
    rows += [(name, r["psnr"], r["ssim"], r["nmse"]) for name, r in results.items()]
    if zf_mag:
        rows.append(("MC-CDic small (target + T1 reference)", zf_mag["psnr"], zf_mag["ssim"], zf_mag["nmse"]))
    caption = (
        "Embedded sample, test split (icbm_test_a, icbm_test_b; 32 slices), T2 target, T1 reference, "
        f"MC-CDic column mask {acc:g}x, fastMRI metrics per volume, mean over cases."
    )
    lines = metrics_table(caption, rows)
    if zf_real and args.clgnet:
        cl = results["CLGNet small, reconstructed (target only, DC)"]
        lines += ["", f"CLGNet - zero-filled (same input): {cl['psnr'] - zf_real['psnr_input']:+.2f} dB."]
        for name, r in results.items():
            if name.startswith("BasicUNet"):
                lines[-1] += f" CLGNet - BasicUNet: {cl['psnr'] - r['psnr']:+.2f} dB."
    if zf_mag:
        lines += ["", f"MC-CDic - zero-filled (magnitude): {zf_mag['psnr'] - zf_mag['psnr_input']:+.2f} dB."]
    emit(lines, args.out)
    if args.out:
        save_bar_figure(rows, Path(args.out).with_suffix(".png"), f"Reconstruction at {acc:g}x, embedded sample test split")


if __name__ == "__main__":
    main()
