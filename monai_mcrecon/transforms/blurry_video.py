"""Blurry-video synthesis and the per-time bookkeeping of blurry video frame interpolation (BVFI).

**Time convention** (docs/models/bvfi.md, 'Time convention'). A window of N blurry frames ``B_-1, B_0, B_1, B_2``
(N = 4, ``key_index = 1`` is B_0) is made from consecutive sharp frames: blurry frame i averages the
``exposure`` sharp frames starting at ``i * period`` (the shutter is open for ``exposure`` of every ``period``
frame intervals; the rest is the read-out gap), so its centre is the sharp frame
``c_i = i * period + (exposure - 1) / 2``. A target time ``t`` in [0, 1] is the sharp frame
``c_key + t * period``; t = 0 and 1 are the (sharp) centres of B_0 and B_1. The window needs
``(N - 1) * period + exposure`` sharp frames.

The default ``period = 4``, ``exposure = 3`` (duty cycle 3/4) makes t = 0, 0.25, 0.5, 0.75, 1 land on
sharp frames (the usual protocol averages 5 or 7 of every 8 frames of 240-fps video, which needs longer clips
than the shipped sample has). A target time that does not land on a sharp frame raises an error that names
the valid times.

Transforms (dictionary, MONAI style; frames ``[T, C, H, W]`` in [0, 1]):

- :class:`BlurryWindowd`: sharp window -> ``blurry [N, C, H, W]``, ``label [L, C, H, W]``, ``times [L]``
  (optional seeded noise, 8-bit quantisation of the blurry frames);
- :class:`RandReverseTimed`: reverse the frame order (temporal augmentation; applied to the sharp window
  before synthesis it maps t to 1 - t automatically);
- :class:`KeyFrameAveraged`: the baseline "deblur nothing, average B_0 and B_1", repeated for the L times;
- :class:`AddTimesd`: attach fixed target times (inference);
- :class:`SplitTimesd`: ``key [L, ...]`` -> ``key_t0.25``, ... (per-time metrics);
- :class:`SaveTimeFramesd`: write each output frame as ``<output_dir>/<case>_t0.25.png``;

and the datalist helper :func:`blurry_clip_windows` for folders of blurry clips. The BVFI figures (strip and
animated GIF per case) are written by :class:`monai_mcrecon.handlers.video.SaveBlurryVFIFiguresd`.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable, Transform

from monai_mcrecon.transforms.natural import SaveNaturalImage
from monai_mcrecon.transforms.video import average_frames

__all__ = [
    "AddTimesd",
    "BlurryWindowd",
    "KeyFrameAveraged",
    "RandReverseTimed",
    "SaveTimeFramesd",
    "SplitTimesd",
    "blurry_clip_windows",
    "synthesize_blurry_window",
    "target_frame_indices",
    "time_suffix",
    "window_length",
]


def time_suffix(t: float) -> str:
    """``0.25 -> "t0.25"``, ``0.5 -> "t0.50"`` (key and column suffix of per-time values)."""
    return f"t{float(t):.2f}"


def window_length(num_inputs: int = 4, period: int = 4, exposure: int = 3) -> int:
    """Sharp frames needed for ``num_inputs`` blurry frames: ``(num_inputs - 1) * period + exposure``.

    Raises:
        ValueError: ``exposure`` not in [1, period] or ``num_inputs`` below 2.
    """
    if num_inputs < 2:
        raise ValueError(f"num_inputs must be >= 2 (B_0 and B_1), got {num_inputs}.")
    if not 1 <= exposure <= period:
        raise ValueError(f"exposure must be between 1 and period={period} sharp frames, got {exposure}.")
    return (num_inputs - 1) * period + exposure


def target_frame_indices(times: Sequence[float], key_index: int = 1, period: int = 4, exposure: int = 3) -> list[int]:
    """Sharp-frame index (within the window) of every target time: ``c_key + t * period``.

    Raises:
        ValueError: a time outside [0, 1] or one that falls between sharp frames.
    """
    centre = key_index * period + (exposure - 1) / 2
    valid = [centre + j for j in range(period + 1)]
    out = []
    for t in times:
        t = float(t)
        pos = centre + t * period
        if not 0.0 <= t <= 1.0 or abs(pos - round(pos)) > 1e-6:
            ok = [round((v - centre) / period, 4) for v in valid if abs(v - round(v)) < 1e-6]
            raise ValueError(
                f"Target time {t} does not land on a sharp frame with period={period}, exposure={exposure}; "
                f"valid times are {ok} (an odd exposure puts the blurry centres on sharp frames)."
            )
        out.append(int(round(pos)))
    return out


def synthesize_blurry_window(
    frames: torch.Tensor,
    times: Sequence[float] = (0.25, 0.5, 0.75),
    num_inputs: int = 4,
    key_index: int = 1,
    period: int = 4,
    exposure: int = 3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sharp window ``[T, C, H, W]`` -> ``(blurry [N, C, H, W], sharp targets [L, C, H, W], times [L])``.

    Blurry frame i = :func:`~monai_mcrecon.transforms.video.average_frames` of sharp frames
    ``i*period .. i*period + exposure - 1``. Only the first :func:`window_length` frames are used.

    Raises:
        ValueError: too few frames, or a time that does not land on a sharp frame.
    """
    need = window_length(num_inputs, period, exposure)
    if not 0 <= key_index < num_inputs - 1:
        raise ValueError(f"key_index={key_index} must leave B_0 and B_1 inside the {num_inputs} blurry frames.")
    if frames.ndim != 4 or frames.shape[0] < need:
        raise ValueError(
            f"Blurry-window synthesis needs [T, C, H, W] with T >= {need} sharp frames ({num_inputs} blurry frames, "
            f"period {period}, exposure {exposure}), got {tuple(frames.shape)}; use window_datalist(clips, {need})."
        )
    idx = target_frame_indices(times, key_index, period, exposure)
    exposed = torch.cat([frames[i * period : i * period + exposure] for i in range(num_inputs)])
    blurry = average_frames(exposed, exposure)
    return blurry, frames[idx].clone(), torch.tensor([float(t) for t in times], dtype=torch.float32)


