"""PyTorch eager against ONNX Runtime for the MRI networks: time per 256x256 slice on CPU, side by side.

    OMP_NUM_THREADS=1 python benchmarks/onnx_runtime.py --threads 1 --repeats 5 \\
        --out benchmarks/results/onnx_runtime.json --markdown benchmarks/results/onnx_runtime.md

The three MRI bundles' networks as shipped (``mc_cdic_recon``, ``mc_cdic_sr``: MC-CDic ``small``;
``clgnet_recon``: CLGNet ``small``), built from each bundle's ``inference.json`` and loaded with its
``models/model.pt``. One slice ``[1, C, 256, 256]`` (random, seed 0; speed does not depend on the values):

* ``PyTorch eager``: ``network(x)`` under ``torch.inference_mode`` (the bundles' default backend);
* ``ONNX Runtime``: :class:`monai_mcrecon.onnx_backend.OnnxRuntimeNetwork` (the bundles'
  ``--inference_backend onnxruntime``): the network exported once (the export time is reported apart),
  run by ONNX Runtime's CPU provider with the same number of threads.

The two run *interleaved* (one call of each per round, ``--repeats`` rounds after one warm-up round), so that
the load of a shared machine hits both alike. Reported: median wall time and median process CPU time per
slice, the ratio PyTorch / ONNX Runtime (> 1: ONNX Runtime is faster) and the relative deviation
``||out_ort - out_torch|| / ||out_torch||``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import cpu_name, finish_timing_run, write_json

BUNDLES = {"mc_cdic_recon": "MC-CDic recon (small)", "mc_cdic_sr": "MC-CDic SR x2 (small)", "clgnet_recon": "CLGNet (small)"}


def _shipped_network(bundle: str):
    """``(network, in_channels)``: the bundle's ``network_def`` with its shipped weights, in eval mode."""
    import torch
    from monai.bundle import ConfigParser

    from monai_mcrecon.bundle.locate import bundle_dir

    configs = Path(bundle_dir(bundle)) / "configs"
    parser = ConfigParser()
    parser.read_config(str(configs / "inference.json"))
    net = parser.get_parsed_content("network_def").eval()
    net.load_state_dict(torch.load(Path(bundle_dir(bundle)) / "models" / "model.pt", map_location="cpu", weights_only=True))
    return net, len(parser.get_parsed_content("input_keys"))


def measure(bundle: str, threads: int, repeats: int, size: int = 256, log=print) -> dict:
    """Time both backends on one slice; returns one result row (see the module docstring)."""
    import torch

    from monai_mcrecon.onnx_backend import OnnxRuntimeNetwork

    torch.set_num_threads(threads)
    net, channels = _shipped_network(bundle)
    x = torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as cache:
        ort_net = OnnxRuntimeNetwork(net, cache_dir=cache, threads=threads)
        t0 = time.perf_counter()
        ort_net.session(channels)
        export_s = time.perf_counter() - t0
        backends = {"PyTorch eager": net, "ONNX Runtime": ort_net}
        wall: dict[str, list[float]] = {k: [] for k in backends}
        cpu: dict[str, list[float]] = {k: [] for k in backends}
        outputs = {}
        with torch.inference_mode():
            for round_ in range(repeats + 1):  # round 0 warms up (allocators, oneDNN primitives, ORT's first run)
                for name, run in backends.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    out = run(x)
                    t1, c1 = time.perf_counter(), time.process_time()
                    if round_ == 0:
                        outputs[name] = out.clone()
                        continue
                    wall[name].append(t1 - t0)
                    cpu[name].append(c1 - c0)
                    log(f"{bundle} threads={threads} round {round_} {name}: wall {t1 - t0:.2f} s, cpu {c1 - c0:.2f} s")
    ref = outputs["PyTorch eager"]
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in backends}
    return {
        "bundle": bundle,
        "network": BUNDLES[bundle],
        "threads": threads,
        "size": size,
        "repeats": repeats,
        "torch_wall_s": med["PyTorch eager"][0],
        "torch_cpu_s": med["PyTorch eager"][1],
        "ort_wall_s": med["ONNX Runtime"][0],
        "ort_cpu_s": med["ONNX Runtime"][1],
        "ratio_wall": med["PyTorch eager"][0] / med["ONNX Runtime"][0],
        "ratio_cpu": med["PyTorch eager"][1] / med["ONNX Runtime"][1],
        "export_s": export_s,
        "rel_deviation": float((outputs["ONNX Runtime"] - ref).norm() / ref.norm()),
        "wall_s_all": wall,
        "cpu_s_all": cpu,
    }


def markdown(result: dict) -> list[str]:
    """The Markdown table of a result (caption with machine and load)."""
    m = result["machine"]
    lines = [
        f"# PyTorch eager vs ONNX Runtime, MRI networks, {result['rows'][0]['size']}x{result['rows'][0]['size']} slice on CPU",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, onnxruntime {m['onnxruntime']}; "
        f"load average {m['load_before']} before, {m['load_after']} after (a machine shared with a training job: "
        "the CPU-time ratio is the steadier figure). Shipped weights (each bundle's models/model.pt), batch 1, "
        f"median of {result['repeats']} interleaved rounds after a warm-up. Ratio = PyTorch / ONNX Runtime "
        "(> 1: ONNX Runtime faster). Deviation = ||out_ort - out_torch|| / ||out_torch||. Export = one-time "
        "torch.export + ONNX conversion (cached afterwards).",
        "",
        "| network (bundle) | threads | PyTorch wall (s) | ORT wall (s) | PyTorch CPU (s) | ORT CPU (s) | ratio (wall) | "
        "ratio (CPU) | deviation | export (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['network']} (`{r['bundle']}`) | {r['threads']} | {r['torch_wall_s']:.2f} | {r['ort_wall_s']:.2f} | "
            f"{r['torch_cpu_s']:.2f} | {r['ort_cpu_s']:.2f} | {r['ratio_wall']:.2f}x | {r['ratio_cpu']:.2f}x | "
            f"{r['rel_deviation']:.1e} | {r['export_s']:.0f} |"
        )
    lines += ["", f"Command: `{result['command']}`"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", nargs="+", default=list(BUNDLES), choices=list(BUNDLES))
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=None, help="JSON file")
    parser.add_argument("--markdown", default=None, help="Markdown file")
    args = parser.parse_args()

    import onnxruntime
    import torch

    result = {
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "load_before": [round(v, 2) for v in os.getloadavg()],
        },
        "repeats": args.repeats,
        "command": "OMP_NUM_THREADS=1 python benchmarks/onnx_runtime.py "
        f"--bundles {' '.join(args.bundles)} --threads {' '.join(map(str, args.threads))} --repeats {args.repeats}"
        + (f" --size {args.size}" if args.size != 256 else ""),
        "rows": [],
    }
    for bundle in args.bundles:
        for threads in args.threads:
            result["rows"].append(measure(bundle, threads, args.repeats, args.size))
            write_json(result, args.out)  # partial results survive an interrupted run
    finish_timing_run(result, markdown, args.out, args.markdown)


if __name__ == "__main__":
    main()
