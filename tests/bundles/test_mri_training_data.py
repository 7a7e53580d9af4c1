"""The MRI bundles' training data (issue 21): real slices mixed with synthetic pairs, honest
normalisation in the training pipeline, validation on the real-anatomy set."""

from __future__ import annotations

import pytest
import torch
from monai.bundle import ConfigParser

from monai_mcrecon.bundle.locate import bundle_dir
from monai_mcrecon.data import load_datalist, real_validation_file


def _parser(bundle: str, **overrides) -> ConfigParser:
    p = ConfigParser()
    p.read_config(f"{bundle_dir(bundle)}/configs/train.json")
    for k, v in overrides.items():
        p[k] = v
    return p


@pytest.mark.parametrize("bundle", ["mc_cdic_recon", "mc_cdic_sr", "clgnet_recon"])
def test_training_set_mixes_real_repeats_and_synthetic_pairs(bundle):
    p = _parser(bundle, synthetic_samples=5, real_repeats=2, patch_size=[32, 32], device="$torch.device('cpu')")
    dataset = p.get_parsed_content("train#dataset")
    real = p.get_parsed_content("train#real_dataset")
    assert len(dataset) == 2 * len(real) + 5
    item = dataset[len(dataset) - 1]  # a synthetic pair through the bundle's own slice transforms
    image, label = item["image"], item["label"]
    assert image.shape[-2:] == (32, 32) and torch.isfinite(image).all()
    # honest normalisation: the network input is the zero-filled slice over its own 99th percentile,
    # whatever the synthetic intensity scale (drawn over 1e-2 .. 1e4); a 32x32 crop may be background
    assert float(image[0].abs().max()) < 20 and float(label[0].abs().max()) < 20
    source = p.get_parsed_content("train#synthetic_source")
    first = source[0]["target"]
    source.epoch = 1  # what the bundle's EPOCH_STARTED handler does
    assert not torch.equal(first, source[0]["target"])


def test_real_validation_sets_are_real_and_kept_out_of_training():
    guided = load_datalist(real_validation_file("guided"), "validation", ["target", "reference"])
    single = load_datalist(real_validation_file("single"), "validation", ["target"])
    assert len(guided) == 2 and len(single) >= 8
    p = _parser("mc_cdic_recon")
    training = p.get_parsed_content("train#real_dataset#data")
    train_files = {v for item in training for k, v in item.items() if isinstance(v, str) and v.endswith(".nii.gz")}
    val_files = {v for item in guided + single for k, v in item.items() if k in ("target", "reference")}
    assert train_files and not (train_files & val_files)
    assert all("real_val" in f for f in val_files)
