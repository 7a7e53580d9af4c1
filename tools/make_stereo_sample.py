"""Rebuild the shipped stereo sample (``monai_mcrecon/data/stereo_sample``) from the scikit-image wheel.

Source: the Middlebury 2014 "Motorcycle" pair with its ground-truth disparity as shipped in scikit-image
(``skimage.data.stereo_motorcycle()``: left, right ``500 x 741`` RGB, disparity float32 in pixels of these
images, left-image reference, ``inf`` where unknown). Nothing is downloaded::

    python tools/make_stereo_sample.py [OUTPUT_DIR]

Split by **disjoint rows** (rectified stereo: a scene point lies on the same row in both views, so rows
never seen in training hold scene content never seen in training), full resolution, no resampling:

- ``train/motorcycle_top``: rows 0-263, columns 0-739 (no ``disp.npy``: training does not use it);
- ``val/motorcycle_mid``: rows 272-311, columns 0-739 (checkpoint selection);
- ``test/motorcycle_bottom_a`` and ``test/motorcycle_bottom_b``: rows 332-499, columns 0-367 and 372-739.

Crops keep the same columns in both views, so the disparity is unchanged by cropping; ``disp.npy`` is
float32 with ``NaN`` where the source is ``inf`` (unknown). Heights and widths are multiples of 4 (SR at x2
and x4 divides them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

# split, pair name, rows, columns, write disparity
CROPS = [
    ("train", "motorcycle_top", (0, 264), (0, 740), False),
    ("val", "motorcycle_mid", (272, 312), (0, 740), True),
    ("test", "motorcycle_bottom_a", (332, 500), (0, 368), True),
    ("test", "motorcycle_bottom_b", (332, 500), (372, 740), True),
]


def main(out: str | None = None) -> None:
    from skimage.data import stereo_motorcycle

    out_dir = Path(out) if out else Path(__file__).resolve().parents[1] / "monai_mcrecon" / "data" / "stereo_sample"
    left, right, disp = stereo_motorcycle()
    disp = np.where(np.isfinite(disp), disp, np.nan).astype(np.float32)
    for split, name, (r0, r1), (c0, c1), with_disp in CROPS:
        folder = out_dir / split / name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(left[r0:r1, c0:c1])).save(folder / "left.png", optimize=True)
        Image.fromarray(np.ascontiguousarray(right[r0:r1, c0:c1])).save(folder / "right.png", optimize=True)
        if with_disp:
            np.save(folder / "disp.npy", np.ascontiguousarray(disp[r0:r1, c0:c1]))
        print(f"{split}/{name}: rows {r0}-{r1 - 1}, columns {c0}-{c1 - 1}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