class BlurryWindowd(Randomizable, MapTransform):
    """Turn the sharp window under ``keys`` into BVFI's inputs and targets (see the module docstring).

    Writes ``blurry_key`` ``[N, C, H, W]``, ``label_key`` ``[L, C, H, W]`` (sharp frames at ``times``) and
    ``times_key`` ``[L]``. Optional Gaussian noise of std ``noise_sigma`` on the blurry frames (seeded; with
    ``case_seed_key`` reseeded from ``(seed, case id)`` per item for reproducible evaluation) and rounding to
    8 bits (``quantize``, as stored video frames are).
    """

    def __init__(
        self,
        keys: KeysCollection = "frames",
        times: Sequence[float] = (0.25, 0.5, 0.75),
        num_inputs: int = 4,
        key_index: int = 1,
        period: int = 4,
        exposure: int = 3,
        blurry_key: str = "blurry",
        label_key: str = "label",
        times_key: str = "times",
        noise_sigma: float = 0.0,
        quantize: bool = True,
        seed: int | None = None,
        case_seed_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"BlurryWindowd takes the one key of the sharp window, got {list(self.keys)}.")
        target_frame_indices(times, key_index, period, exposure)  # validate early
        window_length(num_inputs, period, exposure)
        self.times, self.num_inputs, self.key_index = tuple(float(t) for t in times), num_inputs, key_index
        self.period, self.exposure = period, exposure
        self.blurry_key, self.label_key, self.times_key = blurry_key, label_key, times_key
        self.noise_sigma, self.quantize = float(noise_sigma), quantize
        self.seed, self.case_seed_key = seed, case_seed_key
        if seed is not None:
            self.set_random_state(seed)

    def randomize(self, data=None) -> None:
        pass

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            frames = torch.as_tensor(d[key])
            blurry, sharp, times = synthesize_blurry_window(
                frames, self.times, self.num_inputs, self.key_index, self.period, self.exposure
            )
            if self.noise_sigma > 0:
                if self.case_seed_key is not None and self.case_seed_key in d:
                    case = str(d[self.case_seed_key]).encode()
                    self.set_random_state(zlib.crc32(case, int(self.seed or 0)) & 0x7FFFFFFF)
                noise = self.R.standard_normal(tuple(blurry.shape)).astype(np.float32)
                blurry = (blurry + self.noise_sigma * torch.from_numpy(noise)).clamp(0, 1)
            if self.quantize:
                blurry = torch.round(blurry * 255) / 255
            d[self.blurry_key], d[self.label_key], d[self.times_key] = blurry, sharp, times
        return d


