"""MDRN denoising quality on the held-out natural images (gray, AWGN), against classical baselines.

Methods, all on the same noisy images (``AddGaussianNoised(sigma, seed, case_seed_key="case_id")`` on the natural
sample's test split, exactly as ``bundles/mdrn_denoise/configs/evaluate.json`` does):

- the noisy input;
- ``skimage.restoration.denoise_nl_means`` and ``denoise_wavelet`` with the true sigma
  (``monai_mcrecon.baselines.nl_means_denoise`` / ``wavelet_denoise``);
- MDRN ``small`` trained without distillation, MDRN ``small`` trained with HMDS at the same budget,
  and (for reference) the HMDS teacher.

PSNR / SSIM (data range 1, Gaussian SSIM 11x11 sigma 1.5) per image, mean over images; the network
outputs are clamped to [0, 1]. Writes a Markdown table, a bar figure and an image figure::

    OMP_NUM_THREADS=1 python benchmarks/mdrn_quality.py --plain benchmarks/weights/mdrn_plain/model.pt \\
        --hmds benchmarks/weights/mdrn_hmds/model.pt --teacher benchmarks/weights/mdrn_teacher/model.pt \\
        --out benchmarks/results/mdrn_sigma25.md

(the committed weights of the runs behind ``benchmarks/results/mdrn_sigma25*.md``; the exact commands that wrote
those tables are in ``benchmarks/experiments/mdrn_benchmark*/command.sh``, with paths of the time).

``--timing`` also measures seconds per training iteration of the ``small`` preset (batch 4, 64x64).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from monai_mcrecon.data.natural import natural_sample_datalist
from monai_mcrecon.networks.nets.mdrn import MDRN, DnCNN
from monai_mcrecon.transforms.degradation import AddGaussianNoised
from monai_mcrecon.transforms.natural import LoadNaturalImaged


def noisy_test_set(sigma: float, seed: int) -> list[dict]:
    """The test split, gray, with the evaluate bundle's fixed-seed noise (seeded per case id)."""
    load = LoadNaturalImaged(keys="label", channels=1)
    noise = AddGaussianNoised(keys="label", output_key="image", sigma=sigma, seed=seed, case_seed_key="case_id")
    return [noise(load(dict(d))) for d in natural_sample_datalist("test")]


