"""UniKD quality: seeds x methods tables for the two UniKD bundles.

Classification (``bundles/unikd_classification``, scikit-learn digits at 32x32, 540 held-out images):
the same student (``StageNet`` ``small``, strides 2/2/2) trained alone (CE), with vanilla KD and with
UniKD (DKD + per-stage distribution heads), all with the same budget and a shared frozen teacher
(``teacher_small``); held-out top-1 accuracy per seed, mean and standard deviation::

    python benchmarks/unikd_quality.py classification --teacher_ckpt bundles/unikd_classification/models/teacher.pt \
        --methods alone kd unikd --labelled_per_class 10 --tag _l10 --seeds 0 1 2 \
        --out benchmarks/results/unikd_classification.md --figure benchmarks/results/unikd_classification.png

The student learns from ``--labelled_per_class`` labelled images per class (the bundle's low-label
benchmark; ``none``: all 1,257), the teacher from all. Existing ``model_final.pt`` files are reused (see
"Run folders" below); missing runs are trained into ``--runs`` (``<runs>/unikd_cls_<method><tag>_s<seed>``,
the bundle's ``train.json``).

Restoration (``bundles/unikd_mccdic``, MC-CDic guided reconstruction at 4x, sample test split): the
teacher (``bundles/mc_cdic_recon/models/model.pt``) and the student trained alone / distilled by the
runs ``unikd_mccdic_{alone,distill}<tag>_s<seed>`` (each run folder has its ``command.sh``); fastMRI PSNR /
SSIM / NMSE per volume (mean over the test cases), parameter counts and CPU time per slice (one thread)::

    python benchmarks/unikd_quality.py mccdic --tag _v2wf003wo8 --alone_tag _v2 --extra_modes distill@_v2wf003 \
        --seeds 0 1 2 --out benchmarks/results/unikd_mccdic.md --figure benchmarks/results/unikd_mccdic.png

Run folders: a run's checkpoint is read from ``<runs>/<run>/`` (``--runs``, default ``runs/``, where new
runs are trained), else from the committed copy in ``benchmarks/weights/<run>/``; the two runs whose final
weights ship in a bundle (``SHIPPED_RUNS``) are read from the bundle's ``models/model.pt`` (byte-identical;
their command and log are in the bundle's ``training/<run>/``).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import bundle_mean, emit, save_bar_figure
from monai.bundle import ConfigParser, run

from monai_mcrecon.bundle.locate import config_files

ROOT = Path(__file__).resolve().parents[1]
CLS = ROOT / "bundles" / "unikd_classification" / "configs"
MCC = ROOT / "bundles" / "unikd_mccdic" / "configs"
# evaluate.json is an overlay: [inference.json, evaluate.json]
CLS_EVALUATE, MCC_EVALUATE = ([str(f) for f in config_files(c.parent, "evaluate.json")] for c in (CLS, MCC))
WEIGHTS = ROOT / "benchmarks" / "weights"
# runs whose model_final.pt is the bundle's shipped file (byte-identical, so not stored twice)
SHIPPED_RUNS = {
    "unikd_cls_unikd_l10_s0": ROOT / "bundles" / "unikd_classification" / "models" / "model.pt",
    "unikd_mccdic_distill_v2wf003wo8_s0": ROOT / "bundles" / "unikd_mccdic" / "models" / "model.pt",
}
METHODS = {
    "alone": "student alone (CE)",
    "kd": "vanilla KD",
    "unikd": "UniKD (DKD + distribution heads)",
    "unikdkd": "UniKD with the KD logit term (logit_loss=kd)",
}
OVERRIDES = {"unikdkd": {"method": "unikd", "logit_loss": "kd"}}


def _checkpoint(runs: str, name: str, checkpoint: str = "model_final.pt") -> Path:
    """``checkpoint`` of run ``name``: ``<runs>/<name>/``, else ``benchmarks/weights/<name>/``, else the shipped
    bundle file of a run in ``SHIPPED_RUNS``; the ``<runs>`` path when none exists (a run still to train)."""
    for base in (Path(runs), WEIGHTS):
        if (base / name / checkpoint).exists():
            return base / name / checkpoint
    if checkpoint == "model_final.pt" and name in SHIPPED_RUNS:
        return SHIPPED_RUNS[name]
    return Path(runs) / name / checkpoint


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _accuracy(ckpt: Path, preset: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        run(config_file=CLS_EVALUATE, ckpt_path=str(ckpt), preset=preset, output_dir=tmp)
        return float(next(csv.DictReader(open(Path(tmp) / "metrics.csv")))["accuracy"])


def _params(config: Path | list[str], net_id: str, **overrides) -> int:
    parser = ConfigParser()
    parser.read_config(config if isinstance(config, list) else str(config))
    parser.update(overrides)
    return sum(p.numel() for p in parser.get_parsed_content(net_id).parameters() if p.requires_grad)


def classification(args) -> None:
    rows, per_method = [], {}
    for method in args.methods:
        accs = []
        for seed in args.seeds:
            name = f"unikd_cls_{method}{args.tag}_s{seed}"
            ckpt = _checkpoint(args.runs, name)
            if not ckpt.exists():
                out = Path(args.runs) / name
                t0 = time.time()
                run(
                    config_file=str(CLS / "train.json"),
                    **OVERRIDES.get(method, {"method": method}),
                    seed=seed,
                    labelled_per_class=args.labelled_per_class,
                    teacher_ckpt=None if method == "alone" else args.teacher_ckpt,
                    output_dir=str(out),
                )
                print(f"trained {out} in {time.time() - t0:.0f} s", flush=True)
            accs.append(100 * _accuracy(ckpt, "small"))
        per_method[method] = accs
        rows.append((METHODS[method], *_mean_std(accs), accs))
    teacher = 100 * _accuracy(Path(args.teacher_ckpt), "teacher_small")
    n_s = _params(CLS_EVALUATE, "network_def", preset="small")
    n_t = _params(CLS_EVALUATE, "network_def", preset="teacher_small")
    labels = "all 1,257 training images" if args.labelled_per_class is None else f"{args.labelled_per_class} labelled training images per class ({10 * args.labelled_per_class} images)"
    lines = [
        f"UniKD on scikit-learn digits (32x32, 540 held-out images), top-1 accuracy (%), seeds {args.seeds}; "
        f"student trained on {labels}, teacher on all 1,257; same budget for every method (390 iterations of batch 32); runs unikd_cls_<method>{args.tag}_s<seed>; "
        f"teacher StageNet teacher_small ({n_t:,} parameters), student StageNet small ({n_s:,} parameters), strides 2/2/2.",
        "",
        "| method | accuracy mean (%) | std | per seed |",
        "|---|---|---|---|",
        f"| teacher (teacher_small) | {teacher:.2f} | - | - |",
        *(f"| {n} | {m:.2f} | {s:.2f} | {', '.join(f'{a:.2f}' for a in accs)} |" for n, m, s, accs in rows),
    ]
    emit(lines, args.out)
    if args.figure:
        _accuracy_figure([("teacher", teacher, 0.0)] + [(n, m, s) for n, m, s, _ in rows], args.figure)


def _accuracy_figure(rows, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, means, stds = [r[0] for r in rows][::-1], [r[1] for r in rows][::-1], [r[2] for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.2))
    bars = ax.barh(names, means, xerr=stds, color="#3b75af", capsize=3)
    lo = min(m - s for m, s in zip(means, stds))
    ax.set_xlim(lo - 0.5, 100)
    ax.bar_label(bars, labels=[f"{m:.2f}" for m in means], padding=4, fontsize=8)
    ax.set_xlabel("held-out top-1 accuracy (%) (mean +- std over seeds)")
    ax.set_title("UniKD on digits")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _cpu_seconds_per_slice(net: torch.nn.Module, shape=(1, 2, 229, 193), repeats: int = 5) -> float:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    net.eval()
    x = torch.rand(shape)
    with torch.no_grad():
        net(x)
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            net(x)
            times.append(time.process_time() - t0)
    torch.set_num_threads(threads)
    return statistics.median(times)


def mccdic(args) -> None:
    common = {"handlers#4#_disabled_": True}  # no figures (bundle_mean writes no NIfTI)
    teacher_ckpt = ROOT / "bundles" / "mc_cdic_recon" / "models" / "model.pt"
    teacher_configs = [str(f) for f in config_files(ROOT / "bundles" / "mc_cdic_recon", "evaluate.json")]  # the overlay on inference.json
    teacher = bundle_mean(teacher_configs, ckpt_path=str(teacher_ckpt), **common)
    results = {}
    modes = ["alone", "distill", *args.extra_modes]
    tags = {"alone": args.tag if args.alone_tag is None else args.alone_tag}
    for mode in modes:
        name, _, tag = mode.partition("@")  # "mode@tag": runs unikd_mccdic_<mode><tag>_s<seed>
        ckpts = [_checkpoint(args.runs, f"unikd_mccdic_{name}{tag or tags.get(mode, args.tag)}_s{s}", args.checkpoint) for s in args.seeds]
        if mode in ("alone", "distill"):
            missing = [str(c) for c in ckpts if not c.exists()]
            if missing:
                raise FileNotFoundError(f"Missing runs {missing}: train them with the commands in the bundle docs (same budget), then rerun.")
        else:  # diagnostic rows: the seeds that were run
            ckpts = [c for c in ckpts if c.exists()]
        results[mode] = [bundle_mean(MCC_EVALUATE, ckpt_path=str(c), **common) for c in ckpts]
    parser = ConfigParser()
    parser.read_config(str(MCC / "train.json"))
    student, teacher_net = parser.get_parsed_content("student_def"), parser.get_parsed_content("teacher_def")
    n_s = sum(p.numel() for p in student.parameters() if p.requires_grad)
    n_t = sum(p.numel() for p in teacher_net.parameters() if p.requires_grad)
    t_s, t_t = _cpu_seconds_per_slice(student), _cpu_seconds_per_slice(teacher_net)
    zf = results["alone"][0]["psnr_input"], results["alone"][0]["ssim_input"], results["alone"][0]["nmse_input"]

    def agg(mode, key):
        return _mean_std([r[key] for r in results[mode]])

    label = {
        "alone": "student alone",
        "distill": "student UniKD-distilled",
        "outkd": "student, output distillation only (w_feat = w_supp = 0)",
        "outkd@_e25": "student, output distillation only (w_feat = w_supp = 0)",
        "distill@_e25": "student UniKD-distilled, first version (raw KL, w_feat = w_supp = 0.01)",
        "distill@_v2wf003": "student UniKD-distilled v2, w_out = 1 (previous default)",
    }
    lines = [
        f"UniKD restoration adaptation on MC-CDic guided reconstruction (4x, T2 target, T1 reference), sample test split "
        f"(2 volumes, 32 slices), fastMRI metrics per volume; runs unikd_mccdic_<mode>{args.tag}_s<seed> (alone: unikd_mccdic_alone{tags['alone']}_s<seed>), seeds {args.seeds}, checkpoint {args.checkpoint}; "
        "CPU time: one 229x193 slice, one thread, eval mode.",
        "",
        "| method | parameters | CPU s / slice | PSNR (dB) | SSIM | NMSE | PSNR per seed |",
        "|---|---|---|---|---|---|---|",
        f"| zero-filled | - | - | {zf[0]:.2f} | {zf[1]:.4f} | {zf[2]:.5f} | - |",
        f"| teacher MC-CDic small | {n_t:,} | {t_t:.3f} | {teacher['psnr']:.2f} | {teacher['ssim']:.4f} | {teacher['nmse']:.5f} | - |",
    ]
    for mode in modes:
        (pm, ps), (sm, ss), (nm, _) = agg(mode, "psnr"), agg(mode, "ssim"), agg(mode, "nmse")
        per = ", ".join(f"{r['psnr']:.2f}" for r in results[mode])
        lines.append(f"| {label.get(mode, mode)} | {n_s:,} | {t_s:.3f} | {pm:.2f} +- {ps:.2f} | {sm:.4f} +- {ss:.4f} | {nm:.5f} | {per} |")
    emit(lines, args.out)
    if args.figure:
        rows = [("zero-filled", *zf), ("teacher", teacher["psnr"], teacher["ssim"], teacher["nmse"])]
        rows += [(label.get(m, m), agg(m, "psnr")[0], agg(m, "ssim")[0], agg(m, "nmse")[0]) for m in modes]
        save_bar_figure(rows, args.figure, "UniKD: MC-CDic student (mean over seeds)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="task", required=True)
    c = sub.add_parser("classification")
    c.add_argument("--teacher_ckpt", default=str(ROOT / "bundles" / "unikd_classification" / "models" / "teacher.pt"))
    c.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    c.add_argument("--labelled_per_class", type=lambda v: None if v.lower() == "none" else int(v), default=10, help="student's labelled images per class ('none': all)")
    m = sub.add_parser("mccdic")
    m.add_argument("--extra_modes", nargs="*", default=[], help="diagnostic rows, 'mode' or 'mode@tag' (runs unikd_mccdic_<mode><tag>_s<seed>, the seeds that exist), e.g. outkd@_e25")
    m.add_argument("--tag", default="", help="run-name tag: runs unikd_mccdic_<alone|distill><tag>_s<seed> (e.g. _e25)")
    m.add_argument("--alone_tag", default=None, help="run-name tag of the student-alone runs when it differs from --tag")
    c.add_argument("--tag", default="", help="run-name tag: runs unikd_cls_<method><tag>_s<seed> (e.g. _l10)")
    m.add_argument("--checkpoint", default="model_final.pt", help="file in each run folder (model_final.pt: same budget; model.pt: best validation)")
    for p in (c, m):
        p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
        p.add_argument("--runs", default=str(ROOT / "runs"), help="folder of new runs, read first (then benchmarks/weights/ and SHIPPED_RUNS)")
        p.add_argument("--out", default=None)
        p.add_argument("--figure", default=None)
    args = ap.parse_args()
    classification(args) if args.task == "classification" else mccdic(args)


if __name__ == "__main__":
    main()
