"""User errors of the MONAI Label tasks as HTTP answers that carry their message.

MONAI Label's endpoints call the app (``MONAILabelApp.infer``, ``MONAILabelApp.train`` with
``run_sync``) without catching what the task raises, so any exception became a bare ``500 Internal
Server Error`` and the client never saw why. :class:`~monai_mcrecon.label.app.MCReconApp` runs its
tasks inside :func:`user_errors_as_http`: a user error of this package found in the exception's
chain (:func:`monai_mcrecon.bundle.checks.find_user_error`: a bad request parameter, a missing
reference, a 4-D image, a reference on another grid, refused weights...), also when MONAI wrapped
it in ``RuntimeError: applying transform ...``, is raised again as FastAPI's ``HTTPException`` whose
``detail`` is the one-line message: status 404 for a missing file, 422 otherwise. FastAPI answers it
as ``{"detail": "<message>"}``. Other exceptions (bugs) stay 500 errors with their traceback in the
server log.

Importable without ``monailabel``; :func:`http_error` needs ``fastapi`` (a MONAI Label dependency).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["http_error", "user_errors_as_http"]


def http_error(exc: BaseException) -> Any:
    """The ``fastapi.HTTPException`` for the user error in ``exc``'s chain, or ``None`` when there is
    none (or ``exc`` already is an ``HTTPException``).

    Args:
        exc: the exception a task raised.

    Returns:
        ``HTTPException(status_code=404 (missing file) or 422, detail=<message>)`` or ``None``.
    """
    from fastapi import HTTPException

    from monai_mcrecon.bundle.checks import find_user_error, user_message

    if isinstance(exc, HTTPException):
        return None
    err = find_user_error(exc)
    if err is None:
        return None
    return HTTPException(status_code=404 if isinstance(err, FileNotFoundError) else 422, detail=user_message(err))


@contextmanager
def user_errors_as_http() -> Iterator[None]:
    """Re-raise a user error of the block as an ``HTTPException`` (see :func:`http_error`).

    Raises:
        fastapi.HTTPException: for a user error, chained to the original exception.
    """
    try:
        yield
    except Exception as e:
        answer = http_error(e)
        if answer is None:
            raise
        raise answer from e
