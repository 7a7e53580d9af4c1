"""Video data: the shipped frame sequences (``data/video_sample``) and datalists for frame folders.

Clips are folders of frames ``<root>/<clip>/NNNN.png`` in display order (any zero-padded numbering
that sorts correctly; PNG/JPEG/BMP/TIFF). A clip is ``{"clip": name, "frames": [paths]}``. Datalist
builders turn clips into training / evaluation items:

- :func:`triplet_datalist`: ``{"frame0", "label", "frame1", "case_id"}`` with frames ``i, i + gap,
  i + 2 gap`` (``label`` is the middle frame to interpolate);
- :func:`window_datalist`: ``{"frames": [length paths], "case_id"}`` (for blurry-video synthesis);
- :func:`strided_window_datalist`: windows long enough for ``length`` frames at a random temporal step (for
  :class:`~monai_mcrecon.transforms.video.RandTemporalStrided`).

See ``video_sample/README.md`` for the shipped clips, their split and licenses. A clip collection
``data/clips/datalist.json`` (``training`` / ``validation`` lists of ``{"clip", "frames": [paths relative to the
file]}``) is added to the sample's training clips when it exists (:func:`training_clips`).
"""

from __future__ import annotations

from pathlib import Path

from monai_mcrecon.data.natural import IMAGE_SUFFIXES

__all__ = [
    "VIDEO_SPLITS",
    "clips_datalist_file",
    "collection_clips",
    "frame_folder_clips",
    "synthetic_motion_count",
    "strided_window_datalist",
    "synthetic_motion_datalist",
    "training_clips",
    "triplet_datalist",
    "video_sample_clips",
    "video_sample_dir",
    "window_datalist",
]

VIDEO_SPLITS = ("train", "val", "test")


def video_sample_dir() -> Path:
    """Folder of the shipped video sample."""
    return Path(__file__).resolve().parent / "video_sample"


