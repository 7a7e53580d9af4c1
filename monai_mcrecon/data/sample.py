"""The embedded sample: a derived subset of the MNI ICBM152 2009c template, T1w and T2w.

Real multi-contrast MRI (a population average of 152 scans, voxel-aligned T1w/T2w, 1 mm), shipped
inside the package under the MNI/McGill notice (``data/sample/LICENSE``); rebuilt by
``tools/make_sample.py``. Each volume was scaled to [0, 255] (uint8) and cut into axial slabs:

===========  ==============  =======================
split        case            axial slices of the template (z)
===========  ==============  =======================
training     icbm_train_a    16-55
training     icbm_train_b    92-131
validation   icbm_val_a      60-67
test         icbm_test_a     72-87
test         icbm_test_b     136-151
===========  ==============  =======================

Slabs of different splits are separated by 4-slice gaps, so no training slice is ever evaluated.
The template is left-right symmetric, which is why the split is along z and not within slices.
Slices are 193 x 229 (x: left-right, y: posterior-anterior); phase encoding runs along y (the last
axis, W), the axis of the 1-D column masks.
"""

from __future__ import annotations

from pathlib import Path

from monai_mcrecon.data.datalist import load_datalist

__all__ = ["SAMPLE_DIR", "SPLITS", "sample_datalist", "sample_datalist_file"]

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SPLITS = ("training", "validation", "test")


def sample_datalist_file() -> str:
    """Path of the sample's datalist JSON (usable as the bundles' ``dataset_dir``)."""
    return str(SAMPLE_DIR / "datalist.json")


def sample_datalist(split: str = "test") -> list[dict]:
    """The embedded sample as a MONAI datalist (absolute paths) for ``split``.

    Raises:
        ValueError: ``split`` is not one of :data:`SPLITS`.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; the embedded sample has {SPLITS}.")
    return load_datalist(sample_datalist_file(), split=split)
