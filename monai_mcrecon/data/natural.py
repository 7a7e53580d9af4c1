"""Natural-image data: the shipped sample (``data/natural_sample``) and datalists for image folders.

The sample holds small public-domain / CC0 photographs from the scikit-image wheel (7 train,
1 val, 4 test images, RGB and grayscale) and the Middlebury 2014 "Motorcycle" stereo pair with a
float16 disparity and a depth map; see ``natural_sample/README.md`` for sources, licenses, the split
and how every degradation is synthesised. Rebuilt by ``tools/make_natural_sample.py``.

Items follow the project's keys: ``{"label": <clean image path>, "case_id": <file stem>}``, plus
``"depth": <.npy path>`` (metres, float16) where a depth map exists (``motorcycle_left``).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = [
    "IMAGE_SUFFIXES",
    "NATURAL_SPLITS",
    "image_folder_datalist",
    "natural_sample_datalist",
    "natural_sample_dir",
    "stereo_sample",
]

NATURAL_SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def natural_sample_dir() -> Path:
    """Folder of the shipped natural-image sample."""
    return Path(__file__).resolve().parent / "natural_sample"


def _splits() -> dict:
    path = natural_sample_dir() / "splits.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; the natural sample is not installed. Rebuild it with "
            "`python tools/make_natural_sample.py` or reinstall the package."
        )
    return json.loads(path.read_text())


def _absolute(item: dict) -> dict:
    root = natural_sample_dir()
    return {k: (str(root / v) if k != "case_id" else v) for k, v in item.items()}


def natural_sample_datalist(split: str = "test") -> list[dict]:
    """The shipped sample's ``split`` ("train", "val" or "test") as a datalist with absolute paths.

    Raises:
        ValueError: unknown ``split``.
    """
    if split not in NATURAL_SPLITS:
        raise ValueError(f"Unknown split {split!r}; the natural sample has {NATURAL_SPLITS}.")
    return [_absolute(item) for item in _splits()[split]]


def image_folder_datalist(folder: str | Path, recursive: bool = False) -> list[dict]:
    """Datalist of every PNG/JPEG/BMP/TIFF image in ``folder`` (sorted by name; any size, RGB or gray).

    Args:
        folder: a folder of images.
        recursive: also search sub-folders (case ids then keep the file stem only, so stems must be unique).

    Raises:
        FileNotFoundError: ``folder`` does not exist or is not a folder.
        ValueError: no image in ``folder``, or two images share a stem.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Image folder {str(folder)!r} does not exist or is not a folder; pass a folder of "
            f"{'/'.join(s[1:].upper() for s in IMAGE_SUFFIXES)} images."
        )
    files = sorted(
        p for p in (folder.rglob("*") if recursive else folder.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise ValueError(
            f"No image found in {str(folder)!r} (looked for {', '.join(IMAGE_SUFFIXES)}"
            f"{', recursively' if recursive else ''}); put the images directly in that folder"
            f"{'' if recursive else ' or pass recursive=True'}."
        )
    stems = [p.stem for p in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise ValueError(f"Images in {str(folder)!r} share the stems {dupes}; case ids must be unique, rename them.")
    return [{"label": str(p), "case_id": p.stem} for p in files]


def stereo_sample() -> dict:
    """Paths of the shipped stereo pair: ``left``, ``right`` (PNG), ``disparity`` and ``depth`` (float16 .npy).

    The disparity is in pixels of the shipped images (left-image reference, ``inf`` = unknown);
    the depth is in metres with holes filled. ``case_id`` is ``"motorcycle"``.
    """
    return _absolute(_splits()["stereo"][0])
