"""Peak resident memory of the current process (Linux ``/proc/self/status``), shared by the benchmarks.

``reset_peak()`` starts tracking (writes ``5`` to ``/proc/self/clear_refs``, Linux >= 4.0, which resets
``VmHWM``) and returns the current RSS as the baseline; ``peak_bytes()`` is ``VmHWM`` since then. Run
each measurement in a fresh process so imports and earlier work do not count.
"""

from __future__ import annotations

import gc
import resource

__all__ = ["peak_bytes", "reset_peak", "status_bytes"]


def status_bytes(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process from ``/proc/self/status``, in bytes."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) * 1024


def peak_bytes() -> int:
    """Peak RSS of this process since :func:`reset_peak`.

    ``VmHWM`` where available: ``ru_maxrss`` is ``max(VmHWM, the maxrss recorded at exec)``, and the
    latter is the *parent's* high-water mark inherited through fork + exec, so it does not measure
    this process.
    """
    try:
        return status_bytes("VmHWM")
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def reset_peak() -> int:
    """Start peak tracking now; return the baseline (bytes): the current RSS (or the peak so far without ``clear_refs``)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return status_bytes("VmRSS")
    except (OSError, StopIteration):
        return peak_bytes()
