"""MONAI datalists for paired multi-contrast volumes.

A datalist is the MONAI (Decathlon-style) JSON: ``{"training": [...], "validation": [...],
"test": [...]}``, each item a dict with one file path per contrast (``"t1"``, ``"t2"``, ``"pd"``,
``"flair"``, ...) and a ``"case_id"``. :func:`build_datalist` makes one from the folder layout
``root/<case_id>/<contrast>.nii.gz``; :func:`load_datalist` reads a JSON datalist or a folder and
checks that the requested contrasts exist.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["NIFTI_SUFFIXES", "build_datalist", "load_datalist", "check_contrasts"]

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def _contrast_name(path: Path) -> str | None:
    for suffix in NIFTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return None


def build_datalist(root: str | os.PathLike, contrasts: Sequence[str] | None = None) -> list[dict]:
    """One datalist item per case folder of ``root/<case_id>/<contrast>.nii[.gz]``.

    Args:
        root: the data folder.
        contrasts: contrasts every case must have (e.g. ``["t2", "t1"]``); ``None`` keeps all found.

    Returns:
        items ``{"case_id": ..., "<contrast>": "/abs/path", ...}`` sorted by case id.

    Raises:
        FileNotFoundError: ``root`` is missing or holds no case folder with NIfTI files, or a case
            lacks one of ``contrasts`` (the message names the case, the missing contrast and the
            contrasts that case has).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Data folder {str(root)!r} does not exist; expected root/<case_id>/<contrast>.nii.gz.")
    items = []
    for case in sorted(p for p in root.iterdir() if p.is_dir()):
        files = {c: str(f.resolve()) for f in sorted(case.iterdir()) if (c := _contrast_name(f))}
        if files:
            items.append({"case_id": case.name, **files})
    if not items:
        raise FileNotFoundError(
            f"No case folders with NIfTI files under {str(root)!r}; expected root/<case_id>/<contrast>.nii.gz."
        )
    if contrasts:
        check_contrasts(items, contrasts)
    return items


def check_contrasts(items: Sequence[dict], contrasts: Sequence[str]) -> None:
    """Raise a ``FileNotFoundError`` naming the case if an item lacks a contrast or its file."""
    for item in items:
        case = item.get("case_id", "?")
        for c in contrasts:
            if c not in item:
                have = sorted(k for k in item if k not in ("case_id", "slices"))
                raise FileNotFoundError(
                    f"Case {case!r} has no {c!r} contrast (it has {have}). Add {c}.nii.gz to the case "
                    f"folder or choose target_contrast / reference_contrast among {have}."
                )
            if isinstance(item[c], str) and not Path(item[c]).exists():
                raise FileNotFoundError(f"Case {case!r}: the {c!r} file {item[c]!r} does not exist.")


def load_datalist(
    source: str | os.PathLike, split: str = "test", contrasts: Sequence[str] | None = None
) -> list[dict]:
    """Datalist items from a folder (``root/<case_id>/<contrast>.nii.gz``; all cases) or a JSON
    datalist (the list ``split``; relative paths are relative to the JSON file's folder).

    Raises:
        FileNotFoundError: missing source, missing contrast or file.
        KeyError: the JSON datalist has no list named ``split``.
    """
    source = Path(source)
    if source.is_dir():
        return build_datalist(source, contrasts)
    if not source.is_file():
        raise FileNotFoundError(
            f"{str(source)!r} is neither a data folder (root/<case_id>/<contrast>.nii.gz) nor a datalist JSON file."
        )
    content = json.loads(source.read_text())
    if split not in content:
        raise KeyError(f"Datalist {str(source)!r} has no {split!r} list (it has {sorted(content)}).")
    items = []
    for i, raw in enumerate(content[split]):
        item = dict(raw)
        item.setdefault("case_id", f"{split}_{i:03d}")
        for k, v in raw.items():
            if isinstance(v, str) and _contrast_name(Path(v)) is not None and not os.path.isabs(v):
                item[k] = str((source.parent / v).resolve())
        items.append(item)
    if contrasts:
        check_contrasts(items, contrasts)
    return items
