"""Speed-up of the optimised inference paths of MC-CDic and CLGNet (default presets) at 256x256 (``--size``) on CPU.

    OMP_NUM_THREADS=1 python benchmarks/inference_speed.py --threads 1 2 --repeats 3 [--size 240] \
        --out benchmarks/results/inference_speed.json --markdown benchmarks/results/inference_speed.md

One image ``[1, C, 256, 256]`` (``--size``: another square size; the authors' MC-CDic figures are at
240), ``torch.inference_mode``, random weights (seed 0; the default presets
ship no weights, and speed does not depend on the values). Variants, run *interleaved* (one forward
of each variant per round, ``--repeats`` rounds after one warm-up round) so that the load of a busy
machine hits every variant alike:

* MC-CDic: ``straightforward`` (``MCCDic(fast=False)``, the transcription of the equations),
  ``straightforward + channels_last`` (weights and input in the channels-last memory format, to
  separate the layout's share), ``fast`` (the default: :meth:`MCCDic.unfold_fast`, dictionary filters
  prepared once per forward, fused data-term operators, and the wide 3x3 convolutions through NNPACK's
  Winograd convolution, ``MCCDic.winograd``), ``fast, winograd off`` (the same with oneDNN on channels-last
  feature maps, the fast path before Winograd);
* CLGNet: ``straightforward``, ``channels_last`` and batched slices (time per slice);
* both: a plain forward with autograd on (no ``inference_mode``), what a user calling ``net(x)`` pays.

Each thread count of a run with several is measured in its own process (NNPACK sizes its thread pool once per
process). Reported per variant and thread count: the median wall time and the median CPU time of the process
(``time.process_time``; on a machine shared with other jobs the CPU time is the steadier measure
of the work done, the wall time what a user waits), the ratios to the straightforward variant,
and the largest relative deviation of the outputs from the straightforward output
(``||out - ref|| / ||ref - input||``, i.e. relative to what the network adds to its input).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from common import cpu_name, finish_timing_run, write_json


def _variants(name: str, size: int = 256):
    """``(input, [(variant, module, input), ...])`` for one network; the first variant is the reference."""
    import torch

    from monai_mcrecon.networks.nets import CLGNet, MCCDic

    torch.manual_seed(0)
    if name == "mc_cdic":
        net = MCCDic(fast=False).eval()
        net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
        fast = copy.deepcopy(net)
        fast.fast = True
        fast_onednn = copy.deepcopy(fast)
        fast_onednn.winograd = False
        x = torch.rand(1, 2, size, size)
        return x, [
            ("straightforward", net, x),
            ("straightforward + channels_last", net_cl, x.contiguous(memory_format=torch.channels_last)),
            ("fast (the default: Winograd 3x3 convolutions)", fast, x),
            ("fast, winograd off (oneDNN, channels-last)", fast_onednn, x),
            ("plain forward, autograd on (no inference_mode)", net, x),
        ]
    net = CLGNet().eval()
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x = torch.rand(1, 1, size, size)
    return x, [
        ("straightforward", net, x),
        ("channels_last", net_cl, x.contiguous(memory_format=torch.channels_last)),
        (f"batched, {BATCH} slices per call", net, x.repeat(BATCH, 1, 1, 1)),
        ("plain forward, autograd on (no inference_mode)", net, x),
    ]


BATCH = 4


def measure(name: str, threads: int, repeats: int, log=print, size: int = 256) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    x, variants = _variants(name, size)
    wall: dict[str, list[float]] = {v: [] for v, _, _ in variants}
    cpu: dict[str, list[float]] = {v: [] for v, _, _ in variants}
    outputs: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for round_ in range(repeats + 1):  # round 0 warms up (allocator, oneDNN primitives)
            for variant, net, inp in variants:
                # "autograd on": what a forward outside inference_mode / no_grad costs (graph recording)
                grad = torch.inference_mode(False) if variant.startswith("plain forward") else contextlib.nullcontext()
                t0, c0 = time.perf_counter(), time.process_time()
                with grad:
                    out = net(inp)
                t1, c1 = time.perf_counter(), time.process_time()
                n = inp.shape[0]  # per-slice time for batched variants
                if round_ == 0:
                    outputs[variant] = out[:1].detach().contiguous()
                    continue
                wall[variant].append((t1 - t0) / n)
                cpu[variant].append((c1 - c0) / n)
                log(f"{name} threads={threads} round {round_} {variant}: wall {t1 - t0:.2f} s, cpu {c1 - c0:.2f} s")
    reference = variants[0][0]
    ref_out = outputs[reference]
    added = (ref_out - x[:, : ref_out.shape[1]]).norm()
    rows = []
    for variant, _, _ in variants:
        w, c = statistics.median(wall[variant]), statistics.median(cpu[variant])
        rows.append(
            {
                "network": name,
                "variant": variant,
                "threads": threads,
                "repeats": repeats,
                "wall_s": w,
                "cpu_s": c,
                "wall_s_all": wall[variant],
                "cpu_s_all": cpu[variant],
                "speedup_wall": statistics.median(wall[reference]) / w,
                "speedup_cpu": statistics.median(cpu[reference]) / c,
                "max_rel_deviation": float((outputs[variant] - ref_out).norm() / added),
            }
        )
    return rows


def measure_in_fresh_process(name: str, threads: int, repeats: int, size: int) -> list[dict]:
    """:func:`measure` in a new process. A process's first NNPACK convolution (MC-CDic's Winograd path) sizes NNPACK's
    thread pool to the thread count of that moment for the rest of the process, so each thread count of one run
    gets its own process."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(measure, name, threads, repeats, print, size).result()


