"""Deep RL deblurring quality on held-out images with saturated motion blur: input vs Richardson-Lucy vs Deep RL.

    python benchmarks/deep_rl_quality.py --ckpt bundles/deep_rl_deblur/models/model.pt \
        --out benchmarks/results/deep_rl_quality.md --figure benchmarks/results/deep_rl_quality.png
    python benchmarks/deep_rl_quality.py --time_only          # seconds per training iteration of `small`

The blurred images are those of ``bundles/deep_rl_deblur/configs/evaluate.json`` (same datalist, same
``SaturatedMotionBlurd`` with the same fixed seed, per-image kernels; the target is the clipped
highlight-boosted clean image), so the numbers equal that bundle's ``metrics.csv``.

Methods, all given the true kernel:

- ``blurred``: the degraded input;
- ``skimage RL``: :func:`monai_mcrecon.baselines.richardson_lucy_deblur` (``skimage.restoration.richardson_lucy``
  per channel on a reflect-padded image, clipped); its ``num_iter`` is chosen on the **validation** split
  (best mean PSNR among ``--rl_iters``), then applied to the test split;
- ``RL (same updates)``: textbook RL with the network's own operator and as many updates as Deep RL
  performs (Deep RL with the map fixed at 1 and the prior off): what the learned MEN/PEN add;
- ``Deep RL``: the trained network.

Metrics per image on RGB in [0, 1], outputs clamped to [0, 1]: PSNR over all channels, SSIM with an
11x11 Gaussian window, sigma 1.5, mean over channels (the bundle's ImagePSNR / ImageSSIM).
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

from monai_mcrecon.baselines import richardson_lucy_deblur
from monai_mcrecon.bundle.locate import config_files
from monai_mcrecon.networks.nets.deep_rl import DeepRL

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "bundles" / "deep_rl_deblur" / "configs"
EVALUATE = [str(f) for f in config_files(CFG.parent, "evaluate.json")]  # evaluate.json is an overlay: [inference.json, evaluate.json]
METHODS = ("blurred", "skimage RL", "RL (same updates)", "Deep RL")


def scores(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """PSNR / SSIM of ``[C, H, W]`` arrays in [0, 1] (pred clamped)."""
    pred = np.clip(pred, 0, 1)
    ssim_kw = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    return {
        "psnr": peak_signal_noise_ratio(gt, pred, data_range=1.0),
        "ssim": structural_similarity(gt, pred, channel_axis=0, **ssim_kw),
    }


def load_dataset(split: str, dataset_dir: str | None = None):
    """The evaluate.json dataset (fixed-seed saturated blur) of ``split`` (or of a folder of clean images)."""
    parser = ConfigParser()
    parser.read_config(EVALUATE)
    parser["split"] = split
    parser["dataset_dir"] = dataset_dir
    parser["device"] = "$torch.device('cpu')"
    return parser, parser.get_parsed_content("dataset")


def choose_rl_iterations(candidates: list[int]) -> tuple[int, dict[int, float]]:
    """Best ``num_iter`` of skimage RL by mean PSNR on the validation split."""
    _, dataset = load_dataset("val")
    means = {}
    for n in candidates:
        vals = [scores(richardson_lucy_deblur(d["image"], d["kernel"], n).numpy(), d["label"].numpy())["psnr"]
                for d in dataset]
        means[n] = float(np.mean(vals))
    return max(means, key=means.get), means


def evaluate(ckpt: str, preset: str, rl_iter: int, dataset_dir: str | None) -> tuple[list[dict], list[tuple], DeepRL]:
    parser, dataset = load_dataset("test", dataset_dir)
    net = parser.get_parsed_content("network_def")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"] if "model" in state else state)  # best-metric file or a full checkpoint
    net.eval()
    rows, examples = [], []
    for d in dataset:
        blurred, kernel, target = d["image"].float(), d["kernel"].float(), d["label"].float()
        with torch.no_grad():
            t0 = time.perf_counter()
            pred = net(blurred[None], kernel[None])[0]
            seconds = time.perf_counter() - t0
            plain = net.forward_stages(blurred[None], kernel[None], fixed_map=1.0, use_prior=False).image[0]
        rl = richardson_lucy_deblur(blurred, kernel, rl_iter)
        outs = dict(zip(METHODS, (blurred, rl, plain, pred)))
        c = target.numpy()
        rows.append({"case_id": d["case_id"], "shape": tuple(c.shape), "seconds": seconds,
                     **{m: scores(o.numpy(), c) for m, o in outs.items()}})
        examples.append((d["case_id"], {m: o.clamp(0, 1).numpy() for m, o in outs.items()}, c))
    return rows, examples, net


def time_training_step(preset: str = "small", iters: int = 10, batch: int = 4, size: int = 64) -> float:
    """Mean seconds per Adam step of ``preset`` on ``batch`` x 3 x ``size`` x ``size`` with 15x15 kernels."""
    torch.manual_seed(0)
    net = DeepRL.from_preset(preset, padding="reflect", deep_supervision=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x, y = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
    k = torch.rand(batch, 1, 15, 15)
    times = []
    for i in range(iters + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        sum((o - y).abs().mean() for o in net(x, k)).backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def save_figure(examples: list[tuple], rows: list[dict], path: str, rl_iter: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ("blurred", "skimage RL", "Deep RL")
    fig, axes = plt.subplots(len(examples), 4, figsize=(13, 3.2 * len(examples)), squeeze=False)
    for ax_row, (case, outs, target), row in zip(axes, examples, rows):
        panels = [(outs[m], f"{m}{f' ({rl_iter} it.)' if m == 'skimage RL' else ''} {row[m]['psnr']:.2f} dB")
                  for m in shown]
        panels.append((target, f"target ({case})"))
        for ax, (img, title) in zip(ax_row, panels):
            img = img.transpose(1, 2, 0)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"figure: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default=str(ROOT / "bundles" / "deep_rl_deblur" / "models" / "model.pt"))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--dataset_dir", default=None, help="folder of clean images (default: the sample's test split)")
    ap.add_argument("--rl_iters", default="5,10,20,30,50", help="skimage RL num_iter candidates (chosen on val)")
    ap.add_argument("--out", default=None, help="Markdown table to write")
    ap.add_argument("--figure", default=None, help="PNG figure (blurred | skimage RL | Deep RL | target)")
    ap.add_argument("--time_only", action="store_true", help="only measure seconds per training iteration")
    args = ap.parse_args()

    sec = time_training_step(args.preset)
    if args.time_only:
        print(f"Deep RL {args.preset}: {sec:.3f} s per training iteration (batch 4, 64x64, 15x15 kernels, Adam, CPU)")
        return
    rl_iter, val_means = choose_rl_iterations([int(v) for v in args.rl_iters.split(",")])
    rows, examples, net = evaluate(args.ckpt, args.preset, rl_iter, args.dataset_dir)
    ckpt = Path(args.ckpt).resolve()
    updates = net.num_stages * net.iterations_per_stage
    lines = [
        f"Deep RL `{args.preset}` (T = {net.num_stages} stages x {net.iterations_per_stage} RL update(s)) on held-out "
        "images with synthetic saturated motion blur (evaluate.json: SaturatedMotionBlurd, 15x15 random motion "
        f"kernels, highlight gain 1-3, noise 0.01, fixed seed); checkpoint "
        f"`{ckpt.relative_to(ROOT) if ckpt.is_relative_to(ROOT) else ckpt}`.",
        "Every method gets the true kernel. Target: the clipped highlight-boosted clean image. PSNR over all "
        "channels, SSIM Gaussian 11x11 sigma 1.5 (mean over channels); outputs clamped to [0, 1].",
        f"skimage RL num_iter = {rl_iter}, chosen on the validation image(s) (mean PSNR: "
        + ", ".join(f"{n}: {v:.2f} dB" for n, v in val_means.items()) + ").",
        f"RL (same updates) = textbook RL with the network's operator, {updates} updates (Deep RL with M = 1, P = 0).",
        "",
        "| image | size (C, H, W) | " + " | ".join(f"PSNR {m}" for m in METHODS) + " | "
        + " | ".join(f"SSIM {m}" for m in METHODS) + " |",
        "|---|---|" + "---|" * (2 * len(METHODS)),
    ]

    def fmt(d):
        return " | ".join(f"{d[m]['psnr']:.2f}" for m in METHODS) + " | " + " | ".join(
            f"{d[m]['ssim']:.4f}" for m in METHODS)

    for r in rows:
        lines.append(f"| {r['case_id']} | {r['shape']} | {fmt(r)} |")
    mean = {m: {k: float(np.mean([r[m][k] for r in rows])) for k in ("psnr", "ssim")} for m in METHODS}
    lines.append(f"| **mean** | | {fmt(mean)} |")
    wins = sum(r["Deep RL"]["psnr"] > r["skimage RL"]["psnr"] for r in rows)
    lines += [
        "",
        f"Deep RL vs skimage RL: {mean['Deep RL']['psnr'] - mean['skimage RL']['psnr']:+.2f} dB mean PSNR, "
        f"{mean['Deep RL']['ssim'] - mean['skimage RL']['ssim']:+.4f} SSIM; higher PSNR on {wins}/{len(rows)} images. "
        f"Deep RL vs blurred input: {mean['Deep RL']['psnr'] - mean['blurred']['psnr']:+.2f} dB.",
        f"Training speed of `{args.preset}` here: {sec:.3f} s per iteration (batch 4, 64x64, CPU); "
        f"inference {np.mean([r['seconds'] for r in rows]):.2f} s per image.",
    ]
    emit(lines, args.out)
    if args.figure:
        save_figure(examples, rows, args.figure, rl_iter)


if __name__ == "__main__":
    main()
