"""SPDNet deraining quality on the natural sample's held-out (test) images: rainy input vs SPDNet.

    python benchmarks/spdnet_quality.py --ckpt bundles/spdnet_derain/models/model.pt \
        --out benchmarks/results/spdnet_quality.md --figure benchmarks/results/spdnet_quality.png
    python benchmarks/spdnet_quality.py --time_only          # seconds per training iteration of `small`

The rainy images are those of ``bundles/spdnet_derain/configs/evaluate.json`` (same datalist, same
``AddRainStreaksd`` with the same fixed seed), so the RGB numbers equal that bundle's ``metrics.csv``.
Metrics per image: PSNR and SSIM on RGB in [0, 1] (the bundle's metrics: PSNR over all channels, SSIM
with an 11x11 Gaussian window, sigma 1.5, mean over channels) and, as deraining papers report them, on
the Y channel of MATLAB's ``rgb2ycbcr`` (``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``); outputs
clamped to [0, 1]. The classical baseline for deraining is the rainy input itself (issue 5).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import emit
from monai.bundle import ConfigParser
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from monai_mcrecon.bundle.locate import config_files
from monai_mcrecon.networks.nets.spdnet import SPDNet

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "bundles" / "spdnet_derain" / "configs"
EVALUATE = [str(f) for f in config_files(CFG.parent, "evaluate.json")]  # evaluate.json is an overlay: [inference.json, evaluate.json]


def y_channel(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma of ``[3, H, W]`` RGB in [0, 1], in [16/255, 235/255]; gray input is returned as is."""
    if img.shape[0] == 1:
        return img[0]
    return (16.0 + 65.481 * img[0] + 128.553 * img[1] + 24.966 * img[2]) / 255.0


def scores(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """RGB and Y-channel PSNR / SSIM of ``[C, H, W]`` arrays in [0, 1]."""
    ssim_kw = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    py, gy = y_channel(pred), y_channel(gt)
    return {
        "psnr": peak_signal_noise_ratio(gt, pred, data_range=1.0),
        "ssim": structural_similarity(gt, pred, channel_axis=0, **ssim_kw),
        "psnr_y": peak_signal_noise_ratio(gy, py, data_range=1.0),
        "ssim_y": structural_similarity(gy, py, **ssim_kw),
    }


def evaluate(ckpt: str, preset: str, dataset_dir: str | None) -> tuple[list[dict], list[tuple]]:
    parser = ConfigParser()
    parser.read_config(EVALUATE)
    parser["preset"] = preset
    parser["dataset_dir"] = dataset_dir
    parser["device"] = "$torch.device('cpu')"
    dataset = parser.get_parsed_content("dataset")
    net = parser.get_parsed_content("network_def")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"] if "model" in state else state)  # best-metric file or a full checkpoint
    net.eval()
    rows, examples = [], []
    for item in dataset:
        rainy, clean = item["image"].float(), item["label"].float()
        with torch.no_grad():
            t0 = time.perf_counter()
            pred = net(rainy[None])[0].clamp(0, 1)
            seconds = time.perf_counter() - t0
        r, p, c = rainy.numpy(), pred.numpy(), clean.numpy()
        rows.append({"case_id": item["case_id"], "shape": tuple(c.shape), "seconds": seconds,
                     "input": scores(r, c), "spdnet": scores(p, c)})
        examples.append((item["case_id"], r, p, c))
    return rows, examples


def time_training_step(preset: str = "small", iters: int = 10, batch: int = 4, size: int = 64) -> float:
    """Mean seconds per Adam step of ``preset`` on ``batch`` x 3 x ``size`` x ``size`` (after 2 warm-up steps)."""
    torch.manual_seed(0)
    net = SPDNet.from_preset(preset)
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    x, y = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
    times = []
    for i in range(iters + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        sum(((o - y) ** 2).mean() for o in net(x)).backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def save_figure(examples: list[tuple], rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(examples), 3, figsize=(10, 3.2 * len(examples)), squeeze=False)
    for ax_row, (case, r, p, c), row in zip(axes, examples, rows):
        for ax, img, title in zip(
            ax_row, (r, p, c),
            (f"rainy {row['input']['psnr']:.2f} dB", f"SPDNet small {row['spdnet']['psnr']:.2f} dB", f"clean ({case})"),
        ):
            ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"figure: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(ROOT / "bundles" / "spdnet_derain" / "models" / "model.pt"))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--dataset_dir", default=None, help="folder of clean images (default: the sample's test split)")
    ap.add_argument("--out", default=None, help="Markdown table to write")
    ap.add_argument("--figure", default=None, help="PNG figure (rainy | SPDNet | clean per image)")
    ap.add_argument("--time_only", action="store_true", help="only measure seconds per training iteration")
    args = ap.parse_args()

    sec = time_training_step(args.preset)
    if args.time_only:
        print(f"SPDNet {args.preset}: {sec:.3f} s per training iteration (batch 4, 64x64, Adam, CPU)")
        return
    args.ckpt = str(Path(args.ckpt).resolve())
    rows, examples = evaluate(args.ckpt, args.preset, args.dataset_dir)
    lines = [
        f"SPDNet `{args.preset}` deraining on held-out images with synthetic rain (evaluate.json, fixed seed); "
        f"checkpoint `{Path(args.ckpt).relative_to(ROOT) if Path(args.ckpt).is_relative_to(ROOT) else args.ckpt}`.",
        "RGB: PSNR over all channels, SSIM Gaussian 11x11 sigma 1.5 (mean over channels); Y: MATLAB rgb2ycbcr luma.",
        "",
        "| image | size (C, H, W) | PSNR rainy | PSNR SPDNet | SSIM rainy | SSIM SPDNet | PSNR-Y rainy | PSNR-Y SPDNet | SSIM-Y rainy | SSIM-Y SPDNet |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = ("psnr", "ssim", "psnr_y", "ssim_y")

    def fmt(d_in, d_out):
        return " | ".join(
            f"{d_in[k]:.2f} | {d_out[k]:.2f}" if k.startswith("psnr") else f"{d_in[k]:.4f} | {d_out[k]:.4f}" for k in keys
        )

    for r in rows:
        lines.append(f"| {r['case_id']} | {r['shape']} | {fmt(r['input'], r['spdnet'])} |")
    mean_in = {k: float(np.mean([r["input"][k] for r in rows])) for k in keys}
    mean_out = {k: float(np.mean([r["spdnet"][k] for r in rows])) for k in keys}
    lines.append(f"| **mean** | | {fmt(mean_in, mean_out)} |")
    lines += [
        "",
        f"Gain over the rainy input: {mean_out['psnr'] - mean_in['psnr']:+.2f} dB PSNR (RGB), "
        f"{mean_out['psnr_y'] - mean_in['psnr_y']:+.2f} dB PSNR-Y.",
        f"Training speed of `{args.preset}` here: {sec:.3f} s per iteration (batch 4, 64x64, CPU); "
        f"inference {np.mean([r['seconds'] for r in rows]):.2f} s per image.",
    ]
    emit(lines, args.out)
    if args.figure:
        save_figure(examples, rows, args.figure)


if __name__ == "__main__":
    main()
