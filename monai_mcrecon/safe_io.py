"""Writing files so that nothing half-written ever sits under a final name.

Every writer of the package (NIfTI, DICOM, PNG, CSV, JSON) writes to a temporary file in the
**same folder** and renames it onto the final name with :func:`os.replace` (atomic on POSIX and
Windows for a same-filesystem rename). An interrupted write (crash, exception, full disk) leaves at
most a hidden ``.<name>.partial-<random><ext>`` file, which the next run ignores and overwrites;
the final name either does not exist or holds a complete file.

Files are created with the permissions of an ordinary ``open(path, "w")``: ``0o666`` less the
process umask (:func:`tempfile.mkstemp` alone would make every output ``0o600``, unreadable to the
group and the other users that a shared study folder is meant for).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PARTIAL_MARK", "atomic_path", "atomic_write_text", "current_umask", "new_file_mode", "sha256_file"]

#: Part of the temporary file names (``.<name>.partial-<random><ext>``).
PARTIAL_MARK = ".partial-"

_MULTI_SUFFIXES = (".nii.gz", ".tar.gz")


def _extension(name: str) -> str:
    for s in _MULTI_SUFFIXES:
        if name.lower().endswith(s):
            return name[-len(s):]
    return os.path.splitext(name)[1]


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``).

    Returns:
        the umask bits (e.g. ``0o022``).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """Permission bits a new file gets from ``open(path, "w")``: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same folder, same extension, so that writers that
    pick the format by extension still work; ``suffix`` replaces that extension, e.g. ``".tmp"`` for
    DICOM files, whose readers glob ``*.dcm``); on success rename it onto ``path``, on error remove it.

    Example::

        with atomic_path(out / "pred.nii.gz") as tmp:
            nib.save(img, tmp)
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    ext = _extension(final.name) if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}{PARTIAL_MARK}", suffix=ext, dir=str(final.parent))
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file 0o600; an output file gets the umask's permissions like any other new file
        os.chmod(tmp, new_file_mode())
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OSError(f"Writing {str(final)!r} produced no data (temporary file {tmp.name!r} is empty).")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
