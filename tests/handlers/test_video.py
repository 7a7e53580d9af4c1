"""monai_mcrecon.handlers.video: the BVFI figures (strip and animated GIF per case)."""

from __future__ import annotations

import torch
from PIL import Image

from monai_mcrecon.handlers.video import SaveBlurryVFIFiguresd
from monai_mcrecon.transforms.blurry_video import KeyFrameAveraged


def test_saving_blurry_vfi_strip_and_gif(tmp_path):
    g = torch.Generator().manual_seed(3)
    d = {"blurry": torch.rand(4, 3, 20, 24, generator=g), "pred": torch.rand(3, 3, 20, 24, generator=g),
         "label": torch.rand(3, 3, 20, 24, generator=g), "times": torch.tensor([0.25, 0.5, 0.75]), "case_id": "clip_0003"}
    d = KeyFrameAveraged()(d)
    SaveBlurryVFIFiguresd(tmp_path / "fig")(d)
    strip = Image.open(tmp_path / "fig" / "clip_0003_strip.png")
    assert strip.size == (4 * 24 + 3 * 4, 4 * 20 + 3 * 4)
    gif = Image.open(tmp_path / "fig" / "clip_0003.gif")
    assert gif.n_frames == 3 and gif.size == (3 * 24 + 2 * 4, 20)
