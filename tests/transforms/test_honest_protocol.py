"""The honest intensity protocol and output data consistency (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser

from monai_mcrecon.bundle.locate import bundle_dir
from monai_mcrecon.data import sample_datalist
from monai_mcrecon.kspace.fft import fft2c
from monai_mcrecon.metrics import psnr
from monai_mcrecon.transforms import (
    DataConsistencyd,
    KspaceTruncate,
    KspaceUndersample,
    NormalizeFromInputd,
    RestoreIntensityd,
    input_scale,
)


def _phantom(h=64, w=72, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    img = ((xx**2 / 0.6 + yy**2 / 0.8) < 1).float() * (0.5 + 0.5 * torch.rand(h, w, generator=g))
    return img[None]  # [1, H, W]


def test_network_input_does_not_depend_on_the_truth():
    zf, _, _ = KspaceUndersample("mc_cdic", 4)(_phantom())
    ref = _phantom(seed=1) * 7.0
    norm = NormalizeFromInputd(keys="degraded")
    a = norm({"degraded": zf.clone(), "target": _phantom(), "reference": ref.clone()})
    # another truth with another intensity range (offset and gain), same zero-filled input
    b = norm({"degraded": zf.clone(), "target": _phantom() * 40 + 3, "reference": ref.clone()})
    assert torch.equal(a["degraded"], b["degraded"]) and torch.equal(a["reference"], b["reference"])
    assert torch.equal(a["target_intensity_range"], b["target_intensity_range"])
    assert not torch.allclose(a["target"], b["target"])  # the truth itself is only carried along


def test_scale_is_the_99th_percentile_per_slice_and_invariant_to_units():
    vol = torch.stack([_phantom(seed=s) * (s + 1) for s in range(3)], dim=1)  # [1, 3, H, W]
    scale = input_scale(vol)
    assert scale.shape == (1, 3, 1, 1)
    for s in range(3):
        assert float(scale[0, s]) == pytest.approx(float(torch.quantile(vol[0, s].flatten(), 0.99)), rel=1e-6)
    d = NormalizeFromInputd(keys="degraded")({"degraded": vol * 1e3})
    e = NormalizeFromInputd(keys="degraded")({"degraded": vol})
    assert torch.allclose(d["degraded"], e["degraded"], atol=1e-6)
    assert d["target_intensity_range"].shape == (3, 2)
    # the volume gives, slice by slice, what the single slices give (training sees single slices)
    one = NormalizeFromInputd(keys="degraded")({"degraded": vol[:, 1]})
    assert torch.allclose(one["degraded"], e["degraded"][:, 1])
    # an empty slice does not divide by zero
    z = NormalizeFromInputd(keys="degraded")({"degraded": torch.zeros(1, 8, 8)})
    assert torch.isfinite(z["degraded"]).all() and float(z["target_intensity_range"][1]) == 1.0


def test_a_constant_volume_is_named_but_an_empty_slice_is_fine():
    with pytest.raises(ValueError, match="Case 'c1'.*constant"):
        NormalizeFromInputd(keys="degraded")({"degraded": torch.zeros(1, 3, 8, 8), "case_id": "c1"})
    vol = torch.stack([torch.zeros(8, 8), torch.rand(8, 8)])[None]
    out = NormalizeFromInputd(keys="degraded")({"degraded": vol})
    assert torch.isfinite(out["degraded"]).all()


def test_restore_undoes_the_per_slice_normalisation():
    vol = torch.stack([_phantom(seed=s) * (10 * s + 1) for s in range(4)], dim=1)
    d = NormalizeFromInputd(keys="degraded", scaled_keys=("target",))({"degraded": vol.clone(), "target": vol.clone()})
    back = RestoreIntensityd(keys="degraded")(d)["degraded"]
    assert torch.allclose(back, vol, rtol=1e-5, atol=1e-5)


def test_data_consistency_keeps_the_acquired_samples_and_improves_a_poor_estimate():
    truth = _phantom()
    zf, kspace, res = KspaceUndersample("mc_cdic", 4)(truth)
    guess = zf * 0.7  # a poor "network output"
    d = DataConsistencyd(keys="pred")({"pred": guess, "kspace": kspace, "mask": res.mask})
    out = d["pred"]
    m = res.mask.expand_as(kspace).bool()

    def sampled_error(img):
        return float((fft2c(img.to(torch.complex64))[m] - kspace[m]).norm() / kspace[m].norm())

    # the magnitude of the consistent image keeps most of the acquired samples; the guess kept few
    assert sampled_error(out) < sampled_error(guess) / 3
    assert float(psnr(truth, out)) > float(psnr(truth, guess)) + 3
    # a perfect output is left as it is
    perfect = DataConsistencyd(keys="pred")({"pred": truth.clone(), "kspace": kspace, "mask": res.mask})["pred"]
    assert torch.allclose(perfect, truth, atol=1e-5)
    assert d["data_consistency"] == "hard"
    # without the acquired k-space nothing happens, and it says so
    d = DataConsistencyd(keys="pred")({"pred": guess.clone(), "mask": res.mask})
    assert torch.equal(d["pred"], guess) and d["data_consistency"].startswith("off")
    d = DataConsistencyd(keys="pred", enabled=False)({"pred": guess.clone(), "kspace": kspace, "mask": res.mask})
    assert torch.equal(d["pred"], guess)


def test_sr_data_consistency_keeps_the_low_frequency_block():
    truth = _phantom(64, 64) + 0.5  # positive: the magnitude of the consistent image is (almost) the image
    lr, kspace = KspaceTruncate(2.0, "hr")(truth)
    guess = lr + 0.05 * torch.randn_like(lr)
    out = DataConsistencyd(keys="pred", sr_scale=2.0)({"pred": guess, "kspace": kspace})["pred"]
    k_out = fft2c(out.to(torch.complex64))
    block = (slice(None), slice(16, 48), slice(16, 48))
    k_guess = fft2c(guess.to(torch.complex64))
    err_out = float((k_out[block] - kspace[block]).norm() / kspace[block].norm())
    err_guess = float((k_guess[block] - kspace[block]).norm() / kspace[block].norm())
    assert err_out < err_guess / 2
    assert float(psnr(truth, out)) > float(psnr(truth, guess))


@pytest.mark.parametrize("bundle", ["mc_cdic_recon", "clgnet_recon", "mc_cdic_sr"])
def test_bundle_input_is_invariant_to_the_units_of_the_scan(bundle):
    """Through the bundles' own ``evaluate.json`` preprocessing: a scan in other units (a gain on the
    truth, hence on the degraded input) gives the same network input, and the truth's own range is
    only used by the named option ``truth_minmax``."""
    item = sample_datalist("test")[0]
    cfg = [f"{bundle_dir(bundle)}/configs/inference.json", f"{bundle_dir(bundle)}/configs/evaluate.json"]  # the overlay

    def prepared(mode, gain):
        p = ConfigParser()
        p.read_config(cfg)
        p["normalization"] = mode
        d = dict(item)
        for t in p.get_parsed_content("preprocessing").transforms:
            if type(t).__name__ in ("KspaceUndersampled", "PrepareSRInputd"):  # the degradation
                d["target"] = d["target"] * gain
                if "reference" in d:
                    d["reference"] = d["reference"] * gain
            d = t(d)
        return d

    a, b = prepared("input", 1.0), prepared("input", 250.0)
    assert torch.allclose(a["image"], b["image"], atol=1e-4)
    assert "ScaleIntensityRecordd" not in str(a.get("applied_operations", ""))
    assert float(a["image"][0].flatten().quantile(0.99)) == pytest.approx(1.0, abs=0.02)
    # the restore record maps the input back to its own units
    back = RestoreIntensityd(keys="label")({"label": b["label"], "target_intensity_range": b["target_intensity_range"]})
    assert float(back["label"].max()) > 100  # gained units (the sample is 0..255 before the gain)
    leaky = prepared("truth_minmax", 1.0)
    assert float(leaky["label"].max()) == pytest.approx(1.0)  # the truth's own max set the scale
    assert np.isfinite(a["image"].numpy()).all()
