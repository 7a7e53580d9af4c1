"""Video outputs: interpolation figures (frame strips, animated GIFs), frame-rate doubling and the BVFI figures.

:class:`InterpolationFigureWriter` and :class:`InterpolatedClipWriter` are Ignite handlers used by the ``fgdcn_vfi``
bundle; case ids follow :func:`monai_mcrecon.data.video.triplet_datalist` (``"<clip>_<i:04d>"``).
:class:`SaveBlurryVFIFiguresd` is a postprocessing transform of the ``bvfi_blurry_vfi`` bundle (evaluation): a strip
(blurry inputs / outputs at each t / sharp truth) and an animated GIF per case.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import torch
from monai.transforms import Transform

from monai_mcrecon.figures import hstack, save_gif, to_uint8
from monai_mcrecon.safe_io import atomic_path
from monai_mcrecon.transforms.blurry_video import case_name

__all__ = ["InterpolatedClipWriter", "InterpolationFigureWriter", "SaveBlurryVFIFiguresd"]


def _items(engine) -> list:
    """Decollated outputs, each merged over its batch item (keys of the output win): evaluator outputs hold only
    ``image``/``label``/``pred`` and what the postprocessing added, the input frames stay in the batch."""
    out, batch = engine.state.output, engine.state.batch
    out = out if isinstance(out, list) else [out]
    batch = batch if isinstance(batch, list) else [batch] * len(out)
    return [{**(b if isinstance(b, Mapping) else {}), **o} for o, b in zip(out, batch)]


def _split_case(case: str) -> tuple[str, int]:
    """``"<clip>_<i:04d>"`` (the case ids of :func:`~monai_mcrecon.data.video.triplet_datalist` /
    ``window_datalist``) -> ``(clip, i)``."""
    clip, _, index = str(case).rpartition("_")
    if not clip or not index.isdigit():
        raise ValueError(f"Case id {case!r} is not '<clip>_<index>'; build the datalist with monai_mcrecon.data.video.")
    return clip, int(index)


class InterpolationFigureWriter:
    """Figures of frame interpolation: per triplet a strip ``frame0 | average | FGDCN | truth | frame1`` (PNG,
    PSNR of the two estimates in the titles) and per clip an animated GIF cycling through the middle frames
    (``average | FGDCN | truth`` side by side).

    Reads decollated evaluator outputs holding ``[C, H, W]`` frames in [0, 1].

    Args:
        output_dir: folder of ``<case_id>.png`` and ``<clip>.gif`` (created).
        keys: keys of (frame0, baseline, prediction, truth, frame1) in the output or batch item.
        titles: panel titles in the same order.
        case_key: key of the case id ``<clip>_<index>``.
        gif: also write the per-clip GIFs.
        frame_ms: GIF frame duration in milliseconds.
    """

    def __init__(
        self,
        output_dir: str,
        keys: Sequence[str] = ("frame0", "average", "pred", "label", "frame1"),
        titles: Sequence[str] = ("frame 0", "average", "FGDCN", "truth", "frame 1"),
        case_key: str = "case_id",
        gif: bool = True,
        frame_ms: int = 250,
    ) -> None:
        if len(keys) != 5 or len(titles) != 5:
            raise ValueError("InterpolationFigureWriter needs 5 keys and 5 titles: frame0, baseline, prediction, truth, frame1.")
        self.output_dir, self.keys, self.titles, self.case_key = output_dir, tuple(keys), tuple(titles), case_key
        self.gif, self.frame_ms = gif, frame_ms
        self._clips: dict[str, list] = {}

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_STARTED, lambda e: self._clips.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        if self.gif:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self.write_gifs)

    @staticmethod
    def _psnr(a, b) -> float:
        import numpy as np

        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) / 255.0**2
        return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)

    def __call__(self, engine) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from monai_mcrecon.handlers.writers import _case_ids
        from monai_mcrecon.safe_io import atomic_path

        import os
        from pathlib import Path

        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        for item, case in zip(_items(engine), _case_ids(engine, self.case_key)):
            imgs = [to_uint8(item[k]) for k in self.keys]
            truth = imgs[3]
            h, w = truth.shape[:2]
            fig, axes = plt.subplots(1, 5, figsize=(5 * 2.8, 2.8 * h / w + 0.6))
            for i, (ax, img, title) in enumerate(zip(axes, imgs, self.titles)):
                if i in (1, 2):
                    title = f"{title} ({self._psnr(img, truth):.2f} dB)"
                ax.imshow(img)
                ax.set_title(title, fontsize=9)
                ax.axis("off")
            fig.suptitle(case)
            fig.tight_layout()
            try:
                with atomic_path(os.path.join(self.output_dir, f"{case}.png")) as tmp:
                    fig.savefig(tmp, dpi=80)
            finally:
                plt.close(fig)
            if self.gif:
                clip, index = _split_case(case)
                self._clips.setdefault(clip, []).append((index, imgs[1], imgs[2], truth))

    def write_gifs(self, engine=None) -> list[str]:
        """Write ``<clip>.gif`` for every clip seen in the epoch; returns the paths."""
        import os

        paths = []
        for clip, frames in self._clips.items():
            frames = sorted(frames, key=lambda f: f[0])
            path = save_gif(os.path.join(self.output_dir, f"{clip}.gif"),
                            [hstack([avg, pred, gt]) for _, avg, pred, gt in frames], self.frame_ms)
            paths.append(path)
        return paths


class InterpolatedClipWriter:
    """Frame-rate doubling: for every pair ``(f_i, f_{i+1})`` of a clip write ``f_i`` as frame ``2i``, the
    interpolated frame as ``2i + 1`` and ``f_{i+1}`` as ``2i + 2`` to ``<output_dir>/<clip>/NNNN.png`` (8-bit RGB;
    an 8-bit input frame is written back unchanged).

    Args:
        output_dir: root of the output clips (created).
        frames_key: output key of the pair ``[2, C, H, W]`` (or ``frame0``/``frame1`` keys via ``frame_keys``).
        pred_key: key of the interpolated frame ``[C, H, W]``.
        case_key: key of the case id ``<clip>_<i>`` (:func:`~monai_mcrecon.data.video.window_datalist` with length 2).
        frame_keys: alternative to ``frames_key``: the two keys holding ``[C, H, W]`` frames.
    """

    def __init__(self, output_dir: str, frames_key: str = "frames", pred_key: str = "pred", case_key: str = "case_id",
                 frame_keys: Sequence[str] | None = None) -> None:
        self.output_dir, self.frames_key, self.pred_key = output_dir, frames_key, pred_key
        self.case_key, self.frame_keys = case_key, tuple(frame_keys) if frame_keys else None

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine) -> None:
        import os
        from pathlib import Path

        from PIL import Image

        from monai_mcrecon.handlers.writers import _case_ids
        from monai_mcrecon.safe_io import atomic_path

        for item, case in zip(_items(engine), _case_ids(engine, self.case_key)):
            clip, i = _split_case(case)
            if self.frame_keys:
                f0, f1 = item[self.frame_keys[0]], item[self.frame_keys[1]]
            else:
                pair = torch.as_tensor(item[self.frames_key])
                f0, f1 = pair[0], pair[1]
            folder = Path(self.output_dir) / clip
            folder.mkdir(parents=True, exist_ok=True)
            for j, frame in ((2 * i, f0), (2 * i + 1, item[self.pred_key]), (2 * i + 2, f1)):
                with atomic_path(os.path.join(folder, f"{j:04d}.png")) as tmp:
                    Image.fromarray(to_uint8(frame)).save(tmp, format="PNG")


class SaveBlurryVFIFiguresd(Transform):
    """Per case, write ``<output_dir>/<case>_strip.png`` and ``<output_dir>/<case>.gif``.

    Strip rows (PIL, labelled): the N blurry inputs; the baseline (average of B_0 and B_1); the network's
    output at each t; the sharp truth at each t. The GIF plays the target times in order, each frame showing
    ``baseline | output | truth`` side by side.
    """

    def __init__(self, output_dir: str | Path, blurry_key: str = "blurry", pred_key: str = "pred",
                 label_key: str = "label", baseline_key: str = "average", times_key: str = "times",
                 case_key: str = "case_id", gif_duration_ms: int = 400) -> None:
        self.output_dir = Path(output_dir)
        self.keys_ = (blurry_key, pred_key, label_key, baseline_key, times_key)
        self.case_key, self.duration = case_key, gif_duration_ms

    @staticmethod
    def _label(img, text: str):
        from PIL import ImageDraw

        draw = ImageDraw.Draw(img)
        draw.rectangle((0, 0, 7 * len(text) + 6, 14), fill=(0, 0, 0))
        draw.text((3, 2), text, fill=(255, 255, 255))
        return img

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        from PIL import Image

        d = dict(data)
        case = case_name(d, self.case_key)
        bk, pk, lk, ak, tk = self.keys_
        times = torch.as_tensor(d[tk]).reshape(-1).tolist()
        blurry, pred, label, avg = (torch.as_tensor(d[k]) for k in (bk, pk, lk, ak))
        h, w = pred.shape[-2:]
        n_cols = max(blurry.shape[0], len(times))
        rows = [
            [(blurry[i], f"B{i - 1}" if blurry.shape[0] == 4 else f"blurry {i}") for i in range(blurry.shape[0])],
            [(avg[i], f"average t={t:g}") for i, t in enumerate(times)],
            [(pred[i], f"BVFI t={t:g}") for i, t in enumerate(times)],
            [(label[i], f"truth t={t:g}") for i, t in enumerate(times)],
        ]
        pad = 4
        strip = Image.new("RGB", (n_cols * (w + pad) - pad, len(rows) * (h + pad) - pad), (255, 255, 255))
        for r, row in enumerate(rows):
            for c, (img, text) in enumerate(row):
                tile = self._label(Image.fromarray(to_uint8(img)), text)
                strip.paste(tile, (c * (w + pad), r * (h + pad)))
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.output_dir / f"{case}_strip.png") as tmp:
            strip.save(tmp)
        frames = []
        for i, t in enumerate(times):
            panel = Image.new("RGB", (3 * w + 2 * pad, h), (255, 255, 255))
            for c, (img, text) in enumerate(((avg[i], "average"), (pred[i], "BVFI"), (label[i], "truth"))):
                panel.paste(self._label(Image.fromarray(to_uint8(img)), f"{text} t={t:g}"), (c * (w + pad), 0))
            frames.append(panel)
        save_gif(self.output_dir / f"{case}.gif", frames, self.duration)
        d["figure_paths"] = [str(self.output_dir / f"{case}_strip.png"), str(self.output_dir / f"{case}.gif")]
        return d