def frame_folder_clips(folder: str | Path, min_frames: int = 1) -> list[dict]:
    """Clips of a folder laid out ``<folder>/<clip>/NNNN.png`` (sorted by clip name, frames by file name).

    Args:
        folder: the root folder; every sub-folder holding images is a clip.
        min_frames: clips with fewer frames raise an error (e.g. 3 for interpolation triplets).

    Raises:
        FileNotFoundError: ``folder`` is missing.
        ValueError: no clip folder with images, or a clip shorter than ``min_frames``.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Video folder {str(folder)!r} does not exist; pass a folder laid out <folder>/<clip>/NNNN.png."
        )
    clips = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        frames = sorted(
            str(p) for p in sub.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        if not frames:
            continue
        if len(frames) < min_frames:
            raise ValueError(
                f"Clip {sub.name!r} in {str(folder)!r} has {len(frames)} frame(s) but at least {min_frames} are "
                "needed; add frames or remove the clip folder."
            )
        clips.append({"clip": sub.name, "frames": frames})
    if not clips:
        loose = [p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES][:3]
        hint = f" It holds images directly ({loose}...): put each clip's frames in its own sub-folder." if loose else ""
        raise ValueError(f"No clip folders with frames in {str(folder)!r}; expected <folder>/<clip>/NNNN.png.{hint}")
    return clips


def video_sample_clips(split: str = "test") -> list[dict]:
    """The shipped sample's clips of ``split`` ("train", "val" or "test").

    Raises:
        ValueError: unknown split.
        FileNotFoundError: the sample is not installed.
    """
    if split not in VIDEO_SPLITS:
        raise ValueError(f"Unknown split {split!r}; the video sample has {VIDEO_SPLITS}.")
    root = video_sample_dir() / split
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} is missing: an installed wheel carries only the video sample's test split (the training and "
            "validation frames stay in the repository); pass --dataset_dir <folder of frame folders>, or work from "
            "a clone of the repository (tools/make_video_sample.py rebuilds the sample)."
        )
    return frame_folder_clips(root)


def triplet_datalist(clips: list[dict], gap: int = 1, stride: int = 1) -> list[dict]:
    """Interpolation triplets ``frame0 = i``, ``label = i + gap``, ``frame1 = i + 2 gap`` for ``i`` in steps of ``stride``.

    Raises:
        ValueError: ``gap`` or ``stride`` below 1, or no clip long enough.
    """
    if gap < 1 or stride < 1:
        raise ValueError(f"gap and stride must be >= 1, got gap={gap}, stride={stride}.")
    items = []
    for c in clips:
        f = c["frames"]
        for i in range(0, len(f) - 2 * gap, stride):
            items.append({"frame0": f[i], "label": f[i + gap], "frame1": f[i + 2 * gap], "case_id": f"{c['clip']}_{i:04d}"})
    if not items:
        raise ValueError(f"No clip has the {2 * gap + 1} frames a triplet with gap {gap} needs.")
    return items


def synthetic_motion_datalist(clips: list[dict], count: int, seed: int = 0) -> list[dict]:
    """``count`` items ``{"background", "foreground", "case_id"}`` pairing random frames of ``clips`` (different
    frames where there are two), for :class:`~monai_mcrecon.transforms.video.RandSyntheticMotiond`.

    Raises:
        ValueError: ``count`` below 0 or no frames.
    """
    import numpy as np

    frames = [f for c in clips for f in c["frames"]]
    if count < 0 or not frames:
        raise ValueError(f"synthetic_motion_datalist needs count >= 0 and frames, got count={count}, {len(frames)} frame(s).")
    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        a, b = rng.choice(len(frames), 2, replace=len(frames) < 2)
        items.append({"background": frames[a], "foreground": frames[b], "case_id": f"synthetic_{i:05d}"})
    return items


def synthetic_motion_count(real_items: int, fraction: float, has_teacher_flow: bool = True) -> int:
    """How many synthetic-motion items make up ``fraction`` of a training set with ``real_items`` real triplets.

    Raises:
        ValueError: ``fraction`` outside [0, 1), or synthetic items requested while the real triplets carry no
            precomputed ``teacher_flow`` (batches mix both, so both need the key).
    """
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"synthetic_motion is the fraction of synthetic training triplets, in [0, 1); got {fraction}.")
    if fraction and not has_teacher_flow:
        raise ValueError(
            "synthetic_motion > 0 needs --precompute_teacher true: synthetic triplets carry their exact flows as "
            "'teacher_flow', and the real triplets batched with them need the teacher's flows under the same key."
        )
    return int(round(real_items * fraction / (1.0 - fraction)))


def window_datalist(clips: list[dict], length: int, stride: int = 1) -> list[dict]:
    """Windows of ``length`` consecutive frames, starting every ``stride`` frames.

    Raises:
        ValueError: ``length``/``stride`` below 1, or no clip has ``length`` frames.
    """
    if length < 1 or stride < 1:
        raise ValueError(f"length and stride must be >= 1, got length={length}, stride={stride}.")
    items = []
    for c in clips:
        f = c["frames"]
        for i in range(0, len(f) - length + 1, stride):
            items.append({"frames": f[i : i + length], "case_id": f"{c['clip']}_{i:04d}"})
    if not items:
        longest = max((len(c["frames"]) for c in clips), default=0)
        raise ValueError(f"No clip has {length} frames (the longest has {longest}); use a shorter window.")
    return items


def strided_window_datalist(clips: list[dict], length: int, max_step: int = 1, stride: int = 1) -> list[dict]:
    """Windows from which :class:`~monai_mcrecon.transforms.video.RandTemporalStrided` draws ``length`` frames at a
    random temporal step up to ``max_step``: each window spans ``(length - 1) * max_step + 1`` frames, or the whole
    clip when it is shorter (smaller steps are then drawn for it), starting every ``stride`` frames.
    Items: ``{"frames": [paths], "case_id"}``.

    Raises:
        ValueError: ``length``, ``max_step`` or ``stride`` below 1, or no clip has ``length`` frames.
    """
    if length < 1 or max_step < 1 or stride < 1:
        raise ValueError(f"length, max_step and stride must be >= 1, got {length}, {max_step}, {stride}.")
    span = (length - 1) * max_step + 1
    items = []
    for c in clips:
        f = c["frames"]
        if len(f) < length:
            continue
        n = min(span, len(f))
        for i in range(0, len(f) - n + 1, stride):
            items.append({"frames": f[i : i + n], "case_id": f"{c['clip']}_{i:04d}"})
    if not items:
        longest = max((len(c["frames"]) for c in clips), default=0)
        raise ValueError(f"No clip has {length} frames (the longest has {longest}); use a shorter window.")
    return items


def clips_datalist_file() -> Path | None:
    """``data/clips/datalist.json`` when the clip collection is installed, else ``None``."""
    path = Path(__file__).resolve().parent / "clips" / "datalist.json"
    return path if path.is_file() else None


def collection_clips(split: str = "training", path: str | Path | None = None) -> list[dict]:
    """The ``split`` list (``"training"`` or ``"validation"``) of a clip datalist (default
    :func:`clips_datalist_file`) as clips ``{"clip", "frames": [absolute paths]}``.

    Raises:
        FileNotFoundError: no datalist file.
        ValueError: the split is missing, or a clip has no frames.
    """
    import json

    path = Path(path) if path is not None else clips_datalist_file()
    if path is None or not path.is_file():
        raise FileNotFoundError("No clip datalist (data/clips/datalist.json); pass --dataset_dir or use_clips false.")
    raw = json.loads(path.read_text())
    if not raw.get(split):
        raise ValueError(f"{str(path)!r} has no {split!r} list (it has {sorted(raw)}).")
    clips = []
    for i, item in enumerate(raw[split]):
        frames = [str(path.parent / f) for f in item.get("frames", [])]
        if not frames:
            raise ValueError(f"Clip {i} of {split!r} in {str(path)!r} has no frames.")
        clips.append({"clip": str(item.get("clip", f"{split}_{i:03d}")), "frames": frames})
    return clips


def training_clips(split: str = "train", dataset_dir: str | Path | None = None, use_clips: bool | str | None = "auto",
                   min_frames: int = 1) -> list[dict]:
    """Clips a video bundle trains (``split="train"``) or validates (``"val"``) on.

    ``dataset_dir`` (frame folders) wins; else the shipped sample's split, plus, for training, the clip collection's
    ``training`` list (:func:`collection_clips`) when ``use_clips`` is true, or ``"auto"`` / ``None`` and the
    collection exists (validation stays on the sample so that validation numbers remain comparable). Clips shorter
    than ``min_frames`` are left out of the collection.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}; use 'train' or 'val'.")
    if dataset_dir:
        return frame_folder_clips(dataset_dir, min_frames=min_frames)
    clips = video_sample_clips(split)
    flag = str(use_clips).strip().lower() if use_clips is not None else "auto"
    if flag not in ("auto", "true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"use_clips={use_clips!r}; use true, false or auto.")
    if split == "train" and (flag in ("true", "1", "yes") or (flag == "auto" and clips_datalist_file() is not None)):
        clips = clips + [c for c in collection_clips("training") if len(c["frames"]) >= min_frames]
    return clips
