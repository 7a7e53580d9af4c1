"""Parameters, FLOPs, inference time, peak memory and training time per iteration of every network.

    OMP_NUM_THREADS=2 python benchmarks/networks.py --threads 2 \
        --out benchmarks/results/networks.json --markdown benchmarks/results/networks.md

For each network at its ``default`` and ``small`` presets (plus the alternatives a user would pick:
MONAI's ``BasicUNet`` and ``VariationalNetworkModel``) and each realistic input size (MRI 256x256
and 320x320; photographs 256x256; stereo and video at their sample sizes), one fresh subprocess per
measurement (so imports and other cases do not count) reports:

* ``params``: trainable parameters;
* ``gflops``: forward FLOPs of one sample counted by ``torch.utils.flop_counter.FlopCounterMode``
  (convolutions and matrix products; FFTs, ``grid_sample`` and torchvision's ``deform_conv2d`` are
  not counted, so networks built on them are under-counted and say so in the table);
* ``infer_ms``: median wall time of one forward under ``torch.inference_mode`` (batch 1), after a
  warm-up, over ``--repeats`` runs;
* ``peak_mb``: peak resident memory added by that forward (``VmHWM`` reset after the model and input
  are built, see ``memory.py``);
* ``train_ms``: median time of one training iteration (forward, L1 loss on the main output,
  backward, Adam step) on the preset's training crop and batch.

``--scaling`` writes ``scaling.{json,md,png}`` next to ``--out`` instead (see below). ``--only NAME`` restricts to networks whose name contains NAME; ``--sizes-scaling`` writes the
scaling study (time and memory against image size and batch size for MC-CDic and CLGNet) and its
figure instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------------
# Network registry: name -> (builder(preset), inputs(model, h, w, batch), sizes, train (h, w, batch))
# --------------------------------------------------------------------------------------------------
def _mri_inputs(channels):
    def make(model, h, w, b):
        import torch

        return (torch.rand(b, channels, h, w),)

    return make


def _varnet_inputs(model, h, w, b):
    """A complex zero-filled image (real, imaginary channels) of 4x equispaced columns plus 8 % centre: VarNet reads
    its k-space and column mask off the input, so unacquired k-space must be exactly zero."""
    import torch

    from monai_mcrecon.kspace import complex_to_channels, fft2c, ifft2c

    k = fft2c(torch.randn(b, 1, h, w, dtype=torch.complex64))
    cols = torch.zeros(w, dtype=torch.bool)
    cols[::4] = True
    c = max(1, int(0.08 * w))
    cols[w // 2 - c // 2: w // 2 - c // 2 + c] = True
    return (complex_to_channels(ifft2c(k * cols)),)


def _image_inputs(model, h, w, b):
    import torch

    c = getattr(model, "in_channels", 3)
    return (torch.rand(b, c, h, w),)


def _deep_rl_inputs(model, h, w, b):
    import torch

    k = torch.rand(b, 1, 15, 15)
    return (torch.rand(b, getattr(model, "in_channels", 3), h, w), k / k.sum((-1, -2), keepdim=True))


def _stereo_inputs(model, h, w, b):
    import torch

    return (torch.rand(b, 3, h, w), torch.rand(b, 3, h, w))


def _pair_inputs(model, h, w, b):
    import torch

    return (torch.rand(b, 3, h, w), torch.rand(b, 3, h, w))


def _blurry_inputs(model, h, w, b):
    import torch

    return (torch.rand(b, getattr(model, "num_inputs", 4), 3, h, w), 0.5)


def _build(cls_path: str, **kwargs):
    def build(preset):
        import importlib

        module, name = cls_path.rsplit(".", 1)
        cls = getattr(importlib.import_module(module), name)
        return cls.from_preset(preset, **kwargs) if hasattr(cls, "from_preset") else cls(**kwargs)

    return build


def _basic_unet(preset):
    from monai.networks.nets import BasicUNet

    return BasicUNet(spatial_dims=2, in_channels=2, out_channels=1) if preset == "default" else BasicUNet(
        spatial_dims=2, in_channels=2, out_channels=1, features=(16, 16, 32, 64, 128, 16)
    )


MRI_SIZES = [(256, 256), (320, 320)]
PHOTO_SIZES = [(256, 256)]
NETWORKS: dict[str, dict] = {
    "MC-CDic": dict(build=_build("monai_mcrecon.networks.nets.mc_cdic.MCCDic"), inputs=_mri_inputs(2),
                    sizes=MRI_SIZES, train=(64, 64, 6), group="MRI"),
    "CLGNet": dict(build=_build("monai_mcrecon.networks.nets.clgnet.CLGNet", reference_channels=1), inputs=_mri_inputs(2),
                   sizes=MRI_SIZES, train=(64, 64, 6), group="MRI"),
    "VarNet (MONAI VariationalNetworkModel, single coil)": dict(
        build=_build("monai_mcrecon.networks.nets.varnet.SingleCoilVarNet", in_channels=2), inputs=_varnet_inputs,
        sizes=MRI_SIZES, train=(64, 64, 6), group="MRI"),
    "BasicUNet (MONAI; small = 16-channel)": dict(build=_basic_unet, inputs=_mri_inputs(2), sizes=MRI_SIZES,
                                                  train=(64, 64, 6), group="MRI"),
    "MDRN": dict(build=_build("monai_mcrecon.networks.nets.mdrn.MDRN"), inputs=_image_inputs, sizes=PHOTO_SIZES,
                 train=(64, 64, 4), group="photo"),
    "DnCNN (MDRN teacher)": dict(build=_build("monai_mcrecon.networks.nets.mdrn.DnCNN"), inputs=_image_inputs,
                                 sizes=PHOTO_SIZES, train=(64, 64, 4), group="photo"),
    "Deep RL": dict(build=_build("monai_mcrecon.networks.nets.deep_rl.DeepRL"), inputs=_deep_rl_inputs,
                    sizes=PHOTO_SIZES, train=(64, 64, 4), group="photo"),
    "SPDNet": dict(build=_build("monai_mcrecon.networks.nets.spdnet.SPDNet"), inputs=_image_inputs,
                   sizes=PHOTO_SIZES, train=(64, 64, 4), group="photo"),
    "MSTN": dict(build=_build("monai_mcrecon.networks.nets.mstn.MSTN"), inputs=_image_inputs, sizes=PHOTO_SIZES,
                 train=(64, 64, 4), group="photo"),
    "SSRDE-FNet x2 (LR input)": dict(build=_build("monai_mcrecon.networks.nets.ssrde_fnet.SSRDEFNet"),
                                     inputs=_stereo_inputs, sizes=[(84, 184)], train=(32, 96, 2), group="stereo"),
    "FGDCN": dict(build=_build("monai_mcrecon.networks.nets.fgdcn.FGDCN"), inputs=_pair_inputs,
                  sizes=[(136, 320)], train=(64, 64, 4), group="video"),
    "BVFI": dict(build=_build("monai_mcrecon.networks.nets.bvfi.BVFI"), inputs=_blurry_inputs,
                 sizes=[(136, 320)], train=(64, 64, 2), group="video"),
}
REFERENCE = {"MRI": "VarNet (MONAI VariationalNetworkModel, single coil)"}
UNCOUNTED = {"FGDCN": "grid_sample (warps, deformable sampling)", "BVFI": "grid_sample (warps, deformable sampling)",
             "SSRDE-FNet x2 (LR input)": "grid_sample", "CLGNet": "FFT", "VarNet (MONAI VariationalNetworkModel, single coil)": "FFT"}


def _first_tensor(out):
    import dataclasses

    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        return next(v for v in out.values() if isinstance(v, torch.Tensor))
    if dataclasses.is_dataclass(out):
        return next(getattr(out, f.name) for f in dataclasses.fields(out) if isinstance(getattr(out, f.name), torch.Tensor))
    if isinstance(out, (list, tuple)):
        return _first_tensor(out[0])
    raise TypeError(f"cannot find a tensor in {type(out).__name__}")


def child(name: str, preset: str, h: int, w: int, b: int, mode: str, repeats: int, threads: int) -> dict:
    """One measurement in this fresh process."""
    import torch
    from memory import peak_bytes, reset_peak

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = NETWORKS[name]
    model = spec["build"](preset)
    inputs = spec["inputs"](model, h, w, b)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = {"network": name, "preset": preset, "height": h, "width": w, "batch": b, "mode": mode, "params": params}
    if mode in ("infer", "infer-noflops"):
        from torch.utils.flop_counter import FlopCounterMode

        model.eval()
        # FlopCounterMode's module tracker hooks autograd on tensors that require grad, which breaks
        # under inference_mode for networks that pass weights as arguments (MC-CDic's fast forward):
        # count with frozen parameters instead; the counted operations are the same.
        model.requires_grad_(False)
        if mode == "infer":
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                model(*inputs)
            result["gflops"] = counter.get_total_flops() / 1e9 / b
        with torch.inference_mode():
            baseline = reset_peak()
            times = []
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                model(*inputs)
                if i:
                    times.append(time.perf_counter() - t0)
            result["peak_mb"] = (peak_bytes() - baseline) / 2**20
        result["infer_ms"] = 1000 * statistics.median(times)
    else:
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        times = []
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            opt.zero_grad()
            out = _first_tensor(model(*inputs))
            loss = (out - out.detach().roll(1, -1)).abs().mean()
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
        result["train_ms"] = 1000 * statistics.median(times)
    return result


def run_child(args: list[str], timeout: float) -> dict | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        print(f"  timed out: {args}", file=sys.stderr)
        return None
    if proc.returncode:
        print(f"  failed: {args}\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    import platform

    import torch

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    return f"{cpu}, {len(__import__('os').sched_getaffinity(0))} cores, torch {torch.__version__}"


def markdown(rows: list[dict], threads: int, info: str) -> list[str]:
    lines = [
        f"Machine: {info}; {threads} thread(s). Inference: batch 1, `torch.inference_mode`, median time; "
        "training: one Adam iteration on the training crop (H x W x batch). Peak = resident memory added by the "
        "forward. FLOPs from `torch.utils.flop_counter` per sample (FFT / grid_sample / deform_conv2d uncounted: "
        "marked *).",
        "",
        "Ratios: time of this network over the reference a user would pick instead, same input and machine "
        f"(MRI: {REFERENCE['MRI']} default; >1 = slower). Under `infer` / `train` the reference's own rows read 1.00.",
        "",
        "| network | preset | params | input | GFLOPs | infer (ms) | infer ratio | peak (MB) | train crop | train (ms/it) | train ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref = {}
    for r in rows:
        if r["network"] == REFERENCE.get(NETWORKS.get(r["network"], {}).get("group")) and r["preset"] == "default":
            ref[(r["mode"], r["height"], r["width"], r["batch"])] = r

    def ratio(r, key):
        group = NETWORKS.get(r["network"], {}).get("group")
        base = ref.get((r["mode"], r["height"], r["width"], r["batch"])) if group in REFERENCE else None
        return f"{r[key] / base[key]:.2f}" if base else "-"

    by_key: dict = {}
    for r in rows:
        by_key.setdefault((r["network"], r["preset"]), []).append(r)
    for (name, preset), rs in by_key.items():
        train = next((r for r in rs if r["mode"] == "train"), None)
        tcrop = f"{train['height']}x{train['width']}x{train['batch']}" if train else "-"
        tms = f"{train['train_ms']:.0f} | {ratio(train, 'train_ms')}" if train else "- | -"
        for r in (r for r in rs if r["mode"] == "infer"):
            star = "*" if name in UNCOUNTED else ""
            lines.append(
                f"| {name} | {preset} | {r['params']:,} | {r['height']}x{r['width']} | {r['gflops']:.1f}{star} | "
                f"{r['infer_ms']:.0f} | {ratio(r, 'infer_ms')} | {r['peak_mb']:.0f} | {tcrop} | {tms} |"
            )
    return lines


def figure(rows: list[dict], path: Path, info: str, threads: int) -> None:
    """Side by side at 256 x 256 for the MRI networks and MONAI's alternatives: inference time, training time per
    iteration and parameters (log scales), both presets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mri = [n for n, spec in NETWORKS.items() if spec["group"] == "MRI"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    labels = []
    for i, (name, preset) in enumerate((n, p) for n in mri for p in ("default", "small")):
        inf = next((r for r in rows if r["network"] == name and r["preset"] == preset and r["mode"] == "infer"
                    and r["height"] == 256), None)
        tr = next((r for r in rows if r["network"] == name and r["preset"] == preset and r["mode"] == "train"), None)
        color = "tab:blue" if name in ("MC-CDic", "CLGNet") else "tab:gray"
        for ax, value in zip(axes, (inf and inf["infer_ms"], tr and tr["train_ms"], (inf or tr or {}).get("params"))):
            if value:
                ax.barh(i, value, color=color)
        labels.append(f"{name.split(' (')[0]} {preset}")
    axes[0].set_yticks(range(len(labels)), labels)
    for ax, title in zip(axes, ("inference, 256x256 slice (ms)", "training iteration (ms)", "parameters")):
        ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    axes[0].invert_yaxis()
    fig.suptitle(f"MRI networks (blue) against MONAI's VarNet and BasicUNet (grey); {info}, {threads} thread(s)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scaling(args) -> None:
    """Time and peak memory against image size (batch 1) and batch size (256 x 256) for MC-CDic and CLGNet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes, batches = [128, 192, 256, 320, 384], [1, 2, 4, 8]
    rows = []
    for name in ("MC-CDic", "CLGNet"):
        for preset in args.presets:
            for n in sizes:
                print(f"{name} [{preset}] {n}x{n}x1", flush=True)
                r = run_child([name, preset, str(n), str(n), "1", "infer-noflops", str(args.repeats), str(args.threads)], args.timeout)
                if r:
                    rows.append({**r, "study": "size"})
            for b in batches:
                print(f"{name} [{preset}] 256x256x{b}", flush=True)
                r = run_child([name, preset, "256", "256", str(b), "infer-noflops", str(args.repeats), str(args.threads)], args.timeout)
                if r:
                    rows.append({**r, "study": "batch"})
    info = machine()
    out = Path(args.out).with_name("scaling.json")
    out.write_text(json.dumps({"machine": info, "threads": args.threads, "rows": rows}, indent=1))
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for (name, preset) in sorted({(r["network"], r["preset"]) for r in rows}):
        for col, study, xkey in ((0, "size", "height"), (1, "batch", "batch")):
            rs = [r for r in rows if r["network"] == name and r["preset"] == preset and r["study"] == study]
            xs = [r[xkey] for r in rs]
            axes[0, col].plot(xs, [r["infer_ms"] for r in rs], "o-", label=f"{name} {preset}")
            axes[1, col].plot(xs, [r["peak_mb"] for r in rs], "o-", label=f"{name} {preset}")
    for col, xl in ((0, "image size N (N x N, batch 1)"), (1, "batch size (256 x 256)")):
        axes[0, col].set_ylabel("inference time (ms)")
        axes[1, col].set_ylabel("peak memory added (MB)")
        for row in (0, 1):
            axes[row, col].set_xlabel(xl)
            axes[row, col].set_yscale("log")
            axes[row, col].grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Scaling on {info}, {args.threads} thread(s)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)
    lines = ["| network | preset | input (N x N x batch) | infer (ms) | ms per slice | peak (MB) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['preset']} | {r['height']}x{r['width']}x{r['batch']} | {r['infer_ms']:.0f} | "
                     f"{r['infer_ms'] / r['batch']:.0f} | {r['peak_mb']:.0f} |")
    out.with_suffix(".md").write_text(f"Machine: {info}; {args.threads} thread(s).\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=8, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--presets", nargs="+", default=["default", "small"])
    p.add_argument("--only", default=None)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--out", default=str(HERE / "results" / "networks.json"))
    p.add_argument("--markdown", default=str(HERE / "results" / "networks.md"))
    p.add_argument("--scaling", action="store_true", help="run the size/batch scaling study instead")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="measure nothing: combine these result files (later ones replace the same measurement) "
                        "into --out and --markdown")
    args = p.parse_args()
    if args.child:
        name, preset, h, w, b, mode, repeats, threads = args.child
        print(json.dumps(child(name, preset, int(h), int(w), int(b), mode, int(repeats), int(threads))))
        return
    if args.scaling:
        scaling(args)
        return
    if args.merge:
        merged: dict = {}
        for f in args.merge:
            data = json.loads(Path(f).read_text())
            for r in data["rows"]:
                size = () if r["mode"] == "train" else (r["height"], r["width"], r["batch"])  # one training crop per preset
                merged[(r["network"], r["preset"], r["mode"], *size)] = r
        order = {name: i for i, name in enumerate(NETWORKS)}
        rows = sorted(merged.values(), key=lambda r: (order.get(r["network"], 99), r["preset"] != "default", r["mode"]))
        Path(args.out).write_text(json.dumps({"machine": data["machine"], "threads": data["threads"], "rows": rows}, indent=1))
        Path(args.markdown).write_text("\n".join(markdown(rows, data["threads"], data["machine"])) + "\n")
        figure(rows, Path(args.out).with_suffix(".png"), data["machine"], data["threads"])
        return
    rows = []
    for name, spec in NETWORKS.items():
        if args.only and args.only.lower() not in name.lower():
            continue
        for preset in args.presets:
            jobs = [(h, w, 1, "infer") for h, w in spec["sizes"]] + [(*spec["train"], "train")]
            for h, w, b, mode in jobs:
                print(f"{name} [{preset}] {mode} {h}x{w}x{b}", flush=True)
                r = run_child([name, preset, str(h), str(w), str(b), mode, str(args.repeats), str(args.threads)], args.timeout)
                if r:
                    rows.append(r)
    info = machine()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": info, "threads": args.threads, "rows": rows}, indent=1))
    lines = markdown(rows, args.threads, info)
    Path(args.markdown).write_text("\n".join(lines) + "\n")
    figure(rows, Path(args.out).with_suffix(".png"), info, args.threads)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