class RandReverseTimed(Randomizable, MapTransform):
    """Reverse the time axis (dim 0) of every key with probability ``prob`` (one draw per item).

    Applied to the sharp window before :class:`BlurryWindowd` (with a window of exactly
    :func:`window_length` frames), the blurry frames come out reversed and every target time t becomes 1 - t
    of the original sequence: temporal-reversal augmentation without remapping t.
    """

    def __init__(self, keys: KeysCollection, prob: float = 0.5, seed: int | None = None,
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.prob = prob
        self._do = False
        if seed is not None:
            self.set_random_state(seed)

    def randomize(self, data=None) -> None:
        self._do = bool(self.R.rand() < self.prob)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize()
        if self._do:
            for key in self.key_iterator(d):
                d[key] = torch.flip(torch.as_tensor(d[key]), dims=(0,))
        return d


class KeyFrameAveraged(MapTransform):
    """Baseline "deblur nothing, average the two nearest blurry frames": ``(B_0 + B_1) / 2`` repeated ``L`` times.

    Reads the blurry window ``[N, C, H, W]`` under ``keys`` and the times ``[L]`` under ``times_key``; writes
    ``output_key`` ``[L, C, H, W]``.
    """

    def __init__(self, keys: KeysCollection = "blurry", output_key: str = "average", times_key: str = "times",
                 key_index: int = 1) -> None:
        super().__init__(keys)
        self.output_key, self.times_key, self.key_index = output_key, times_key, key_index

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            b = torch.as_tensor(d[key])
            k = self.key_index
            avg = 0.5 * (b[k] + b[k + 1])
            n_t = int(torch.as_tensor(d[self.times_key]).numel())
            d[self.output_key] = avg.unsqueeze(0).repeat(n_t, *([1] * avg.ndim))
        return d


class AddTimesd(Transform):
    """Attach the fixed target times ``times`` as a float32 ``[L]`` tensor under ``times_key`` (inference).

    Raises:
        ValueError: empty or outside [0, 1].
    """

    def __init__(self, times: Sequence[float] = (0.25, 0.5, 0.75), times_key: str = "times") -> None:
        times = [float(t) for t in times]
        if not times or any(not 0 <= t <= 1 for t in times):
            raise ValueError(f"times must be a non-empty list of values in [0, 1], got {times}.")
        self.times, self.times_key = times, times_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        d[self.times_key] = torch.tensor(self.times, dtype=torch.float32)
        return d


class SplitTimesd(MapTransform):
    """Split ``key [L, ...]`` into ``f"{key}_{time_suffix(t)}"`` entries (e.g. ``pred_t0.25``) for ``times``.

    Raises:
        ValueError: the first dimension does not equal the number of times.
    """

    def __init__(self, keys: KeysCollection, times: Sequence[float], allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.times = [float(t) for t in times]

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            x = d[key]
            if x.shape[0] != len(self.times):
                raise ValueError(
                    f"{key!r} holds {x.shape[0]} frames but {len(self.times)} times {self.times} were given; "
                    "pass the times the network was run with."
                )
            for i, t in enumerate(self.times):
                d[f"{key}_{time_suffix(t)}"] = x[i]
        return d


def case_name(d: Mapping, case_key: str) -> str:
    """The case name of a single (decollated) item, ``str(d[case_key])``, used to name its output files."""
    if case_key not in d:
        raise KeyError(f"{case_key!r} is needed in the data to name the output files.")
    case = d[case_key]
    if isinstance(case, (list, tuple)):
        if len(case) != 1:
            raise ValueError("Saving works on single items; decollate the batch first.")
        case = case[0]
    return str(case)


class SaveTimeFramesd(MapTransform):
    """Write every frame of ``keys`` (``[L, C, H, W]``) as ``<output_dir>/<case>_<t0.25>.png`` (8-bit, clamped)."""

    def __init__(self, keys: KeysCollection = "pred", times_key: str = "times", output_dir: str | Path = "./outputs",
                 case_key: str = "case_id") -> None:
        super().__init__(keys)
        self.times_key, self.output_dir, self.case_key = times_key, output_dir, case_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        case = case_name(d, self.case_key)
        times = torch.as_tensor(d[self.times_key]).reshape(-1).tolist()
        for key in self.key_iterator(d):
            frames = d[key]
            if frames.shape[0] != len(times):
                raise ValueError(f"{key!r} has {frames.shape[0]} frames for {len(times)} times.")
            d[f"{key}_paths"] = [
                SaveNaturalImage(self.output_dir, time_suffix(t))(frames[i], case) for i, t in enumerate(times)
            ]
        return d


def blurry_clip_windows(clips: list[dict], num_inputs: int = 4, key_index: int = 1, pad_ends: bool = True) -> list[dict]:
    """Inference items from clips of **blurry** frames: one item per interval ``(B_j, B_{j+1})``.

    Items are ``{"blurry": [num_inputs paths], "case_id": "<clip>_<j:04d>", "clip", "index": j}``: frame ``j`` is
    B_0, ``j + 1`` is B_1. With ``pad_ends`` the first/last frames are repeated so every interval of a clip
    of at least 2 frames gets an item; otherwise only intervals with a full window are used.

    Raises:
        ValueError: no clip has enough frames.
    """
    items = []
    before, after = key_index, num_inputs - key_index - 1
    for c in clips:
        f = c["frames"]
        n = len(f)
        if n < 2:
            continue
        starts = range(n - 1) if pad_ends else range(before, n - after)
        for j in starts:
            idx = [min(max(j - before + m, 0), n - 1) for m in range(num_inputs)]
            items.append({"blurry": [f[i] for i in idx], "case_id": f"{c['clip']}_{j:04d}", "clip": c["clip"], "index": j})
    if not items:
        raise ValueError(
            f"No clip has enough blurry frames (need 2 with pad_ends, {num_inputs} without); add frames to the clips."
        )
    return items
