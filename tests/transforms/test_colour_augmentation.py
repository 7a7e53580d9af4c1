"""RandHueSaturationd: seeded hue rotation and saturation change, the same draw for every key."""

from __future__ import annotations

import pytest
import torch

from monai_mcrecon.transforms import RandHueSaturationd


def _image() -> torch.Tensor:
    t = torch.linspace(0, 1, 16)
    return torch.stack([0.2 + 0.1 * t.view(16, 1).expand(16, 16), torch.full((16, 16), 0.45), torch.full((16, 16), 0.9)])


def test_keys_change_alike_and_a_seed_repeats_the_draw():
    img = _image()
    a = RandHueSaturationd(["label", "other"], prob=1.0, seed=3)({"label": img, "other": img.clone()})
    b = RandHueSaturationd(["label", "other"], prob=1.0, seed=3)({"label": img, "other": img.clone()})
    assert torch.equal(a["label"], a["other"]) and torch.equal(a["label"], b["label"])
    assert (a["label"] - img).abs().max() > 0.05
    assert a["label"].min() >= 0 and a["label"].max() <= 1


def test_half_turn_of_the_hue_maps_blue_to_yellow_and_keeps_the_value():
    img = _image()
    out = RandHueSaturationd("label", prob=1.0, hue=(0.5, 0.5), saturation=(1.0, 1.0))({"label": img})["label"]
    means = out.mean((1, 2))
    assert means[2] < means[0] and means[2] < means[1]  # the blue channel is now the darkest
    assert out.max(0).values.sub(img.max(0).values).abs().max() < 1e-5  # HSV value unchanged


def test_zero_saturation_gives_gray_and_prob_zero_changes_nothing():
    img = _image()
    gray = RandHueSaturationd("label", prob=1.0, hue=(0.0, 0.0), saturation=(0.0, 0.0))({"label": img})["label"]
    assert (gray - gray.mean(0, keepdim=True)).abs().max() < 1e-6
    assert torch.equal(RandHueSaturationd("label", prob=0.0)({"label": img})["label"], img)


@pytest.mark.parametrize("kwargs, message", [({"prob": 1.5}, "prob"), ({"hue": (0.2, -0.2)}, "hue"),
                                             ({"saturation": (-1, 1)}, "saturation")])
def test_bad_ranges_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandHueSaturationd("label", **kwargs)


def test_a_gray_image_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="RGB images.*color_augmentation false"):
        RandHueSaturationd("label", prob=1.0)({"label": torch.rand(1, 8, 8)})
