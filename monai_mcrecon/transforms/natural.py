"""Reading and writing natural images (PNG/JPEG/BMP/TIFF) as ``[C, H, W]`` float32 tensors in [0, 1].

PIL does the decoding. Supported PIL modes: ``1``, ``L``, ``P``, ``LA``, ``RGB``, ``RGBA``, ``CMYK``,
``YCbCr`` (8 bit, divided by 255), ``I;16*`` and ``I`` (16 bit, divided by 65535) and ``F``
(32-bit float, must already lie in [0, 1]). Alpha is dropped. 16-bit *RGB* PNGs are decoded by PIL
to 8 bit. Channel conversion: gray -> RGB repeats the channel; RGB -> gray uses the ITU-R BT.601
luma ``Y = 0.299 R + 0.587 G + 0.114 B``. Axis order: ``[C, H, W]`` with H = image rows (top to
bottom) and W = columns (left to right), as in torchvision.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from monai_mcrecon.data.natural import KERNEL_SUFFIXES
from monai_mcrecon.ops.color import BT601_LUMA, luma

__all__ = ["LoadBlurKerneld", "load_blur_kernel", "BT601_LUMA", "LoadNaturalImage", "LoadNaturalImaged", "SaveNaturalImage", "SaveNaturalImaged",
           "convert_channels"]

_MODES_8BIT_TO = {"1": "L", "L": "L", "LA": "L", "P": "RGB", "PA": "RGB", "RGB": "RGB", "RGBA": "RGB",
                  "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def convert_channels(img: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Convert ``[C, H, W]`` (C = 1 or 3) to ``channels`` (1, 3 or None = keep)."""
    c = img.shape[0]
    if channels is None or channels == c:
        return img
    if channels == 3 and c == 1:
        return img.repeat(3, 1, 1)
    if channels == 1 and c == 3:
        return luma(img)
    raise ValueError(f"Cannot convert a {c}-channel image to {channels} channels; use channels=1, 3 or None.")


class LoadNaturalImage(Transform):
    """Read an image file into a ``[C, H, W]`` float32 tensor in [0, 1].

    Args:
        channels: 3 (RGB, gray is repeated), 1 (gray, RGB -> BT.601 luma) or None (keep the file's 1 or 3).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not an image PIL can read, or has an unsupported mode / range.
    """

    def __init__(self, channels: int | None = 3) -> None:
        if channels not in (1, 3, None):
            raise ValueError(f"channels={channels!r}; use 1 (gray), 3 (RGB) or None (keep the file's channels).")
        self.channels = channels

    def __call__(self, filename: str | Path) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        path = Path(filename)
        if not path.is_file():
            raise FileNotFoundError(f"Image file {str(path)!r} does not exist.")
        try:
            with Image.open(path) as im:
                im.load()
                arr = self._to_array(im, path)
        except UnidentifiedImageError as e:
            raise ValueError(
                f"{str(path)!r} is not an image PIL can read; use PNG, JPEG, BMP or TIFF files."
            ) from e
        except (OSError, SyntaxError) as e:  # PIL: "image file is truncated", broken chunks / CRC
            raise ValueError(
                f"{str(path)!r} is truncated or corrupt ({e}); restore or re-export the image."
            ) from e
        img = torch.from_numpy(np.ascontiguousarray(arr))
        img = img[None] if img.ndim == 2 else img.permute(2, 0, 1)
        return convert_channels(img.float(), self.channels).contiguous()

    @staticmethod
    def _to_array(im, path: Path) -> np.ndarray:
        mode = im.mode
        if mode in _MODES_8BIT_TO:
            return np.asarray(im.convert(_MODES_8BIT_TO[mode]), dtype=np.float32) / 255.0
        if mode.startswith("I;16") or mode == "I":
            arr = np.asarray(im).astype(np.float64)
            if arr.min() < 0 or arr.max() > 65535:
                raise ValueError(
                    f"{str(path)!r} holds 32-bit integers outside [0, 65535]; convert it to an 8- or 16-bit image."
                )
            return (arr / 65535.0).astype(np.float32)
        if mode == "F":
            arr = np.asarray(im, dtype=np.float32)
            if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
                raise ValueError(
                    f"{str(path)!r} is a float image with values outside [0, 1] "
                    f"([{np.nanmin(arr):.3g}, {np.nanmax(arr):.3g}]); rescale it to [0, 1] first."
                )
            return arr
        raise ValueError(f"{str(path)!r} has the unsupported PIL mode {mode!r}; save it as 8/16-bit gray or RGB.")


