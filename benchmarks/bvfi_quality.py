"""BVFI blurry frame interpolation quality on the video sample's held-out windows, per target time.

    python benchmarks/bvfi_quality.py --ckpt bundles/bvfi_blurry_vfi/models/model.pt \
        --out benchmarks/results/bvfi_quality.md --figure benchmarks/results/bvfi_quality.png [--tvl1]
    python benchmarks/bvfi_quality.py --time_only        # seconds per training iteration of `small`

The windows are those of ``bundles/bvfi_blurry_vfi/configs/evaluate.json`` (every window of 15 sharp frames
of the test clips, full frame size; four blurry frames average 3 of every 4 sharp frames; targets at
t = 0.25, 0.5, 0.75 between the centres of B_0 and B_1), so the ``average`` and ``BVFI`` rows equal that
bundle's ``metrics.csv`` (the bundle's ``psnr`` pools the MSE over the three times; here the overall column
is the mean of the per-time PSNRs). Methods:

- ``average``: deblur nothing, ``(B_0 + B_1) / 2`` for every t (the issue's baseline, ``psnr_input``);
- ``linear blend``: ``(1 - t) B_0 + t B_1``;
- ``TV-L1`` (``--tvl1``): :func:`monai_mcrecon.baselines.tvl1_interpolate` of the blurry B_0, B_1 at t;
- BVFI stage outputs of one forward pass: ``coarse`` (stage 1), ``x0`` (stage-3 mapping branch) and the
  final ``out`` (Taylor sum).

PSNR / SSIM on RGB in [0, 1] (SSIM Gaussian 11x11, sigma 1.5, mean over channels, as the bundle), outputs
clamped to [0, 1].
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

from monai_mcrecon.baselines import tvl1_interpolate
from monai_mcrecon.bundle.locate import config_files
from monai_mcrecon.losses.bvfi import BVFILoss
from monai_mcrecon.networks.nets.bvfi import BVFI

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "bundles" / "bvfi_blurry_vfi" / "configs"
EVALUATE = [str(f) for f in config_files(CFG.parent, "evaluate.json")]  # evaluate.json is an overlay: [inference.json, evaluate.json]
SSIM_KW = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
           "channel_axis": 0}


def score(pred: torch.Tensor, gt: torch.Tensor) -> tuple[float, float]:
    p, g = pred.clamp(0, 1).double().numpy(), gt.double().numpy()
    return peak_signal_noise_ratio(g, p, data_range=1.0), structural_similarity(g, p, **SSIM_KW)


def evaluate(ckpt: str, preset: str, dataset_dir: str | None, tvl1: bool):
    parser = ConfigParser()
    parser.read_config(EVALUATE)
    parser["preset"] = preset
    parser["dataset_dir"] = dataset_dir
    parser["device"] = "$torch.device('cpu')"
    times = parser["times"]
    dataset = parser.get_parsed_content("dataset")
    net = BVFI.from_preset(preset, return_all_outputs=True)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"] if "model" in state else state)
    net.eval()
    methods = ["average", "linear blend", *(["TV-L1"] if tvl1 else []), "BVFI coarse (stage 1)",
               "BVFI x0 (stage 3 mapping)", "BVFI"]
    scores = {m: {t: [] for t in times} for m in methods}
    examples, seconds = [], []
    for item in dataset:
        blurry, label = item["blurry"].float(), item["label"].float()
        b0, b1 = blurry[1], blurry[2]
        with torch.no_grad():
            t0 = time.perf_counter()
            out = net(blurry[None], torch.tensor([times]))
            seconds.append(time.perf_counter() - t0)
        for i, t in enumerate(times):
            preds = {
                "average": 0.5 * (b0 + b1),
                "linear blend": (1 - t) * b0 + t * b1,
                "BVFI coarse (stage 1)": out["coarse"][0, i],
                "BVFI x0 (stage 3 mapping)": out["x0"][0, i],
                "BVFI": out["out"][0, i],
            }
            if tvl1:
                preds["TV-L1"] = tvl1_interpolate(b0, b1, t)
            for m in methods:
                scores[m][t].append(score(preds[m], label[i]))
        examples.append((item["case_id"], blurry, out["out"][0].clamp(0, 1), label))
    return times, methods, scores, examples, float(np.mean(seconds))


def time_training_step(preset: str = "small", iters: int = 5, batch: int = 2, size: int = 64) -> float:
    """Mean seconds per Adam step of ``preset`` on ``batch`` windows of 4 x 3 x size x size with L = 3 times."""
    torch.manual_seed(0)
    net = BVFI.from_preset(preset).train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99))
    loss_fn = BVFILoss()
    x, y, t = torch.rand(batch, 4, 3, size, size), torch.rand(batch, 3, 3, size, size), [0.25, 0.5, 0.75]
    out = []
    for i in range(iters + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss_fn(net(x, t), y)["loss"].backward()
        opt.step()
        if i >= 1:
            out.append(time.perf_counter() - t0)
    return float(np.mean(out))


def save_strip(examples, path: str, case: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name, blurry, pred, label = next((e for e in examples if e[0] == case), examples[len(examples) // 2])
    fig, axes = plt.subplots(3, 4, figsize=(13, 3 * 1.1 * blurry.shape[-2] / blurry.shape[-1] * 4.4 / 1.3))
    show = lambda ax, img, title: (ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy()), ax.set_title(title, fontsize=8),  # noqa: E731
                                   ax.axis("off"))
    for i in range(4):
        show(axes[0, i], blurry[i], f"blurry B{i - 1}")
    show(axes[1, 0], 0.5 * (blurry[1] + blurry[2]), "average (B0 + B1) / 2")
    for i, t in enumerate((0.25, 0.5, 0.75)):
        show(axes[1, i + 1], pred[i], f"BVFI t={t:g} ({score(pred[i], label[i])[0]:.2f} dB)")
        show(axes[2, i + 1], label[i], f"sharp truth t={t:g}")
    axes[2, 0].axis("off")
    fig.suptitle(name, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"figure: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(ROOT / "bundles" / "bvfi_blurry_vfi" / "models" / "model.pt"))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--dataset_dir", default=None, help="folder of sharp clips <dir>/<clip>/NNNN.png (default: test clips)")
    ap.add_argument("--tvl1", action="store_true", help="add the TV-L1 flow-interpolation baseline (slow)")
    ap.add_argument("--out", default=None, help="Markdown table to write")
    ap.add_argument("--figure", default=None, help="PNG bar figure (mean PSNR / SSIM per method)")
    ap.add_argument("--strip", default=None, help="PNG strip of one window (blurry inputs / outputs / truth)")
    ap.add_argument("--time_only", action="store_true", help="only measure seconds per training iteration")
    args = ap.parse_args()

    sec = time_training_step(args.preset)
    if args.time_only:
        print(f"BVFI {args.preset}: {sec:.3f} s per training iteration (batch 2, 4 x 64x64, L = 3, Adam, CPU)")
        return
    ckpt = Path(args.ckpt).resolve()
    times, methods, scores, examples, infer_sec = evaluate(str(ckpt), args.preset, args.dataset_dir, args.tvl1)
    n = len(examples)
    lines = [
        f"BVFI `{args.preset}` on {n} held-out windows (evaluate.json synthesis: blurry = mean of 3 of every 4 sharp "
        f"frames, full frame size); checkpoint `{ckpt.relative_to(ROOT) if ckpt.is_relative_to(ROOT) else ckpt}`.",
        "PSNR (dB) / SSIM on RGB in [0, 1], mean over windows; 'all' = mean over the three times.",
        "",
        "| method | " + " | ".join(f"PSNR t={t:g}" for t in times) + " | PSNR all | "
        + " | ".join(f"SSIM t={t:g}" for t in times) + " | SSIM all |",
        "|---|" + "---|" * (2 * len(times) + 2),
    ]
    summary = []
    for m in methods:
        psnr = [float(np.mean([s[0] for s in scores[m][t]])) for t in times]
        ssim = [float(np.mean([s[1] for s in scores[m][t]])) for t in times]
        summary.append((m, float(np.mean(psnr)), float(np.mean(ssim)), 0.0))
        lines.append(f"| {m} | " + " | ".join(f"{v:.2f}" for v in psnr) + f" | {np.mean(psnr):.2f} | "
                     + " | ".join(f"{v:.4f}" for v in ssim) + f" | {np.mean(ssim):.4f} |")
    clips = sorted({e[0].rsplit("_", 1)[0] for e in examples})
    lines += ["", "Per clip (PSNR all / SSIM all):", "", "| clip | average | BVFI |", "|---|---|---|"]
    for clip in clips:
        idx = [i for i, e in enumerate(examples) if e[0].rsplit("_", 1)[0] == clip]
        cells = []
        for m in ("average", "BVFI"):
            p = np.mean([scores[m][t][i][0] for t in times for i in idx])
            s = np.mean([scores[m][t][i][1] for t in times for i in idx])
            cells.append(f"{p:.2f} / {s:.4f}")
        lines.append(f"| {clip} ({len(idx)} windows) | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Training speed of `{args.preset}` here: {sec:.2f} s per iteration (batch 2, 64x64, L = 3, CPU, shared "
        f"machine); inference {infer_sec:.2f} s per window (3 output frames).",
    ]
    emit(lines, args.out)
    if args.figure:
        save_bar_figure(summary, args.figure, f"BVFI {args.preset}: held-out windows, mean over t = 0.25, 0.5, 0.75")
    if args.strip:
        save_strip(examples, args.strip)


if __name__ == "__main__":
    main()
