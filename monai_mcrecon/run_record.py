"""What a run of ``monai-mcrecon reconstruct`` / ``super-resolve`` was made from, and what it leaves.

* :func:`run_fingerprint` describes the inputs and options that decide the result: the bundle (its
  ``inference.json`` and its weights, by SHA-256), the target and the reference (resolved path, and
  either a SHA-256 of the content or, for large inputs, the size and modification time of every
  file), and the options (task, checkpoint, registration, data consistency, coil combination,
  cropping, tiles, ...). ``run_info.json`` records it; a finished run is only reused when a new
  run's fingerprint is the same (:func:`fingerprint_differences`).
* :func:`remove_new_on_failure` removes, when a run fails, the files and folders that the run
  created, and nothing that existed before it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from monai_mcrecon.safe_io import sha256_file

__all__ = [
    "CONTENT_HASH_LIMIT",
    "FINGERPRINT_VERSION",
    "describe_input",
    "fingerprint_differences",
    "remove_new_on_failure",
    "removes_new_outputs_on_failure",
    "run_fingerprint",
]

#: Version of the fingerprint layout (a different version never matches).
FINGERPRINT_VERSION = 1

#: Inputs up to this many bytes are identified by their content (SHA-256); larger ones by the size and
#: modification time of each file (reading gigabytes of raw data to decide whether to skip is too slow).
CONTENT_HASH_LIMIT = 64 * 1024 * 1024

_DICOM_SUFFIXES = (".dcm", ".ima")

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------------------------------
# fingerprints
# --------------------------------------------------------------------------------------------------


def _input_files(path: Path) -> tuple[Path, list[Path]]:
    """The folder or file that identifies an input, and the files it stands for (sorted)."""
    if path.is_file() and path.suffix.lower() in _DICOM_SUFFIXES:
        path = path.parent  # a file of a DICOM series: the series is read from its folder
    if path.is_dir():  # a DICOM folder is read without sub-folders
        return path, sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return path, [path]


def describe_input(path: str | os.PathLike, content_hash_limit: int = CONTENT_HASH_LIMIT) -> dict[str, Any]:
    """Identify an input file or DICOM folder.

    Args:
        path: a file (NIfTI, h5) or a DICOM folder (or one file of it: its folder is described).
        content_hash_limit: inputs of at most this many bytes (all files together) get a SHA-256 of
            their content.

    Returns:
        ``path`` (resolved), ``files``, ``size`` (bytes), ``stat`` (SHA-256 of every file's name, size
        and modification time) and ``sha256`` (of the content; ``None`` above the limit).

    Raises:
        FileNotFoundError: the path does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Input {str(path)!r} does not exist; check the path.")
    root, files = _input_files(path)
    stats = [(f, f.stat()) for f in files]
    size = sum(st.st_size for _, st in stats)
    listing = hashlib.sha256()
    for f, st in stats:
        listing.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    content = None
    if size <= content_hash_limit:
        digest = hashlib.sha256()
        for f, _ in stats:
            digest.update(f"{f.name}\0{sha256_file(f)}\n".encode())
        content = digest.hexdigest()
    return {
        "path": str(root.resolve()),
        "files": len(files),
        "size": size,
        "stat": listing.hexdigest(),
        "sha256": content,
    }


