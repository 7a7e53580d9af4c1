"""Locate the bundles shipped with the repository (``bundles/<name>``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLES_DIR", "bundle_dir"]

BUNDLES_DIR = Path(__file__).resolve().parents[1] / "bundles"


def bundle_dir(name: str) -> str:
    """Folder of the bundle ``name`` (used as the default ``bundle_root`` in the bundles' configs).

    Raises:
        FileNotFoundError: no such bundle in this checkout (pass ``--bundle_root`` explicitly when the
            bundle was copied elsewhere).
    """
    path = BUNDLES_DIR / name
    if not (path / "configs").is_dir():
        available = sorted(p.name for p in BUNDLES_DIR.iterdir()) if BUNDLES_DIR.is_dir() else []
        raise FileNotFoundError(
            f"Bundle {name!r} not found under {str(BUNDLES_DIR)!r} (available: {available}); "
            "pass --bundle_root <folder of the bundle> when running a copied bundle."
        )
    return str(path)
