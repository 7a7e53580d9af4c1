"""Seeded colour augmentation of RGB training images, the same draw for every key of a sample: a random
permutation of the colour channels, and a random hue rotation with a saturation change.

MONAI's random intensity transforms scale or shift channels; none rotates the hue. A network that
only ever sees the colours of its training photographs can take an unseen colour (a saturated blue
sky) for a degradation and change it; a random hue rotation and saturation factor per sample shows
it every colour. The colour arithmetic is torchvision's (``adjust_hue``, ``adjust_saturation``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

__all__ = ["RandChannelShuffled", "RandHueSaturationd"]


class RandChannelShuffled(Randomizable, MapTransform):
    """With probability ``prob``, one random permutation of the colour channels applied to every key."""

    def __init__(self, keys: KeysCollection, prob: float = 0.5, seed: int | None = None) -> None:
        MapTransform.__init__(self, keys)
        self.prob = prob
        if seed is not None:
            self.set_random_state(seed)
        self._perm: np.ndarray | None = None

    def randomize(self, channels: int) -> None:
        self._perm = self.R.permutation(channels) if self.R.rand() < self.prob else None

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        channels = {int(d[k].shape[-3]) for k in keys}
        if len(channels) > 1:
            raise ValueError(f"RandChannelShuffled keys {keys} have different channel counts {sorted(channels)}.")
        self.randomize(channels.pop() if channels else 1)
        if self._perm is not None:
            idx = torch.as_tensor(self._perm, dtype=torch.long)
            for k in keys:
                d[k] = d[k].index_select(-3, idx)
        return d


class RandHueSaturationd(Randomizable, MapTransform):
    """With probability ``prob``, rotate the hue of every key by one random fraction of the colour
    circle drawn from ``hue`` (torchvision's ``adjust_hue``: -0.5 to 0.5 is the whole circle) and
    scale its saturation by one random factor drawn from ``saturation`` (``adjust_saturation``: 0 is
    gray, 1 unchanged). Images are ``[3, H, W]`` (or ``[..., 3, H, W]``) floats in [0, 1].

    Args:
        keys: keys of the images to change alike (the clean image before a degradation is drawn).
        prob: probability of changing a sample.
        hue: range of the hue rotation, within [-0.5, 0.5].
        saturation: range of the saturation factor, at least 0.
        seed: seed of this transform's random state (MONAI's ``set_random_state`` also works).
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.5,
        hue: Sequence[float] = (-0.5, 0.5),
        saturation: Sequence[float] = (0.5, 1.5),
        seed: int | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.prob = float(prob)
        self.hue = (float(hue[0]), float(hue[1]))
        self.saturation = (float(saturation[0]), float(saturation[1]))
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"RandHueSaturationd: prob={prob} must lie in [0, 1].")
        if not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
            raise ValueError(f"RandHueSaturationd: hue={list(hue)} must be an increasing range within [-0.5, 0.5].")
        if not 0.0 <= self.saturation[0] <= self.saturation[1]:
            raise ValueError(f"RandHueSaturationd: saturation={list(saturation)} must be an increasing range of factors >= 0.")
        if seed is not None:
            self.set_random_state(seed)
        self._draw: tuple[float, float] | None = None

    def randomize(self, data: object = None) -> None:
        if self.R.rand() < self.prob:
            self._draw = (self.R.uniform(*self.hue), self.R.uniform(*self.saturation))
        else:
            self._draw = None

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        from torchvision.transforms.v2 import functional as tvf

        d = dict(data)
        self.randomize()
        if self._draw is None:
            return d
        hue, saturation = self._draw
        for k in self.key_iterator(d):
            img = torch.as_tensor(d[k])
            if img.ndim < 3 or img.shape[-3] != 3:
                raise ValueError(
                    f"RandHueSaturationd: '{k}' has shape {tuple(img.shape)}; it needs RGB images [..., 3, H, W] "
                    "(set color_augmentation false for gray images)."
                )
            out = tvf.adjust_saturation(tvf.adjust_hue(img.as_subclass(torch.Tensor).clamp(0, 1), hue), saturation).clamp(0, 1)
            d[k] = type(img)(out, meta=img.meta) if hasattr(img, "meta") else out
        return d
