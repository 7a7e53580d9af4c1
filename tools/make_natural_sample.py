"""Rebuild the shipped natural-image sample (``monai_mcrecon/data/natural_sample``) from scikit-image.

Every source file ships in the installed scikit-image wheel (tested with 0.26.0), folder
``skimage/data/``; nothing is downloaded. Run::

    python tools/make_natural_sample.py [OUTPUT_DIR]   # default: monai_mcrecon/data/natural_sample

What it does (the same text is in ``natural_sample/README.md``):

* picks public-domain / CC0 images (plus the Middlebury 2014 "Motorcycle" stereo pair),
* downsamples each by block averaging (``skimage.transform.downscale_local_mean``, integer factor,
  trailing rows/columns that do not fill a block are dropped) or, for a non-integer factor, by
  ``skimage.transform.resize(anti_aliasing=True)``, optionally crops, rounds to uint8 and writes an
  8-bit PNG (gray images stay single-channel),
* stereo: both views downsampled by 2; the disparity (``motorcycle_disp.npz``, in pixels of the
  skimage images, ``inf`` = unknown) is block-averaged over the *finite* values of each 2x2 block
  and divided by 2 (disparities scale with the image width); a block with no finite value stays
  ``inf``. Stored as float16 ``.npy``.
* depth for the haze model, from the disparity with the Middlebury calibration (unchanged by the
  downsampling because f, d and doffs scale together)::

      Z [m] = baseline * f / (d + doffs) / 1000,  baseline = 193.001 mm, f = 994.978 px, doffs = 31.086 px

  computed at skimage resolution. Holes (unknown disparity, mostly occlusions) are filled row by
  row with the smaller of the nearest finite disparities to the left and right (occluded pixels
  belong to the farther surface), then the filled depth is block-averaged by 2 like the
  disparity. Stored as float16 ``.npy``, every pixel finite.
* writes ``splits.json`` (paths relative to the sample folder) and ``LICENSE``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import skimage
from PIL import Image
from skimage.transform import downscale_local_mean, resize

OUT = Path(__file__).resolve().parents[1] / "monai_mcrecon" / "data" / "natural_sample"
SKDATA = Path(skimage.__file__).resolve().parent / "data"

# Middlebury 2014 Motorcycle calibration for the skimage (4x downsampled) images
FOCAL_PX, BASELINE_MM, DOFFS_PX = 994.978, 193.001, 31.086

# name -> (source file, split, downsampling factor, crop (r0, r1, c0, c1) after downsampling or None,
#          source page, license)
IMAGES = {
    "astronaut": ("astronaut.png", "train", 1.5, None, "NASA Great Images, https://flic.kr/p/r9qvLn",
                  "public domain (no known copyright restrictions)"),
    "ihc": ("ihc.png", "train", 1.5, None, "Center for Microscopy And Molecular Imaging (CMMI)",
            "no known copyright restrictions"),
    "hubble_deep_field": ("hubble_deep_field.jpg", "train", 2, (90, 346, 122, 378),
                          "HubbleSite, NASA eXtreme Deep Field 2012", "public domain (NASA)"),
    "rocket": ("rocket.jpg", "train", 1.5, None, "SpaceX Photos (Flickr), DSCOVR launch",
               "public domain (released by SpaceX)"),
    "brick": ("brick.png", "train", 1.5, None, "CC0Textures Bricks25", "CC0"),
    "grass": ("grass.png", "train", 1.5, None, "DeviantArt linolafett Grass-01", "CC0"),
    "gravel": ("gravel.png", "train", 1.5, None, "CC0Textures Gravel04", "CC0"),
    "coffee": ("coffee.png", "val", 2, None, "Rachel Michetti (Pikolo Espresso Bar)", "CC0"),
    "camera": ("camera.png", "test", 2, None, "Lav Varshney", "CC0"),
    "chelsea": ("chelsea.png", "test", 1.5, None, "Stefan van der Walt", "CC0"),
    "coins": ("coins.png", "test", 1, None, "Brooklyn Museum Collection", "no known copyright restrictions"),
}
STEREO_LICENSE = (
    "Middlebury 2014 stereo data set (Scharstein et al., GCPR 2014), https://vision.middlebury.edu/stereo/data/"
    "scenes2014/, as redistributed in scikit-image; no formal license is attached, the authors ask users to "
    "cite the paper"
)


def _downsample(img: np.ndarray, factor: float) -> np.ndarray:
    """Float image in the source's units, downsampled by ``factor`` (block mean for integers)."""
    img = img.astype(np.float64)
    if factor == 1:
        return img
    if float(factor).is_integer():
        f = int(factor)
        h, w = (img.shape[0] // f) * f, (img.shape[1] // f) * f
        block = (f, f) + (1,) * (img.ndim - 2)
        return downscale_local_mean(img[:h, :w], block)
    shape = (round(img.shape[0] / factor), round(img.shape[1] / factor)) + img.shape[2:]
    return resize(img, shape, order=1, anti_aliasing=True, preserve_range=True)


def _read(name: str) -> np.ndarray:
    img = np.asarray(Image.open(SKDATA / name))
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    return img


def _write_png(path: Path, img: np.ndarray) -> None:
    arr = np.clip(np.round(img), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, optimize=True)


def _block_mean_finite(a: np.ndarray, f: int = 2) -> np.ndarray:
    """Mean over the finite values of each f x f block; ``inf`` where a block has none."""
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    blocks = a[:h, :w].reshape(h // f, f, w // f, f)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(1, 3))
    total = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    out[count == 0] = np.inf
    return out


def fill_disparity_holes(disp: np.ndarray) -> np.ndarray:
    """Fill non-finite disparities row by row with the smaller nearest finite neighbour (background)."""
    out = disp.astype(np.float64).copy()
    w = out.shape[1]
    cols = np.arange(w)
    for row in out:
        valid = np.isfinite(row)
        if not valid.any():
            continue
        # index of the nearest finite pixel to the left / right (or -1 / w when there is none)
        left = np.maximum.accumulate(np.where(valid, cols, -1))
        right = np.minimum.accumulate(np.where(valid, cols, w)[::-1])[::-1]
        lv = np.where(left >= 0, row[np.clip(left, 0, w - 1)], np.inf)
        rv = np.where(right < w, row[np.clip(right, 0, w - 1)], np.inf)
        row[~valid] = np.minimum(lv, rv)[~valid]
    return out


def disparity_to_depth(disp: np.ndarray) -> np.ndarray:
    """Depth in metres from a skimage-resolution disparity map (Middlebury calibration)."""
    return BASELINE_MM * FOCAL_PX / (disp + DOFFS_PX) / 1000.0


def main(out: str | Path = OUT) -> None:
    OUT = Path(out)
    OUT.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list] = {"train": [], "val": [], "test": []}
    sources = []
    for case_id, (src, split, factor, crop, page, lic) in IMAGES.items():
        img = _downsample(_read(src), factor)
        if crop is not None:
            r0, r1, c0, c1 = crop
            img = img[r0:r1, c0:c1]
        rel = f"{split}/{case_id}.png"
        (OUT / split).mkdir(exist_ok=True)
        _write_png(OUT / rel, img)
        splits[split].append({"label": rel, "case_id": case_id})
        sources.append((rel, f"skimage/data/{src}", page, lic, img.shape))

    # stereo pair, disparity and depth
    (OUT / "stereo").mkdir(exist_ok=True)
    for view in ("left", "right"):
        img = _downsample(_read(f"motorcycle_{view}.png"), 2)
        _write_png(OUT / "stereo" / f"motorcycle_{view}.png", img)
        sources.append((f"stereo/motorcycle_{view}.png", f"skimage/data/motorcycle_{view}.png",
                        "Middlebury 2014 Motorcycle", "see stereo note", img.shape))
    with np.load(SKDATA / "motorcycle_disp.npz") as z:
        disp = z["arr_0"].astype(np.float64)
    disp[~np.isfinite(disp)] = np.inf
    disp_small = _block_mean_finite(disp, 2) / 2.0
    np.save(OUT / "stereo" / "motorcycle_disp.npy", disp_small.astype(np.float16))
    depth = _block_mean_finite(disparity_to_depth(fill_disparity_holes(disp)), 2)
    if not np.isfinite(depth).all():
        raise RuntimeError("depth hole filling left non-finite pixels")
    np.save(OUT / "stereo" / "motorcycle_depth.npy", depth.astype(np.float16))
    splits["test"].append({"label": "stereo/motorcycle_left.png", "case_id": "motorcycle_left",
                           "depth": "stereo/motorcycle_depth.npy"})
    splits["stereo"] = [{"left": "stereo/motorcycle_left.png", "right": "stereo/motorcycle_right.png",
                         "disparity": "stereo/motorcycle_disp.npy", "depth": "stereo/motorcycle_depth.npy",
                         "case_id": "motorcycle"}]
    (OUT / "splits.json").write_text(json.dumps(splits, indent=2) + "\n")

    lines = [
        "Natural-image sample of monai-mcrecon, derived by tools/make_natural_sample.py from the images",
        f"shipped in scikit-image {skimage.__version__} (skimage/data/, scikit-image is BSD-3-Clause).",
        "The derived files are redistributed under the terms of their sources, listed below.",
        "",
    ]
    for rel, src, page, lic, shape in sources:
        lines.append(f"{rel}  <- {src}  ({page}; {lic}); shape {shape}")
    lines += ["", "Stereo pair, disparity and depth: " + STEREO_LICENSE + ".", "",
              "D. Scharstein, H. Hirschmueller, Y. Kitajima, G. Krathwohl, N. Nesic, X. Wang, and P. Westling.",
              "High-resolution stereo datasets with subpixel-accurate ground truth. GCPR 2014.", ""]
    (OUT / "LICENSE").write_text("\n".join(lines))
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")
    for rel, _, _, _, shape in sources:
        print(f"  {rel}: {shape}, {(OUT / rel).stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    import sys

    main(*sys.argv[1:2])
