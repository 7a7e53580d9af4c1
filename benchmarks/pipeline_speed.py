"""Slices per second of the k-space data pipeline: monai-mcrecon against fastMRI on the same h5 file.

    OMP_NUM_THREADS=1 python benchmarks/pipeline_speed.py --slices 12 --coils 8 \
        --out benchmarks/results/pipeline_speed.md

Writes one multi-coil file in the fastMRI layout (``kspace`` complex64 ``[slices, coils, 640, 368]``,
the knee acquisition matrix, plus ``reconstruction_rss``) to a temporary folder, then iterates every
slice ``--epochs`` times through each pipeline (``DataLoader(batch_size=1, num_workers=0)``) doing
the same work per slice: equispaced 4x column mask (8 % centre), zero-filled inverse FFT, centre crop
to 320 x 320, root sum of squares, normalisation by mean and standard deviation:

* **fastMRI**: ``fastmri.data.SliceDataset(challenge="multicoil")`` with
  ``fastmri.data.transforms.UnetDataTransform`` and ``EquispacedMaskFractionFunc``;
* **monai-mcrecon**: :class:`monai_mcrecon.data.FastMRISliceDataset` (lazy, one slice per read) with
  a transform built from ``monai_mcrecon.kspace`` (``EquispacedMask``, ``ifft2c``, ``rss``) and
  ``monai_mcrecon.transforms.kspace_input.centre_crop``.

Reports slices per second (median over ``--epochs`` passes) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_file(folder: Path, slices: int, coils: int, seed: int = 0) -> Path:
    from monai_mcrecon.data import write_fastmri_h5

    rng = np.random.default_rng(seed)
    h, w = 640, 368
    yy, xx = np.mgrid[:h, :w]
    img = ((yy - h / 2) ** 2 / (h / 3) ** 2 + (xx - w / 2) ** 2 / (w / 3) ** 2 < 1).astype(np.float32)
    kspace = np.empty((slices, coils, h, w), np.complex64)
    for s in range(slices):
        for c in range(coils):
            phase = np.exp(1j * (0.01 * (c + 1) * xx + 0.003 * s * yy))
            coil_img = img * (1 + 0.1 * rng.standard_normal((h, w))) * phase
            kspace[s, c] = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil_img), norm="ortho"))
    recon = np.ones((slices, 320, 320), np.float32)
    return write_fastmri_h5(folder / "file_bench.h5", kspace, reconstruction=recon, recon_key="reconstruction_rss",
                            encoding_size=(h, w, 1), recon_size=(320, 320, 1))


def ours_transform(fixed_mask: torch.Tensor | None = None):
    from monai_mcrecon.kspace import EquispacedMask, ifft2c, rss
    from monai_mcrecon.transforms.kspace_input import centre_crop

    mask_func = EquispacedMask(4, center_fraction=0.08)

    def transform(item):
        k = torch.as_tensor(item["kspace"])
        mask = fixed_mask if fixed_mask is not None else mask_func(k.shape, seed=int(item["metadata"]["slice_num"])).mask
        img = centre_crop(rss(ifft2c(k * mask), dim=0, keepdim=True), (320, 320))
        return (img - img.mean()) / (img.std() + 1e-11)

    return transform


def fastmri_dataset(folder: Path):
    from fastmri.data import SliceDataset
    from fastmri.data.subsample import EquispacedMaskFractionFunc
    from fastmri.data.transforms import UnetDataTransform

    mask = EquispacedMaskFractionFunc(center_fractions=[0.08], accelerations=[4])
    return SliceDataset(root=folder, challenge="multicoil", transform=UnetDataTransform("multicoil", mask_func=mask, use_seed=True))


def slices_per_second(dataset, epochs: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=0, collate_fn=lambda b: b)
    rates = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        n = sum(1 for _ in loader)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slices", type=int, default=12)
    p.add_argument("--coils", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from monai_mcrecon.data import FastMRISliceDataset

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = make_file(folder, args.slices, args.coils)
        ours = FastMRISliceDataset(path, challenge="multicoil", transform=ours_transform())
        theirs = fastmri_dataset(folder)
        # Same output on the first slice when both use fastMRI's mask (UnetDataTransform seeds the mask
        # with the file name and clamps the normalised image to [-6, 6]).
        from fastmri.data.subsample import EquispacedMaskFractionFunc

        fm_mask = EquispacedMaskFractionFunc([0.08], [4])((args.coils, 640, 368, 2), seed=tuple(map(ord, path.name)))[0]
        same = FastMRISliceDataset(path, challenge="multicoil", transform=ours_transform(fm_mask.reshape(1, -1)))
        diff = float((same[0][0].clamp(-6, 6) - theirs[0].image).abs().max())
        rate_ours, rate_theirs = [], []
        for _ in range(args.epochs):  # interleave to share the machine's load fairly
            rate_theirs.append(slices_per_second(theirs, 1))
            rate_ours.append(slices_per_second(ours, 1))
    r_o, r_t = statistics.median(rate_ours), statistics.median(rate_theirs)
    lines = [
        f"Multi-coil file {args.slices} slices x {args.coils} coils x 640 x 368 (complex64), {args.threads} thread(s); "
        f"equispaced 4x mask, zero-filled iFFT, crop 320, RSS, normalise; median of {args.epochs} interleaved passes. "
        f"Max difference of the first slice's normalised image between the pipelines: {diff:.2e}.",
        "",
        "| pipeline | slices / s | relative |",
        "|---|---|---|",
        f"| fastMRI `SliceDataset` + `UnetDataTransform` | {r_t:.1f} | 1.00 |",
        f"| monai-mcrecon `FastMRISliceDataset` + `monai_mcrecon.kspace` | {r_o:.1f} | {r_o / r_t:.2f} |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
