"""Output folders and batch runs of the command: refuse to write over other files
(:func:`check_output_dir`), and :func:`~monai_mcrecon.commands.restore.run_model` over several targets (:func:`run_many`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_mcrecon.commands.restore import run_model
from monai_mcrecon.data.volume import Log, Volume
from monai_mcrecon.safe_io import PARTIAL_MARK, atomic_write_text

__all__ = [
    "check_output_dir",
    "run_many",
]


def check_output_dir(out_dir: str | Path, overwrite: bool, names: Sequence[str] | None = None) -> Path:
    """Refuse to write into a non-empty folder (or over the given ``names``) unless ``overwrite``.

    Raises:
        FileExistsError: naming the folder and the fix (``--overwrite`` or another folder).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"Output {str(out)!r} exists and is not a folder; choose another --output.")
    if out.is_dir() and not overwrite:
        clash = [n for n in names if (out / n).exists()] if names is not None else sorted(p.name for p in out.iterdir())
        if clash:
            raise FileExistsError(
                f"Output folder {str(out)!r} already holds {clash[:5]}{' ...' if len(clash) > 5 else ''}; pass "
                "--overwrite to replace them, or choose another --output folder."
            )
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_many(
    targets: Sequence[str | Path],
    output: str | Path,
    references: Sequence[str | Path] | None = None,
    overwrite: bool = False,
    log: Log = print,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`run_model` over several targets, each into ``<output>/<case>/``; a case that fails is
    reported and the others go on.

    Args:
        targets: target volumes (their names, without extension, are the case folders; repeated
            names get ``_2``, ``_3``... suffixes).
        output: output folder.
        references: one reference per target (or ``None``).
        overwrite: redo finished cases (else they are skipped, see :func:`run_model`).
        kwargs: the other arguments of :func:`run_model` (bundle, task, device...).

    Returns:
        ``done``, ``skipped`` (case -> output NIfTI), ``failed`` (case -> error message); also
        written as ``<output>/batch_report.json``.

    Raises:
        ValueError: references that do not pair with the targets; FileExistsError: an output
        folder holding something else than case folders of this run.
    """
    targets = [Path(t) for t in targets]
    if references is not None and len(references) not in (0, len(targets)):
        raise ValueError(
            f"Give one --reference per --target ({len(targets)} targets, {len(references)} references), in the same order."
        )
    refs = list(references) if references else [None] * len(targets)
    cases: list[str] = []
    for t in targets:
        name = Volume(np.zeros(0), np.eye(4), "", t).stem or "case"
        base, i = name, 2
        while name in cases:
            name, i = f"{base}_{i}", i + 1
        cases.append(name)
    out = Path(output)
    if out.is_dir() and not overwrite:
        foreign = [p.name for p in out.iterdir() if p.name not in (*cases, "batch_report.json") and PARTIAL_MARK not in p.name]
        if foreign:
            raise FileExistsError(
                f"Output folder {str(out)!r} already holds {sorted(foreign)[:5]}, which are not cases of this run; pass "
                "--overwrite, or choose another --output folder."
            )
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"done": {}, "skipped": {}, "failed": {}}
    for k, (case, target, ref) in enumerate(zip(cases, targets, refs)):
        log(f"[{k + 1}/{len(cases)}] {case}")
        try:
            result = run_model(target, out / case, reference=ref, overwrite=overwrite, log=log, **kwargs)
        except (KeyboardInterrupt, PermissionError):
            raise
        except Exception as e:  # one bad case must not stop the others
            report["failed"][case] = f"{type(e).__name__}: {e}"
            log(f"FAILED {case}: {type(e).__name__}: {e}")
            continue
        report["skipped" if result.get("skipped") else "done"][case] = result.get("nifti")
    atomic_write_text(out / "batch_report.json", json.dumps(report, indent=2, default=str) + "\n")
    return report
