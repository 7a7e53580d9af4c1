"""Suite-wide settings: one compute thread per pytest-xdist worker.

The README's command runs the suite on every core (``pytest -n auto``); each worker then keeps torch, OpenMP and
every process it starts (notebook kernels, bundle runs in a subprocess) to one thread, so that N workers share N
cores instead of oversubscribing them (on 2 cores, 2 workers x 2 threads ran some training tests 20x slower).
A serial run (no ``-n``) keeps the machine's defaults.
"""

from __future__ import annotations

import os


def pytest_configure(config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)
