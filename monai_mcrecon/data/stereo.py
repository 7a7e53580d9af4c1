"""Stereo data: the shipped sample (``data/stereo_sample``) and datalists for folders of rectified pairs.

Folder layout (the same for the sample and for user data)::

    <folder>/<pair>/left.png     rectified left view  (PNG/JPEG/BMP/TIFF; any size; RGB or gray)
    <folder>/<pair>/right.png    rectified right view (same size)
    <folder>/<pair>/disp.npy     optional: float32 [H, W] left-view disparity in pixels (left[y, x] matches
                                 right[y, x - d]); NaN (or inf) where unknown

Items: ``{"left": path, "right": path, "disp": path (only when disp.npy exists), "case_id": <pair>}``.
The sample holds real crops of the Middlebury 2014 "Motorcycle" pair (full resolution of scikit-image's
copy) split by disjoint rows into train / val / test; see ``stereo_sample/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from monai_mcrecon.data.natural import IMAGE_SUFFIXES

__all__ = ["STEREO_SPLITS", "stereo_folder_datalist", "stereo_sample_dir", "stereo_sample_pairs"]

STEREO_SPLITS = ("train", "val", "test")


def stereo_sample_dir() -> Path:
    """Folder of the shipped stereo sample."""
    return Path(__file__).resolve().parent / "stereo_sample"


def _view(folder: Path, name: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{name}{suffix}", folder / f"{name}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def stereo_folder_datalist(folder: str | Path) -> list[dict]:
    """Datalist of every pair folder ``<folder>/<pair>/left.png, right.png`` (optional ``disp.npy``), sorted.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: no pair folder, or a pair folder without both views (the message names it).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Stereo folder {str(folder)!r} does not exist or is not a folder; pass a folder laid out "
            "<folder>/<pair>/left.png, right.png (optional disp.npy)."
        )
    items = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        left, right = _view(sub, "left"), _view(sub, "right")
        if left is None and right is None:
            continue
        if left is None or right is None:
            missing = "left" if left is None else "right"
            raise ValueError(
                f"Pair folder {str(sub)!r} has no {missing} view; every pair needs left.png and right.png "
                "(or .jpg/.bmp/.tif)."
            )
        item = {"left": str(left), "right": str(right), "case_id": sub.name}
        if (sub / "disp.npy").is_file():
            item["disp"] = str(sub / "disp.npy")
        items.append(item)
    if not items:
        loose = [p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES][:3]
        hint = f" It holds images directly ({loose}): put each pair in its own sub-folder as left.png / right.png." if loose else ""
        raise ValueError(f"No stereo pair folders in {str(folder)!r}; expected <folder>/<pair>/left.png, right.png.{hint}")
    return items


def stereo_sample_pairs(split: str = "test") -> list[dict]:
    """The shipped stereo sample's ``split`` ("train", "val" or "test") as a datalist with absolute paths.

    Raises:
        ValueError: unknown split.
        FileNotFoundError: the sample is not installed.
    """
    if split not in STEREO_SPLITS:
        raise ValueError(f"Unknown split {split!r}; the stereo sample has {STEREO_SPLITS}.")
    root = stereo_sample_dir() / split
    if not root.is_dir():
        raise FileNotFoundError(
            f"{str(root)!r} is missing; the stereo sample is not installed. Rebuild it with "
            "`python tools/make_stereo_sample.py` or reinstall the package."
        )
    return stereo_folder_datalist(root)
