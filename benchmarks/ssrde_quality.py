"""SSRDE-FNet x2 stereo SR on the held-out stereo crops: bicubic vs the single-view baseline vs SSRDE-FNet.

    python benchmarks/ssrde_quality.py --out benchmarks/results/ssrde_quality_x2.md \
        --figure benchmarks/results/ssrde_quality_x2.png --images benchmarks/results/ssrde_quality_x2_images.png
    python benchmarks/ssrde_quality.py --time_only        # seconds per training iteration of `small`

Data: the shipped stereo sample's ``test`` split (two real 168 x 368 crops of the Middlebury 2014
Motorcycle pair, rows never used for training), LR views synthesised exactly as in
``bundles/ssrde_stereo_sr/configs/evaluate.json`` (anti-aliased bicubic, 8-bit), so the left-view numbers
equal that bundle's ``metrics.csv``. Methods: bicubic up-sampling of the LR view; the single-view network
of the same size (``SSRDEFNet`` with ``cross_view=False``: every cross-view operation pairs a view with itself;
``models/mono_baseline.pt``, trained with the same data, iterations and recipe); SSRDE-FNet (``models/model.pt``).
Metrics per crop: PSNR / SSIM (RGB in [0, 1], SSIM Gaussian 11 x 11, sigma 1.5) of the left view, of the right
view, their average (the paper's "average of L, R"), and the disparity end-point error of the final HR
estimate (pass 2) against the ground truth where known; the LR attention estimate (pass 1) for reference.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import emit, save_bar_figure
from monai.bundle import ConfigParser
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from monai_mcrecon.bundle.locate import config_files
from monai_mcrecon.losses.stereo import SSRDELoss
from monai_mcrecon.networks.nets.ssrde_fnet import SSRDEFNet

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "ssrde_stereo_sr"
EVALUATE = [str(f) for f in config_files(BUNDLE, "evaluate.json")]  # evaluate.json is an overlay: [inference.json, evaluate.json]
SSIM_KW = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "channel_axis": 0}


def _load(ckpt: Path, preset: str, cross_view: bool) -> SSRDEFNet:
    net = SSRDEFNet.from_preset(preset, cross_view=cross_view)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"] if "model" in state else state)
    return net.eval()


def _epe(pred: torch.Tensor, gt: torch.Tensor) -> float:
    known = torch.isfinite(gt)
    return float((pred - torch.nan_to_num(gt)).abs()[known].mean()) if known.any() else float("nan")


def evaluate(stereo_ckpt: Path, mono_ckpt: Path, preset: str, dataset_dir: str | None):
    parser = ConfigParser()
    parser.read_config(EVALUATE)
    parser["dataset_dir"] = dataset_dir
    dataset = parser.get_parsed_content("dataset")
    nets = {"single-view (same size)": _load(mono_ckpt, preset, False), "SSRDE-FNet": _load(stereo_ckpt, preset, True)}
    rows, examples = [], []
    for item in dataset:
        hr = {v: item[v].float().numpy() for v in ("left", "right")}
        preds = {"bicubic": {v: item[f"bicubic_{v}"].float().clamp(0, 1).numpy() for v in ("left", "right")}}
        disp = {}
        for name, net in nets.items():
            with torch.no_grad():
                t0 = time.perf_counter()
                out = net(item["lr_left"][None].float(), item["lr_right"][None].float())
                seconds = time.perf_counter() - t0
            preds[name] = {v: getattr(out, f"out4_{v}")[0].clamp(0, 1).numpy() for v in ("left", "right")}
            if "disp" in item and net.cross_view:  # a single-view network matches a view with itself
                disp[name] = {"hr2": _epe(out.disp_hr2[0][0], item["disp"]), "lr1": _epe(out.disp_lr1[0][0], item["disp"]),
                              "seconds": seconds}
        scores = {
            name: {
                **{f"psnr_{v}": peak_signal_noise_ratio(hr[v], p[v], data_range=1.0) for v in ("left", "right")},
                **{f"ssim_{v}": structural_similarity(hr[v], p[v], **SSIM_KW) for v in ("left", "right")},
            }
            for name, p in preds.items()
        }
        rows.append({"case_id": item["case_id"], "shape": tuple(item["left"].shape), "scores": scores, "disp": disp})
        examples.append((item["case_id"], item["lr_left"].numpy(), preds, hr["left"]))
    return rows, examples


def time_training_step(preset: str = "small", iters: int = 4, cross_view: bool = True) -> float:
    """Mean seconds per Adam step (batch 2, LR 16 x 64, L_SR only) after one warm-up step."""
    torch.manual_seed(0)
    net = SSRDEFNet.from_preset(preset, cross_view=cross_view).train()
    loss = SSRDELoss({k: 0 for k in ("cons", "photo", "smooth", "cycle", "disp_smooth", "photometric")})
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    x_l, x_r = torch.rand(2, 3, 16, 64), torch.rand(2, 3, 16, 64)
    tgt = {"left": torch.rand(2, 3, 32, 128), "right": torch.rand(2, 3, 32, 128)}
    times = []
    for i in range(iters + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss(net(x_l, x_r), tgt)["loss"].backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def save_images(examples: list, path: str, crop=(slice(40, 120), slice(60, 260))) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["bicubic", "single-view (same size)", "SSRDE-FNet"]
    fig, axes = plt.subplots(len(examples), 4, figsize=(16, 2.3 * len(examples)), squeeze=False)
    for ax_row, (case, _, preds, hr) in zip(axes, examples):
        panels = [(preds[n]["left"], n) for n in names] + [(hr, f"HR ({case})")]
        for ax, (img, title) in zip(ax_row, panels):
            if img is not hr:
                title = f"{title} {peak_signal_noise_ratio(hr[:, crop[0], crop[1]], img[:, crop[0], crop[1]], data_range=1.0):.2f} dB"
            ax.imshow(np.clip(img[:, crop[0], crop[1]].transpose(1, 2, 0), 0, 1), interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"figure: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(BUNDLE / "models" / "model.pt"))
    ap.add_argument("--mono_ckpt", default=str(BUNDLE / "models" / "mono_baseline.pt"))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--dataset_dir", default=None, help="folder <pair>/left.png, right.png[, disp.npy] (default: the sample's test split)")
    ap.add_argument("--out", default=None, help="Markdown table to write")
    ap.add_argument("--figure", default=None, help="PNG bar figure (PSNR / SSIM of the left view)")
    ap.add_argument("--images", default=None, help="PNG figure of crops: bicubic | single-view | SSRDE-FNet | HR")
    ap.add_argument("--time_only", action="store_true", help="only measure seconds per training iteration")
    args = ap.parse_args()

    if args.time_only:
        for cv in (True, False):
            print(f"SSRDEFNet {args.preset} cross_view={cv}: {time_training_step(args.preset, cross_view=cv):.2f} s per iteration")
        return
    rows, examples = evaluate(Path(args.ckpt), Path(args.mono_ckpt), args.preset, args.dataset_dir)
    methods = list(rows[0]["scores"])
    mean = {m: {k: float(np.mean([r["scores"][m][k] for r in rows])) for k in rows[0]["scores"][m]} for m in methods}
    lines = [
        f"SSRDE-FNet `{args.preset}` x2 on the held-out stereo crops ({', '.join(r['case_id'] for r in rows)}; "
        "LR = anti-aliased bicubic, 8 bit). PSNR / SSIM on RGB in [0, 1] (SSIM Gaussian 11x11, sigma 1.5).",
        "",
        "| method | PSNR left | PSNR right | PSNR avg (L, R) | SSIM left | SSIM right |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        s = mean[m]
        lines.append(f"| {m} | {s['psnr_left']:.2f} | {s['psnr_right']:.2f} | {(s['psnr_left'] + s['psnr_right']) / 2:.2f} "
                     f"| {s['ssim_left']:.4f} | {s['ssim_right']:.4f} |")
    lines += ["", "Per crop (PSNR left / right):", "", "| crop | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for r in rows:
        lines.append(f"| {r['case_id']} | " + " | ".join(
            f"{r['scores'][m]['psnr_left']:.2f} / {r['scores'][m]['psnr_right']:.2f}" for m in methods) + " |")
    if rows[0]["disp"]:
        lines += ["", "Disparity end-point error of the left view (HR pixels, pixels with known ground truth):", "",
                  "| crop | " + " | ".join(f"{m}: HR pass 2 / LR pass 1" for m in rows[0]["disp"]) + " |",
                  "|---|" + "---|" * len(rows[0]["disp"])]
        for r in rows:
            lines.append(f"| {r['case_id']} | " + " | ".join(f"{d['hr2']:.2f} / {d['lr1']:.2f}" for d in r["disp"].values()) + " |")
    gain = mean["SSRDE-FNet"]["psnr_left"] - mean["bicubic"]["psnr_left"]
    over_mono = mean["SSRDE-FNet"]["psnr_left"] - mean["single-view (same size)"]["psnr_left"]
    lines += ["", f"SSRDE-FNet over bicubic: {gain:+.2f} dB (left); over the single-view network: {over_mono:+.2f} dB.",
              f"Parameters: `{args.preset}` {sum(p.numel() for p in SSRDEFNet.from_preset(args.preset).parameters()):,}; "
              f"paper x4 {sum(p.numel() for p in SSRDEFNet.from_preset('paper').parameters()):,}, "
              f"x2 {sum(p.numel() for p in SSRDEFNet.from_preset('x2').parameters()):,}."]
    emit(lines, args.out)
    if args.figure:
        save_bar_figure([(m, mean[m]["psnr_left"], mean[m]["ssim_left"], 0.0) for m in methods], args.figure,
                        f"SSRDE-FNet {args.preset} x2, held-out stereo crops (left view)")
    if args.images:
        save_images(examples, args.images)


if __name__ == "__main__":
    main()
