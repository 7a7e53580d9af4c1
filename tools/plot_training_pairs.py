"""Plot random training pairs (degraded input | clean target) drawn through a bundle's own train.json chain.

The figure shows what the network is trained on: ``--count`` random items of the bundle's ``train#dataset``
(the datalist, loading, augmentation and the per-sample random degradation exactly as ``train.json`` builds
them, seeded like the data loader seeds them), each as ``input | target`` with the drawn degradation
parameters under it. Written to ``monai_mcrecon/bundles/<bundle>/docs/training_pairs.png`` by default::

    python tools/plot_training_pairs.py --bundle spdnet_derain
    python tools/plot_training_pairs.py --bundle mdrn_denoise --count 16 --seed 3 --override noise_sigma_range=[5,15]

Inputs shown per bundle: the noisy / blurred (kernel inset) / rainy / hazy patch; the bicubic-upsampled
low-resolution left view (``ssrde_stereo_sr``); the mean of the two input frames (``fgdcn_vfi``; its target is
the middle frame); the blurry key frame B0 (``bvfi_blurry_vfi``; its target is the sharp frame at t = 0.5).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import torch

BUNDLES = ("mdrn_denoise", "deep_rl_deblur", "spdnet_derain", "mstn_dehaze", "ssrde_stereo_sr", "fgdcn_vfi",
           "bvfi_blurry_vfi")


def _walk(obj, found: list, depth: int = 0) -> None:
    """Collect the transforms of a dataset's chain (Compose trees, concatenated datasets)."""
    from monai.transforms import Compose

    if obj is None or depth > 8:
        return
    if isinstance(obj, Compose):
        for t in obj.transforms:
            _walk(t, found, depth + 1)
        return
    for ds in getattr(obj, "datasets", ()):  # ConcatDataset
        _walk(ds, found, depth + 1)
    if getattr(obj, "transform", None) is not None:  # a dataset's chain, a dictionary transform's array one
        _walk(obj.transform, found, depth + 1)
    found.append(obj)


def _caption(transforms: list) -> str:
    """The values the random transforms drew for the last item."""
    from monai_mcrecon.transforms.degradation import AddGaussianNoise, SaturatedMotionBlur
    from monai_mcrecon.transforms.video import RandCropFramesd, RandTemporalStrided
    from monai_mcrecon.transforms.weather import AddHaze, AddRainStreaks

    parts = []
    for t in transforms:
        if isinstance(t, AddGaussianNoise) and hasattr(t, "last_sigma"):
            parts.append(f"sigma {t.last_sigma * t.scale:.0f}")
        elif isinstance(t, SaturatedMotionBlur) and t.last_params:
            p = t.last_params
            parts.append(f"{p['kernel']}, gain {p['gain']:.1f}, noise {p['noise_sigma'] * 255:.1f}")
        elif isinstance(t, AddRainStreaks) and t.last_params:
            p = t.last_params
            parts.append(f"rho {p['density'] * 100:.1f}%, L {p['length']:.0f}, {p['angle']:+.0f} deg, b {p['brightness']:.2f}")
        elif isinstance(t, AddHaze) and hasattr(t, "last_beta"):
            a = t.last_airlight_colour.flatten().tolist()
            parts.append(f"beta {t.last_beta:.2f}, A ({a[0]:.2f},{a[1]:.2f},{a[2]:.2f})")
        elif isinstance(t, RandTemporalStrided):
            parts.append(f"step {t._step}")
        elif isinstance(t, RandCropFramesd) and t.scale is not None:
            parts.append(f"zoom {t._window[0] / t.size[0]:.2f}")
    return "; ".join(parts)


