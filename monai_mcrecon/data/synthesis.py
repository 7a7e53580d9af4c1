"""Domain-randomised paired training slices (SynthSeg-style, Billot et al. 2023) for guided reconstruction.

:class:`SyntheticPairDataset` draws unlimited PAIRED 2-D axial slices (a target contrast and a
reference contrast of the same anatomy) from the label map in ``data/synth_source`` (derived from
the MNI ICBM152 2009c template and its CerebrA atlas, built by ``tools/make_synth_source.py``):

* geometry, shared by both contrasts: in-plane orientation (90-degree rotations / flips), random
  affine and elastic warp, random field of view and matrix size (H, W each in ``matrix_range``);
* intensities, one of three modes per sample: ``labels`` (independent random mean/std per label and
  contrast, partial-volume blur), ``physics`` (random T1/T2/PD per tissue class and a random
  spin-echo, gradient-echo or inversion-recovery sequence per contrast) or ``template`` (the real
  T1w/T2w template slices);
* artefacts, per contrast: bias field, gamma, histogram shift, Gibbs ringing, Rician noise at a
  random SNR and an arbitrary global intensity scale (1e-2 .. 1e4);
* an imperfect guide (``reference_degradation``, off by default): with that probability the reference
  alone is acquired at a lower resolution (factor 1.5-4, area down-sampling and bilinear back) and
  slightly out of register (rotation up to 3 degrees, shift up to 2 pixels, stretch along one axis
  up to 4 %), as a real second contrast such as an EPI is.

Leakage rule: only the axial slices :data:`ALLOWED_Z` (last array axis) are ever drawn; the others
overlap the embedded validation/test slabs (z = 56..91 and 132..155) and are zeroed in the source.
Every sample is a pure function of ``(seed, index)``. See ``docs/synthetic_training_data.md``.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import torch
from monai.transforms import (
    Affine,
    AffineGrid,
    BorderPad,
    CenterSpatialCrop,
    Flip,
    GaussianSmooth,
    RandAdjustContrast,
    RandBiasField,
    RandDeformGrid,
    RandGibbsNoise,
    RandHistogramShift,
    RandRicianNoise,
    Resample,
    Resize,
    Rotate90,
    SpatialCrop,
)

__all__ = ["ALLOWED_Z", "FORBIDDEN_Z", "GUIDE_DEGRADATION", "MODES", "SYNTH_SOURCE_DIR", "TISSUE_PARAMS", "SEQUENCES",
           "SyntheticPairDataset", "save_synthesis_figure"]

SYNTH_SOURCE_DIR = Path(__file__).resolve().parent / "synth_source"
#: axial slices (0-based, last array axis) that synthesis may use; 56..91 and 132..155 are held out
ALLOWED_Z: tuple[int, ...] = tuple(range(0, 56)) + tuple(range(92, 132)) + tuple(range(156, 193))
FORBIDDEN_Z: tuple[int, ...] = tuple(range(56, 92)) + tuple(range(132, 156))
MODES = ("labels", "physics", "template")
#: tissue class -> ((T1 ms), (T2 ms), (PD)) ranges at 1.5-3 T; each label is jittered by +-10 %
TISSUE_PARAMS: dict[str, tuple[tuple[float, float], ...]] = {
    "wm": ((600, 900), (60, 90), (0.60, 0.75)),
    "gm": ((1000, 1500), (70, 110), (0.75, 0.85)),
    "deep_gm": ((800, 1300), (60, 95), (0.70, 0.82)),
    "cerebellum_gm": ((1000, 1450), (70, 105), (0.75, 0.85)),
    "cerebellum_wm": ((600, 900), (60, 90), (0.60, 0.75)),
    "csf": ((3000, 4500), (1000, 2500), (0.95, 1.0)),
    "fluid": ((3000, 4500), (1000, 2500), (0.95, 1.0)),  # eyes, extra-cerebral CSF
    "fat": ((280, 400), (70, 120), (0.85, 1.0)),
    "muscle": ((900, 1400), (30, 50), (0.65, 0.80)),
    "soft_tissue": ((700, 1200), (40, 80), (0.60, 0.80)),  # scalp, skin, marrow, partial volume
    "bone": ((200, 400), (1, 10), (0.02, 0.15)),
}
#: sequence regime -> kind and ranges of TR, TE, TI (ms) and flip angle (deg)
SEQUENCES: dict[str, dict] = {
    "se_t1w": {"kind": "se", "TR": (400, 700), "TE": (8, 20)},
    "se_t2w": {"kind": "se", "TR": (2500, 6000), "TE": (80, 130)},
    "se_pdw": {"kind": "se", "TR": (2000, 4000), "TE": (8, 30)},
    "gre": {"kind": "gre", "TR": (5, 600), "TE": (2, 20), "FA": (5, 80)},
    "flair": {"kind": "ir", "TR": (8000, 11000), "TE": (80, 140), "TI": (2000, 2800)},
    "ir_t1w": {"kind": "ir", "TR": (1800, 3000), "TE": (3, 15), "TI": (400, 1000)},
    "stir": {"kind": "ir", "TR": (3000, 6000), "TE": (30, 80), "TI": (130, 200)},
}
CANVAS_MARGIN = 1.3  # canvas side / largest slice side, room for rotation and zoom
MIN_HEAD_AREA = 0.3  # slices whose head area is below this fraction of the largest are not drawn
MAX_PIXEL_ASPECT = 1.5  # in-plane pixel aspect ratio kept within [1/1.5, 1.5]
#: ranges of the imperfect guide (``reference_degradation``): resolution loss factor, in-plane rotation (deg),
#: shift (pixels) and stretch along one axis (fraction)
GUIDE_DEGRADATION: dict[str, tuple[float, float]] = {
    "resolution_factor": (1.5, 4.0), "rotate_deg": (-3.0, 3.0), "shift_px": (-2.0, 2.0), "stretch": (-0.04, 0.04),
}


@functools.lru_cache(maxsize=2)
def _load_source(source_dir: str) -> dict:
    """Allowed axial slices of the label map and templates (uint8) plus the per-label tissue table."""
    import nibabel as nib

    d = Path(source_dir)
    vols = {k: np.asarray(nib.load(d / f"{k}.nii.gz").dataobj, dtype=np.uint8)[:, :, list(ALLOWED_Z)]
            for k in ("labels", "t1", "t2")}
    meta = json.loads((d / "tissues.json").read_text())
    n = int(meta["num_labels"])
    tissue = ["background"] * n
    for k, v in meta["labels"].items():
        tissue[int(k)] = v["tissue"]
    area = (vols["labels"] > 0).sum((0, 1)).astype(np.float64)
    keep = np.flatnonzero(area >= MIN_HEAD_AREA * area.max())  # no skull-cap / neck-only slivers
    return {**vols, "tissue": tissue, "num_labels": n, "slices": keep, "slice_p": area[keep] / area[keep].sum()}


def _signal(seq: dict, t1: np.ndarray, t2: np.ndarray, pd: np.ndarray) -> np.ndarray:
    """Steady-state magnitude signal of a spin-echo, spoiled gradient-echo or inversion-recovery sequence."""
    e1 = np.exp(-seq["TR"] / t1)
    if seq["kind"] == "se":
        return pd * (1 - e1) * np.exp(-seq["TE"] / t2)
    if seq["kind"] == "gre":
        a = math.radians(seq["FA"])
        return pd * math.sin(a) * (1 - e1) / (1 - math.cos(a) * e1) * np.exp(-seq["TE"] / (0.7 * t2))
    return pd * np.abs(1 - 2 * np.exp(-seq["TI"] / t1) + e1) * np.exp(-seq["TE"] / t2)


class SyntheticPairDataset(torch.utils.data.Dataset):
    """Unlimited paired (target, reference) magnitude slices with randomised anatomy, contrast and geometry.

    Args:
        num_samples: length of the dataset (every index is a different sample).
        contrasts: output keys of the (target, reference) images.
        matrix_range: inclusive range of the output H and W (drawn independently).
        template_fraction: probability of the ``template`` mode (real T1w/T2w slices).
        physics_fraction: probability of the ``physics`` mode; the rest is the ``labels`` mode.
        seed: dataset seed; sample ``i`` uses ``RandomState(seed * 1_000_003 + i + epoch * num_samples)``
            only. ``epoch`` (attribute, default 0) moves the dataset along one endless stream of
            samples: epoch ``e`` holds samples ``e * num_samples`` ... ``(e + 1) * num_samples - 1``
            (the training bundles set it at every epoch start), so no pair is seen twice.
        source_dir: folder with ``labels.nii.gz``, ``t1.nii.gz``, ``t2.nii.gz``, ``tissues.json``
            (default :data:`SYNTH_SOURCE_DIR`).
        return_labels: also return the warped label map as ``"label"`` (int64, [1, H, W]).
        reference_degradation: probability that the reference of a sample is an imperfect guide (lower
            resolution and slightly misregistered, :data:`GUIDE_DEGRADATION`); 0 (the default) draws no
            extra random numbers, so the samples are those of earlier releases.

    Items are ``{target: [1,H,W] float32 >= 0, reference: [1,H,W] float32 >= 0, "case_id": "synth_i",
    "synth_params": dict}``; H and W vary, so batch with ``batch_size=1`` or a padding collate.
    """

    def __init__(self, num_samples: int, contrasts=("target", "reference"), matrix_range=(96, 320),
                 template_fraction: float = 0.2, physics_fraction: float = 0.4, seed: int = 0,
                 source_dir=None, return_labels: bool = False, reference_degradation: float = 0.0):
        if len(contrasts) != 2:
            raise ValueError(f"contrasts must name (target, reference), got {contrasts!r}.")
        if not 0 <= template_fraction + physics_fraction <= 1 or min(template_fraction, physics_fraction) < 0:
            raise ValueError("template_fraction and physics_fraction must be >= 0 and sum to <= 1.")
        lo, hi = int(matrix_range[0]), int(matrix_range[1])
        if not 8 <= lo <= hi:
            raise ValueError(f"matrix_range must satisfy 8 <= low <= high, got {matrix_range!r}.")
        self.num_samples, self.contrasts, self.matrix_range = int(num_samples), tuple(contrasts), (lo, hi)
        self.mode_p = np.array([1 - template_fraction - physics_fraction, physics_fraction, template_fraction])
        self.seed, self.return_labels = int(seed), return_labels
        if not 0.0 <= float(reference_degradation) <= 1.0:
            raise ValueError(f"reference_degradation is a probability in [0, 1], got {reference_degradation!r}.")
        self.reference_degradation = float(reference_degradation)
        self.epoch = 0
        self.src = _load_source(str(Path(source_dir) if source_dir is not None else SYNTH_SOURCE_DIR))
        self.tissue_names = sorted(set(self.src["tissue"]) - {"background"})
        unknown = set(self.tissue_names) - set(TISSUE_PARAMS)
        if unknown:
            raise ValueError(f"No T1/T2/PD ranges for tissue classes {sorted(unknown)}.")
        self.tissue_idx = np.array([self.tissue_names.index(t) if t != "background" else -1
                                    for t in self.src["tissue"]])
        self.brain = np.array([t not in ("background", "fat", "muscle", "soft_tissue", "bone", "fluid")
                               for t in self.src["tissue"]])
        # MONAI transforms; the random ones are re-seeded from the sample's RandomState on every use
        self.deform = RandDeformGrid(spacing=(32, 32), magnitude_range=(0.0, 3.0))
        self.resample = Resample(padding_mode="zeros", dtype=torch.float32)
        self.artefacts = [
            RandBiasField(degree=3, coeff_range=(0.0, 0.3), prob=0.8),
            RandAdjustContrast(gamma=(0.7, 1.5), prob=0.5),
            RandHistogramShift(num_control_points=(6, 10), prob=0.2),
            RandGibbsNoise(alpha=(0.0, 0.4), prob=0.3),
        ]

    def __len__(self) -> int:
        return self.num_samples

    # --- geometry -------------------------------------------------------------------------------
    def _warp(self, rs, imgs: torch.Tensor, lab: torch.Tensor, p: dict):
        """Orientation, affine + elastic warp onto a square canvas; ``lab`` nearest, ``imgs`` bilinear."""
        k, flip = int(rs.randint(4)), bool(rs.rand() < 0.5)
        p.update(rot90=k, flip=flip)
        ops = [Rotate90(k=k)] + ([Flip(spatial_axis=0)] if flip else [])
        for op in ops:
            lab = op(lab)
            imgs = op(imgs) if imgs is not None else None
        side = int(math.ceil(max(lab.shape[1:]) * CANVAS_MARGIN))
        rot = rs.uniform(-20, 20)
        scale = math.exp(rs.uniform(math.log(0.8), math.log(1.25)))
        aniso = math.exp(rs.uniform(-0.05, 0.05))
        shear = rs.uniform(-0.05, 0.05, 2)
        shift = rs.uniform(-10, 10, 2)
        p.update(rotate_deg=round(rot, 2), scale=round(scale, 3), shear=np.round(shear, 3).tolist(),
                 translate_px=np.round(shift, 1).tolist())
        self.deform.set_random_state(int(rs.randint(2**31)))
        spacing = self.deform.spacing
        grid = self.deform(spatial_size=(side, side))
        p["elastic_px"] = round(float(self.deform.rand_mag), 2)
        grid, _ = AffineGrid(rotate_params=(math.radians(rot),), shear_params=tuple(shear),
                             translate_params=tuple(shift), scale_params=(scale * aniso, scale / aniso))(grid=grid)
        grid = torch.nn.functional.interpolate(grid[None], scale_factor=list(spacing), mode="bicubic",
                                               align_corners=False, recompute_scale_factor=True)
        grid = CenterSpatialCrop(roi_size=(side, side))(grid[0])
        lab = self.resample(lab.float(), grid, mode="nearest").long()
        imgs = self.resample(imgs, grid, mode="bilinear") if imgs is not None else None
        return imgs, lab

    def _fov(self, rs, lab: torch.Tensor, p: dict):
        """Random field of view around the head and random matrix size; returns crop/pad ops and (H, W)."""
        lo, hi = self.matrix_range
        h, w = int(rs.randint(lo, hi + 1)), int(rs.randint(lo, hi + 1))
        fg = (lab[0] > 0).numpy()
        rows, cols = np.flatnonzero(fg.any(1)), np.flatnonzero(fg.any(0))
        if rows.size == 0:
            rows, cols = np.array([0, fg.shape[0] - 1]), np.array([0, fg.shape[1] - 1])
        eh, ew = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        fh, fw = eh * rs.uniform(0.95, 1.5), ew * rs.uniform(0.95, 1.5)
        ratio, a = (fh / h) / (fw / w), MAX_PIXEL_ASPECT  # pixel aspect ratio, bounded by widening the FOV
        fw, fh = (fh * w / (a * h), fh) if ratio > a else (fw, fw * h / (a * w) if ratio < 1 / a else fh)
        fh, fw = max(int(round(fh)), 8), max(int(round(fw)), 8)
        ch = (rows[0] + rows[-1]) / 2 + rs.uniform(-0.5, 0.5) * abs(fh - eh)
        cw = (cols[0] + cols[-1]) / 2 + rs.uniform(-0.5, 0.5) * abs(fw - ew)
        r0, c0 = int(round(ch - fh / 2)), int(round(cw - fw / 2))
        r1, c1 = r0 + fh, c0 + fw
        sh, sw = fg.shape
        crop = SpatialCrop(roi_start=(max(r0, 0), max(c0, 0)), roi_end=(min(r1, sh), min(c1, sw)))
        pad = BorderPad(spatial_border=(max(-r0, 0), max(r1 - sh, 0), max(-c0, 0), max(c1 - sw, 0)))
        p.update(fov_px=[fh, fw], matrix=[h, w])
        return (lambda x: pad(crop(x))), (h, w)

    # --- intensities ----------------------------------------------------------------------------
    def _labels_mode(self, rs, lab: np.ndarray, c: dict) -> np.ndarray:
        n = self.src["num_labels"]
        mean, std = rs.uniform(0, 1, n), rs.uniform(0, 0.04, n)
        mean[0] = rs.uniform(0, 0.05)
        c["sequence"] = "labels"
        return mean[lab] + std[lab] * rs.standard_normal(lab.shape)

    def _physics_tissue(self, rs) -> tuple[np.ndarray, ...]:
        """Per-label T1, T2 (ms) and PD: a draw per tissue class, jittered +-10 % per label."""
        cls = np.array([[rs.uniform(*r) for r in TISSUE_PARAMS[t]] for t in self.tissue_names])
        n = self.src["num_labels"]
        vals = cls[np.maximum(self.tissue_idx, 0)] * rs.uniform(0.9, 1.1, (n, 3))
        vals[self.tissue_idx < 0] = (1000.0, 100.0, 0.0)  # air: no protons
        return vals[:, 0], vals[:, 1], np.minimum(vals[:, 2], 1.0)

    def _physics_mode(self, rs, lab: np.ndarray, tissue, regime: str, c: dict) -> np.ndarray:
        spec = SEQUENCES[regime]
        seq = {"kind": spec["kind"], **{k: float(rs.uniform(*v)) for k, v in spec.items() if k != "kind"}}
        s = _signal(seq, *tissue)
        s = s / max(s.max(), 1e-6)
        std = rs.uniform(0, 0.03, len(s))
        c.update(sequence=regime, sequence_params={k: round(v, 1) for k, v in seq.items() if k != "kind"})
        return s[lab] + std[lab] * rs.standard_normal(lab.shape)

    def _imperfect_guide(self, rs, x: torch.Tensor, c: dict) -> torch.Tensor:
        """``x`` ``[1, H, W]`` at a lower resolution and slightly out of register (:data:`GUIDE_DEGRADATION`)."""
        g = GUIDE_DEGRADATION
        h, w = x.shape[1:]
        factor = float(rs.uniform(*g["resolution_factor"]))
        rot, stretch = float(rs.uniform(*g["rotate_deg"])), float(rs.uniform(*g["stretch"]))
        shift = rs.uniform(*g["shift_px"], 2)
        axis = int(rs.randint(2))
        low = (max(int(round(h / factor)), 4), max(int(round(w / factor)), 4))
        x = Resize((h, w), mode="bilinear")(Resize(low, mode="area")(x))
        scale = [1.0, 1.0]
        scale[axis] += stretch
        x = Affine(rotate_params=(math.radians(rot),), translate_params=tuple(float(v) for v in shift),
                   scale_params=tuple(scale), padding_mode="zeros", image_only=True)(x)
        c["imperfect_guide"] = {"resolution_factor": round(factor, 2), "rotate_deg": round(rot, 2),
                                "shift_px": np.round(shift, 2).tolist(), "stretch": round(stretch, 3), "axis": axis}
        return torch.as_tensor(x).float()

    # --- main -----------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        index = index % self.num_samples
        rs = np.random.RandomState((self.seed * 1_000_003 + index + int(self.epoch) * self.num_samples) % 2**32)
        mode = MODES[int(rs.choice(3, p=self.mode_p))]
        j = int(self.src["slices"][rs.choice(len(self.src["slices"]), p=self.src["slice_p"])])  # p ~ head area
        p: dict = {"mode": mode, "z": int(ALLOWED_Z[j])}
        lab = torch.from_numpy(self.src["labels"][None, :, :, j].astype(np.int64))
        tpl = None
        if mode == "template":
            tpl = np.stack([self.src["t1"][:, :, j], self.src["t2"][:, :, j]])
            tpl = torch.from_numpy(tpl.astype(np.float32) / 255)
        tpl, lab = self._warp(rs, tpl, lab, p)
        crop, (h, w) = self._fov(rs, lab, p)
        lab = crop(lab)
        lab_np = lab[0].numpy()
        cs = [{}, {}]
        if mode == "labels":
            chans = [self._labels_mode(rs, lab_np, c) for c in cs]
        elif mode == "physics":
            tissue = self._physics_tissue(rs)
            names = list(SEQUENCES)
            r_t = names[rs.randint(len(names))]
            others = [r for r in names if r != r_t]
            r_r = r_t if rs.rand() < 0.15 else others[rs.randint(len(others))]
            chans = [self._physics_mode(rs, lab_np, tissue, r, c) for r, c in zip((r_t, r_r), cs)]
        else:
            t = crop(tpl).numpy()
            u = rs.rand()
            order = ("t1", "t2") if u < 0.4 else ("t2", "t1") if u < 0.8 else (("t1", "t2")[rs.randint(2)],) * 2
            chans = []
            for name, c in zip(order, cs):
                g = float(np.exp(rs.uniform(np.log(0.5), np.log(2.0)))) if order[0] == order[1] else 1.0
                chans.append(t[0 if name == "t1" else 1] ** g)
                c.update(sequence=f"template_{name}", gamma=round(g, 3))
        img = torch.from_numpy(np.stack(chans).astype(np.float32)).clamp_(min=0)
        if mode != "template":  # partial volume
            for ch, c in enumerate(cs):
                sigma = float(rs.uniform(0, 1))
                c["blur_sigma"] = round(sigma, 3)
                if sigma > 0.1:
                    img[ch : ch + 1] = GaussianSmooth(sigma=sigma)(img[ch : ch + 1])
        down = h <= img.shape[1] and w <= img.shape[2]
        img = Resize((h, w), mode="area")(img) if down else Resize((h, w), mode="bilinear", anti_aliasing=True)(img)
        lab = Resize((h, w), mode="nearest")(lab.float()).long()
        brain = torch.from_numpy(self.brain)[lab[0]]
        ref_mask = brain if brain.sum() > 50 else lab[0] > 0
        out = {}
        for ch, (key, c) in enumerate(zip(self.contrasts, cs)):
            x = torch.as_tensor(img[ch : ch + 1]).float()
            if ch == 1 and self.reference_degradation > 0 and rs.rand() < self.reference_degradation:
                x = self._imperfect_guide(rs, x, c)
            for t in self.artefacts:
                t.set_random_state(int(rs.randint(2**31)))
                x = torch.as_tensor(t(x)).float()
            x = x.clamp(min=0)
            p99 = float(torch.quantile(x[0][ref_mask], 0.99)) if ref_mask.any() else float(x.max())
            snr = float(rs.uniform(20, 40))
            noise = RandRicianNoise(prob=1.0, std=max(p99, 1e-6) / 10 ** (snr / 20), sample_std=False)
            noise.set_random_state(int(rs.randint(2**31)))
            x = torch.as_tensor(noise(x)).float()
            scale = float(10 ** rs.uniform(-2, 4))
            c.update(snr_db=round(snr, 2), scale=scale)
            out[key] = (x * scale).clamp(min=0).contiguous()
        p.update({key: c for key, c in zip(self.contrasts, cs)})
        out.update(case_id=f"synth_{index}", synth_params=p)
        if self.return_labels:
            out["label"] = lab
        return out


def save_synthesis_figure(path, n: int = 16, seed: int = 0) -> str:
    """A grid PNG of ``n`` random pairs (target left, reference right; 4 pairs per row), titled by mode/size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = SyntheticPairDataset(n, seed=seed)
    rows = int(math.ceil(n / 4))
    fig, axes = plt.subplots(rows, 8, figsize=(16, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        item = ds[i]
        sp = item["synth_params"]
        for k, key in enumerate(ds.contrasts):
            x = item[key][0].numpy()
            ax = axes[i // 4, 2 * (i % 4) + k]
            ax.imshow(x, cmap="gray", vmin=0, vmax=float(np.percentile(x, 99.5)) or 1.0)
            seq = sp[key].get("sequence", "")
            ax.set_title(f"{key[:3]} {sp['mode']}/{seq}\n{x.shape[0]}x{x.shape[1]} z={sp['z']}", fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)
