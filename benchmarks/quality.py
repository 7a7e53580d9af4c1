"""Reconstruction quality on the embedded sample's held-out (test) slices at one acceleration:
zero-filled, MONAI BasicUNet, MONAI VarNet (single coil), CLGNet small and MC-CDic small.

    python benchmarks/quality.py --acceleration 4 \
        --unet benchmarks/weights/unet_single_4x/model.pt --varnet benchmarks/weights/varnet_small_4x/model.pt \
        --clgnet bundles/clgnet_recon/models/model.pt --mc_cdic bundles/mc_cdic_recon/models/model.pt \
        --out benchmarks/results/quality_4x.md
    python benchmarks/quality.py --acceleration 8 \
        --unet benchmarks/weights/unet_single_8x/model.pt --clgnet benchmarks/weights/clgnet_small_8x/model.pt \
        --mc_cdic benchmarks/weights/mc_cdic_small_8x/model.pt --out benchmarks/results/quality_8x.md

Every model is evaluated by a bundle's ``evaluate.json`` (fastMRI PSNR / SSIM / NMSE per volume, mean
over the test cases); the single-contrast baselines run inside ``bundles/clgnet_recon`` with the
``benchmarks/*_baseline.json`` overrides, so they see exactly CLGNet's input. The training commands
(one budget: 1,400 iterations of about 25k-30k pixels each) are in ``benchmarks/weights/<run>/command.sh``
(and the bundles' ``training/`` folders for the shipped files). Writes the Markdown
table to ``--out`` and a bar chart next to it (same name, ``.png``). Any model left out is skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import bundle_mean, emit, metrics_table, save_bar_figure

from monai_mcrecon.bundle.locate import config_files

ROOT = Path(__file__).resolve().parents[1]
# evaluate.json is an overlay: [inference.json, evaluate.json]
MC_CDIC = [str(f) for f in config_files(ROOT / "bundles" / "mc_cdic_recon", "evaluate.json")]
CLGNET = [str(f) for f in config_files(ROOT / "bundles" / "clgnet_recon", "evaluate.json")]
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

    # (row name, override file, checkpoint, extra overrides, input form); the input form follows the
    # override file (VarNet needs exactly-zero unacquired k-space: the release convention's real image)
    specs = [
        ("BasicUNet + global residual (MONAI, target only)", "unet_single_baseline.json", args.unet, {}, "magnitude"),
        ("VarNet (MONAI VariationalNetworkModel, single coil, small)", "varnet_baseline.json", args.varnet, {}, "real_irfft"),
        ("CLGNet small, reconstructed (target only)", None, args.clgnet, {"preset": "small"}, "magnitude"),
    ]
    results: dict[str, dict[str, float]] = {}
    zero_filled: dict[str, tuple] = {}
    form_names = {
        "magnitude": "zero-filled, magnitude (input of BasicUNet, CLGNet, MC-CDic)",
        "real_irfft": "zero-filled, real part, release convention (input of VarNet)",
    }
    mc = bundle_mean(MC_CDIC, ckpt_path=args.mc_cdic, acceleration=acc, preset="small") if args.mc_cdic else None
    for name, overrides, ckpt, extra, form in specs:
        if ckpt:
            r = results[name] = single(overrides, ckpt, **extra)
            zero_filled.setdefault(form, (form_names[form], r["psnr_input"], r["ssim_input"], r["nmse_input"]))
    if mc:
        zero_filled.setdefault("magnitude", (form_names["magnitude"], mc["psnr_input"], mc["ssim_input"], mc["nmse_input"]))
    rows = [zero_filled[f] for f in form_names if f in zero_filled]
    rows += [(name, r["psnr"], r["ssim"], r["nmse"]) for name, r in results.items()]
    if mc:
        rows.append(("MC-CDic small (target + T1 reference)", mc["psnr"], mc["ssim"], mc["nmse"]))
    caption = (
        "Embedded sample, test split (icbm_test_a, icbm_test_b; 32 slices), T2 target, T1 reference, "
        f"MC-CDic column mask {acc:g}x, fastMRI metrics per volume, mean over cases."
    )
    lines = metrics_table(caption, rows)
    cl = results.get("CLGNet small, reconstructed (target only)")
    un = results.get("BasicUNet + global residual (MONAI, target only)")
    notes = []
    if cl:
        notes.append(f"CLGNet - zero-filled: {cl['psnr'] - cl['psnr_input']:+.2f} dB")
        if un:
            notes.append(f"CLGNet - BasicUNet: {cl['psnr'] - un['psnr']:+.2f} dB")
    if mc:
        notes.append(f"MC-CDic - zero-filled: {mc['psnr'] - mc['psnr_input']:+.2f} dB")
    if notes:
        lines += ["", "; ".join(notes) + "."]
    emit(lines, args.out)
    if args.out:
        save_bar_figure(rows, Path(args.out).with_suffix(".png"), f"Reconstruction at {acc:g}x, embedded sample test split")


if __name__ == "__main__":
    main()