def markdown(result: dict) -> list[str]:
    m = result["machine"]
    lines = [
        f"# Inference speed-up at {result.get('size', 256)}x{result.get('size', 256)} on CPU (default presets, batch 1, `torch.inference_mode`)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}; load average {m['load_before']} before, "
        f"{m['load_after']} after (a machine shared with other jobs: the CPU-time ratio is the steadier figure).",
        f"Median of {result['repeats']} interleaved rounds after a warm-up. Times are per slice (a batched call divided by its slices). Speed-up = straightforward / variant (the straightforward row already runs under `torch.inference_mode`; the autograd-on row shows what a plain forward costs). "
        "Deviation = ||out - out_straightforward|| / ||out_straightforward - input||.",
        "",
        "| network | variant | threads | wall (s) | CPU (s) | speed-up (wall) | speed-up (CPU) | deviation |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['network']} | {r['variant']} | {r['threads']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
            f"{r['speedup_wall']:.2f}x | {r['speedup_cpu']:.2f}x | {r['max_rel_deviation']:.1e} |"
        )
    lines += ["", f"Command: `{result['command']}`"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=["mc_cdic", "clgnet"], choices=["mc_cdic", "clgnet"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="square slice size (the authors' figures: 240)")
    parser.add_argument("--out", default=None, help="JSON file")
    parser.add_argument("--markdown", default=None, help="Markdown file")
    args = parser.parse_args()

    import torch

    result = {
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "load_before": [round(v, 2) for v in os.getloadavg()],
        },
        "repeats": args.repeats,
        "size": args.size,
        "command": "OMP_NUM_THREADS=1 python benchmarks/inference_speed.py "
        f"--networks {' '.join(args.networks)} --threads {' '.join(map(str, args.threads))} --repeats {args.repeats}" + (f" --size {args.size}" if args.size != 256 else ""),
        "rows": [],
    }
    for name in args.networks:
        for threads in args.threads:
            if len(args.threads) > 1:
                result["rows"] += measure_in_fresh_process(name, threads, args.repeats, args.size)
            else:
                result["rows"] += measure(name, threads, args.repeats, size=args.size)
            write_json(result, args.out)  # partial results survive an interrupted run
    finish_timing_run(result, markdown, args.out, args.markdown)


if __name__ == "__main__":
    main()