def _pair(bundle: str, item: dict, parser) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(input shown, target, kernel or None) as ``[C, H, W]`` in [0, 1]."""
    import torch.nn.functional as F

    if bundle == "ssrde_stereo_sr":
        lr, hr = item["lr_left"], item["left"]
        return F.interpolate(lr[None], size=hr.shape[-2:], mode="bicubic", align_corners=False)[0], hr, None
    if bundle == "fgdcn_vfi":
        return 0.5 * (item["frame0"] + item["frame1"]), item["label"], None
    if bundle == "bvfi_blurry_vfi":
        key = int(parser.get_parsed_content("key_index"))
        times = item["times"].tolist()
        mid = min(range(len(times)), key=lambda i: abs(times[i] - 0.5))
        return item["blurry"][key], item["label"][mid], None
    return item["image"], item["label"], item.get("kernel")


def _show(ax, img: torch.Tensor) -> None:
    arr = img.detach().float().clamp(0, 1).cpu().numpy()
    if arr.shape[0] == 1:
        ax.imshow(arr[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.transpose(arr, (1, 2, 0)), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _ranges(parser) -> str:
    """The top-level ``*_range`` / randomisation ids of the config, for the figure title."""
    keys = [k for k in parser.config if k.endswith(("_range", "_types", "_tint", "_blend")) or k == "haze_depth"]
    return ", ".join(f"{k}={json.dumps(parser.config[k])}" for k in keys)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, choices=BUNDLES)
    ap.add_argument("--count", type=int, default=12, help="training pairs to draw (8-16 fit the layout)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", default=None, help="PNG path (default: the bundle's docs/training_pairs.png)")
    ap.add_argument("--override", action="append", default=[], metavar="ID=JSON",
                    help="config override, e.g. noise_sigma_range=[5,15] (repeatable)")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from monai.bundle import ConfigParser
    from monai.data.utils import set_rnd
    from monai.utils import set_determinism

    from monai_mcrecon.bundle.locate import bundle_dir

    root = Path(bundle_dir(args.bundle))
    parser = ConfigParser()
    parser.read_config(str(root / "configs" / "train.json"))
    parser["device"] = "$torch.device('cpu')"
    parser["output_dir"] = tempfile.mkdtemp(prefix="training_pairs_")
    for item in args.override:
        key, _, value = item.partition("=")
        parser[key] = json.loads(value)
    set_determinism(seed=args.seed)
    dataset = parser.get_parsed_content("train#dataset")
    set_rnd(dataset, args.seed)  # as monai.data.DataLoader seeds the chain
    transforms: list = []
    _walk(dataset, transforms)
    order = np.random.default_rng(args.seed).choice(len(dataset), size=args.count, replace=len(dataset) < args.count)
    pairs = []
    for i in order:
        item = dataset[int(i)]
        pairs.append((*_pair(args.bundle, item, parser), _caption(transforms)))

    aspect = pairs[0][1].shape[-1] / pairs[0][1].shape[-2]  # tile width / height
    cols = (4 if args.count > 9 else 3) if aspect <= 1.5 else 2
    rows = -(-args.count // cols)
    width = 13.2
    tile = width / (2 * cols)
    height = rows * (0.93 * tile / aspect + 0.42) + 0.3  # tiles and a caption line under each pair
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(width, height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for n, (inp, target, kernel, caption) in enumerate(pairs):
        a, b = axes[n // cols, 2 * (n % cols)], axes[n // cols, 2 * (n % cols) + 1]
        for ax in (a, b):
            ax.axis("on")
        _show(a, inp)
        _show(b, target)
        if kernel is not None:  # the blur kernel as an inset, top-left
            inset = a.inset_axes([0.0, 0.62, 0.38, 0.38])
            k = kernel.reshape(kernel.shape[-2:])
            inset.imshow((k / k.max()).cpu().numpy(), cmap="gray", interpolation="nearest")
            inset.set_xticks([])
            inset.set_yticks([])
        a.set_title("input", fontsize=7, pad=2)
        b.set_title("target", fontsize=7, pad=2)
        a.text(0.0, -0.04, caption, transform=a.transAxes, fontsize=5.5, va="top", ha="left")
    title = f"{args.bundle}: random training pairs through configs/train.json (seed {args.seed})"
    fig.tight_layout(w_pad=0.2, h_pad=1.2)
    top = max(ax.get_position().y1 for ax in axes[0])  # the title just above the first row of tiles
    fig.suptitle("\n".join([title, *textwrap.wrap(_ranges(parser), 160)]), fontsize=7, y=top + 0.2 / height,
                 va="bottom")
    out = Path(args.output) if args.output else root / "docs" / "training_pairs.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    from PIL import Image

    with Image.open(buffer) as im:  # 256 colours: a third of the size (the figure ships with the package)
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(out)
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