def run_fingerprint(
    *,
    command: str,
    bundle_name: str,
    bundle_config: str | os.PathLike,
    weights: str | os.PathLike,
    target: str | os.PathLike,
    reference: str | os.PathLike | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The fingerprint of a ``reconstruct`` / ``super-resolve`` run (JSON-serialisable).

    Args:
        command: ``"reconstruct"`` or ``"super-resolve"``.
        bundle_name: the bundle's name.
        bundle_config: its ``configs/inference.json`` (hashed: an edited config changes the result).
        weights: the weights that are loaded (the bundle's ``models/model.pt`` or ``--ckpt``); hashed.
        target: the target file or DICOM folder.
        reference: the reference, or ``None``.
        options: the options that change the result (plain JSON values).

    Returns:
        ``version``, ``command``, ``bundle`` (``name``, ``config_sha256``), ``weights`` (``path``,
        ``size``, ``sha256``; ``None`` when the file does not exist), ``target``, ``reference`` (see
        :func:`describe_input`) and ``options``.
    """
    weights = Path(weights)
    return {
        "version": FINGERPRINT_VERSION,
        "command": command,
        "bundle": {"name": bundle_name, "config_sha256": sha256_file(bundle_config)},
        "weights": (
            {"path": str(weights.resolve()), "size": weights.stat().st_size, "sha256": sha256_file(weights)}
            if weights.is_file()
            else None
        ),
        "target": describe_input(target),
        "reference": None if reference is None else describe_input(reference),
        # through JSON, as run_info.json stores it (tuples become lists), so that the two compare equal
        "options": json.loads(json.dumps({k: options[k] for k in sorted(options)}, default=str)),
    }


def _input_differences(name: str, old: Any, new: Any) -> list[str]:
    if old is None or new is None or not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [] if old == new else [f"{name}: {_short(old)} -> {_short(new)}"]
    if old.get("path") != new.get("path"):
        return [f"{name}: {old.get('path')!r} -> {new.get('path')!r}"]
    if old.get("sha256") and new.get("sha256"):
        same = old["sha256"] == new["sha256"]  # the content decides; a copy with a new time is the same input
    else:
        same = old.get("stat") == new.get("stat") and old.get("size") == new.get("size")
    return [] if same else [f"{name} {new.get('path')!r} changed since the finished run (modified or replaced)"]


def _short(value: Any) -> str:
    if isinstance(value, Mapping) and "path" in value:
        return repr(value["path"])
    return repr(value)


def fingerprint_differences(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between a finished run's fingerprint and a new one, in words (empty: the same).

    Args:
        old: the fingerprint recorded in ``run_info.json`` (``None``: none was recorded).
        new: the fingerprint of the new run (:func:`run_fingerprint`).

    Returns:
        one short phrase per difference, e.g. ``"bundle: 'mc_cdic_recon' -> 'clgnet_recon'"``.
    """
    if not isinstance(old, Mapping):
        return ["the finished run recorded no fingerprint of its inputs (an older monai-mcrecon)"]
    if old.get("version") != new.get("version"):
        return [f"fingerprint version {old.get('version')!r} -> {new.get('version')!r}"]
    diffs = []
    if old.get("command") != new.get("command"):
        diffs.append(f"command: {old.get('command')!r} -> {new.get('command')!r}")
    old_b, new_b = old.get("bundle") or {}, new.get("bundle") or {}
    if old_b.get("name") != new_b.get("name"):
        diffs.append(f"bundle: {old_b.get('name')!r} -> {new_b.get('name')!r}")
    elif old_b.get("config_sha256") != new_b.get("config_sha256"):
        diffs.append(f"bundle {new_b.get('name')!r}: its configs/inference.json changed")
    old_w, new_w = old.get("weights") or {}, new.get("weights") or {}
    if old_w.get("sha256") != new_w.get("sha256"):
        if old_w.get("path") == new_w.get("path"):
            diffs.append(f"weights {new_w.get('path')!r} changed since the finished run")
        else:
            diffs.append(f"weights: {old_w.get('path')!r} -> {new_w.get('path')!r}")
    diffs += _input_differences("target", old.get("target"), new.get("target"))
    diffs += _input_differences("reference", old.get("reference"), new.get("reference"))
    old_o, new_o = old.get("options") or {}, new.get("options") or {}
    for key in sorted(set(old_o) | set(new_o)):
        if old_o.get(key) != new_o.get(key):
            diffs.append(f"{key}: {old_o.get(key)!r} -> {new_o.get(key)!r}")
    return diffs


# --------------------------------------------------------------------------------------------------
# cleaning up after a failed run
# --------------------------------------------------------------------------------------------------


def _snapshot(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (paths relative to it; not following links)."""
    found: set[str] = set()
    if not folder.is_dir():
        return found
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found.update(str(rel / n) for n in (*dirs, *files))
    return found


def _missing_ancestors(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first."""
    missing = []
    p = folder.absolute()
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    return missing


@contextlib.contextmanager
def remove_new_on_failure(folder: str | os.PathLike) -> Iterator[Path]:
    """On an exception inside the block, remove what appeared under ``folder`` during it (and
    ``folder`` itself and the parents the block created, when they are then empty); keep everything
    that existed before. On success nothing is touched.

    Args:
        folder: the output folder a run writes into (it may not exist yet).

    Yields:
        ``folder`` as a :class:`~pathlib.Path`.
    """
    folder = Path(folder)
    created = _missing_ancestors(folder)
    before = _snapshot(folder)
    try:
        yield folder
    except BaseException:
        _remove_new(folder, before, created)
        raise


def _remove_new(folder: Path, before: set[str], created: list[Path]) -> None:
    if folder.is_dir():
        for root, dirs, files in os.walk(folder, topdown=False):
            rel = Path(root).relative_to(folder)
            for name in files:
                if str(rel / name) not in before:
                    with contextlib.suppress(OSError):
                        (Path(root) / name).unlink()
            for name in dirs:
                path = Path(root) / name
                if str(rel / name) not in before:
                    with contextlib.suppress(OSError):
                        if path.is_symlink():
                            path.unlink()
                        else:
                            path.rmdir()  # only when empty: nothing of another writer is removed
    for path in created:  # deepest first; rmdir refuses a folder that still holds something
        with contextlib.suppress(OSError):
            path.rmdir()


def removes_new_outputs_on_failure(argument: str = "output") -> Callable[[F], F]:
    """Decorate a function that writes into the folder given as its ``argument``: when it raises, what
    it created there is removed (:func:`remove_new_on_failure`).

    Args:
        argument: the name of the output-folder parameter.

    Returns:
        the decorator.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            folder = signature.bind_partial(*args, **kwargs).arguments.get(argument)
            if folder is None:
                return func(*args, **kwargs)
            with remove_new_on_failure(folder):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
