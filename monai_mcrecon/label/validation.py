"""Checks of what reaches the MONAI Label server from the network, and the loopback default.

Importable without ``monailabel`` (the tasks in :mod:`monai_mcrecon.label.infer` and
:mod:`monai_mcrecon.label.train` call these functions; the tests run them in the main venv).

* :func:`validate_infer_request` / :func:`validate_train_request`: the request parameters the
  tasks read (``reference``, ``truth``, ``simulate_acquisition``, ``slice_batch_size``, ``device``,
  ``learning_rate``, ``max_epochs``...) must have the right type and range, and files named by a
  request must lie inside the studies folder (no ``../`` or absolute paths elsewhere on the host).
* :func:`server_command`: the ``monailabel start_server`` command line, bound to ``127.0.0.1``
  unless a remote bind is asked for explicitly.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULT_HOST",
    "RequestError",
    "server_command",
    "validate_infer_request",
    "validate_train_request",
]

#: The address the MONAI Label server binds to unless told otherwise.
DEFAULT_HOST = "127.0.0.1"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_DEVICE = re.compile(r"^(cpu|cuda(:\d{1,2})?|mps)$")


class RequestError(ValueError):
    """A request parameter with the wrong type, range or location (the message names it and the fix)."""


def _bool(request: Mapping[str, Any], key: str) -> bool | None:
    if key not in request or request[key] is None:
        return None
    v = request[key]
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _TRUE + _FALSE:
        return v.strip().lower() in _TRUE
    raise RequestError(f"Request parameter {key!r} must be true or false, got {v!r}.")


def _number(request: Mapping[str, Any], key: str, kind: type, low: float, high: float) -> Any:
    if key not in request or request[key] is None:
        return None
    v = request[key]
    if isinstance(v, bool):
        raise RequestError(f"Request parameter {key!r} must be a number in [{low}, {high}], got {v!r}.")
    try:
        x = kind(v)
    except (TypeError, ValueError):
        raise RequestError(f"Request parameter {key!r} must be a number in [{low}, {high}], got {v!r}.") from None
    if kind is int and float(v) != x:
        raise RequestError(f"Request parameter {key!r} must be an integer in [{low}, {high}], got {v!r}.")
    if not (low <= x <= high) or x != x:
        raise RequestError(f"Request parameter {key!r} must be in [{low}, {high}], got {v!r}.")
    return x


def _inside(path: str, roots: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    for root in roots:
        r = os.path.realpath(root)
        if real == r or real.startswith(r.rstrip(os.sep) + os.sep):
            return True
    return False


def _study_file(request: Mapping[str, Any], key: str, roots: Sequence[str], base: str | None) -> str | None:
    """A file named by the request: a bare name / relative path is taken beside ``base`` (the image's
    folder); the resolved path must lie inside one of ``roots`` (the studies folder)."""
    v = request.get(key)
    if v in (None, ""):
        return None
    if not isinstance(v, str) or "\x00" in v or len(v) > 4096:
        raise RequestError(f"Request parameter {key!r} must be a file name or path, got {type(v).__name__}.")
    path = v if os.path.isabs(v) or base is None else os.path.join(base, v)
    if roots and not _inside(path, roots):
        raise RequestError(
            f"Request parameter {key!r} ({v!r}) points outside the studies folder; name a file of the same study "
            "(e.g. 'case01_t1.nii.gz')."
        )
    return path


def validate_infer_request(request: Mapping[str, Any], studies: Sequence[str] | str | None = None) -> dict[str, Any]:
    """Check the parameters that :class:`~monai_mcrecon.label.infer.GuidedRestorationInfer` reads.

    Args:
        request: the request dict (MONAI Label's own keys pass through untouched).
        studies: the studies folder(s); when given, ``image``, ``reference`` and ``truth`` must lie
            inside (the app passes its local studies folder; ``None``: types and ranges only).

    Returns:
        the request with ``simulate_acquisition`` as a bool and ``slice_batch_size`` as an int.

    Raises:
        RequestError: naming the parameter, what it must be, and what it was.
    """
    d = dict(request)
    image = d.get("image")
    if not isinstance(image, str) or not image:
        raise RequestError(f"Request parameter 'image' must be the path of a study file, got {image!r}.")
    roots = [studies] if isinstance(studies, str) else list(studies or [])
    if roots and not _inside(image, roots):
        raise RequestError(f"Request 'image' {image!r} lies outside the studies folder {roots}.")
    base = os.path.dirname(os.path.abspath(image))
    for key in ("reference", "truth"):
        _study_file(d, key, roots, base)
    sim = _bool(d, "simulate_acquisition")
    if sim is not None:
        d["simulate_acquisition"] = sim
    batch = _number(d, "slice_batch_size", int, 1, 1024)
    if batch is not None:
        d["slice_batch_size"] = batch
    _check_device(d.get("device"))
    return d


def _check_device(device: Any) -> None:
    ok = device in (None, "") or (isinstance(device, str) and _DEVICE.match(device)) or (
        isinstance(device, list) and all(isinstance(x, str) and _DEVICE.match(x) for x in device)
    )
    if not ok:
        raise RequestError(f"Request parameter 'device' must be 'cpu', 'cuda' or 'cuda:<n>', got {device!r}.")


def validate_train_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters that :class:`~monai_mcrecon.label.train.GuidedRestorationTrain` reads
    (``learning_rate`` in (0, 1], ``max_epochs`` 1..100000, batch sizes 1..1024, ``val_split`` in
    [0, 1), ``device``). Returns the request with numbers converted; raises :class:`RequestError`."""
    d = dict(request)
    lr = _number(d, "learning_rate", float, 1e-12, 1.0)
    if lr is not None:
        d["learning_rate"] = lr
    for key, high in (("max_epochs", 100000), ("train_batch_size", 1024), ("val_batch_size", 1024)):
        v = _number(d, key, int, 1, high)
        if v is not None:
            d[key] = v
    vs = _number(d, "val_split", float, 0.0, 0.99)
    if vs is not None:
        d["val_split"] = vs
    _check_device(d.get("device"))
    return d


def server_command(
    app_dir: str, studies: str, host: str = DEFAULT_HOST, port: int = 8000, allow_remote: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """``monailabel start_server`` arguments for the package's app, bound to loopback by default.

    ``monailabel start_server`` itself binds to ``0.0.0.0`` (every interface) unless ``--host`` is
    given; this command always passes ``--host``. A non-loopback ``host`` needs ``allow_remote``
    (put the server behind authentication first: MONAI Label has none by default).

    Raises:
        ValueError: a non-loopback host without ``allow_remote``, or a bad port.
    """
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise ValueError(
            f"Refusing to bind the MONAI Label server to {host!r}: it serves the studies and runs models for anyone "
            "who can reach it, without authentication. Keep the default 127.0.0.1 (use an SSH tunnel for remote "
            "access) or pass allow_remote=True (--allow-remote) behind an authenticating proxy."
        )
    if not (isinstance(port, int) and 1 <= port <= 65535):
        raise ValueError(f"port must be an integer in 1..65535, got {port!r}.")
    return [
        "monailabel", "start_server", "--app", str(app_dir), "--studies", str(studies),
        "--host", host, "--port", str(port), "--uvicorn_app", "monai_mcrecon.label.app:asgi_app", *extra,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m monai_mcrecon.label.validation --studies <folder> [--host] [--port] [--allow-remote]``:
    start the MONAI Label server of the package (needs ``monailabel``), on loopback by default."""
    import argparse
    import subprocess

    from monai_mcrecon.label import APP_DIR

    p = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    p.add_argument("--studies", required=True)
    p.add_argument("--app", default=APP_DIR)
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--allow-remote", action="store_true")
    args, extra = p.parse_known_args(argv)
    cmd = server_command(args.app, args.studies, args.host, args.port, args.allow_remote, extra)
    return subprocess.call(cmd)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
