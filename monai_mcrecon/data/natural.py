"""Natural-image data: the shipped sample (``data/natural_sample``) and datalists for image folders.

The sample holds small public-domain / CC0 photographs from the scikit-image wheel (7 train,
1 val, 4 test images, RGB and grayscale) and the Middlebury 2014 "Motorcycle" stereo pair with a
float16 disparity and a depth map; see ``natural_sample/README.md`` for sources, licenses, the split
and how every degradation is synthesised. Rebuilt by ``tools/make_natural_sample.py``.

Items follow the project's keys: ``{"label": <clean image path>, "case_id": <file stem>}``, plus
``"depth": <.npy path>`` (metres, float16) where a depth map exists (``motorcycle_left``).

A photo collection ``data/photos/datalist.json`` (MONAI datalist, ``training`` / ``validation`` lists of
``{"image": path}``, paths relative to the file) is used for training the natural-image bundles when it
exists (:func:`training_datalist`); without it they train on the shipped sample.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = [
    "KERNEL_SUFFIXES",
    "blurred_folder_datalist",
    "IMAGE_SUFFIXES",
    "NATURAL_SPLITS",
    "image_folder_datalist",
    "natural_sample_datalist",
    "natural_sample_dir",
    "photos_datalist",
    "photos_datalist_file",
    "stereo_sample",
    "training_data_source",
    "training_datalist",
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


def photos_datalist_file() -> Path | None:
    """``data/photos/datalist.json`` when the photo collection is installed, else ``None``."""
    path = Path(__file__).resolve().parent / "photos" / "datalist.json"
    return path if path.is_file() else None


def photos_datalist(split: str = "training", path: str | Path | None = None) -> list[dict]:
    """The ``split`` list (``"training"`` or ``"validation"``) of a photo datalist (default
    :func:`photos_datalist_file`) as items ``{"label": absolute path, "case_id": unique name}``.

    Raises:
        FileNotFoundError: no datalist file.
        ValueError: the split is missing or empty, or an item has no ``"image"``.
    """
    from monai.data import load_decathlon_datalist

    path = Path(path) if path is not None else photos_datalist_file()
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"No photo datalist at {str(path or Path(__file__).resolve().parent / 'photos' / 'datalist.json')!r}; "
            "train on the shipped sample (use_photos false) or pass --dataset_dir."
        )
    raw = json.loads(path.read_text())
    if not raw.get(split):
        raise ValueError(f"{str(path)!r} has no {split!r} list (it has {sorted(raw)}); add one or use the sample.")
    items = load_decathlon_datalist(str(path), is_segmentation=False, data_list_key=split, base_dir=str(path.parent))
    out, seen = [], {}
    for i, item in enumerate(items):
        if "image" not in item:
            raise ValueError(f"Item {i} of {split!r} in {str(path)!r} has no 'image' entry: {item}.")
        stem = Path(item["image"]).stem
        seen[stem] = seen.get(stem, 0) + 1
        out.append({"label": str(item["image"]), "case_id": stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"})
    return out


def training_datalist(split: str = "train", dataset_dir: str | Path | None = None,
                      use_photos: bool | str | None = "auto") -> list[dict]:
    """Training (``split="train"``) or validation (``"val"``) images of a natural-image bundle.

    ``dataset_dir`` (a folder of images) wins; else the photo collection (:func:`photos_datalist`, its
    ``training`` / ``validation`` list) when ``use_photos`` is true, or ``"auto"`` / ``None`` and the collection
    exists; else the shipped sample's split.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}; use 'train' or 'val'.")
    if dataset_dir:
        return image_folder_datalist(dataset_dir)
    if _photos_wanted(use_photos):
        return photos_datalist("training" if split == "train" else "validation")
    return natural_sample_datalist(split)


def _photos_wanted(use_photos: bool | str | None) -> bool:
    flag = str(use_photos).strip().lower() if use_photos is not None else "auto"
    if flag not in ("auto", "true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"use_photos={use_photos!r}; use true, false or auto.")
    return flag in ("true", "1", "yes") or (flag == "auto" and photos_datalist_file() is not None)


def training_data_source(dataset_dir: str | Path | None = None, use_photos: bool | str | None = "auto") -> str:
    """Which images :func:`training_datalist` reads, in words (for ``training_info.json``; lists no files)."""
    if dataset_dir:
        return str(dataset_dir)
    if _photos_wanted(use_photos):
        return f"photo collection {photos_datalist_file() or 'data/photos/datalist.json'}"
    return "natural sample (train / val splits)"


#: File types of a blur-kernel (point-spread function) file next to a blurred image (``deep_rl_deblur``).
KERNEL_SUFFIXES = (".npy", ".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def blurred_folder_datalist(folder, kernel=None) -> list[dict]:
    """Datalist ``{"image", "kernel", "case_id"}`` for a folder of blurred images, each with its kernel file.

    Every image ``<stem>.<png|jpg|...>`` needs ``<stem>_kernel.npy`` or ``<stem>_kernel.png`` (or another
    image suffix) in the same folder; files named ``*_kernel.*`` are kernels, not images. With ``kernel``
    (one file) that kernel is used for every image instead.

    Raises:
        FileNotFoundError: the folder does not exist, or an image has no kernel file (the expected names are given).
        ValueError: the folder holds no image.
    """
    from pathlib import Path

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder of blurred images {str(folder)!r} does not exist or is not a folder.")
    images = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_kernel")
        and not p.name.startswith(".")
    )
    if not images:
        raise ValueError(
            f"No blurred image found in {str(folder)!r} (looked for {', '.join(IMAGE_SUFFIXES)}; files named "
            "*_kernel.* are kernels)."
        )
    items = []
    for p in images:
        if kernel is not None:
            kpath = Path(kernel)
        else:
            candidates = [folder / f"{p.stem}_kernel{s}" for s in KERNEL_SUFFIXES]
            found = [c for c in candidates if c.is_file()]
            if not found:
                raise FileNotFoundError(
                    f"No blur kernel for {p.name!r}: put {p.stem}_kernel.npy or {p.stem}_kernel.png next to it "
                    "(or pass one kernel file for all images with kernel_file=...)."
                )
            kpath = found[0]
        items.append({"image": str(p), "kernel": str(kpath), "case_id": p.stem})
    return items
