"""The ``monai-mcrecon`` command (also ``python -m monai_mcrecon``).

Subcommands:

* ``reconstruct``: undersampled target (+ reference contrast) -> reconstructed volume.
* ``super-resolve``: low-resolution target (+ reference contrast) -> super-resolved volume.
* ``simulate``: a retrospective study (degraded inputs and truth) from a fully sampled volume.
* ``evaluate``: fastMRI PSNR / SSIM / NMSE table and a comparison figure.
* ``run-bundle``: any config of a bundle with checked overrides (e.g. training with ``--resume true``).

Only the package's own bundles run unless ``--trust-bundle`` (bundle configs execute Python).

The logic lives in :mod:`monai_mcrecon.commands` (one module per subcommand); this module only parses arguments. ``main``
returns the exit status (0 success, 1 a user error reported on stderr, 2 bad arguments, 3 some cases
of a several-target run failed, listed on stderr at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

# Only the standard library at import time: ``--help``, ``--version`` and argument errors answer
# without importing torch / monai (about 0.1 s instead of 7-13 s). The commands, the bundle runner
# and their dependencies are imported in ``main`` / ``run_bundle`` once the arguments are valid.
from monai_mcrecon.bundle.checks import USER_ERRORS as _USER_ERRORS
from monai_mcrecon.bundle.locate import TRUST_ENV

__all__ = ["build_parser", "main"]

PROG = "monai-mcrecon"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the examples' line breaks."""


