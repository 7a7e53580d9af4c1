"""The package's one home for 8-bit figures: image to ``uint8``, side-by-side panels and animated GIFs.

Used by the PNG writers of restored images (:class:`~monai_mcrecon.transforms.natural.SaveNaturalImage`), the
frame-interpolation figures and clips (:mod:`monai_mcrecon.handlers.video`) and the blurry-video figures
(:class:`~monai_mcrecon.handlers.video.SaveBlurryVFIFiguresd`). Files are written through
:func:`~monai_mcrecon.safe_io.atomic_path`: an interrupted run never leaves a half-written GIF under its final name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from monai_mcrecon.safe_io import atomic_path

__all__ = ["hstack", "save_gif", "to_uint8"]


def to_uint8(img, rgb: bool = True) -> np.ndarray:
    """A ``[C, H, W]`` image (``C`` 1 or 3; also ``[1, C, H, W]``) with values in [0, 1] as an 8-bit array.

    Values are clamped to [0, 1], NaN becomes 0, rounding is to nearest. Returns ``[H, W, 3]``; with ``rgb=False`` a
    one-channel image stays ``[H, W]`` (grey PNG).

    Raises:
        ValueError: any other shape.
    """
    a = torch.as_tensor(img).detach().cpu().float()
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f"Expected an image [C, H, W] with C = 1 or 3, got shape {tuple(a.shape)}.")
    u8 = torch.nan_to_num(a, nan=0.0).clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    if u8.shape[2] == 1:
        return np.repeat(u8, 3, axis=2) if rgb else u8[..., 0]
    return u8


def hstack(images: Sequence[np.ndarray], gap: int = 4, fill: int = 255) -> np.ndarray:
    """Place ``[H, W, 3]`` ``uint8`` images of the same height side by side, ``gap`` columns of ``fill`` between them."""
    if not images:
        raise ValueError("hstack needs at least one image.")
    h = images[0].shape[0]
    if any(im.shape[0] != h or im.ndim != 3 for im in images):
        raise ValueError(f"hstack needs [H, W, 3] images of one height, got {[tuple(im.shape) for im in images]}.")
    sep = np.full((h, gap, images[0].shape[2]), fill, np.uint8)
    parts = [images[0]]
    for im in images[1:]:
        parts += [sep, im]
    return np.concatenate(parts, 1)


def save_gif(path: str | os.PathLike, frames: Sequence, duration_ms: int = 400) -> str:
    """Write ``frames`` (``[H, W, 3]`` ``uint8`` arrays or PIL images) as an animated GIF that loops forever; the
    file appears under ``path`` only once complete. Returns ``str(path)``.

    Raises:
        ValueError: no frames.
    """
    from PIL import Image

    if not frames:
        raise ValueError(f"save_gif needs at least one frame for {path}.")
    pics = [f if isinstance(f, Image.Image) else Image.fromarray(np.asarray(f)) for f in frames]
    with atomic_path(path) as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=int(duration_ms), loop=0)
    return str(path)
