"""What a run leaves behind to describe itself, and re-runs that do only what is left.

* :func:`write_run_info`: ``training_info.json`` next to a bundle's checkpoints (its recipe).
* :func:`skip_finished`: a bundle's inference skips cases whose output exists.
* :data:`RUN_INFO` / :func:`finished_case`: the command's ``run_info.json`` per case; a finished case
  of the same inputs and options (its fingerprint, :mod:`monai_mcrecon.run_record`) is skipped, another refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_mcrecon.bundle.overrides import as_bool
from monai_mcrecon.data.volume import Log
from monai_mcrecon.run_record import fingerprint_differences
from monai_mcrecon.safe_io import PARTIAL_MARK

__all__ = [
    "RUN_INFO",
    "finished_case",
    "skip_finished",
    "write_run_info",
]


def write_run_info(output_dir: str, info: dict, filename: str = "training_info.json") -> str:
    """Record how a model is trained (loss, feature extractor, preset, degradation) next to its
    checkpoints, so that a checkpoint can always be traced back to its recipe. Returns the path."""
    import json

    from monai_mcrecon.safe_io import atomic_write_text

    path = Path(output_dir) / filename
    atomic_write_text(path, json.dumps(info, indent=2, default=str) + "\n")
    return str(path)


def skip_finished(data: list, output_dir: str, pattern: str, overwrite: bool | str = False) -> list:
    """The datalist items whose output ``<output_dir>/<pattern>`` does not exist yet (all of them
    with ``overwrite``); ``pattern`` is formatted with the item (e.g. ``"{case_id}/t2_recon.nii.gz"``).
    Used by the bundles' inference so that a re-run after an interruption does only what is left
    (outputs are written atomically, so an existing file is a complete one)."""
    import logging

    if isinstance(overwrite, str):
        overwrite = as_bool(overwrite)
    if overwrite:
        return list(data)
    todo, done = [], []
    for item in data:
        fields = {k: v for k, v in item.items() if isinstance(v, (str, int, float))} if isinstance(item, Mapping) else {}
        if "case_id" not in fields and isinstance(item, Mapping):
            src = next((v for v in item.values() if isinstance(v, str)), "case")
            fields["case_id"] = Path(src).name.split(".")[0]
        try:
            out = Path(output_dir) / pattern.format(**fields)
        except (KeyError, IndexError):
            todo.append(item)
            continue
        (done if out.is_file() else todo).append(item)
    if done:
        logging.getLogger(__name__).warning(
            f"Skipping {len(done)} finished case(s) whose output exists in {output_dir} (override overwrite=true to redo)."
        )
    return todo


RUN_INFO = "run_info.json"


def _own_outputs(suffix: str) -> tuple[str, ...]:
    return (RUN_INFO, "dicom")


def finished_case(
    output: str | Path, overwrite: bool, suffix: str, log: Log, *, fingerprint: dict[str, Any]
) -> dict[str, Any] | None:
    """Prepare the output folder of one case; return the stored result when the case is finished.

    New or empty folder: created. ``overwrite``: used as it is. A folder holding only this
    command's own outputs (``*_<suffix>.nii.gz``, ``run_info.json``, ``dicom/``, temporary
    ``.partial`` files of an interrupted write): finished (``run_info.json`` and its NIfTI exist)
    -> skipped when ``run_info.json`` records the same ``fingerprint`` (bundle, weights, inputs and
    options, see :mod:`monai_mcrecon.run_record`), refused when it does not; not finished ->
    completed. Anything else in it: :class:`FileExistsError`.

    Args:
        output: the case's output folder.
        overwrite: use the folder as it is (the run replaces what it writes).
        suffix: ``"recon"`` or ``"sr"`` (the NIfTI is ``<case>_<suffix>.nii.gz``).
        log: where to say that the case is skipped.
        fingerprint: the new run's :func:`~monai_mcrecon.run_record.run_fingerprint`.

    Returns:
        the stored result with ``skipped: True``, or ``None`` when the case is to be run.

    Raises:
        FileExistsError: the output is a file; the folder holds files of something else; or it holds a
            finished run made from other inputs or options, or one that recorded no fingerprint (an
            older version) and so cannot be shown to be the same: naming what differs and the fix.
    """
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"Output {str(out)!r} exists and is not a folder; choose another --output.")
    if overwrite or not out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        return None
    entries = sorted(p.name for p in out.iterdir())
    foreign = [
        n for n in entries
        if n not in _own_outputs(suffix) and not n.endswith(f"_{suffix}.nii.gz") and PARTIAL_MARK not in n
    ]
    if foreign:
        raise FileExistsError(
            f"Output folder {str(out)!r} already holds {foreign[:5]}{' ...' if len(foreign) > 5 else ''}; pass "
            "--overwrite to replace them, or choose another --output folder."
        )
    info_file = out / RUN_INFO
    differences: list[str] | None = None  # None: no finished run here
    if info_file.is_file():
        try:
            result = json.loads(info_file.read_text())
        except json.JSONDecodeError:
            result = {}
        result = result if isinstance(result, dict) else {}
        if result.get("nifti") and (out / Path(result["nifti"]).name).is_file():
            old = result.get("fingerprint")
            if old is None:
                raise FileExistsError(
                    f"Output folder {str(out)!r} holds a finished run whose run_info.json records no fingerprint of its "
                    "inputs and options (an older monai-mcrecon), so it cannot be shown to match this run; pass "
                    "--overwrite to redo it, or choose another --output folder."
                )
            differences = fingerprint_differences(old, fingerprint)
            if differences:
                raise FileExistsError(
                    f"Output folder {str(out)!r} holds a finished run made from other inputs or options "
                    f"({'; '.join(differences)}); pass --overwrite to replace it, or choose another --output folder."
                )
    for n in entries:  # leftovers of an interrupted write (once nothing was refused)
        if PARTIAL_MARK in n:
            (out / n).unlink(missing_ok=True)
    if differences == []:  # a finished run of the same inputs and options
        log(f"Skipping: {str(out)!r} holds a finished run of the same inputs and options "
            f"({Path(result['nifti']).name}); pass --overwrite to redo it.")
        return {**result, "skipped": True}
    return None
