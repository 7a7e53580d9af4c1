"""Running a bundle's ``inference.json`` for the command: the inference options as overrides
(AMP, channels-last, compile, tiles), which route keeps the acquired k-space for data consistency, and
the run itself (as ``python -m monai.bundle run`` does, returning the evaluator's results in memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from monai_mcrecon.data.volume import Log, Volume

__all__ = [
    "check_tiles",
    "consistency_record",
    "consistency_route",
    "inference_options",
    "run_inference_config",
]


def inference_options(
    binfo: dict[str, Any], device: str | None, amp: bool, channels_last: bool, compile: bool,
    tile: Sequence[int] | None, tile_margin: int, log: Log,
) -> dict[str, Any]:
    """The bundle overrides of the inference options (only those that differ from the plain path).

    Raises:
        ValueError: a malformed ``tile`` / ``tile_margin``, or a bundle whose ``inference.json``
            has no such option.
    """
    options: dict[str, Any] = {}
    if amp:
        run_on = str(device) if device else ("cuda:0" if torch.cuda.is_available() else "cpu")
        if not run_on.startswith("cuda"):
            log(
                f"Note: --amp (float16 autocast) only acts on CUDA devices; on {run_on} the run stays in float32 "
                "(the same outputs as without --amp)."
            )
        options["amp"] = True
    if channels_last:
        options["channels_last"] = True
    if compile:
        options["compile"] = True
    if tile is not None:
        tile = list(tile)
        if len(tile) != 2 or any(isinstance(t, bool) or int(t) != t or int(t) < 1 for t in tile):
            raise ValueError(f"--tile takes two positive integers (tile height and width in pixels), got {tile!r}.")
        if int(tile_margin) != tile_margin or tile_margin < 0:
            raise ValueError(f"--tile-margin must be a non-negative integer (pixels), got {tile_margin!r}.")
        options["tile_size"] = [int(t) for t in tile]
        options["tile_margin"] = int(tile_margin)
    missing = [k for k in options if k not in binfo["config"]]
    if missing:
        raise ValueError(
            f"Bundle {binfo['name']!r} has no {missing} in its inference.json (an older bundle layout): run it without "
            "--amp / --channels-last / --compile / --tile, or add monai_mcrecon.inference.OptimizedInferer as its "
            "inferer (see docs/performance.md)."
        )
    return options


def check_tiles(tile: Sequence[int], margin: int, image: Sequence[int]) -> None:
    """Refuse tiles without a centre before the network runs (the rule of :func:`~monai_mcrecon.inference.tile_margins`).

    Raises:
        ValueError: naming the axis, the sizes and the fix.
    """
    from monai_mcrecon.inference import tile_margins

    try:
        tile_margins(tile, margin, image)
    except ValueError as err:
        raise ValueError(f"--tile {tile[0]} {tile[1]}: {str(err).rstrip('.')} (--tile-margin).") from None


def consistency_route(
    binfo: dict[str, Any], task: str, tgt: Volume, crop_to_recon_size: bool, data_consistency: bool, has_dc: bool
) -> tuple[bool, str | None]:
    """Whether the target goes through the bundle's ``kspace_file`` route (a single-coil, uncropped
    fastMRI h5 file: its acquired k-space reaches the output data consistency), and why data
    consistency cannot apply otherwise (``None``: it can, or the bundle decides)."""
    from monai_mcrecon.data.zero_filled import kspace_consistency_note

    cfg = binfo["config"]
    h5_keys = ("kspace_file", "kspace_crop_to_recon_size", "kspace_coil_combine")
    can_read_h5 = task == "recon" and all(k in cfg for k in h5_keys)
    if binfo["needs_reference"]:
        can_read_h5 = can_read_h5 and "reference_file" in cfg
    if tgt.kind != "h5":
        reason = (
            f"off: the target is a magnitude image ({tgt.kind}), which does not carry the acquired k-space (its phase "
            "is lost); give the acquisition as a single-coil fastMRI h5 file for data consistency"
        )
        if task == "sr":
            reason = "off: a low-resolution image target carries no acquired k-space"
        return False, _dc_off(has_dc, data_consistency, reason)
    note = kspace_consistency_note(bool(tgt.info.get("multicoil")), bool(crop_to_recon_size))
    if note is not None:
        return False, _dc_off(has_dc, data_consistency, note)
    if not can_read_h5:
        return False, _dc_off(
            has_dc, data_consistency, f"off: bundle {binfo['name']!r} has no kspace_file input for h5 targets"
        )
    return True, _dc_off(has_dc, data_consistency, None)


def _dc_off(has_dc: bool, enabled: bool, reason: str | None) -> str | None:
    if not has_dc:
        return "off: the bundle has no output data consistency (no data_consistency_output option)"
    if not enabled:
        return "off: disabled (--no-data-consistency)"
    return reason


def run_inference_config(
    config_file: str | Path, overrides: dict[str, Any], datalist: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Run a bundle's inference config (as :func:`monai.bundle.run` does) and return the evaluator's
    post-processed items of the last batch, each the input item and the results in one dict (``pred``,
    ``pred_nifti``...; :func:`consistency_record` reads the data-consistency record).

    Args:
        config_file: the bundle's ``inference.json``.
        overrides: config overrides (``create_workflow`` keyword arguments).
        datalist: in-memory items (volumes as ``MetaTensor``) for the config's ``datalist``, set on the
            workflow's parser after it is created rather than passed as a keyword argument (MONAI logs
            the keyword arguments, tensors included).
    """
    from monai.bundle import create_workflow

    workflow = create_workflow(run_id="run", config_file=str(config_file), **overrides)
    if datalist is not None:
        workflow.parser["datalist"] = datalist
    workflow.run()
    try:
        state = workflow.parser.get_parsed_content("evaluator").state
        batch, output = state.batch, state.output
    except Exception:  # noqa: BLE001 - another bundle layout: nothing to return
        batch = output = None
    workflow.finalize()

    def as_list(x: Any) -> list:
        return list(x) if isinstance(x, (list, tuple)) else [x]

    # MONAI's post-processing keeps the input keys (``sr_input``...) in the batch and its results in the output
    batches, outputs = as_list(batch), as_list(output)
    if len(batches) != len(outputs):
        batches = [None] * len(outputs)
    return [
        {**(b if isinstance(b, dict) else {}), **o} for b, o in zip(batches, outputs) if isinstance(o, dict)
    ]


def consistency_record(items: list[dict[str, Any]]) -> str | None:
    """What the bundle's :class:`~monai_mcrecon.transforms.DataConsistencyd` recorded for the (last) case, if anything."""
    found = [i.get("data_consistency") for i in items if i.get("data_consistency")]
    return str(found[-1]) if found else None
