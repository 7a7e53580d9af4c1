"""monai_mcrecon.figures: the 8-bit conversion, side-by-side panels and GIF writer shared by every figure writer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from monai_mcrecon.figures import hstack, save_gif, to_uint8


def test_to_uint8_values_and_shapes():
    img = torch.tensor([[[0.0, 0.5], [1.0, 2.0]], [[-1.0, float("nan")], [0.25, 0.75]], [[0.1, 0.2], [0.3, 0.4]]])
    u8 = to_uint8(img)
    assert u8.shape == (2, 2, 3) and u8.dtype == np.uint8
    np.testing.assert_array_equal(u8[..., 0], [[0, 128], [255, 255]])  # round to nearest, clamp above 1
    np.testing.assert_array_equal(u8[..., 1], [[0, 0], [64, 191]])  # clamp below 0, NaN -> 0
    assert to_uint8(img[None]).shape == (2, 2, 3)  # a batch of one
    grey = torch.full((1, 3, 4), 0.2)
    assert to_uint8(grey).shape == (3, 4, 3) and (to_uint8(grey) == 51).all()
    assert to_uint8(grey, rgb=False).shape == (3, 4)


@pytest.mark.parametrize("shape", [(2, 4, 4), (4, 4), (2, 3, 4, 4)])
def test_to_uint8_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match="C = 1 or 3"):
        to_uint8(torch.zeros(shape))


def test_hstack_places_images_with_white_gaps():
    a, b = np.zeros((5, 3, 3), np.uint8), np.full((5, 2, 3), 7, np.uint8)
    out = hstack([a, b, a], gap=4)
    assert out.shape == (5, 3 + 4 + 2 + 4 + 3, 3)
    assert (out[:, 3:7] == 255).all() and (out[:, 7:9] == 7).all() and (out[:, 9:13] == 255).all()
    with pytest.raises(ValueError, match="one height"):
        hstack([a, np.zeros((4, 3, 3), np.uint8)])


def test_save_gif_round_trip_and_nothing_on_failure(tmp_path):
    frames = [np.full((6, 8, 3), v, np.uint8) for v in (0, 120, 250)]
    path = save_gif(tmp_path / "clip.gif", frames, duration_ms=250)
    with Image.open(path) as gif:
        assert gif.n_frames == 3 and gif.size == (8, 6)
        assert gif.info["duration"] == 250 and gif.info["loop"] == 0
        gif.seek(1)
        assert abs(int(np.asarray(gif.convert("RGB"))[0, 0, 0]) - 120) <= 2
    with pytest.raises(ValueError, match="at least one frame"):
        save_gif(tmp_path / "empty.gif", [])
    bad = [np.zeros((6, 8, 3), np.uint8), "not an image"]
    with pytest.raises(Exception):
        save_gif(tmp_path / "bad.gif", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]  # no partial or empty file left behind
