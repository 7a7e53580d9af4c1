"""Dehazing quality on the natural sample's held-out (test) images: the hazy input, the dark channel
prior (He et al. 2009, ``monai_mcrecon.baselines.dark_channel_dehaze``) and MSTN (``bundles/mstn_dehaze``).

    OMP_NUM_THREADS=1 python benchmarks/mstn_quality.py \
        --ckpt bundles/mstn_dehaze/models/model.pt --out benchmarks/results/mstn_quality.md
    OMP_NUM_THREADS=1 python benchmarks/mstn_quality.py --speed_only     # training s/iteration of `small`

The haze is the bundle's evaluation haze: ``AddHazed(beta=(0.6, 1.8), airlight=(0.7, 1.0), seed=0,
case_seed_key="case_id")`` with the item's real depth where it has one (the Middlebury motorcycle),
else a smooth random depth. Metrics as the bundle's handlers: PSNR over all channels (data range 1),
SSIM with an 11x11 Gaussian window (sigma 1.5), mean over channels. Grayscale files are repeated to
RGB (``channels=3``), as in the bundle. Writes the Markdown table, a JSON of the numbers and a figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from monai.metrics import PSNRMetric, SSIMMetric

from monai_mcrecon.baselines import dark_channel_dehaze
from monai_mcrecon.data.natural import natural_sample_datalist
from monai_mcrecon.losses.mstn import MSTNLoss
from monai_mcrecon.networks.nets.mstn import MSTN
from monai_mcrecon.transforms.degradation import AddHazed
from monai_mcrecon.transforms.natural import LoadNaturalImaged

ROOT = Path(__file__).resolve().parents[1]
PSNR = PSNRMetric(max_val=1.0)
SSIM = SSIMMetric(spatial_dims=2, data_range=1.0, kernel_type="gaussian", win_size=11, kernel_sigma=1.5)


def scores(pred: torch.Tensor, label: torch.Tensor) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``[C, H, W]`` images in [0, 1]."""
    p, y = pred[None].float().clamp(0, 1), label[None].float()
    return float(PSNR(p, y).mean()), float(SSIM(p, y).mean())


def hazy_test_set(split: str = "test", seed: int = 0) -> list[dict]:
    load = LoadNaturalImaged(keys="label", channels=3)
    haze = AddHazed(keys="label", output_key="image", depth_key="depth", seed=seed, case_seed_key="case_id")
    return [haze(load(item)) for item in natural_sample_datalist(split)]


def bundle_network(preset: str = "small") -> MSTN:
    """The bundle's network as ``inference.json`` builds it (the dark-channel prior it refines included)."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / "mstn_dehaze" / "configs" / "inference.json"))
    parser["preset"] = preset
    return parser.get_parsed_content("network_def")


def train_speed(preset: str = "small", iterations: int = 20, batch: int = 4, size: int = 64) -> float:
    """Seconds per training iteration (forward, L1 loss, backward, Adam step) on random 64x64 crops, of the
    bundle's network (the dark-channel prior it refines included)."""
    torch.manual_seed(0)
    net = bundle_network(preset).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    loss = MSTNLoss()
    x, y = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
    for i in range(iterations + 3):
        if i == 3:
            start = time.perf_counter()
        opt.zero_grad()
        loss(net(x), y).backward()
        opt.step()
    return (time.perf_counter() - start) / iterations


def save_figure(cases: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ("hazy", "dark channel prior", "MSTN small", "clean")
    fig, axes = plt.subplots(len(cases), len(cols), figsize=(3.2 * len(cols), 2.5 * len(cases)))
    for r, case in enumerate(cases):
        for c, name in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(case["images"][name].clamp(0, 1).permute(1, 2, 0).numpy())
            title = name if name == "clean" else f"{name}\n{case['scores'][name][0]:.2f} dB / {case['scores'][name][1]:.3f}"
            ax.set_title(f"{case['case_id']}: {title}" if c == 0 else title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", default=str(ROOT / "bundles" / "mstn_dehaze" / "models" / "model.pt"))
    parser.add_argument("--preset", default="small")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mstn_quality.md"))
    parser.add_argument("--speed_only", action="store_true", help="only measure the training s/iteration")
    args = parser.parse_args()

    speed = train_speed(args.preset)
    print(f"MSTN {args.preset}: {speed:.3f} s per training iteration (batch 4, 64x64, "
          f"{torch.get_num_threads()} thread(s))")
    if args.speed_only:
        return

    net = bundle_network(args.preset)
    net.load_state_dict(torch.load(args.ckpt, map_location="cpu", weights_only=True))
    net.eval()
    cases = []
    for d in hazy_test_set(args.split):
        with torch.no_grad():
            restored = net(d["image"][None])[0].clamp(0, 1)
        images = {"hazy": d["image"], "dark channel prior": dark_channel_dehaze(d["image"]), "MSTN small": restored,
                  "clean": d["label"]}
        case = {"case_id": d["case_id"], "images": images,
                "scores": {k: scores(v, d["label"]) for k, v in images.items() if k != "clean"}}
        cases.append(case)
    methods = ("hazy", "dark channel prior", "MSTN small")
    mean = {m: [sum(c["scores"][m][i] for c in cases) / len(cases) for i in (0, 1)] for m in methods}

    lines = [
        f"MSTN dehazing on the natural sample's held-out `{args.split}` images ({len(cases)}; synthetic haze, "
        "fixed seed, real depth for the motorcycle). PSNR (dB) / SSIM, mean over images first.",
        "",
        "| image | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
        "| **mean** | " + " | ".join(f"**{mean[m][0]:.2f} / {mean[m][1]:.4f}**" for m in methods) + " |",
        *(f"| {c['case_id']} | " + " | ".join(f"{c['scores'][m][0]:.2f} / {c['scores'][m][1]:.4f}" for m in methods)
          + " |" for c in cases),
        "",
        f"MSTN checkpoint: `{Path(args.ckpt).relative_to(ROOT) if Path(args.ckpt).is_relative_to(ROOT) else args.ckpt}`"
        f" (preset `{args.preset}`, {sum(p.numel() for p in net.parameters()):,} parameters). "
        f"Gain over the hazy input: {mean['MSTN small'][0] - mean['hazy'][0]:+.2f} dB. "
        f"Training speed of `{args.preset}`: {speed:.3f} s/iteration (batch 4, 64x64, {torch.get_num_threads()} "
        "CPU thread(s) on a shared machine).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    numbers = {"split": args.split, "preset": args.preset, "train_seconds_per_iteration": speed,
               "mean": {m: {"psnr": mean[m][0], "ssim": mean[m][1]} for m in methods},
               "cases": {c["case_id"]: {m: {"psnr": c["scores"][m][0], "ssim": c["scores"][m][1]} for m in methods}
                         for c in cases}}
    out.with_suffix(".json").write_text(json.dumps(numbers, indent=2) + "\n")
    save_figure(cases, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
