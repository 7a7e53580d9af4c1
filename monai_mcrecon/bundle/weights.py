"""Bundle weights: the SHA-256 recorded in each bundle's ``large_files.yml``, verifying a weights file
against it, loading it safely (``torch.load(weights_only=True)``) and naming keys and shapes that do not fit
the network (:func:`check_state_dict`). One path for every bundle config, the command and MONAI Label.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "LARGE_FILES",
    "WeightsError",
    "check_state_dict",
    "load_weights",
    "read_large_files",
    "verify_weights_file",
    "write_large_files",
]


#: File of a bundle that lists its weight files with their hashes (MONAI's ``large_files`` format).
LARGE_FILES = "large_files.yml"


class WeightsError(ValueError):
    """A weights file that cannot be used: missing, empty, corrupt, tampered or for another network."""


def read_large_files(bundle_root: str | Path) -> dict[str, dict]:
    """``large_files.yml`` of a bundle as ``{relative path: entry}`` (entries keep ``hash_val`` and
    ``hash_type``); an empty dict when the bundle has none."""
    import yaml

    path = Path(bundle_root) / LARGE_FILES
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("large_files", []) if isinstance(data, dict) else []
    return {str(Path(e["path"])): dict(e) for e in entries if isinstance(e, dict) and "path" in e}


def write_large_files(bundle_root: str | Path, files: list[str] | None = None) -> Path:
    """(Re)write ``<bundle_root>/large_files.yml`` with the SHA-256 of ``files`` (relative paths;
    default every ``models/*.pt``), keeping the ``url`` of entries that had one. Returns the path."""
    from monai_mcrecon.safe_io import atomic_write_text, sha256_file

    root = Path(bundle_root)
    old = read_large_files(root)
    rels = sorted(files) if files is not None else sorted(str(p.relative_to(root)) for p in (root / "models").glob("*.pt"))
    lines = ["large_files:"]
    for rel in rels:
        url = old.get(str(Path(rel)), {}).get("url", "") or ""
        lines += [
            f"  - path: \"{rel}\"",
            f"    url: \"{url}\"",
            f"    hash_val: \"{sha256_file(root / rel)}\"",
            "    hash_type: \"sha256\"",
        ]
    return atomic_write_text(root / LARGE_FILES, "\n".join(lines) + "\n")


def _owning_bundle(path: Path) -> Path | None:
    """The bundle folder that lists ``path`` in its ``large_files.yml`` (walks up two levels)."""
    for parent in list(path.resolve().parents)[:3]:
        if (parent / LARGE_FILES).is_file():
            return parent
    return None


def verify_weights_file(path: str | Path, bundle_root: str | Path | None = None) -> str | None:
    """Check ``path`` against the SHA-256 (or MD5) that its bundle's ``large_files.yml`` records.

    Files that no ``large_files.yml`` lists (e.g. a checkpoint a user trained) are not checked.

    Returns:
        the verified hash, or ``None`` when the file is not listed.

    Raises:
        WeightsError: the file's hash differs from the recorded one (tampered, corrupted or replaced).
    """
    import hashlib

    from monai_mcrecon.safe_io import sha256_file

    path = Path(path).resolve()
    root = Path(bundle_root).resolve() if bundle_root is not None else _owning_bundle(path)
    if root is None:
        return None
    entries = read_large_files(root)
    try:
        rel = str(path.relative_to(root))
    except ValueError:
        return None
    entry = entries.get(rel)
    if entry is None:
        return None
    hash_type = str(entry.get("hash_type", "sha256")).lower()
    expected = str(entry.get("hash_val", "")).lower()
    if hash_type == "sha256":
        actual = sha256_file(path)
    elif hash_type == "md5":
        h = hashlib.md5()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        actual = h.hexdigest()
    else:
        raise WeightsError(f"{root / LARGE_FILES}: unsupported hash_type {hash_type!r} for {rel!r}; use sha256 or md5.")
    if actual != expected:
        raise WeightsError(
            f"Refusing to load {str(path)!r}: its {hash_type} is {actual} but {root / LARGE_FILES} records "
            f"{expected}. The file was modified or replaced (tampered, corrupted download). Restore the shipped "
            "file; if you replaced it on purpose with weights you trust, run `python tools/update_checksums.py "
            f"{root.name}`."
        )
    return actual


def load_weights(path: str | Path, map_location: Any = "cpu", bundle_root: str | Path | None = None) -> Any:
    """Load a checkpoint safely: it must exist and be non-empty, match its bundle's recorded hash
    (:func:`verify_weights_file`), and hold only tensors and plain containers
    (``torch.load(weights_only=True)``; pickled code is refused).

    Raises:
        FileNotFoundError: no file (a bundle run without weights): says how to get them.
        WeightsError: empty, truncated / corrupt, tampered, or a pickle with arbitrary objects.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No weights at {str(path)!r}. Train them first (python -m monai.bundle run --config_file "
            "<bundle>/configs/train.json) and pass --ckpt_path <output_dir>/model.pt, or restore the bundle's "
            "models/ folder."
        )
    if path.stat().st_size == 0:
        raise WeightsError(f"Weights file {str(path)!r} is empty (an interrupted copy or download?); restore it.")
    verify_weights_file(path, bundle_root)
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsError(
            f"Refusing to load {str(path)!r}: it holds pickled Python objects beyond tensors and plain containers, "
            f"which torch.load(weights_only=True) does not execute ({str(e).splitlines()[0]}). Load only weights "
            "files you trust; re-save a trusted checkpoint as a plain state_dict."
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsError(
            f"Cannot read weights file {str(path)!r}: it is truncated or not a PyTorch checkpoint "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). Restore or re-download it."
        ) from e


def check_state_dict(module: Any, state: Mapping[str, Any], what: str = "weights") -> None:
    """Raise a :class:`WeightsError` naming missing, unexpected and mis-shaped keys when ``state``
    does not fit ``module`` (typically weights saved for another preset or network)."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return

    def _few(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" ... ({len(items)} in all)" if len(items) > 5 else "")

    parts = []
    if shapes:
        parts.append(f"shape mismatch in {len(shapes)} tensor(s): {_few(shapes)}")
    if missing:
        parts.append(f"missing key(s): {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected key(s): {_few(unexpected)}")
    raise WeightsError(
        f"The {what} do not fit the {type(module).__name__} network: " + "; ".join(parts) + ". The weights were "
        "probably saved for another preset or network: set the bundle's 'preset' (e.g. --preset small) to the one "
        "they were trained with, or pass the matching --ckpt_path."
    )
