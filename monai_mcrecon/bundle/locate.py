"""Where the shipped bundles are, which bundle folders the command trusts, what the command reads
of a bundle (``bundle_info``: its task and whether it needs a reference, from ``configs/metadata.json``), and
which files a config runs with (``config_files``: an overlay such as every bundle's ``evaluate.json`` runs on
top of its base, ``inference.json``).

Standard library only at import time: ``monai-mcrecon --help`` and argument errors answer without torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "BUNDLES_DIR",
    "COMMAND_KEY",
    "TRUST_ENV",
    "bundle_dir",
    "bundle_info",
    "check_trusted_bundle",
    "command_bundles",
    "config_files",
    "is_shipped_bundle",
    "overlay_base",
    "shipped_bundles",
]


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


#: Environment variable that, set to ``1``, lets the command run bundles outside :data:`BUNDLES_DIR`.
TRUST_ENV = "MONAI_MCRECON_TRUST_BUNDLES"


def shipped_bundles() -> list[str]:
    """Names of the bundles shipped with the package (folders of :data:`BUNDLES_DIR` with ``configs``)."""
    if not BUNDLES_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLES_DIR.iterdir() if (p / "configs").is_dir())


def is_shipped_bundle(root: str | Path) -> bool:
    """Whether ``root`` is one of the package's own bundle folders (after resolving links)."""
    root = Path(root).resolve()
    return root.parent == BUNDLES_DIR.resolve() and root.name in shipped_bundles()


def check_trusted_bundle(root: str | Path, trust: bool = False) -> Path:
    """Refuse a bundle outside the package's own set unless ``trust`` (or ``$MONAI_MCRECON_TRUST_BUNDLES=1``).

    Bundle configs evaluate Python (``"$..."`` expressions, ``_target_`` of any importable callable),
    so running a bundle means running its author's code.

    Raises:
        PermissionError: naming the folder and the two ways to trust it.
    """
    import os

    root = Path(root).resolve()
    if is_shipped_bundle(root) or trust or os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes"):
        return root
    raise PermissionError(
        f"Bundle {str(root)!r} is not one of the package's bundles {shipped_bundles()}. Bundle configs run Python "
        "code ('$...' expressions), so only run bundles you trust: pass --trust-bundle (or set "
        f"{TRUST_ENV}=1) to run it anyway."
    )


#: The ``"+initialize"`` entry by which an overlay config names its base (``{"_target_": OVERLAY_CHECK, "base":
#: "inference.json", "overlay": "evaluate.json"}``; :func:`monai_mcrecon.bundle.checks.check_overlay`).
OVERLAY_CHECK = "monai_mcrecon.bundle.checks.check_overlay"


def overlay_base(config_file: str | Path) -> Path | None:
    """The base config that ``config_file`` is an overlay of (its ``"+initialize"`` entry :data:`OVERLAY_CHECK`
    names it, beside it), or ``None`` for a config that runs alone."""
    path = Path(config_file)
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for entry in config.get("+initialize", []) if isinstance(config, dict) else []:
        if isinstance(entry, dict) and entry.get("_target_") == OVERLAY_CHECK:
            return path.with_name(str(entry.get("base", "inference.json")))
    return None


def config_files(root: str | Path, name: str) -> list[Path]:
    """The files MONAI runs for ``configs/<name>`` of the bundle in ``root``, in merge order: the file itself,
    after its base when it is an overlay (every bundle's ``evaluate.json``: ``[inference.json, evaluate.json]``,
    the ``--config_file "['.../inference.json','.../evaluate.json']"`` of the command line)."""
    path = Path(root) / "configs" / name
    base = overlay_base(path)
    return [path] if base is None else [base, path]


#: ``configs/metadata.json`` key of the bundles the command runs: ``{"name": "reconstruct" | "super-resolve",
#: "needs_reference": bool}``.
COMMAND_KEY = "command"
_TASKS = {"reconstruct": "recon", "super-resolve": "sr"}


def command_bundles() -> list[str]:
    """The shipped bundles that ``monai-mcrecon reconstruct`` / ``super-resolve`` run (their
    ``metadata.json`` declares the command); the one registry the command and its messages use."""
    names = []
    for name in shipped_bundles():
        try:
            meta = json.loads((BUNDLES_DIR / name / "configs" / "metadata.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta.get(COMMAND_KEY), dict):
            names.append(name)
    return names


def bundle_info(bundle: str | Path, trust: bool = False) -> dict[str, Any]:
    """Resolve a bundle name (see :func:`command_bundles`) or folder and read what the command needs.

    The task and whether a reference contrast is needed come from the ``"command"`` entry of the
    bundle's ``configs/metadata.json``.

    Returns:
        ``name``, ``root``, ``config_file`` (``configs/inference.json``), ``config`` (the parsed
        JSON), ``task`` (``"sr"`` for super-resolution bundles, else ``"recon"``), ``needs_reference``,
        ``target_contrast``, ``reference_contrast``.

    Raises:
        ValueError: unknown bundle name, a folder without ``configs/inference.json``, or a bundle whose
            metadata declares no command.
        PermissionError: a folder outside the package's own bundles without ``trust`` (bundle configs
            run Python code; see :func:`check_trusted_bundle`).
    """
    candidate = Path(bundle)
    if candidate.is_dir():
        root = candidate.resolve()
    else:
        try:
            root = Path(bundle_dir(str(bundle)))
        except FileNotFoundError as e:
            raise ValueError(
                f"Unknown bundle {str(bundle)!r}: use one of {command_bundles()} or the path of a bundle folder "
                f"(with configs/inference.json). ({e})"
            ) from e
    config_file = root / "configs" / "inference.json"
    if not config_file.is_file():
        raise ValueError(f"Bundle folder {str(root)!r} has no configs/inference.json; is it a MONAI bundle?")
    check_trusted_bundle(root, trust)
    meta_file = root / "configs" / "metadata.json"
    try:
        command = json.loads(meta_file.read_text()).get(COMMAND_KEY)
    except (OSError, ValueError):
        command = None
    if not isinstance(command, dict) or command.get("name") not in _TASKS:
        raise ValueError(
            f"Bundle {root.name!r} does not declare a command in {str(meta_file)!r} (an entry "
            '"command": {"name": "reconstruct" or "super-resolve", "needs_reference": true or false}); '
            f"the command runs {command_bundles()} or bundle folders that declare one."
        )
    config = json.loads(config_file.read_text())
    return {
        "name": root.name,
        "root": root,
        "config_file": config_file,
        "config": config,
        "task": _TASKS[command["name"]],
        "needs_reference": bool(command.get("needs_reference")),
        "target_contrast": config.get("target_contrast") or "target",
        "reference_contrast": config.get("reference_contrast"),
    }
