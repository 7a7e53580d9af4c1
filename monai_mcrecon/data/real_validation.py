"""The real-anatomy validation set: single-subject MRI from PyPI packages, never used for training.

Eight real scans (see ``docs/real_validation_data.md`` for every source, its licence and what was
inspected); rebuilt by ``tools/make_real_val.py``. Three datalists under :data:`REAL_VAL_DIR`:

* ``datalist.json``: one item per case, one key per contrast the case has;
* ``guided.json``: target / reference roles for the guided (multi-contrast) bundles. Only one
  subject of the set has two contrasts (pycortex S1: T1w and EPI), used in both directions;
* ``single.json``: every scan as a single-contrast target (CLGNet).

Use the role datalists with ``--val_target_contrast target --val_reference_contrast reference``
(``null`` for CLGNet), e.g. ``--val_dataset_dir "$(python -c 'import monai_mcrecon.data as d;
print(d.real_validation_file("guided"))')"``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["REAL_VAL_DIR", "REAL_VAL_KINDS", "real_validation_file"]

REAL_VAL_DIR = Path(__file__).resolve().parent / "real_val"
REAL_VAL_KINDS = {"cases": "datalist.json", "guided": "guided.json", "single": "single.json"}


def real_validation_file(kind: str = "guided") -> str:
    """Path of the real validation datalist ``kind`` (``"guided"``, ``"single"`` or ``"cases"``)."""
    if kind not in REAL_VAL_KINDS:
        raise ValueError(f"Unknown real validation datalist {kind!r}; use one of {sorted(REAL_VAL_KINDS)}.")
    return str(REAL_VAL_DIR / REAL_VAL_KINDS[kind])
