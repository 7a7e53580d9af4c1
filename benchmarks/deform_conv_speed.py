"""The package's deformable convolution against ``torchvision.ops.deform_conv2d`` on the CPU, side by side.

    python benchmarks/deform_conv_speed.py --out benchmarks/results/deform_conv_speed.md

``monai_mcrecon.networks.blocks.deform.modulated_deform_conv`` (one ``grid_sample`` per offset group and one
matrix product) and torchvision's kernel get the same inputs (3x3 kernel, random offsets of a few pixels, a
modulation mask) at channel counts and sizes of FGDCN's and BVFI's feature levels, and the forward of FGDCN's
``small`` preset at 256 x 448 runs with each. Median of ``--repeats`` timed runs after one warm-up, ``--threads``
threads, with the largest relative difference of the outputs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from torchvision.ops import deform_conv2d

from monai_mcrecon.networks.blocks import deform
from monai_mcrecon.networks.blocks.deform import torchvision_kernel

CASES = [  # (channels, offset groups, height, width)
    (16, 1, 256, 448),
    (32, 8, 128, 224),
    (64, 8, 64, 112),
]


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=None, help="write the Markdown table here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    lines = [
        "# Deformable convolution: the package's (grid_sample + matrix product) against torchvision's kernel",
        "",
        (f"`python benchmarks/deform_conv_speed.py`; CPU, {args.threads} thread(s), {os.cpu_count()} cores, "
         f"torch {torch.__version__}; median of {args.repeats} runs after a warm-up, forward only, batch 1."),
        "",
        "| case | torchvision (ms) | package (ms) | speed-up | max relative difference |",
        "|---|---|---|---|---|",
    ]
    with torch.inference_mode():
        for c, groups, h, w in CASES:
            x = torch.randn(1, c, h, w, generator=gen)
            offset = 3.0 * torch.randn(1, 2 * groups * 9, h, w, generator=gen)
            mask = torch.rand(1, groups * 9, h, w, generator=gen)
            weight = 0.1 * torch.randn(c, c, 3, 3, generator=gen)
            bias = torch.randn(c, generator=gen)
            ref = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
            out = deform.modulated_deform_conv(x, offset, mask, weight, bias, padding=1)
            diff = float((out - ref).abs().max() / ref.abs().max())
            inputs = (x, offset, mask, weight, bias)
            t_tv = _median_time(lambda a=inputs: deform_conv2d(a[0], a[1], a[3], a[4], padding=1, mask=a[2]), args.repeats)
            t_pk = _median_time(lambda a=inputs: deform.modulated_deform_conv(*a, padding=1), args.repeats)
            lines.append(f"| C={c}, {groups} offset group(s), {h}x{w} | {1e3 * t_tv:.0f} | {1e3 * t_pk:.0f} | "
                         f"{t_tv / t_pk:.2f}x | {diff:.1e} |")
        from monai_mcrecon.networks.nets.fgdcn import FGDCN

        net = FGDCN.from_preset("small").eval()
        f0, f1 = torch.rand(1, 3, 256, 448, generator=gen), torch.rand(1, 3, 256, 448, generator=gen)
        out = net(f0, f1)
        t_pk = _median_time(lambda: net(f0, f1), args.repeats)
        with torchvision_kernel():
            ref = net(f0, f1)
            t_tv = _median_time(lambda: net(f0, f1), args.repeats)
        diff = float((out - ref).abs().max() / ref.abs().max())
        lines.append(f"| FGDCN `small` forward, 256x448 frames | {1e3 * t_tv:.0f} | {1e3 * t_pk:.0f} | "
                     f"{t_tv / t_pk:.2f}x | {diff:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
