"""Locate the bundles shipped with the repository (``bundles/<name>``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLES_DIR", "bundle_dir", "write_run_info"]

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


def write_run_info(output_dir: str, info: dict, filename: str = "training_info.json") -> str:
    """Record how a model is trained (loss, feature extractor, preset, degradation) next to its
    checkpoints, so that a checkpoint can always be traced back to its recipe. Returns the path."""
    import json

    path = Path(output_dir) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2, default=str) + "\n")
    return str(path)
