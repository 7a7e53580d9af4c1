"""Tests of the domain-randomised paired slices (monai_mcrecon.data.synthesis)."""

from __future__ import annotations

import unittest

import numpy as np
import torch
from monai.transforms import GaussianSmooth

from monai_mcrecon.data.synthesis import (
    ALLOWED_Z,
    FORBIDDEN_Z,
    MODES,
    SYNTH_SOURCE_DIR,
    SyntheticPairDataset,
    _load_source,
)


def _fg(x: torch.Tensor) -> torch.Tensor:
    """Head mask of a magnitude image: smoothed image above 20 % of its 99th percentile."""
    s = GaussianSmooth(sigma=2.0)(x)[0]
    return s > 0.2 * torch.quantile(s.flatten(), 0.99)


def _dice(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


class TestSyntheticPairDataset(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.ds = SyntheticPairDataset(200, seed=7)
        cls.items = [cls.ds[i] for i in range(50)]

    def test_allowed_z_constant(self):
        self.assertEqual(len(ALLOWED_Z), 56 + 40 + 37)
        self.assertEqual(set(ALLOWED_Z) | set(FORBIDDEN_Z), set(range(193)))
        self.assertFalse(set(ALLOWED_Z) & set(FORBIDDEN_Z))
        self.assertTrue({56, 91, 132, 155}.issubset(FORBIDDEN_Z))

    def test_source_files_leak_nothing(self):
        import nibabel as nib

        for name in ("labels", "t1", "t2"):
            vol = np.asarray(nib.load(SYNTH_SOURCE_DIR / f"{name}.nii.gz").dataobj)
            self.assertEqual(vol.shape, (193, 229, 193))
            self.assertEqual(int(np.abs(vol[:, :, list(FORBIDDEN_Z)]).max()), 0, name)
            self.assertGreater(int(vol[:, :, 100].max()), 0, name)
        self.assertTrue((SYNTH_SOURCE_DIR / "LICENSE").read_text().count("McGill") >= 1)
        src = _load_source(str(SYNTH_SOURCE_DIR))
        self.assertGreaterEqual(src["num_labels"], 100)

    def test_only_allowed_z(self):
        zs = [it["synth_params"]["z"] for it in self.items]
        self.assertTrue(set(zs).issubset(ALLOWED_Z), sorted(set(zs) - set(ALLOWED_Z)))
        self.assertGreater(len(set(zs)), 20)  # many different slices

    def test_all_modes_occur(self):
        modes = [it["synth_params"]["mode"] for it in self.items]
        self.assertEqual(set(modes), set(MODES))

    def test_values_and_keys(self):
        for i, it in enumerate(self.items):
            self.assertEqual(it["case_id"], f"synth_{i}")
            for key in ("target", "reference"):
                x = it[key]
                self.assertEqual(x.dtype, torch.float32)
                self.assertEqual(x.ndim, 3)
                self.assertEqual(x.shape[0], 1)
                self.assertTrue(torch.isfinite(x).all())
                self.assertGreaterEqual(float(x.min()), 0.0)
                self.assertGreater(float(x.max()), 0.0)
            self.assertEqual(it["target"].shape, it["reference"].shape)

    def test_shapes(self):
        shapes = [tuple(it["target"].shape[1:]) for it in self.items[:8]]
        self.assertGreaterEqual(len(set(shapes)), 3)
        for it in self.items:
            h, w = it["target"].shape[1:]
            self.assertTrue(96 <= h <= 320 and 96 <= w <= 320, (h, w))
            self.assertEqual([h, w], it["synth_params"]["matrix"])
        small = SyntheticPairDataset(4, matrix_range=(64, 64), seed=1)[0]
        self.assertEqual(tuple(small["target"].shape), (1, 64, 64))

    def test_intensity_range_varies(self):
        scales = [float(it["target"].max()) for it in self.items]
        self.assertGreater(max(scales) / min(scales), 1e3)  # arbitrary units, 1e-2 .. 1e4

    def test_determinism(self):
        fresh = SyntheticPairDataset(200, seed=7)
        for i in (3, 11):
            a, b = self.items[i], fresh[i]
            for key in ("target", "reference"):
                self.assertTrue(torch.equal(a[key], b[key]))
            self.assertEqual(a["synth_params"], b["synth_params"])
        a, b = self.items[0]["target"], self.items[1]["target"]
        self.assertFalse(a.shape == b.shape and torch.equal(a, b))
        self.assertNotEqual(self.items[0]["synth_params"], self.items[1]["synth_params"])
        other_seed = SyntheticPairDataset(200, seed=8)[3]
        self.assertNotEqual(other_seed["synth_params"], self.items[3]["synth_params"])

    def test_shared_geometry_independent_contrast(self):
        dices, corrs = [], []
        for it in self.items[:24]:
            t, r = it["target"], it["reference"]
            dices.append(_dice(_fg(t), _fg(r)))
            if it["synth_params"]["mode"] == "labels":
                corrs.append(float(np.corrcoef(t.flatten().numpy(), r.flatten().numpy())[0, 1]))
        # head masks by thresholding can legitimately differ when a contrast nulls a tissue (STIR fat,
        # a label drawn near 0), so most pairs, not every pair, must overlap
        self.assertGreater(float(np.median(dices)), 0.85, dices)
        self.assertGreaterEqual(np.mean(np.array(dices) > 0.8), 0.75, dices)
        self.assertTrue(corrs and max(corrs) < 0.99, corrs)

    def test_both_contrasts_follow_the_same_labels(self):
        """Each image is explained by per-label means of the one warped label map (R^2), far better than flipped."""

        def r2(x, lab):
            x, lab = x.flatten().double().numpy(), lab.flatten().numpy()
            m = np.bincount(lab, weights=x) / np.maximum(np.bincount(lab), 1)
            return 1 - ((x - m[lab]) ** 2).sum() / ((x - x.mean()) ** 2).sum()

        ds = SyntheticPairDataset(20, seed=7, return_labels=True, template_fraction=0.0, physics_fraction=0.5)
        scores = []
        for i in range(8):
            it = ds[i]
            lab = it["label"][0]
            self.assertEqual(it["label"].shape, it["target"].shape)
            for key in ("target", "reference"):
                aligned, flipped = r2(it[key][0], lab), r2(it[key][0], lab.flip(0))
                self.assertGreater(aligned, flipped + 0.1, (i, key))
                scores.append(aligned)
        self.assertGreater(float(np.median(scores)), 0.8, scores)

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            SyntheticPairDataset(4, template_fraction=0.7, physics_fraction=0.5)
        with self.assertRaises(ValueError):
            SyntheticPairDataset(4, matrix_range=(320, 96))
        with self.assertRaises(IndexError):
            SyntheticPairDataset(4)[4]
        with self.assertRaises(ValueError):
            SyntheticPairDataset(4, reference_degradation=1.5)


def _edge_energy(x: torch.Tensor) -> float:
    return float(x.diff(dim=-1).pow(2).sum() + x.diff(dim=-2).pow(2).sum())


def test_imperfect_guide_is_blurred_and_moved_and_leaves_the_target_alone():
    torch.set_num_threads(1)
    plain = SyntheticPairDataset(3, seed=11)
    imperfect = SyntheticPairDataset(3, seed=11, reference_degradation=1.0)
    for i in range(3):  # the target is drawn before the guide: the same sample
        assert torch.equal(plain[i]["target"], imperfect[i]["target"])
        guide = imperfect[i]["synth_params"]["reference"]["imperfect_guide"]
        assert 1.5 <= guide["resolution_factor"] <= 4.0 and abs(guide["rotate_deg"]) <= 3.0
        assert max(abs(v) for v in guide["shift_px"]) <= 2.0 and abs(guide["stretch"]) <= 0.04
    # on a sharp square: edges spread (lower gradient energy) and the centre of mass follows the shift
    square = torch.zeros(1, 96, 96)
    square[:, 32:64, 32:64] = 1.0  # centred: rotation and stretch keep its centre of mass
    for seed in range(4):
        record: dict = {}
        out = imperfect._imperfect_guide(np.random.RandomState(seed), square, record)
        g = record["imperfect_guide"]
        assert out.shape == square.shape
        assert _edge_energy(out) < 0.8 * _edge_energy(square), g
        rows, cols = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
        moved = [float((out[0] * c).sum() / out[0].sum() - (square[0] * c).sum() / square[0].sum()) for c in (rows, cols)]
        assert np.allclose(moved, [-v for v in g["shift_px"]], atol=0.15), (moved, g)  # MONAI Affine moves the grid


if __name__ == "__main__":
    unittest.main()
