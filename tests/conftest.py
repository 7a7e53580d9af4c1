"""Suite-wide settings and helpers: one compute thread per pytest-xdist worker; crops of the embedded sample.

The README's command runs the suite on every core (``pytest -n auto``); each worker then keeps torch, OpenMP and
every process it starts (notebook kernels, bundle runs in a subprocess) to one thread, so that N workers share N
cores instead of oversubscribing them (on 2 cores, 2 workers x 2 threads ran some training tests 20x slower).
A serial run (no ``-n``) keeps the machine's defaults.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest


def pytest_configure(config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def write_sample_crop() -> Callable[..., Path]:
    """``write_sample_crop(folder, index)``: ``folder/t1.nii.gz`` and ``folder/t2.nii.gz``, the arrays
    ``[index]`` of the embedded sample's first test case (``icbm_test_a``) with its affine; returns ``folder``."""

    def write(folder: Path, index: tuple) -> Path:
        import nibabel as nib
        import numpy as np

        from monai_mcrecon.data import SAMPLE_DIR

        folder.mkdir(parents=True, exist_ok=True)
        for c in ("t1", "t2"):
            img = nib.load(str(Path(SAMPLE_DIR) / "icbm_test_a" / f"{c}.nii.gz"))
            arr = np.asarray(img.dataobj, dtype=np.float32)[index]
            nib.save(nib.Nifti1Image(arr, img.affine), str(folder / f"{c}.nii.gz"))
        return folder

    return write
