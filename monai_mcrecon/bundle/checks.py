"""The bundles' own route, ``python -m monai.bundle run --config_file bundles/<b>/configs/<x>.json``,
answers like the ``monai-mcrecon`` command: unknown overrides are refused, an unusable device is
named, and a user error ends the run with one line on stderr and exit status 1.

How it works: every shipped config's ``initialize`` list starts with

.. code-block:: json

    {"_target_": "monai_mcrecon.bundle.checks.check_bundle_run", "device": "@device"}

MONAI runs ``initialize`` (inside :func:`monai.bundle.create_workflow`) before anything of the
config is built, so :func:`check_bundle_run` sees the run before the data, the network or the
engine exist. It

1. installs the one-line error report (:func:`install_error_reporting`), but only when the program
   is ``python -m monai.bundle``: a Python caller (``monai.bundle.run(...)`` in a notebook, the
   ``monai-mcrecon`` command, the tests) keeps its exceptions and its own way of reporting them;
2. checks the order of the config files (an overlay after its base, :func:`check_overlay_order`) and the
   override keys (:func:`check_run_overrides`): MONAI gives ``create_workflow`` the
   config files and the overrides (from its command line through python-fire, or from the keyword
   arguments of ``monai.bundle.run`` / ``run_workflow`` / ``create_workflow``) and keeps neither
   after parsing; the check reads them from that call's frame and compares the keys with the ids
   of the config files (:func:`monai_mcrecon.bundle.overrides.check_overrides`, the command's check). A
   workflow built without ``create_workflow`` (``ConfigWorkflow(...)`` directly) is not checked;
3. checks the resolved ``device`` (:func:`check_device`), whether it is the config's default
   expression or an override such as ``--device cuda``.

A config that is an overlay of another (the ``evaluate.json`` of every bundle holds only what evaluation adds
to its ``inference.json``) extends ``initialize`` with :func:`check_overlay` (``"+initialize"``): run alone,
it ends with one line naming the list form ``--config_file "['.../inference.json','.../evaluate.json']"``
(MONAI warns first that it cannot merge the overlay's ``+`` keys into a missing base).

The error report (for ``python -m monai.bundle`` only): MONAI wraps an error raised in a config
expression or a transform in ``RuntimeError`` chains, and Ignite and MONAI's ``StatsHandler`` log
it with its traceback before it propagates, so one bad input printed 200+ lines and 4-7
tracebacks. :func:`find_user_error` finds the root user error in the chain: a
``ValueError``/``KeyError``/``FileNotFoundError``/``FileExistsError``/``PermissionError`` raised by
this package's own code (its one-line messages name the problem and the fix). For such an error
the ``ERROR`` records that Ignite's engines and ``StatsHandler`` log about it before raising it again
are dropped (a filter on the logging handlers, :class:`QuietUserErrors`) and ``sys.excepthook``
prints ``monai.bundle run: error: <message>``; Python then exits with status 1. Any other
exception (a bug, an error raised by MONAI or PyTorch, or one re-raised from a DataLoader worker
process) keeps its full traceback. Set ``MONAI_MCRECON_TRACEBACK=1`` to see the full traceback of
user errors too. Python callers of ``monai.bundle.run`` get MONAI's ``RuntimeError`` whose cause is
the user error (``find_user_error`` finds it, as the command does).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "PROG",
    "TRACEBACK_ENV",
    "QuietUserErrors",
    "check_bundle_run",
    "check_device",
    "check_overlay",
    "check_overlay_order",
    "check_run_overrides",
    "find_user_error",
    "install_error_reporting",
    "user_message",
]

#: How the one-line report names the program.
PROG = "monai.bundle run"
#: Environment variable that, set to ``1``, keeps the full tracebacks of user errors.
TRACEBACK_ENV = "MONAI_MCRECON_TRACEBACK"
#: Exception types whose messages this package writes for users (when raised by the package).
USER_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, ValueError, KeyError)
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the monai_mcrecon package
#: Loggers that handlers created during the run log exceptions to (MONAI's StatsHandler default).
_LATE_LOGGERS = ("monai.handlers.StatsHandler",)
#: Loggers whose ERROR records about a user error are dropped: Ignite's engines (``engine.logger``, also
#: StatsHandler's logger when it has no name) and StatsHandler's; both re-raise the error afterwards.
_QUIET_LOGGERS = ("ignite.engine", "monai.handlers.StatsHandler")


# --------------------------------------------------------------------------------------------------
# the initialize entry of the configs
# --------------------------------------------------------------------------------------------------


def check_bundle_run(device: Any = None) -> None:
    """The first ``initialize`` entry of every shipped config (see the module docstring).

    Args:
        device: the config's resolved ``@device`` (``None``: not checked).

    Raises:
        KeyError: an override key that is no id of the config files (the closest ids named).
        ValueError: a device that does not exist on this machine.
    """
    install_error_reporting()
    check_run_overrides()
    if device is not None:
        check_device(device)


def check_overlay(base: str = "inference.json", overlay: str = "evaluate.json", ignores: Sequence[str] = ()) -> None:
    """The ``"+initialize"`` entry of an overlay config (``evaluate.json`` of every bundle, on its
    ``inference.json``): refuse a run of it without its base before it (:func:`check_overlay_order`), and a run
    that sets an option of the base which the overlay does not use (``ignores``; for example ``kernel_file`` of an
    inference run, where evaluation synthesises its own blur), which would otherwise be accepted and do nothing.

    MONAI merges the config files of a run in order; an overlay holds only the keys that differ from its base,
    so alone it has no network, data or engine. Its arguments name the two files (the base is read from the
    entry by :func:`monai_mcrecon.bundle.locate.overlay_base`). The files and overrides of the run are read from
    the running :func:`monai.bundle.create_workflow` call, as the override check does; outside one nothing is
    checked.

    Raises:
        ValueError: naming the overlay, its base and the ``--config_file`` list that runs both; or naming the
            options of the base that the overlay ignores.
    """
    install_error_reporting()
    call = _create_workflow_call()
    files = _config_files(call[0]) if call is not None else None
    if files and all(Path(f).is_file() for f in files):
        check_overlay_order(files)
    unused = sorted(set(call[1]) & set(ignores)) if call is not None else []
    if unused:
        options = ", ".join(f"--{k}" for k in unused)
        raise ValueError(
            f"{overlay} does not use {options}: an option of {base} run alone (evaluation makes its input from the "
            f"ground truth and writes its own outputs); leave it out, or run {base} alone for it."
        )


def check_overlay_order(files: list[str]) -> None:
    """Refuse config files in which an overlay (:func:`~monai_mcrecon.bundle.locate.overlay_base`) does not
    come after its base: alone it stops at its ``initialize``; before its base, the base would replace its keys
    (``initialize`` included) and the run would silently be the base's.

    Raises:
        ValueError: naming the overlay, its base and the ``--config_file`` list that runs both.
    """
    from monai_mcrecon.bundle.locate import overlay_base

    for i, f in enumerate(files):
        base = overlay_base(f)
        if base is None or any(Path(g).resolve() == base.resolve() for g in files[:i]):
            continue
        raise ValueError(
            f"{f} is an overlay of {base.name}: it holds only what it adds to it. Run both, {base.name} first: "
            f"python -m monai.bundle run --config_file \"['{base}','{f}']\" (then your other arguments)."
        )


def _create_workflow_call() -> tuple[Any, dict] | None:
    """``(config_file, arguments)`` of the innermost running :func:`monai.bundle.create_workflow`
    call (its locals ``config_file`` and ``_args``: the other arguments, overrides included, after
    MONAI merged ``args_file``), or ``None`` when the caller is not inside one."""
    from monai.bundle import scripts

    code = getattr(scripts.create_workflow, "__code__", None)
    frame = sys._getframe(1)
    try:
        while frame is not None:
            if frame.f_code is code:
                args = frame.f_locals.get("_args")
                if isinstance(args, Mapping) and "config_file" in frame.f_locals:
                    return frame.f_locals["config_file"], dict(args)
                return None
            frame = frame.f_back
    finally:
        del frame
    return None


def _config_files(config_file: Any) -> list[str] | None:
    """The config file paths as MONAI reads them (a path, a list, or ``"a.json,b.json"``)."""
    if config_file is None or isinstance(config_file, Mapping):
        return None
    if isinstance(config_file, (str, os.PathLike)):
        text = str(config_file)
        files = text.split(",") if "," in text and not Path(text).is_file() else [text]
    else:
        files = [str(f) for f in config_file]
    return [f.strip() for f in files if f.strip()] or None


def _tracking_keys(tracking: Any) -> set[str]:
    """Top-level ids that ``tracking`` (MONAI's experiment tracking) adds to the config."""
    try:
        from monai.bundle import ConfigParser
        from monai.bundle.utils import DEFAULT_EXP_MGMT_SETTINGS

        if isinstance(tracking, str) and tracking in DEFAULT_EXP_MGMT_SETTINGS:
            settings = DEFAULT_EXP_MGMT_SETTINGS[tracking]
        else:
            settings = tracking if isinstance(tracking, Mapping) else ConfigParser.load_config_files(tracking)
        return set((settings or {}).get("configs", {}))
    except Exception:  # noqa: BLE001 - MONAI reports a bad tracking setting itself
        return set()


def check_run_overrides() -> bool:
    """Check the overrides of the running ``create_workflow`` call against its config files.

    Returns:
        whether a check was made (``False`` outside ``create_workflow`` or for a dict config).

    Raises:
        KeyError: from :func:`monai_mcrecon.bundle.overrides.check_overrides`, naming the unknown keys and
            the closest known ids.
        ValueError: an overlay config before its base, or without it (:func:`check_overlay_order`).
    """
    from monai_mcrecon.bundle.overrides import check_overrides

    call = _create_workflow_call()
    if call is None:
        return False
    config_file, args = call
    files = _config_files(config_file)
    if not files or not all(Path(f).is_file() for f in files):
        return False  # MONAI reports a missing config file itself
    check_overlay_order(files)  # an overlay after its base
    allowed = _tracking_keys(args["tracking"]) if args.get("tracking") is not None else set()
    check_overrides(files, {k: v for k, v in args.items() if k not in allowed})
    return True


def check_device(device: Any) -> Any:
    """The :class:`torch.device` of ``device``, refused when it does not exist on this machine.

    Args:
        device: a :class:`torch.device` or its text (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Returns:
        the :class:`torch.device`.

    Raises:
        ValueError: not a device name, or a CUDA / MPS device this machine does not have.
    """
    import torch

    try:
        dev = device if isinstance(device, torch.device) else torch.device(str(device))
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device {str(device)!r} is not a torch device; pass --device cpu, cuda or cuda:<index>."
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was requested but no CUDA GPU is available; pass --device cpu.")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"device {str(device)!r} was requested but this machine has {count} CUDA GPU(s) (cuda:0 to "
                f"cuda:{count - 1}); pass --device cuda:0 or --device cpu."
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"device {str(device)!r} was requested but no Apple MPS device is available; pass --device cpu."
            )
    return dev


# --------------------------------------------------------------------------------------------------
# user errors: finding them, and the one-line report
# --------------------------------------------------------------------------------------------------


def _raised_by_package(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback (where it was raised) is this package's code."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def find_user_error(exc: BaseException | None, own_only: bool = True) -> BaseException | None:
    """The first user error in the chain of ``exc`` (``exc`` itself, then its ``__cause__`` /
    ``__context__``): an instance of :data:`USER_ERRORS` raised by this package's code (any one with
    ``own_only=False``). ``None`` when there is none."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, USER_ERRORS) and (not own_only or _raised_by_package(exc)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def user_message(exc: BaseException) -> str:
    """The message of a user error (a ``KeyError``'s text without the quotes ``str()`` adds)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


class QuietUserErrors(logging.Filter):
    """Drop the ``ERROR`` records that Ignite's engines and MONAI's ``StatsHandler`` log while a user
    error (:func:`find_user_error`) propagates through them ("run is terminating due to exception" and
    the traceback); both raise the error again, and the excepthook reports it once. Records of other
    loggers are kept (code that logs an error and carries on stays visible)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.name.startswith(_QUIET_LOGGERS):
            return True
        exc = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        return exc is None or find_user_error(exc) is None


_FILTER = QuietUserErrors()
_previous_hook: Any = None


def _report(exc_type: type, exc: BaseException, tb: Any) -> None:
    """``sys.excepthook``: one line for a user error, the previous hook (a traceback) otherwise."""
    err = find_user_error(exc) if isinstance(exc, Exception) else None
    if err is None:
        (_previous_hook or sys.__excepthook__)(exc_type, exc, tb)
        return
    sys.stdout.flush()
    print(f"{PROG}: error: {user_message(err)}", file=sys.stderr, flush=True)


def _running_monai_bundle() -> bool:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) in ("monai.bundle.__main__", "monai.bundle")


def install_error_reporting(force: bool = False) -> bool:
    """Report user errors in one line (see the module docstring) in this process.

    Installs :class:`QuietUserErrors` on the handlers of every logger that exists (and of the
    loggers that MONAI's handlers create later, :data:`_LATE_LOGGERS`) and :func:`_report` as
    ``sys.excepthook``. Idempotent. Does nothing unless the program is ``python -m monai.bundle`` (or
    ``force``), or when ``$MONAI_MCRECON_TRACEBACK`` is set to ``1``.

    Returns:
        whether the report is installed.
    """
    global _previous_hook
    if not (force or _running_monai_bundle()):
        return False
    if os.environ.get(TRACEBACK_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    from monai.apps import get_logger

    for name in _LATE_LOGGERS:  # created now as MONAI would create it, so that it can be filtered
        get_logger(name).addFilter(_FILTER)
    known = logging.Logger.manager.loggerDict.values()
    loggers = [logging.getLogger()] + [lg for lg in known if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            handler.addFilter(_FILTER)
    if sys.excepthook is not _report:
        _previous_hook = sys.excepthook
        sys.excepthook = _report
    return True
