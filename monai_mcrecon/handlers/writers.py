"""Ignite handlers that write what a person looks at after an evaluation: a metrics table and
one figure per case (degraded input | restoration | truth | error), for MRI and natural images.

Every file is written to a temporary name in the same folder and renamed
(:func:`monai_mcrecon.safe_io.atomic_path`), so an interrupted run leaves no half-written file."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.data import NibabelWriter

from monai_mcrecon.safe_io import atomic_path

__all__ = ["AtomicNibabelWriter", "MetricsCSVWriter", "ReconstructionFigureWriter", "RestorationFigureWriter"]


class AtomicNibabelWriter(NibabelWriter):
    """MONAI's :class:`~monai.data.NibabelWriter` writing to a temporary file beside the target and
    renaming it (``SaveImaged(writer="monai_mcrecon.handlers.writers.AtomicNibabelWriter")``): an
    interrupted run never leaves a half-written NIfTI under the final name."""

    def write(self, filename, verbose: bool = False, **obj_kwargs):
        with atomic_path(filename) as tmp:
            super().write(str(tmp), verbose=False, **obj_kwargs)
        if verbose:
            import logging

            logging.getLogger(__name__).info(f"writing: {filename}")


def _as_list(batch) -> list:
    return batch if isinstance(batch, list) else [batch]


def _case_ids(engine: Engine, case_key: str) -> list[str]:
    ids = []
    for item in _as_list(engine.state.batch):
        value = item.get(case_key, None) if isinstance(item, Mapping) else None
        if isinstance(value, (list, tuple)):  # collated (not decollated) batch
            ids.extend(str(v) for v in value)
        else:
            ids.append(str(value) if value is not None else f"item_{engine.state.iteration:04d}")
    return ids


class MetricsCSVWriter:
    """Write ``<output_dir>/<filename>``: one row per case and a first row ``mean`` (over cases).

    Args:
        output_dir: folder of the CSV (created).
        columns: CSV column -> name of an attached metric handler that has ``save_details=True``
            (e.g. ``{"psnr": "psnr", "psnr_input": "psnr_input"}``).
        case_key: batch key holding the case id.
        filename: CSV file name.
    """

    def __init__(
        self, output_dir: str, columns: Mapping[str, str], case_key: str = "case_id", filename: str = "metrics.csv"
    ) -> None:
        self.output_dir, self.columns, self.case_key, self.filename = output_dir, dict(columns), case_key, filename
        self._cases: list[str] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, lambda e: self._cases.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: self._cases.extend(_case_ids(e, self.case_key)))
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        details = getattr(engine.state, "metric_details", {}) or {}
        missing = [m for m in self.columns.values() if m not in details]
        if missing:
            raise RuntimeError(
                f"MetricsCSVWriter needs per-case details of metrics {missing}: attach them with save_details=True."
            )
        values = {}
        for col, name in self.columns.items():
            v = details[name]
            v = v.detach().cpu().reshape(len(v), -1).double().mean(1) if isinstance(v, torch.Tensor) else torch.tensor(v)
            values[col] = v.tolist()
        n = len(next(iter(values.values())))
        cases = self._cases[:n] if len(self._cases) >= n else [f"case_{i:03d}" for i in range(n)]
        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        path = os.path.join(self.output_dir, self.filename)
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["case_id", *self.columns])
            writer.writerow(["mean", *(f"{float(np.nanmean(values[c])):.6f}" for c in self.columns)])
            for i, case in enumerate(cases):
                writer.writerow([case, *(f"{values[c][i]:.6f}" for c in self.columns)])
        engine.logger.info(f"metrics written to {path}")


class ReconstructionFigureWriter:
    """Save one PNG per case: degraded input | restoration | truth | |error| (x ``error_gain``).

    Reads decollated evaluator outputs. Images are ``[1, *spatial]``; for volumes (slices along the
    first spatial axis, see :class:`~monai_mcrecon.transforms.MoveSliceAxisd`) the middle slice is
    shown. PSNR (fastMRI definition, on that slice) is printed in the titles.

    Args:
        output_dir: folder of the figures (created); files are ``<case_id>.png``.
        input_key, pred_key, label_key: output keys of the degraded input, restoration and truth.
        titles: panel titles for (input, restoration).
    """

    def __init__(
        self,
        output_dir: str,
        input_key: str = "image_degraded",
        pred_key: str = "pred",
        label_key: str = "label",
        case_key: str = "case_id",
        titles: Sequence[str] = ("zero-filled", "reconstruction"),
        error_gain: float = 5.0,
    ) -> None:
        self.output_dir, self.case_key = output_dir, case_key
        self.keys = (input_key, pred_key, label_key)
        self.titles, self.error_gain = tuple(titles), error_gain

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    @staticmethod
    def _middle_slice(x) -> np.ndarray:
        a = torch.as_tensor(x).detach().cpu().float().numpy()[0]
        while a.ndim > 2:
            a = a[a.shape[0] // 2]
        return a

    def __call__(self, engine: Engine) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from monai_mcrecon.metrics.functional import psnr

        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        outputs, cases = _as_list(engine.state.output), _case_ids(engine, self.case_key)
        for item, case in zip(outputs, cases):
            inp, pred, truth = (self._middle_slice(item[k]) for k in self.keys)
            err = np.abs(pred - truth) * self.error_gain
            fig, axes = plt.subplots(1, 4, figsize=(13, 4))
            panels = [
                (inp, f"{self.titles[0]} ({float(psnr(torch.tensor(truth), torch.tensor(inp))):.2f} dB)"),
                (pred, f"{self.titles[1]} ({float(psnr(torch.tensor(truth), torch.tensor(pred))):.2f} dB)"),
                (truth, "truth"),
                (err, f"|error| x{self.error_gain:g}"),
            ]
            vmax = float(truth.max()) if truth.max() > 0 else 1.0
            for ax, (img, title) in zip(axes, panels):
                ax.imshow(img.T, cmap="gray", origin="lower", vmin=0, vmax=vmax)
                ax.set_title(title)
                ax.axis("off")
            fig.suptitle(case)
            fig.tight_layout(rect=(0, 0, 1, 0.93))
            try:
                with atomic_path(os.path.join(self.output_dir, f"{case}.png")) as tmp:
                    fig.savefig(tmp, dpi=80)
            finally:
                plt.close(fig)


class RestorationFigureWriter:
    """Save one PNG per case for natural-image restoration: degraded | restored | truth | |error|.

    Reads decollated evaluator outputs (a list of dicts, one per image) holding ``[C, H, W]`` images
    in [0, 1] (C = 1: gray colormap, C = 3: RGB; values are clamped for display). The first two
    titles carry the PSNR against the truth (data range 1, all channels, as
    :class:`~monai_mcrecon.metrics.ImagePSNR`); the error panel is the channel mean of ``|pred - truth|``
    times ``error_gain``.

    Args:
        output_dir: folder of the figures (created); files are ``<case_id>.png``.
        input_key, pred_key, label_key: output keys of the degraded input, restoration and clean truth.
        case_key: key of the image name.
        titles: panel titles for (input, restoration).
        error_gain: display gain of the error panel.
    """

    def __init__(
        self,
        output_dir: str,
        input_key: str = "image",
        pred_key: str = "pred",
        label_key: str = "label",
        case_key: str = "case_id",
        titles: Sequence[str] = ("degraded", "restored"),
        error_gain: float = 3.0,
    ) -> None:
        self.output_dir, self.case_key = output_dir, case_key
        self.keys = (input_key, pred_key, label_key)
        self.titles, self.error_gain = tuple(titles), error_gain

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    @staticmethod
    def _image(x, key: str) -> np.ndarray:
        a = torch.as_tensor(x).detach().cpu().float()
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 3 or a.shape[0] not in (1, 3):
            raise ValueError(
                f"RestorationFigureWriter expects {key!r} as [C, H, W] with C = 1 or 3 (decollated outputs), "
                f"got shape {tuple(a.shape)}."
            )
        return a.numpy()

    @staticmethod
    def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
        mse = float(np.mean((np.clip(pred, 0, 1) - truth) ** 2))
        return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)

    def __call__(self, engine: Engine) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        outputs, cases = _as_list(engine.state.output), _case_ids(engine, self.case_key)
        for item, case in zip(outputs, cases):
            inp, pred, truth = (self._image(item[k], k) for k in self.keys)
            if not inp.shape[1:] == pred.shape[1:] == truth.shape[1:]:
                raise ValueError(
                    f"case {case}: input {inp.shape}, prediction {pred.shape} and truth {truth.shape} differ in "
                    "size; crop the prediction back to the input size (e.g. inverse DivisiblePadd) before plotting."
                )
            err = np.abs(np.clip(pred, 0, 1) - truth).mean(0) * self.error_gain
            h, w = truth.shape[1:]
            fig, axes = plt.subplots(1, 4, figsize=(4 * 3.2, 3.2 * h / w + 0.6))
            panels = [
                (inp, f"{self.titles[0]} ({self.psnr(inp, truth):.2f} dB)"),
                (pred, f"{self.titles[1]} ({self.psnr(pred, truth):.2f} dB)"),
                (truth, "truth"),
                (err[None], f"|error| x{self.error_gain:g}"),
            ]
            for ax, (img, title) in zip(axes, panels):
                img = np.clip(img, 0, 1)
                if img.shape[0] == 3:
                    ax.imshow(img.transpose(1, 2, 0))
                else:
                    ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
                ax.set_title(title, fontsize=9)
                ax.axis("off")
            fig.suptitle(case)
            fig.tight_layout()
            try:
                with atomic_path(os.path.join(self.output_dir, f"{case}.png")) as tmp:
                    fig.savefig(tmp, dpi=80)
            finally:
                plt.close(fig)
