"""Frame-sequence transforms: loading clips, one random crop / flip shared by every frame, blurry-video synthesis.

Frames are ``[C, H, W]`` float32 tensors in [0, 1]; a sequence is ``[T, C, H, W]``. The random
transforms draw ONE crop window / ONE set of flips per sample and apply it to every key (and every
frame of a sequence), so inputs and targets stay aligned; they are MONAI ``Randomizable`` (seed with
``set_random_state`` or the ``seed`` argument).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from monai_mcrecon.transforms.natural import LoadNaturalImage

__all__ = ["LoadFramesd", "RandCropFramesd", "RandFlipFramesd", "StackFramesd", "average_frames"]


def average_frames(frames: torch.Tensor, window: int) -> torch.Tensor:
    """Blurry-video synthesis: the mean of each consecutive non-overlapping ``window`` of frames.

    ``[T, C, H, W] -> [T // window, C, H, W]`` (trailing frames that do not fill a window are dropped).
    Averaging ``window`` sharp frames approximates a shutter open for ``window`` frame intervals.

    Raises:
        ValueError: ``window`` below 1 or larger than the number of frames.
    """
    if frames.ndim != 4:
        raise ValueError(f"average_frames expects [T, C, H, W], got {tuple(frames.shape)}.")
    t = frames.shape[0]
    if window < 1 or window > t:
        raise ValueError(f"window must be between 1 and the number of frames ({t}), got {window}.")
    n = t // window
    return frames[: n * window].reshape(n, window, *frames.shape[1:]).mean(1)


class LoadFramesd(MapTransform):
    """Load each key: a path -> ``[C, H, W]``; a list of paths -> ``[T, C, H, W]`` (all frames the same size).

    Raises:
        ValueError: frames of one sequence differ in size.
    """

    def __init__(self, keys: KeysCollection, channels: int | None = 3, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadNaturalImage(channels=channels)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            if isinstance(value, (list, tuple)):
                frames = [self.loader(p) for p in value]
                sizes = {tuple(f.shape) for f in frames}
                if len(sizes) > 1:
                    raise ValueError(f"Frames of {key!r} differ in size {sorted(sizes)}; every frame of a clip must match.")
                d[key] = torch.stack(frames)
            else:
                d[key] = self.loader(value)
        return d


def _check_same_size(d: Mapping, keys: Sequence[Hashable]) -> tuple[int, int]:
    sizes = {tuple(d[k].shape[-2:]) for k in keys}
    if len(sizes) != 1:
        raise ValueError(f"Keys {list(keys)} have different frame sizes {sorted(sizes)}; they must match to share a crop.")
    return sizes.pop()


class RandCropFramesd(Randomizable, MapTransform):
    """The same random ``size`` (h, w) crop of the last two dims for every key (``[C,H,W]`` or ``[T,C,H,W]``).

    Raises:
        ValueError: the frames are smaller than ``size`` (pad them first, e.g. ``DivisiblePadd``/``SpatialPadd``).
    """

    def __init__(self, keys: KeysCollection, size: Sequence[int] | int, seed: int | None = None,
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
        if seed is not None:
            self.set_random_state(seed)
        self._origin = (0, 0)

    def randomize(self, hw: tuple[int, int]) -> None:
        h, w = hw
        ch, cw = self.size
        if ch > h or cw > w:
            raise ValueError(f"Crop {self.size} is larger than the frames ({h}, {w}); pad the frames or use a smaller crop.")
        self._origin = (int(self.R.randint(0, h - ch + 1)), int(self.R.randint(0, w - cw + 1)))

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        self.randomize(_check_same_size(d, keys))
        y, x = self._origin
        for k in keys:
            d[k] = d[k][..., y : y + self.size[0], x : x + self.size[1]]
        return d


class RandFlipFramesd(Randomizable, MapTransform):
    """The same random horizontal and vertical flips (each with ``prob``) for every key and frame."""

    def __init__(self, keys: KeysCollection, prob: float = 0.5, seed: int | None = None,
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.prob = prob
        if seed is not None:
            self.set_random_state(seed)
        self._dims: tuple[int, ...] = ()

    def randomize(self, data=None) -> None:
        self._dims = tuple(dim for dim in (-1, -2) if self.R.rand() < self.prob)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize()
        if self._dims:
            for k in self.key_iterator(d):
                d[k] = torch.flip(d[k], self._dims)
        return d


class StackFramesd(MapTransform):
    """Stack the ``[C, H, W]`` frames under ``keys`` into ``output_key`` (``[len(keys), C, H, W]`` for ``dim=0``)."""

    def __init__(self, keys: KeysCollection, output_key: str, dim: int = 0) -> None:
        super().__init__(keys)
        self.output_key = output_key
        self.dim = dim

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        d[self.output_key] = torch.stack([torch.as_tensor(d[k]) for k in self.key_iterator(d)], dim=self.dim)
        return d
