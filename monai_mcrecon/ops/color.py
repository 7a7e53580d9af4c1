"""Colour helpers shared by transforms, networks and baselines: the ITU-R BT.601 luma."""

from __future__ import annotations

import torch

__all__ = ["BT601_LUMA", "luma"]

#: ITU-R BT.601 luma weights of R, G, B
BT601_LUMA = (0.299, 0.587, 0.114)


def luma(img: torch.Tensor) -> torch.Tensor:
    """``Y = 0.299 R + 0.587 G + 0.114 B`` of ``img [..., 3, H, W]``, keeping the channel dim: ``[..., 1, H, W]``."""
    if img.ndim < 3 or img.shape[-3] != 3:
        raise ValueError(f"luma expects [..., 3, H, W] (RGB), got shape {tuple(img.shape)}.")
    weights = torch.tensor(BT601_LUMA, dtype=img.dtype, device=img.device).view(3, 1, 1)
    return (img * weights).sum(-3, keepdim=True)
