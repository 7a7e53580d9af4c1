"""Slice-by-slice datasets: 2-D models train on slices of 3-D volumes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from monai.data import CacheDataset, Dataset
from monai.transforms import apply_transform

__all__ = ["VolumeSliceDataset"]


class VolumeSliceDataset(torch.utils.data.Dataset):
    """Map-style dataset of 2-D slices cut from volumes.

    Volumes are loaded and prepared once by ``volume_transform`` (cached in memory by default);
    item ``i`` is one slice: every key in ``slice_keys`` is cut along ``slice_axis`` (an axis of the
    channel-first array, ``-1`` = the last spatial axis), other keys are copied, and
    ``"slice_index"`` is added. ``transform`` (random crops, k-space degradation, ...) is applied
    to each slice dict.

    Args:
        data: datalist items (one per volume).
        volume_transform: volume-level transform (load, channel-first, normalise, pair contrasts).
        slice_keys: keys holding channel-first volumes ``[C, *spatial]`` to slice.
        transform: per-slice transform.
        slice_axis: axis along which to slice (negative counts from the end).
        cache: keep prepared volumes in memory (``monai.data.CacheDataset``).
    """

    def __init__(
        self,
        data: Sequence[dict],
        volume_transform: Callable,
        slice_keys: Sequence[str],
        transform: Callable | None = None,
        slice_axis: int = -1,
        cache: bool = True,
        progress: bool = True,
    ) -> None:
        if not data:
            raise ValueError("VolumeSliceDataset got an empty datalist; check dataset_dir and the split.")
        self.volumes = (
            CacheDataset(list(data), volume_transform, progress=progress, num_workers=0)
            if cache
            else Dataset(list(data), volume_transform)
        )
        self.slice_keys = list(slice_keys)
        self.transform = transform
        self.slice_axis = slice_axis
        self.index = []
        for v in range(len(self.volumes)):
            item = self.volumes[v]
            n = item[self.slice_keys[0]].shape[slice_axis]
            self.index.extend((v, s) for s in range(n))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        v, s = self.index[i]
        volume = self.volumes[v]
        item = {}
        for k, val in volume.items():
            if k in self.slice_keys:
                t = val.as_tensor() if hasattr(val, "as_tensor") else torch.as_tensor(val)
                item[k] = t.select(self.slice_axis if self.slice_axis < 0 else self.slice_axis, s).clone()
            else:
                item[k] = val
        item["slice_index"] = s
        return apply_transform(self.transform, item) if self.transform is not None else item
