"""Frame-sequence transforms: loading clips, one random crop / zoom / flip shared by every frame, a random
temporal stride, synthetic motion.

Frames are ``[C, H, W]`` float32 tensors in [0, 1]; a sequence is ``[T, C, H, W]``. The random
transforms draw ONE crop window (and zoom) / ONE set of flips / ONE temporal stride per sample and apply it
to every key (and every frame of a sequence), so inputs and targets stay aligned; they are MONAI
``Randomizable`` (seed with ``set_random_state`` or the ``seed`` argument).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from monai_mcrecon.transforms.natural import LoadNaturalImage

__all__ = [
    "LoadFramesd",
    "RandCropFramesd",
    "RandFlipFramesd",
    "RandSwapFramesd",
    "RandSyntheticMotiond",
    "RandTemporalStrided",
    "StackFramesd",
    "TeacherFlowd",
    "average_frames",
    "swap_flow_pairs",
]


def average_frames(frames: torch.Tensor, window: int) -> torch.Tensor:
    """Blurry-video synthesis: the mean of each consecutive non-overlapping ``window`` of frames.

    ``[T, C, H, W] -> [T // window, C, H, W]`` (trailing frames that do not fill a window are dropped).
    Averaging ``window`` sharp frames approximates a shutter open for ``window`` frame intervals.

    Raises:
        ValueError: ``window`` below 1 or larger than the number of frames.
    """
    if frames.ndim != 4:
        raise ValueError(f"average_frames expects [T, C, H, W], got {tuple(frames.shape)}.")
    t = frames.shape[0]
    if window < 1 or window > t:
        raise ValueError(f"window must be between 1 and the number of frames ({t}), got {window}.")
    n = t // window
    return frames[: n * window].reshape(n, window, *frames.shape[1:]).mean(1)


class LoadFramesd(MapTransform):
    """Load each key: a path -> ``[C, H, W]``; a list of paths -> ``[T, C, H, W]`` (all frames the same size).

    Raises:
        ValueError: frames of one sequence differ in size.
    """

    def __init__(self, keys: KeysCollection, channels: int | None = 3, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadNaturalImage(channels=channels)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            if isinstance(value, (list, tuple)):
                frames = [self.loader(p) for p in value]
                sizes = {tuple(f.shape) for f in frames}
                if len(sizes) > 1:
                    raise ValueError(f"Frames of {key!r} differ in size {sorted(sizes)}; every frame of a clip must match.")
                d[key] = torch.stack(frames)
            else:
                d[key] = self.loader(value)
        return d


def _check_same_size(d: Mapping, keys: Sequence[Hashable]) -> tuple[int, int]:
    sizes = {tuple(d[k].shape[-2:]) for k in keys}
    if len(sizes) != 1:
        raise ValueError(f"Keys {list(keys)} have different frame sizes {sorted(sizes)}; they must match to share a crop.")
    return sizes.pop()


def _resize_frames(value, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of the last two dims of ``[..., H, W]`` to ``size`` (anti-aliased when shrinking)."""
    t = value.as_tensor() if hasattr(value, "as_tensor") else torch.as_tensor(value)
    lead, (h, w) = t.shape[:-2], t.shape[-2:]
    shrink = size[0] < h or size[1] < w
    out = F.interpolate(t.reshape(1, -1, h, w).float(), size=size, mode="bilinear", align_corners=False,
                        antialias=shrink)
    return out.reshape(*lead, *size).to(t.dtype if t.is_floating_point() else torch.float32)


class RandCropFramesd(Randomizable, MapTransform):
    """The same random ``size`` (h, w) crop of the last two dims for every key (``[C,H,W]`` or ``[T,C,H,W]``).

    With ``scale=(low, high)`` the window is ``s x size`` (``s`` drawn per sample, capped at the largest window
    that fits the frames) and is resized back to ``size`` (bilinear, anti-aliased when shrinking): a random zoom
    of the crop, the same for every key and both axes, so two rectified stereo views stay rectified (same rows,
    no vertical shift) and frames stay aligned. ``flow_keys`` name displacement fields in pixels (optical flow
    ``[..., 2k, H, W]`` as ``(x, y)`` pairs, or a disparity ``[1, H, W]``): they are resized with the frames and
    their values multiplied by the resize factor of their axis. ``s > 1`` zooms out (smaller motion, more
    detail per pixel), ``s < 1`` zooms in.

    Raises:
        ValueError: the frames are smaller than ``size`` (pad them first, e.g. ``DivisiblePadd``/``SpatialPadd``).
    """

    def __init__(self, keys: KeysCollection, size: Sequence[int] | int, seed: int | None = None,
                 allow_missing_keys: bool = False, scale: Sequence[float] | None = None,
                 flow_keys: KeysCollection = ()) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
        self.scale = None if scale is None else (float(scale[0]), float(scale[1]))
        if self.scale is not None and not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale={tuple(scale)} must be (low, high) with 0 < low <= high.")
        self.flow_keys = [flow_keys] if isinstance(flow_keys, str) else list(flow_keys)
        if seed is not None:
            self.set_random_state(seed)
        self._origin = (0, 0)
        self._window = self.size

    def randomize(self, hw: tuple[int, int]) -> None:
        h, w = hw
        ch, cw = self.size
        if self.scale is not None:
            lo, hi = self.scale
            s = lo if lo == hi else float(self.R.uniform(lo, hi))
            s = min(s, h / ch, w / cw)
            ch, cw = max(1, min(h, int(round(ch * s)))), max(1, min(w, int(round(cw * s))))
        if ch > h or cw > w:
            raise ValueError(f"Crop {self.size} is larger than the frames ({h}, {w}); pad the frames or use a smaller crop.")
        self._window = (ch, cw)
        self._origin = (int(self.R.randint(0, h - ch + 1)), int(self.R.randint(0, w - cw + 1)))

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        flows = [k for k in self.flow_keys if k in d and k not in keys]
        self.randomize(_check_same_size(d, keys + flows))
        y, x = self._origin
        (ch, cw), (sh, sw) = self._window, self.size
        for k in keys + flows:
            v = d[k][..., y : y + ch, x : x + cw]
            if (ch, cw) != (sh, sw):
                v = _resize_frames(v, (sh, sw))
                if k in self.flow_keys:
                    v = v.clone()
                    if v.shape[-3] == 1:  # a disparity: horizontal displacement
                        v *= sw / cw
                    else:
                        v[..., 0::2, :, :] *= sw / cw
                        v[..., 1::2, :, :] *= sh / ch
            d[k] = v
        return d


class RandTemporalStrided(Randomizable, MapTransform):
    """A random temporal stride: ``length`` frames ``i, i + s, ..., i + (length - 1) s`` of a longer sequence.

    ``s`` is drawn per sample from the integers in ``steps`` that fit the sequence (``(length - 1) s + 1``
    frames at most ``T``), then the start ``i`` uniformly; every key gets the same frames. A key holds a list
    of frames (paths, before loading: only the chosen frames are read) or a tensor ``[T, ...]``. With
    ``output_keys`` (one key only) the chosen frames are written one per output key (e.g. an interpolation
    triplet ``("frame0", "label", "frame1")``, where ``s`` is the gap); else the key is replaced by the
    sub-sequence. ``step_key`` optionally stores ``s``. Larger steps mean larger motion between frames.

    Raises:
        ValueError: a sequence shorter than ``length`` frames, or keys of different lengths.
    """

    def __init__(self, keys: KeysCollection, length: int, steps: Sequence[int] | int = (1, 1),
                 output_keys: Sequence[str] | None = None, step_key: str | None = None, seed: int | None = None,
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        lo, hi = (int(steps), int(steps)) if isinstance(steps, int) else (int(steps[0]), int(steps[1]))
        if length < 1 or not 1 <= lo <= hi:
            raise ValueError(f"length={length} must be >= 1 and steps={steps} integers (low, high) with 1 <= low <= high.")
        if output_keys is not None and (len(output_keys) != length or len(self.keys) != 1):
            raise ValueError(f"output_keys={output_keys} needs one key and {length} output keys (one per frame).")
        self.length, self.steps, self.output_keys, self.step_key = int(length), (lo, hi), output_keys, step_key
        if seed is not None:
            self.set_random_state(seed)
        self._step, self._start = lo, 0

    def randomize(self, num_frames: int) -> None:
        feasible = [s for s in range(self.steps[0], self.steps[1] + 1) if (self.length - 1) * s + 1 <= num_frames]
        if not feasible:
            raise ValueError(
                f"A sequence of {num_frames} frame(s) cannot give {self.length} frames at a step of {self.steps[0]}; "
                "use longer clips or smaller steps."
            )
        self._step = feasible[int(self.R.randint(len(feasible)))]
        self._start = int(self.R.randint(0, num_frames - (self.length - 1) * self._step))

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        counts = {len(d[k]) for k in keys}
        if len(counts) > 1:
            raise ValueError(f"Keys {keys} hold sequences of different lengths {sorted(counts)}.")
        if not counts:
            return d
        self.randomize(counts.pop())
        idx = list(range(self._start, self._start + (self.length - 1) * self._step + 1, self._step))
        for k in keys:
            v = d[k]
            sub = [v[i] for i in idx] if isinstance(v, (list, tuple)) else v[idx]
            if self.output_keys is not None:
                for out, frame in zip(self.output_keys, sub):
                    d[out] = frame
            else:
                d[k] = sub
        if self.step_key is not None:
            d[self.step_key] = self._step
        return d


class RandFlipFramesd(Randomizable, MapTransform):
    """The same random horizontal and vertical flips (each with ``prob``) for every key and frame.

    ``flow_keys`` name optical-flow fields (channels ``(x, y)`` pairs on dim -3, in pixels, e.g. the
    ``[4, H, W]`` teacher flow of :class:`TeacherFlowd`): they are flipped with the frames and the component
    along each flipped axis changes sign, so the flipped flow still maps the flipped frames.
    """

    def __init__(self, keys: KeysCollection, prob: float = 0.5, seed: int | None = None,
                 allow_missing_keys: bool = False, flow_keys: KeysCollection = ()) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.prob = prob
        self.flow_keys = [flow_keys] if isinstance(flow_keys, str) else list(flow_keys)
        if seed is not None:
            self.set_random_state(seed)
        self._dims: tuple[int, ...] = ()

    def randomize(self, data=None) -> None:
        self._dims = tuple(dim for dim in (-1, -2) if self.R.rand() < self.prob)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize()
        if self._dims:
            for k in self.key_iterator(d):
                d[k] = torch.flip(d[k], self._dims)
            for k in self.flow_keys:
                if k not in d:
                    continue
                flow = torch.flip(torch.as_tensor(d[k]), self._dims).clone()
                if flow.shape[-3] % 2:
                    raise ValueError(f"Flow {k!r} must have (x, y) channel pairs on dim -3, got shape {tuple(flow.shape)}.")
                for dim in self._dims:  # dim -1 flips x (even channels), dim -2 flips y (odd channels)
                    comp = 0 if dim == -1 else 1
                    flow[..., comp::2, :, :] *= -1
                d[k] = flow
        return d


def swap_flow_pairs(flow: torch.Tensor) -> torch.Tensor:
    """``[..., 4, H, W]`` flows ``(to frame 0, to frame 1)`` -> ``(to frame 1, to frame 0)``."""
    if flow.shape[-3] != 4:
        raise ValueError(f"Expected two (x, y) flows stacked as [..., 4, H, W], got shape {tuple(flow.shape)}.")
    return torch.cat([flow[..., 2:, :, :], flow[..., :2, :, :]], dim=-3)


class RandSwapFramesd(Randomizable, MapTransform):
    """Time reversal of a triplet with probability ``prob``: swap the two frames under ``keys``.

    ``flow_keys`` name ``[4, H, W]`` flows from the middle frame to ``(keys[0], keys[1])`` (as written by
    :class:`TeacherFlowd`); their two halves are swapped with the frames.
    """

    def __init__(self, keys: KeysCollection = ("frame0", "frame1"), prob: float = 0.5,
                 flow_keys: KeysCollection = (), seed: int | None = None) -> None:
        MapTransform.__init__(self, keys)
        if len(self.keys) != 2:
            raise ValueError(f"RandSwapFramesd swaps exactly two keys, got {list(self.keys)}.")
        self.prob = prob
        self.flow_keys = [flow_keys] if isinstance(flow_keys, str) else list(flow_keys)
        if seed is not None:
            self.set_random_state(seed)
        self._swap = False

    def randomize(self, data=None) -> None:
        self._swap = bool(self.R.rand() < self.prob)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize()
        if self._swap:
            a, b = self.keys
            d[a], d[b] = d[b], d[a]
            for k in self.flow_keys:
                if k in d:
                    d[k] = swap_flow_pairs(torch.as_tensor(d[k]))
        return d


class TeacherFlowd(MapTransform):
    """Precompute the flow-distillation targets of one triplet: ``teacher(label, frame0)`` and
    ``teacher(label, frame1)`` stacked as ``output_key`` ``[4, H, W]`` ((x, y) pixels to frame 0, then to frame 1).

    Deterministic, so a ``PersistentDataset`` / ``CacheDataset`` computes it once per triplet on the full
    frames, instead of calling a slow teacher on every training crop (crop and flip it with the frames:
    :class:`RandCropFramesd`, :class:`RandFlipFramesd` ``flow_keys``, :class:`RandSwapFramesd` ``flow_keys``).
    ``FGDCNLoss`` reads it from the target dict under ``teacher_key`` (default ``"teacher_flow"``).

    Args:
        teacher: ``teacher(reference, other) -> [B, 2, H, W]``; default
            :class:`monai_mcrecon.ops.optical_flow.TVL1FlowTeacher`.
    """

    def __init__(self, label_key: str = "label", frame_keys: Sequence[str] = ("frame0", "frame1"),
                 output_key: str = "teacher_flow", teacher=None) -> None:
        super().__init__([label_key, *frame_keys])
        if len(frame_keys) != 2:
            raise ValueError(f"TeacherFlowd needs two frame keys, got {list(frame_keys)}.")
        if teacher is None:
            from monai_mcrecon.ops.optical_flow import TVL1FlowTeacher

            teacher = TVL1FlowTeacher()
        self.teacher = teacher
        self.label_key, self.frame_keys, self.output_key = label_key, tuple(frame_keys), output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        missing = [k for k in (self.label_key, *self.frame_keys) if k not in d]
        if missing:
            raise KeyError(f"TeacherFlowd needs {missing} in the data dict (load the frames first).")
        gt = torch.as_tensor(d[self.label_key])[None].float()
        with torch.no_grad():
            flows = [self.teacher(gt, torch.as_tensor(d[k])[None].float()) for k in self.frame_keys]
        d[self.output_key] = torch.cat(flows, dim=1)[0].float()
        return d


class RandSyntheticMotiond(Randomizable, MapTransform):
    """Synthetic interpolation triplets with exactly known flows, from two still frames (FlyingChairs-style).

    A ``size`` crop of ``background_key`` moves by a random camera velocity ``v_c`` (zero with ``static_prob``,
    else each component uniform in ``[-max_camera_motion, max_camera_motion]`` pixels from frame 0 to frame 1); with
    ``object_prob`` an elliptical patch of ``foreground_key`` (semi-axes in ``object_radius``) moves over it by
    ``v_o`` (components in ``[-max_object_motion, max_object_motion]``). Each frame is rendered at time
    ``t in (-1/2, 0, 1/2)`` by bilinear sampling at ``p + o - v t`` (``o`` a random sub-pixel offset, so the three
    frames are resampled alike), which gives:

    - ``frame0``, ``label`` (the middle frame), ``frame1``: ``[C, *size]``;
    - ``teacher_flow`` ``[4, *size]``: the true flows from the middle frame, ``F_t0 = -v / 2`` and
      ``F_t1 = v / 2`` with ``v`` the velocity of what is visible at each pixel of the middle frame, in the
      project convention (``warp(frame0, F_t0) ~ label``, the layout of :class:`TeacherFlowd`).

    Used by the ``fgdcn_vfi`` bundle (``synthetic_motion``) to add motions the few real training clips lack, with
    exact flow targets instead of a teacher's estimates.

    Raises:
        ValueError: frames smaller than ``size`` plus twice the largest displacement (``size + 2 margin``).
    """

    def __init__(self, size: Sequence[int] | int = 64, background_key: str = "background", foreground_key: str = "foreground",
                 max_camera_motion: float = 4.0, static_prob: float = 0.5, max_object_motion: float = 8.0,
                 object_prob: float = 0.7, object_radius: Sequence[float] = (8.0, 24.0),
                 frame_keys: Sequence[str] = ("frame0", "label", "frame1"), flow_key: str = "teacher_flow",
                 seed: int | None = None) -> None:
        MapTransform.__init__(self, [background_key, foreground_key])
        if len(frame_keys) != 3:
            raise ValueError(f"RandSyntheticMotiond writes three frames (frame0, middle, frame1), got {list(frame_keys)}.")
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(v) for v in size)
        self.background_key, self.foreground_key = background_key, foreground_key
        self.max_camera_motion, self.static_prob = float(max_camera_motion), float(static_prob)
        self.max_object_motion, self.object_prob = float(max_object_motion), float(object_prob)
        self.object_radius = (float(object_radius[0]), float(object_radius[1]))
        self.frame_keys, self.flow_key = tuple(frame_keys), flow_key
        self.margin = int(max(self.max_camera_motion, self.max_object_motion) // 2) + 2
        if seed is not None:
            self.set_random_state(seed)

    def randomize(self, bg_hw: tuple[int, int], fg_hw: tuple[int, int]) -> None:
        nh, nw = (s + 2 * self.margin for s in self.size)
        for name, (h, w) in (("background", bg_hw), ("foreground", fg_hw)):
            if h < nh or w < nw:
                raise ValueError(
                    f"RandSyntheticMotiond needs {name} frames of at least {nh} x {nw} (size {self.size} plus a margin "
                    f"of {self.margin} for the motion), got {h} x {w}; use a smaller size or larger frames."
                )
        r = self.R
        self._bg_origin = (int(r.randint(0, bg_hw[0] - nh + 1)), int(r.randint(0, bg_hw[1] - nw + 1)))
        self._fg_origin = (int(r.randint(0, fg_hw[0] - nh + 1)), int(r.randint(0, fg_hw[1] - nw + 1)))
        static = r.rand() < self.static_prob
        self._v_cam = (0.0, 0.0) if static else tuple(float(v) for v in r.uniform(-1, 1, 2) * self.max_camera_motion)
        self._has_object = bool(r.rand() < self.object_prob)
        self._v_obj = tuple(float(v) for v in r.uniform(-1, 1, 2) * self.max_object_motion)
        self._offset = tuple(float(v) for v in r.uniform(0, 1, 2))
        lo, hi = self.object_radius
        self._centre = tuple(float(v) for v in self.margin + r.uniform(0.2, 0.8, 2) * self.size[::-1])  # (x, y)
        self._radius = tuple(float(v) for v in r.uniform(lo, hi, 2))

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        from monai_mcrecon.ops.warp import flow_warp

        d = dict(data)
        bg_full = torch.as_tensor(d[self.background_key]).float()
        fg_full = torch.as_tensor(d[self.foreground_key]).float()
        self.randomize(tuple(bg_full.shape[-2:]), tuple(fg_full.shape[-2:]))
        m, (sh, sw) = self.margin, self.size
        nh, nw = sh + 2 * m, sw + 2 * m
        (by, bx), (fy, fx) = self._bg_origin, self._fg_origin
        bg = bg_full[None, :, by : by + nh, bx : bx + nw]
        fg = fg_full[None, :, fy : fy + nh, fx : fx + nw]
        yy, xx = torch.meshgrid(torch.arange(nh, dtype=torch.float32), torch.arange(nw, dtype=torch.float32), indexing="ij")
        (cx, cy), (rx, ry) = self._centre, self._radius
        obj = ((((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) < 1).float()[None, None] * float(self._has_object)
        o = torch.tensor(self._offset).view(1, 2, 1, 1)
        v_cam, v_obj = torch.tensor(self._v_cam).view(1, 2, 1, 1), torch.tensor(self._v_obj).view(1, 2, 1, 1)

        def render(t: float) -> torch.Tensor:
            const = lambda f: f.expand(1, 2, nh, nw)  # noqa: E731
            back = flow_warp(bg, const(o - v_cam * t))
            front = flow_warp(fg, const(o - v_obj * t))
            alpha = flow_warp(obj, const(-v_obj * t))
            return back * (1 - alpha) + front * alpha

        frames = [render(t)[0, :, m : m + sh, m : m + sw] for t in (-0.5, 0.0, 0.5)]
        v = (v_cam * (1 - obj) + v_obj * obj)[0, :, m : m + sh, m : m + sw]
        for k, f in zip(self.frame_keys, frames):
            d[k] = f
        d[self.flow_key] = torch.cat([-v / 2, v / 2], 0)
        return d


class StackFramesd(MapTransform):
    """Stack the ``[C, H, W]`` frames under ``keys`` into ``output_key`` (``[len(keys), C, H, W]`` for ``dim=0``)."""

    def __init__(self, keys: KeysCollection, output_key: str, dim: int = 0) -> None:
        super().__init__(keys)
        self.output_key = output_key
        self.dim = dim

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        d[self.output_key] = torch.stack([torch.as_tensor(d[k]) for k in self.key_iterator(d)], dim=self.dim)
        return d