def _add_model_args(p: argparse.ArgumentParser, task: str) -> None:
    default_bundle = "mc_cdic_recon" if task == "recon" else "mc_cdic_sr"
    what = "undersampled (zero-filled)" if task == "recon" else "low-resolution (HR-grid zero-padded or LR-grid)"
    p.add_argument(
        "--target", "-t", required=True, default=argparse.SUPPRESS, nargs="+",
        help=f"the {what} target contrast: a NIfTI file, a folder of one DICOM series, or a fastMRI .h5 file "
        "(its zero-filled image per slice). Required. Several targets: each case goes to <output>/<case>/, a "
        "failing case is reported at the end (exit status 3) and the others still run.",
    )
    p.add_argument(
        "--reference", "-r", default=None, nargs="+",
        help="the fully sampled reference contrast of the same slices (NIfTI or DICOM folder); required by the "
        "MC-CDic bundles (one per --target, same order). A reference on another grid is registered and resampled "
        "onto the target grid.",
    )
    p.add_argument("--output", "-o", required=True, default=argparse.SUPPRESS, help="output folder (new or empty unless --overwrite). Required.")
    p.add_argument(
        "--bundle", "-b", default=default_bundle,
        help="bundle name (mc_cdic_recon, mc_cdic_sr, clgnet_recon) or the path of a bundle folder (a folder "
        "outside the package's bundles needs --trust-bundle: bundle configs run Python code).",
    )
    p.add_argument(
        "--trust-bundle", action="store_true",
        help=f"run a --bundle folder that is not one of the package's own bundles (or set {TRUST_ENV}=1).",
    )
    p.add_argument("--ckpt", default=None, help="weights to load instead of the bundle's models/model.pt.")
    p.add_argument(
        "--device", default=None,
        help="torch device, e.g. cpu or cuda:0 (default: the bundle's choice, cuda:0 when available, else cpu).",
    )
    p.add_argument(
        "--batch-size", type=int, default=4,
        help="slices per forward pass (the bundle's slice_batch_size); lower it to bound GPU/CPU memory.",
    )
    p.add_argument(
        "--no-register", action="store_true",
        help="do not register a reference that lies on another grid; resample it by the affines only.",
    )
    p.add_argument(
        "--dicom", action="store_true",
        help="also write a derived DICOM series to <output>/dicom (automatic when the target is a DICOM folder).",
    )
    p.add_argument(
        "--coil-combine", choices=("rss", "sense"), default="rss",
        help="multi-coil h5 targets: root sum of squares, or sensitivity-weighted combination with maps "
        "estimated from the auto-calibration region (lowres method).",
    )
    p.add_argument(
        "--crop-to-recon-size", action="store_true",
        help="h5 targets: centre-crop each slice to the header's recon matrix (e.g. 320x320).",
    )
    p.add_argument(
        "--overwrite", action="store_true",
        help="write into a non-empty output folder, replacing files, and redo finished cases (without it a re-run "
        "skips the cases finished with the same inputs and options, refuses those finished with other ones, and "
        "completes interrupted ones).",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars.")
    p.add_argument(
        "--data-consistency", action=argparse.BooleanOptionalAction, default=True,
        help="re-impose the acquired k-space on the output (the bundle's data_consistency_output). Only a "
        "single-coil fastMRI .h5 target (not --crop-to-recon-size) carries it; NIfTI / DICOM targets are magnitude "
        "images and multi-coil files coil-combined ones, so they run without it. run_info.json records what was done.",
    )
    g = p.add_argument_group(
        "inference speed (docs/performance.md; without these options the bundle runs under torch.inference_mode "
        "in slice batches)"
    )
    g.add_argument(
        "--amp", action="store_true",
        help="float16 automatic mixed precision on CUDA devices (float16 rounding changes the outputs slightly); on "
        "CPU it has no effect (a note is printed and the run stays float32).",
    )
    g.add_argument(
        "--channels-last", action="store_true",
        help="network and slices in the channels-last memory format (same outputs within 1e-5 relative; faster for "
        "MC-CDic, slower for CLGNet on CPU).",
    )
    g.add_argument(
        "--compile", action="store_true",
        help="torch.compile the network once per run (slow first batch; pays off on large volumes; needs a C++ "
        "compiler on CPU).",
    )
    g.add_argument(
        "--tile", type=int, nargs=2, metavar=("H", "W"), default=None,
        help="run each slice in tiles of H x W pixels (sliding window) to bound memory on large images; tiles "
        "overlap by 2 * --tile-margin and only their centres count. MC-CDic and CLGNet see the whole image, so "
        "tiles approximate their output (the larger the tile, the closer).",
    )
    g.add_argument(
        "--tile-margin", type=int, default=32,
        help="with --tile: border pixels of each tile that are (almost) ignored (at least the network's "
        "receptive-field radius for an exact result).",
    )


RECON_EXAMPLE = """\
Writes <output>/<target name>_recon.nii.gz (the target's affine), <output>/run_info.json, and for
DICOM targets (or --dicom) a derived series in <output>/dicom. The whole volume runs slice by slice
in batches of --batch-size.

example:
  monai-mcrecon simulate --input t2.nii.gz --reference t1.nii.gz --output study
  monai-mcrecon reconstruct --target study/target_degraded.nii.gz --reference study/reference.nii.gz \\
      --output recon --device cuda:0 --batch-size 8
  monai-mcrecon reconstruct --target study/target_kspace.h5 --reference t1.nii.gz --coil-combine sense --output recon_h5

A single-coil .h5 target (e.g. simulate --single-coil-h5) also gets data consistency with its acquired
k-space (--no-data-consistency to turn it off); run_info.json says whether it was applied.
"""

SR_EXAMPLE = """\
The target is either on the reference's grid (a k-space zero-padded image) or on a genuinely
low-resolution grid (fewer rows/columns, same slices and field of view), which the bundle zero-pads
in k-space onto the reference grid; the output is then on the reference grid. Writes
<output>/<target name>_sr.nii.gz and <output>/run_info.json (and <output>/dicom for DICOM targets).

example:
  monai-mcrecon simulate --task sr --scale 2 --lr-grid --input t2.nii.gz --reference t1.nii.gz --output study_sr
  monai-mcrecon super-resolve --target study_sr/target_degraded.nii.gz --reference study_sr/reference.nii.gz --output sr
"""

SIMULATE_EXAMPLE = """\
Writes <output>/truth.nii.gz, <output>/target_degraded.nii.gz, <output>/simulation.json,
<output>/reference.nii.gz (with --reference); for --task recon also mask.npy and mask.json
(one mask for every slice, phase encoding along the second voxel axis), and with --coils N a
multi-coil fastMRI file <output>/target_kspace.h5 (undersampled k-space, 'mask',
'reconstruction_rss'), or with --single-coil-h5 a single-coil one (the k-space behind
target_degraded.nii.gz, 'mask', 'reconstruction_esc'), which reconstruct uses for data consistency.

example:
  monai-mcrecon simulate --input t2.nii.gz --reference t1.nii.gz --output study --mask-type random \\
      --acceleration 8 --seed 0 --coils 4 --snr-db 30
  monai-mcrecon simulate --task sr --scale 4 --input t2.nii.gz --output study_sr4
"""

RUN_BUNDLE_EXAMPLE = """\
Overrides that are no key of the config are refused (MONAI would add them silently), with the
closest keys as hints. Training resumes with --resume true (newest checkpoint of output_dir) or
--resume_from <checkpoint>; inference skips finished cases unless --overwrite true.

example:
  monai-mcrecon run-bundle mc_cdic_recon --config train --preset tiny --max_epochs 2 --output_dir runs/t
  monai-mcrecon run-bundle mc_cdic_recon --config train --preset tiny --max_epochs 4 --output_dir runs/t --resume true
"""

EVALUATE_EXAMPLE = """\
fastMRI metrics per volume (PSNR with the truth's maximum as peak, SSIM averaged over slices,
NMSE), printed as a Markdown table and written to <output>/metrics.csv and <output>/metrics.md,
with <output>/comparison.png (input / prediction / truth / |error| of the middle slice).

example:
  monai-mcrecon evaluate --pred recon/target_degraded_recon.nii.gz --truth study/truth.nii.gz \\
      --input study/target_degraded.nii.gz --output recon/eval
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``monai-mcrecon`` with its four subcommands."""
    from monai_mcrecon import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Multi-contrast MRI reconstruction and super-resolution with the monai-mcrecon bundles.",
        formatter_class=_HelpFormatter,
        epilog="Run `monai-mcrecon <command> --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True

    p = sub.add_parser(
        "reconstruct", help="reconstruct an undersampled target with a reference contrast",
        description="Reconstruct an undersampled target volume with a bundle (default mc_cdic_recon).",
        epilog=RECON_EXAMPLE, formatter_class=_HelpFormatter,
    )
    _add_model_args(p, "recon")
    p = sub.add_parser(
        "super-resolve", help="super-resolve a low-resolution target with a reference contrast",
        description="Super-resolve a low-resolution target volume with a bundle (default mc_cdic_sr).",
        epilog=SR_EXAMPLE, formatter_class=_HelpFormatter,
    )
    _add_model_args(p, "sr")

    p = sub.add_parser(
        "simulate", help="make a retrospective study (degraded target and truth) from a fully sampled volume",
        description="Simulate an undersampled (--task recon) or low-resolution (--task sr) acquisition of a fully "
        "sampled volume.",
        epilog=SIMULATE_EXAMPLE, formatter_class=_HelpFormatter,
    )
    p.add_argument("--input", "-i", required=True, default=argparse.SUPPRESS, help="fully sampled target volume (NIfTI or DICOM folder). Required.")
    p.add_argument("--output", "-o", required=True, default=argparse.SUPPRESS, help="output folder (new or empty unless --overwrite). Required.")
    p.add_argument("--reference", "-r", default=None, help="reference contrast, copied through as reference.nii.gz.")
    p.add_argument("--task", choices=("recon", "sr"), default="recon", help="undersampling or k-space truncation.")
    p.add_argument(
        "--mask-type", default="mc_cdic",
        help="recon: mask function (random, equispaced, mc_cdic, gaussian1d, gaussian2d, poisson2d, radial); "
        "mc_cdic is the release's fixed seed-42 mask (ignores --seed).",
    )
    p.add_argument("--acceleration", type=float, default=4.0, help="recon: acceleration factor.")
    p.add_argument(
        "--center-fraction", type=float, default=None,
        help="recon: fully sampled centre fraction (default: the mask's default for the acceleration).",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the mask, coil maps, phase and noise.")
    p.add_argument(
        "--coils", type=int, default=0,
        help="recon: also write a multi-coil fastMRI h5 with this many simulated coils (0: none; 1-D masks only).",
    )
    p.add_argument(
        "--single-coil-h5", action="store_true",
        help="recon: also write target_kspace.h5 as a single-coil fastMRI file (the undersampled k-space of "
        "target_degraded.nii.gz; 1-D masks only; not with --coils).",
    )
    p.add_argument(
        "--snr-db", type=float, default=None,
        help="with --coils: k-space SNR in dB (mean coil signal power / noise variance); default noise-free.",
    )
    p.add_argument("--scale", type=float, default=2.0, help="sr: resolution factor (2 or 4).")
    p.add_argument(
        "--lr-grid", action="store_true",
        help="sr: write the LR-grid image (its own affine) instead of the HR-grid zero-padded one.",
    )
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder, replacing files.")

    p = sub.add_parser(
        "evaluate", help="metrics table (PSNR/SSIM/NMSE) and a comparison figure",
        description="Compare a prediction (and optionally the degraded input) with the truth.",
        epilog=EVALUATE_EXAMPLE, formatter_class=_HelpFormatter,
    )
    p.add_argument("--pred", "-p", required=True, default=argparse.SUPPRESS, help="prediction volume (NIfTI or DICOM folder). Required.")
    p.add_argument("--truth", required=True, default=argparse.SUPPRESS, help="ground-truth volume on the same grid. Required.")
    p.add_argument("--input", "-i", default=None, help="degraded input, for the baseline row and the figure.")
    p.add_argument("--output", "-o", required=True, default=argparse.SUPPRESS, help="folder for metrics.csv, metrics.md, comparison.png. Required.")
    p.add_argument("--error-gain", type=float, default=5.0, help="gain of the |error| panel of the figure.")
    p.add_argument("--overwrite", action="store_true", help="replace metrics.csv / metrics.md / comparison.png.")

    p = sub.add_parser(
        "run-bundle", help="run a bundle config with checked overrides",
        description="Run configs/<config>.json of a bundle (python -m monai.bundle run) after checking that every "
        "override names a key of the config and that the bundle is one of the package's own (or trusted). "
        "Overrides follow as --key value pairs (values parsed as JSON when they can be).",
        epilog=RUN_BUNDLE_EXAMPLE, formatter_class=_HelpFormatter,
    )
    p.add_argument("bundle", help="bundle name (e.g. mc_cdic_recon) or folder.")
    p.add_argument(
        "--config", default="inference",
        help="config name under configs/ (inference, evaluate, train...); an overlay runs on top of its base "
        "(evaluate of every bundle: configs/inference.json, then configs/evaluate.json).",
    )
    p.add_argument(
        "--trust-bundle", action="store_true",
        help=f"run a bundle folder that is not one of the package's own bundles (or set {TRUST_ENV}=1).",
    )
    # the --key value overrides are the arguments this parser does not know (see main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``monai-mcrecon`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and args.command != "run-bundle":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # --help / --version (0) or bad arguments (2)
        return int(e.code or 0)
    from monai_mcrecon.commands.batch import run_many
    from monai_mcrecon.commands.evaluate import evaluate
    from monai_mcrecon.commands.restore import run_model
    from monai_mcrecon.commands.simulate import simulate

    try:
        if args.command in ("reconstruct", "super-resolve"):
            kwargs = dict(
                bundle=args.bundle,
                task="recon" if args.command == "reconstruct" else "sr",
                device=args.device,
                batch_size=args.batch_size,
                ckpt=args.ckpt,
                register=not args.no_register,
                dicom=True if args.dicom else None,
                coil_combine=args.coil_combine,
                crop_to_recon_size=args.crop_to_recon_size,
                progress=not args.no_progress,
                trust_bundle=args.trust_bundle,
                amp=args.amp,
                channels_last=args.channels_last,
                compile=args.compile,
                tile=args.tile,
                tile_margin=args.tile_margin,
                data_consistency=args.data_consistency,
            )
            refs = args.reference or []
            if len(args.target) == 1:
                if len(refs) > 1:
                    raise ValueError(f"Give one --reference per --target (1 target, {len(refs)} references).")
                run_model(
                    target=args.target[0], output=args.output, reference=refs[0] if refs else None,
                    overwrite=args.overwrite, **kwargs,
                )
            else:
                report = run_many(args.target, args.output, references=refs or None, overwrite=args.overwrite, **kwargs)
                print(
                    f"{len(report['done'])} done, {len(report['skipped'])} skipped (finished before), "
                    f"{len(report['failed'])} failed; report in {args.output}/batch_report.json"
                )
                if report["failed"]:
                    print(f"{PROG} {args.command}: {len(report['failed'])} case(s) failed:", file=sys.stderr)
                    for case, msg in report["failed"].items():
                        print(f"  {case}: {msg}", file=sys.stderr)
                    return 3
        elif args.command == "simulate":
            simulate(
                input=args.input,
                output=args.output,
                task=args.task,
                mask_type=args.mask_type,
                acceleration=args.acceleration,
                center_fraction=args.center_fraction,
                seed=args.seed,
                coils=args.coils,
                snr_db=args.snr_db,
                scale=args.scale,
                lr_grid=args.lr_grid,
                reference=args.reference,
                overwrite=args.overwrite,
                single_coil_h5=args.single_coil_h5,
            )
        elif args.command == "run-bundle":
            run_bundle(args.bundle, args.config, _parse_overrides(extra), trust=args.trust_bundle)
        else:
            evaluate(
                pred=args.pred,
                truth=args.truth,
                output=args.output,
                input=args.input,
                overwrite=args.overwrite,
                error_gain=args.error_gain,
            )
    except Exception as e:  # user errors (also when MONAI's config parser wraps them) -> message and status 1
        cause = _user_error(e)
        if cause is None:
            raise
        msg = cause.args[0] if isinstance(cause, KeyError) and cause.args else cause
        print(f"{PROG} {args.command}: error: {msg}", file=sys.stderr)
        return 1
    return 0




def _user_error(e: BaseException) -> BaseException | None:
    """The first user error (missing file, bad value, refused weights...) in the exception chain of ``e``;
    MONAI's bundle runner wraps errors raised inside a config expression in a ``RuntimeError``."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, _USER_ERRORS):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _parse_overrides(tokens: Sequence[str]) -> dict:
    """``["--key", "value", ...]`` -> ``{"key": value}`` (values parsed as JSON when they can be)."""
    tokens = [t for t in tokens if t != "--"]
    out: dict = {}
    i = 0
    while i < len(tokens):
        key = tokens[i]
        if not key.startswith("--") or i + 1 >= len(tokens):
            raise ValueError(f"Overrides must be '--key value' pairs; got {list(tokens)!r}.")
        value = tokens[i + 1]
        try:
            out[key[2:]] = json.loads(value)
        except json.JSONDecodeError:
            out[key[2:]] = value
        i += 2
    return out


def run_bundle(bundle: str, config: str, overrides: dict, trust: bool = False) -> None:
    """Run ``configs/<config>.json`` of a bundle with checked overrides (see ``run-bundle --help``).

    Raises:
        PermissionError: a bundle outside the package's own set without ``trust``.
        FileNotFoundError: no such config; KeyError: unknown override keys.
    """
    from pathlib import Path

    import monai.bundle

    from monai_mcrecon.bundle.locate import (
        bundle_dir,
        check_trusted_bundle,
        config_files,
    )
    from monai_mcrecon.bundle.overrides import check_overrides

    root = Path(bundle) if Path(bundle).is_dir() else Path(bundle_dir(bundle))
    check_trusted_bundle(root, trust)
    name = config if config.endswith((".json", ".yaml")) else f"{config}.json"
    config_file = root / "configs" / name
    if not config_file.is_file():
        available = sorted(p.stem for p in (root / "configs").glob("*.json") if p.stem != "metadata")
        raise FileNotFoundError(f"Bundle {root.name!r} has no configs/{name}; choose one of {available}.")
    files = [str(f) for f in config_files(root, name)]  # an overlay (evaluate.json) after its base (inference.json)
    check_overrides(files, overrides)
    overrides.setdefault("bundle_root", str(root))
    from monai_mcrecon.bundle.checks import install_error_reporting

    install_error_reporting(force=True)  # no logged tracebacks before the command's one-line error
    monai.bundle.run(
        config_file=files if len(files) > 1 else files[0], meta_file=str(root / "configs" / "metadata.json"),
        logging_file=str(root / "configs" / "logging.conf"), **overrides,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
