"""Volume input of the MRI bundles: a datalist item names each contrast by its file (read with MONAI's
``LoadImage``, as ``LoadImaged`` does) or holds the volume itself in memory, a ``MetaTensor`` with its affine
(:func:`volume_image` builds one). The ``monai-mcrecon`` command hands the bundle's ``inference.json`` the
volumes it has already read and registered this way (its ``datalist`` override), so that no temporary file
is written between the command and the bundle.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import LoadImage, MapTransform

__all__ = [
    "LoadVolumed",
    "volume_image",
]


def volume_image(array: np.ndarray | torch.Tensor, affine: np.ndarray | torch.Tensor, source: Any = None) -> MetaTensor:
    """An in-memory volume ``[X, Y, Z]`` as ``LoadImaged`` gives a NIfTI file: float32, ``affine``
    (voxel -> RAS mm) in its meta, no channel dimension yet (``EnsureChannelFirstd`` adds it), and
    ``source`` (where it came from, for messages) as ``filename_or_obj``."""
    data = torch.as_tensor(array).detach().to("cpu", torch.float32).clone()  # the caller's array is not shared
    aff = torch.as_tensor(np.asarray(affine, dtype=np.float64))
    meta = {
        "affine": aff,
        "original_affine": aff.clone().numpy(),
        "spatial_shape": np.asarray(data.shape),
        "space": "RAS",
        "original_channel_dim": float("nan"),
    }
    if source is not None:
        meta["filename_or_obj"] = str(source)
    return MetaTensor(data, meta=meta)


class LoadVolumed(MapTransform):
    """``LoadImaged(keys, image_only=True)`` for the keys that hold a file path; a key that holds a
    ``MetaTensor`` (an in-memory volume with its affine, :func:`volume_image`) passes through as it is
    (without a channel dimension recorded, it is taken to have none, as a loaded 3-D NIfTI file).

    Args:
        keys: the image keys.
        allow_missing_keys: skip absent keys.
        load_kwargs: arguments of MONAI's :class:`~monai.transforms.LoadImage` (``reader``, ``dtype``...).

    Raises:
        ValueError: a value that is neither a path nor a ``MetaTensor`` (an array has no affine: the
            message names the key and the fix).
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **load_kwargs: Any) -> None:
        super().__init__(keys, allow_missing_keys)
        load_kwargs.pop("image_only", None)  # always: the meta travels inside the MetaTensor
        self.loader = LoadImage(image_only=True, **load_kwargs)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            value = d[k]
            if isinstance(value, (str, os.PathLike)):
                d[k] = self.loader(value)
            elif isinstance(value, MetaTensor):
                if value.meta.get("original_channel_dim") is None:  # as LoadImaged marks a 3-D file: no channel
                    meta = {**value.meta, "original_channel_dim": float("nan")}
                    d[k] = MetaTensor(value.as_tensor(), meta=meta)  # the caller's tensor keeps its own meta
            else:  # a ValueError: the user errors this package reports in one line (bundle.checks)
                raise ValueError(  # noqa: TRY004
                    f"Case {d.get('case_id', '?')!r}, {k!r}: got {type(value).__name__}, which carries no affine; give "
                    "the file path, or the volume as monai.data.MetaTensor(array, affine=affine) "
                    "(monai_mcrecon.transforms.volume_input.volume_image)."
                )
        return d
