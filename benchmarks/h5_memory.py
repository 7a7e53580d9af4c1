"""Peak memory of the lazy fastMRI h5 reader on a volume much larger than one batch.

    OMP_NUM_THREADS=1 python benchmarks/h5_memory.py --slices 20 --coils 16 --size 320 \
        --out benchmarks/results/h5_memory.md

Writes one multi-coil fastMRI file (``kspace`` complex64 ``[slices, coils, size, size]`` and a
``reconstruction_rss`` target) with :func:`monai_mcrecon.data.write_fastmri_h5` into a temporary
folder (``--tmpdir``), then, each in a fresh subprocess so that the peak resident set size
(``ru_maxrss``) belongs to that reader alone:

* ``FastMRISliceDataset`` + ``torch.utils.data.DataLoader(batch_size=--batch-size)`` over every slice;
* the same with glibc's mmap threshold fixed at 1 MiB (``MALLOC_MMAP_THRESHOLD_``): glibc raises
  its threshold after freeing large blocks and then keeps freed slice buffers in its heap, so with
  the default allocator the RSS creeps up by a few batches (allocator caching, not data kept alive);
  with a fixed threshold every slice buffer goes back to the system;
* the whole ``kspace`` and target arrays loaded with h5py (``dataset[()]``), for contrast.

Reports, as a Markdown table, the peak RSS of the subprocess (``VmHWM``, the kernel's high-water
mark behind ``ru_maxrss``, reset after imports and dataset construction, see :func:`_reset_peak` and
:func:`_peak_bytes`) and its increase over the RSS at that point, next to the file size and the size
of one batch. The temporary
file is deleted afterwards. The default (20 x 16 x 320 x 320, about 260 MB) runs in well under a
minute.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from memory import peak_bytes as _peak_bytes
from memory import reset_peak as _reset_peak

MB = 1024**2


def child(mode: str, path: str, batch_size: int) -> None:
    """Measure one reader in this (fresh) process and print a JSON line."""
    import h5py

    n_items = 0
    if mode == "dataset":
        import torch

        from monai_mcrecon.data import FastMRISliceDataset

        loader = torch.utils.data.DataLoader(FastMRISliceDataset(path), batch_size=batch_size, num_workers=0)
        baseline = _reset_peak()
        t0 = time.perf_counter()
        checksum = 0.0
        for batch in loader:
            n_items += batch["kspace"].shape[0]
            checksum += float(batch["target"].sum())  # touch the data
    else:
        baseline = _reset_peak()
        t0 = time.perf_counter()
        with h5py.File(path, "r") as hf:
            kspace = hf["kspace"][()]
            target = hf["reconstruction_rss"][()]
        n_items = kspace.shape[0]
        checksum = float(target.sum())
    print(
        json.dumps(
            {"baseline": baseline, "peak": _peak_bytes(), "items": n_items, "seconds": time.perf_counter() - t0,
             "checksum": checksum}
        )
    )


def measure(mode: str, path: Path, batch_size: int, env: dict[str, str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(path), "--batch-size", str(batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slices", type=int, default=20)
    p.add_argument("--coils", type=int, default=16)
    p.add_argument("--size", type=int, default=320, help="k-space height and width")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--tmpdir", default=None, help="where the temporary h5 file goes (default: the system's)")
    p.add_argument("--out", default=None, help="write the Markdown table here")
    p.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.batch_size)
        return

    from monai_mcrecon.data import write_fastmri_h5

    s, c, n = args.slices, args.coils, args.size
    rng = np.random.default_rng(0)
    kspace = rng.standard_normal((s, c, n, 2 * n), dtype=np.float32).view(np.complex64)  # [s, c, n, n]
    target = rng.random((s, n, n), dtype=np.float32)
    slice_bytes = kspace[0].nbytes + target[0].nbytes
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        path = write_fastmri_h5(Path(tmp) / "big_volume.h5", kspace, reconstruction=target)
        del kspace, target
        file_bytes = path.stat().st_size
        rows = {
            "dataset": measure("dataset", path, args.batch_size),
            "dataset_fixed": measure("dataset", path, args.batch_size, {"MALLOC_MMAP_THRESHOLD_": str(MB)}),
            "whole": measure("whole", path, args.batch_size),
        }
    batch_bytes = args.batch_size * slice_bytes

    lines = [
        f"Peak resident memory reading one multi-coil fastMRI file ({s} slices x {c} coils x {n} x {n} complex64 "
        f"+ {n} x {n} float32 target per slice): file {file_bytes / MB:.0f} MB, one slice {slice_bytes / MB:.1f} MB, "
        f"one batch of {args.batch_size} {batch_bytes / MB:.1f} MB. Peak = high-water RSS (VmHWM) of a fresh "
        "subprocess, reset after imports and dataset construction; increase = peak minus the RSS at that point.",
        "",
        "| reader | slices read | peak RSS (MB) | increase (MB) | increase / file | increase / batch | read time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {
        "dataset": f"FastMRISliceDataset + DataLoader(batch_size={args.batch_size})",
        "dataset_fixed": "same, glibc `MALLOC_MMAP_THRESHOLD_=1048576`",
        "whole": "h5py, whole arrays (`dataset[()]`)",
    }
    for mode, r in rows.items():
        inc = r["peak"] - r["baseline"]
        lines.append(
            f"| {names[mode]} | {r['items']} | {r['peak'] / MB:.0f} | {inc / MB:.0f} | {inc / file_bytes:.2f} | "
            f"{inc / batch_bytes:.1f} | {r['seconds']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