class LoadNaturalImaged(MapTransform):
    """Dictionary version of :class:`LoadNaturalImage`: replaces each path under ``keys`` by its image."""

    def __init__(self, keys: KeysCollection = "label", channels: int | None = 3, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadNaturalImage(channels)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k] = self.loader(d[k])
        return d


class SaveNaturalImage(Transform):
    """Write a ``[C, H, W]`` image (C = 1 or 3, values clamped to [0, 1]) as an 8-bit PNG.

    The file is ``<output_dir>/<case_id>_<output_postfix>.png`` (no postfix: ``<case_id>.png``).
    Returns the written path.
    """

    def __init__(self, output_dir: str | Path = "./outputs", output_postfix: str = "restored") -> None:
        self.output_dir = Path(output_dir)
        self.output_postfix = output_postfix

    def __call__(self, img: torch.Tensor | np.ndarray, case_id: str) -> str:
        from PIL import Image

        from monai_mcrecon.figures import to_uint8

        arr = torch.as_tensor(img)
        if arr.ndim != 3 or arr.shape[0] not in (1, 3):
            raise ValueError(f"SaveNaturalImage expects [C, H, W] with C = 1 or 3, got shape {tuple(arr.shape)}.")
        u8 = to_uint8(arr, rgb=False)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        name = f"{case_id}_{self.output_postfix}.png" if self.output_postfix else f"{case_id}.png"
        path = self.output_dir / name
        from monai_mcrecon.safe_io import atomic_path

        with atomic_path(path) as tmp:  # never a half-written PNG under the final name
            Image.fromarray(u8).save(tmp)
        return str(path)


class SaveNaturalImaged(MapTransform):
    """Dictionary version of :class:`SaveNaturalImage`; the name comes from ``case_key``, the path is
    stored under ``"{key}_path"``."""

    def __init__(
        self,
        keys: KeysCollection = "pred",
        output_dir: str | Path = "./outputs",
        output_postfix: str = "restored",
        case_key: str = "case_id",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.saver = SaveNaturalImage(output_dir, output_postfix)
        self.case_key = case_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        if self.case_key not in d:
            raise KeyError(f"SaveNaturalImaged needs {self.case_key!r} in the data to name the file.")
        case = d[self.case_key]
        if isinstance(case, (list, tuple)):
            if len(case) != 1:
                raise ValueError("SaveNaturalImaged works on single items; decollate the batch first.")
            case = case[0]
        for k in self.key_iterator(d):
            d[f"{k}_path"] = self.saver(d[k], str(case))
        return d


def load_blur_kernel(path) -> torch.Tensor:
    """Read a blur kernel (point-spread function) file into a ``[1, kh, kw]`` float32 tensor summing to 1.

    ``.npy``: a 2-D array (or ``[1, kh, kw]``) of non-negative values. Image files (PNG/TIFF/BMP/JPEG): read
    as gray (RGB -> BT.601 luma), any bit depth. The kernel is the PSF in the orientation of a true
    convolution (``blurred = kernel * sharp``, as :func:`monai_mcrecon.ops.blur.blur`): the
    image of a point light source. It is normalised to sum 1.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unsupported suffix, not 2-D, even size, negative values or a zero sum.
    """
    from pathlib import Path

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Blur kernel file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        k = np.load(path, allow_pickle=False).astype(np.float64)
    elif suffix in KERNEL_SUFFIXES:
        k = LoadNaturalImage(channels=1)(path)[0].double().numpy()
    else:
        raise ValueError(f"{str(path)!r}: unsupported kernel file type; use one of {KERNEL_SUFFIXES}.")
    k = np.squeeze(k)
    if k.ndim != 2:
        raise ValueError(f"{str(path)!r}: a blur kernel must be 2-D, got shape {k.shape}.")
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(
            f"{str(path)!r}: kernel size {k.shape[0]}x{k.shape[1]} must be odd in both directions so that it is "
            "centred; pad it with a row/column of zeros."
        )
    if not np.isfinite(k).all() or (k < 0).any() or k.sum() <= 0:
        raise ValueError(f"{str(path)!r}: a blur kernel must be finite, non-negative and have a positive sum.")
    return torch.from_numpy(k / k.sum()).float()[None]


class LoadBlurKerneld(MapTransform):
    """Dictionary transform: replace the kernel path under ``keys`` by :func:`load_blur_kernel` ``[1, kh, kw]``
    (tensors are kept as they are)."""

    def __init__(self, keys: KeysCollection = "kernel", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k] = d[k] if torch.is_tensor(d[k]) else load_blur_kernel(d[k])
        return d