def scores(label: torch.Tensor, pred: torch.Tensor) -> tuple[float, float]:
    """PSNR (dB) and SSIM (Gaussian 11x11, sigma 1.5) of ``[1, H, W]`` images, data range 1."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    gt = label[0].double().numpy()
    x = pred[0].double().numpy()
    return (
        float(peak_signal_noise_ratio(gt, x, data_range=1.0)),
        float(structural_similarity(gt, x, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)),
    )


def load_net(cls, preset: str, ckpt: str) -> torch.nn.Module:
    net = cls.from_preset(preset, in_channels=1)
    net.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    return net.eval()


def seconds_per_iteration(cls, preset: str, n: int = 10) -> float:
    torch.manual_seed(0)
    net = cls.from_preset(preset, in_channels=1)
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    x = torch.rand(4, 1, 64, 64)
    for i in range(n + 2):
        if i == 2:
            start = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.l1_loss(net(x), x).backward()
        opt.step()
    return (time.perf_counter() - start) / n


def save_image_figure(items: list[dict], outputs: dict[str, list[torch.Tensor]], path: Path, crop: int = 128) -> None:
    """Centre crops of every method for each test image (rows: images; columns: methods)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["clean", *outputs]
    fig, axes = plt.subplots(len(items), len(names), figsize=(2.1 * len(names), 2.2 * len(items)))
    for r, item in enumerate(items):
        h, w = item["label"].shape[-2:]
        t, l = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        for c, name in enumerate(names):
            img = item["label"] if name == "clean" else outputs[name][r]
            ax = axes[r, c]
            ax.imshow(img[0, t : t + crop, l : l + crop].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
            if c == 0:
                ax.set_ylabel(item["case_id"], fontsize=8)
            if name != "clean":
                ax.set_xlabel("%.2f dB" % scores(item["label"], img)[0], fontsize=7)  # as in the table (input unclipped)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sigma", type=float, default=25.0, help="noise std on the 0-255 scale")
    p.add_argument("--seed", type=int, default=0, help="noise seed (the evaluate bundle's noise_seed)")
    p.add_argument("--plain", default=None, help="MDRN small checkpoint trained without distillation")
    p.add_argument("--hmds", default=None, help="MDRN small checkpoint trained with HMDS (same budget)")
    p.add_argument("--teacher", default=None, help="DnCNN teacher checkpoint")
    p.add_argument("--student", action="append", default=[], metavar="LABEL=CKPT",
                   help="further MDRN small checkpoints, e.g. another learning rate (repeatable)")
    p.add_argument("--teacher_preset", default="large")
    p.add_argument("--budget", default="", help="text describing the training budget, for the caption")
    p.add_argument("--timing", action="store_true", help="also measure s/iteration of the small preset")
    p.add_argument("--out", default=None, help="Markdown file; the figures go next to it (.png, _images.png)")
    args = p.parse_args()

    from monai_mcrecon.baselines import nl_means_denoise, wavelet_denoise

    items = noisy_test_set(args.sigma, args.seed)
    s = args.sigma / 255.0
    outputs: dict[str, list[torch.Tensor]] = {"noisy input": [d["image"] for d in items]}
    outputs["denoise_nl_means"] = [nl_means_denoise(d["image"], s).clamp(0, 1) for d in items]
    outputs["denoise_wavelet"] = [wavelet_denoise(d["image"], s).clamp(0, 1) for d in items]
    nets = [
        ("DnCNN teacher (" + args.teacher_preset + ")", DnCNN, args.teacher_preset, args.teacher),
        ("MDRN small, plain L1", MDRN, "small", args.plain),
        ("MDRN small, HMDS", MDRN, "small", args.hmds),
        *((f"MDRN small, {label}", MDRN, "small", ckpt) for label, ckpt in (x.split("=", 1) for x in args.student)),
    ]
    for name, cls, preset, ckpt in nets:
        if ckpt:
            net = load_net(cls, preset, ckpt)
            with torch.no_grad():
                outputs[name] = [net(d["image"][None])[0].clamp(0, 1) for d in items]

    rows = []
    for name, preds in outputs.items():
        per = np.array([scores(d["label"], x) for d, x in zip(items, preds)])
        rows.append((name, *per.mean(0), per[:, 0]))
    cases = [d["case_id"] for d in items]
    lines = [
        f"Natural sample, test split ({len(items)} held-out images: {', '.join(cases)}), gray, AWGN sigma {args.sigma:g}/255 "
        f"(seed {args.seed}, unclipped input); PSNR/SSIM with data range 1, mean over images. {args.budget}".strip(),
        "",
        "| method | PSNR (dB) | SSIM | " + " | ".join(f"PSNR {c}" for c in cases) + " |",
        "|---|---|---|" + "---|" * len(cases),
        *(f"| {n} | {a:.2f} | {b:.4f} | " + " | ".join(f"{v:.2f}" for v in per) + " |" for n, a, b, per in rows),
    ]
    by = {n: a for n, a, _, _ in rows}
    if "MDRN small, plain L1" in by:
        lines += ["", f"MDRN plain - denoise_nl_means: {by['MDRN small, plain L1'] - by['denoise_nl_means']:+.2f} dB."]
    if "MDRN small, HMDS" in by:
        lines += [f"MDRN HMDS - denoise_nl_means: {by['MDRN small, HMDS'] - by['denoise_nl_means']:+.2f} dB."]
    if "MDRN small, HMDS" in by and "MDRN small, plain L1" in by:
        lines += [f"MDRN HMDS - MDRN plain (same budget): {by['MDRN small, HMDS'] - by['MDRN small, plain L1']:+.2f} dB."]
    if args.timing:
        lines += [
            "",
            f"Training speed here (1 thread, batch 4, 64x64, forward+backward+Adam): MDRN small "
            f"{seconds_per_iteration(MDRN, 'small'):.3f} s/iteration, DnCNN {args.teacher_preset} "
            f"{seconds_per_iteration(DnCNN, args.teacher_preset):.3f} s/iteration.",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        from common import save_bar_figure

        save_bar_figure([(n, a, b, 0.0) for n, a, b, _ in rows], out.with_suffix(".png"), f"MDRN denoising, sigma {args.sigma:g}")
        save_image_figure(items, {k: v for k, v in outputs.items()}, out.with_name(out.stem + "_images.png"))


if __name__ == "__main__":
    main()
