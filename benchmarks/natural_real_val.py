"""Natural-image bundles on the real validation photographs and clips, per image: input, classical baseline, network.

    nice -n 10 python benchmarks/natural_real_val.py --max-images 24 --out benchmarks/results/natural_real_val.md
    # the committed table: 13.5 min on 2 shared CPU cores; without --max-images the clips take ~3x longer
    python benchmarks/natural_real_val.py --bundles mdrn_denoise mstn_dehaze --weights-dir runs/candidates \\
        --out runs/candidates/natural_real_val.md

Every degradation, network run and metric comes from the bundle's own ``configs/evaluate.json``, run through
``benchmarks/common.bundle_rows`` with only the data (and, with ``--weights-dir``, the checkpoint) replaced:

- photographs (``data/photos`` validation split, ``monai_mcrecon.data.natural.photos_datalist("validation")``):
  ``mdrn_denoise`` (gray, AWGN sigma 25/255, seeded per image), ``deep_rl_deblur`` (saturated motion blur
  with the known kernel), ``spdnet_derain`` (synthetic rain streaks), ``mstn_dehaze`` (synthetic haze with a
  smooth random depth: the photographs have no depth map);
- clips (``data/clips`` validation split): ``fgdcn_vfi`` (triplets, middle frame predicted) and
  ``bvfi_blurry_vfi`` (windows of 15 sharp frames averaged into 4 blurry inputs, frames at t = 0.25, 0.5, 0.75);
- stereo: ``ssrde_stereo_sr`` on the only real stereo pair there is, the Middlebury motorcycle of the
  stereo sample (``--stereo-split``, default ``val``: its checkpoint-selection rows; x2).

Baselines, all classical (``monai_mcrecon.baselines``): NL-means with the true sigma (mdrn, computed here on
the bundle's own noisy images), Richardson-Lucy with the known kernel, 20 iterations (deep_rl, the bundle's
``psnr_rl``), dark channel prior (mstn, computed here on the bundle's own hazy images), TV-L1 flow warping without
self-ensemble (fgdcn, the bundle's ``psnr_tvl1``; the network also runs without self-ensemble), frame averaging
at every t (bvfi, the bundle's ``psnr_input``), bicubic upsampling (ssrde, the bundle's ``psnr_input``, left
view) and, for ssrde, also the single-view network of the same size (the bundle's own evaluation with
``cross_view`` off and ``models/mono_baseline.pt``, trained with the same data and recipe). spdnet has no classical baseline: the rainy input only. "input" is the degraded image against the truth
(for fgdcn the average of the two neighbouring frames, which is also what the bundle calls its input; none
for bvfi and ssrde, whose inputs differ in number or size from the target).

PSNR (data range 1) and SSIM (Gaussian 11 x 11, sigma 1.5), per image, then the mean over images (clips: over
every triplet / window; the Markdown shows the mean per clip, the JSON every item). Writes ``--out`` (Markdown)
and the same name with ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from common import bundle_rows, emit
from tqdm import tqdm

from monai_mcrecon.bundle.locate import config_files

ROOT = Path(__file__).resolve().parents[1]
PHOTO_BUNDLES = ("mdrn_denoise", "deep_rl_deblur", "spdnet_derain", "mstn_dehaze")
CLIP_BUNDLES = ("fgdcn_vfi", "bvfi_blurry_vfi")
ALL_BUNDLES = (*PHOTO_BUNDLES, "ssrde_stereo_sr", *CLIP_BUNDLES)
# bundle -> (baseline name, its PSNR column, its SSIM column) among the bundle's own metrics; None: computed here
BASELINES = {
    "mdrn_denoise": ("NL-means", None, None),
    "deep_rl_deblur": ("Richardson-Lucy (20 it.)", "psnr_rl", "ssim_rl"),
    "spdnet_derain": ("none", None, None),
    "mstn_dehaze": ("dark channel prior", None, None),
    "ssrde_stereo_sr": ("bicubic", "psnr_input", "ssim_input"),
    "fgdcn_vfi": ("TV-L1 warping", "psnr_tvl1", "ssim_tvl1"),
    "bvfi_blurry_vfi": ("frame averaging", "psnr_input", "ssim_input"),
}
NO_INPUT = ("ssrde_stereo_sr", "bvfi_blurry_vfi")
# bundle -> (name, overrides): a second baseline run through the bundle's own evaluation with other weights
SECOND_BASELINE = {
    "ssrde_stereo_sr": ("single-view network, same size", {
        "cross_view": False, "ckpt_path": str(ROOT / "bundles" / "ssrde_stereo_sr" / "models" / "mono_baseline.pt")}),
}
# flags that switch off a bundle's image / figure writing during evaluation
QUIET = {"deep_rl_deblur": {"save_images": False}, "spdnet_derain": {"save_images": False},
         "mstn_dehaze": {"save_images": False}, "ssrde_stereo_sr": {"save_images": False},
         "fgdcn_vfi": {"save_figures": False}, "bvfi_blurry_vfi": {"save_images": False}}


def config_file(bundle: str) -> list[str]:
    """The bundle's ``configs/evaluate.json`` as MONAI runs it: after its base ``inference.json`` (an overlay)."""
    return [str(f) for f in config_files(ROOT / "bundles" / bundle, "evaluate.json")]


def checkpoint(bundle: str, weights_dir: str | None) -> str | None:
    """``<weights_dir>/<bundle>.pt``, ``<weights_dir>/<bundle>/model.pt`` or ``<weights_dir>/<bundle>/models/model.pt``."""
    if not weights_dir:
        return None
    root = Path(weights_dir)
    for path in (root / f"{bundle}.pt", root / bundle / "model.pt", root / bundle / "models" / "model.pt"):
        if path.is_file():
            return str(path)
    raise FileNotFoundError(f"no weights for {bundle} in {root} (looked for {bundle}.pt, {bundle}/model.pt, "
                            f"{bundle}/models/model.pt); leave {bundle} out of --bundles or add the file.")


def data_overrides(bundle: str, max_images: int | None, stereo_split: str) -> dict:
    """Config overrides that point a bundle's evaluation at the validation data (``datalist`` parsed with the
    bundle's own builders, then thinned to ``max_images`` evenly spaced items)."""
    from monai.bundle import ConfigParser

    from monai_mcrecon.data.natural import photos_datalist
    from monai_mcrecon.data.video import collection_clips

    if bundle in PHOTO_BUNDLES:
        items = photos_datalist("validation")
    else:
        parser = ConfigParser()
        parser.read_config(config_file(bundle))
        if bundle in CLIP_BUNDLES:
            parser["clips"] = collection_clips("validation")
        else:
            parser["split"] = stereo_split
        items = parser.get_parsed_content("datalist")
    items = list(items)
    if max_images and max_images < len(items):  # evenly spaced, so that every clip keeps some items
        step = len(items) / max_images
        items = [items[int(i * step)] for i in range(max_images)]
    return {"datalist": items}


def degraded_items(bundle: str, overrides: dict) -> tuple[list[dict], dict]:
    """The bundle's preprocessing (degradation included) applied to every datalist item, and the parsed config."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(config_file(bundle))
    for k, v in overrides.items():
        parser[k] = v
    pre = parser.get_parsed_content("preprocessing")
    return [pre(dict(d)) for d in tqdm(overrides["datalist"], desc=f"{bundle}: degrade", leave=False)], parser


def extra_baseline(bundle: str, overrides: dict) -> dict[str, tuple[float, float]]:
    """PSNR / SSIM per case of the baselines the bundle does not compute itself (NL-means, dark channel prior)."""
    from monai.metrics import PSNRMetric, SSIMMetric

    from monai_mcrecon.baselines import dark_channel_dehaze, nl_means_denoise

    psnr = PSNRMetric(max_val=1.0)
    ssim = SSIMMetric(spatial_dims=2, data_range=1.0, kernel_type="gaussian", win_size=11, kernel_sigma=1.5)
    items, parser = degraded_items(bundle, overrides)
    sigma = float(parser["sigma"]) / 255.0 if bundle == "mdrn_denoise" else None
    out = {}
    for d in tqdm(items, desc=f"{bundle}: baseline", leave=False):
        restored = nl_means_denoise(d["image"], sigma) if sigma else dark_channel_dehaze(d["image"])
        p, y = restored[None].float().clamp(0, 1), torch.as_tensor(d["label"])[None].float()
        out[d["case_id"]] = (float(psnr(p, y).mean()), float(ssim(p, y).mean()))
    return out


def evaluate(bundle: str, max_images: int | None, weights_dir: str | None, stereo_split: str,
             extra: dict | None = None) -> dict:
    """Per-case and mean input / baseline / network PSNR and SSIM of one bundle (``extra``: more bundle overrides)."""
    overrides = data_overrides(bundle, max_images, stereo_split)
    ckpt = checkpoint(bundle, weights_dir)
    run_overrides = {**overrides, **QUIET.get(bundle, {}), **({"ckpt_path": ckpt} if ckpt else {}), **(extra or {})}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # bundle_rows always passes ``save_nifti`` (an MRI bundle id) and bundles refuse unknown overrides: a
        # second, one-line config declares it for the natural-image bundles
        extra = Path(tmp) / "save_nifti.json"
        extra.write_text('{"save_nifti": false}')
        rows = bundle_rows([*config_file(bundle), str(extra)], **run_overrides)
        second_name, second_overrides = SECOND_BASELINE.get(bundle, (None, {}))
        second = bundle_rows([*config_file(bundle), str(extra)], **dict(run_overrides, **second_overrides)) if second_name else {}
    rows.pop("mean", None)
    name, bp, bs = BASELINES[bundle]
    extra = extra_baseline(bundle, overrides) if bundle in ("mdrn_denoise", "mstn_dehaze") else {}
    cases = {}
    for case, r in rows.items():
        c = {"network": (r["psnr"], r["ssim"])}
        if bundle not in NO_INPUT:
            c["input"] = (r["psnr_input"], r["ssim_input"])
        if bp:
            c["baseline"] = (r[bp], r[bs])
        elif case in extra:
            c["baseline"] = extra[case]
        if case in second:
            c["second"] = (second[case]["psnr"], second[case]["ssim"])
        if bundle == "bvfi_blurry_vfi":
            c["per_t"] = {k: v for k, v in r.items() if "_t" in k}
        cases[case] = c
    methods = [m for m in ("input", "baseline", "second", "network") if any(m in c for c in cases.values())]
    mean = {m: tuple(sum(c[m][i] for c in cases.values()) / len(cases) for i in (0, 1)) for m in methods}
    return {"baseline": name, "second": second_name, "weights": ckpt or str(ROOT / "bundles" / bundle / "models" / "model.pt"),
            "cases": cases, "mean": mean, "seconds": time.perf_counter() - start}


def clip_of(case: str) -> str:
    """Clip name of a triplet / window case id ``<clip>_<NNNN>``."""
    return case.rsplit("_", 1)[0]


def table(bundle: str, res: dict) -> list[str]:
    methods = list(res["mean"])
    cell = {"input": "input", "baseline": res["baseline"], "second": res.get("second"), "network": "network"}
    rows = res["cases"]
    first = "image"
    if bundle in CLIP_BUNDLES:  # mean per clip
        first = "clip (items)"
        groups = defaultdict(list)
        for case, c in rows.items():
            groups[clip_of(case)].append(c)
        rows = {f"{g} ({len(cs)})": {m: tuple(sum(c[m][i] for c in cs) / len(cs) for i in (0, 1)) for m in methods}
                for g, cs in groups.items()}
    fmt = lambda v: f"{v[0]:.2f} / {v[1]:.4f}"
    return [
        f"### {bundle}",
        "",
        (f"Weights `{Path(res['weights']).relative_to(ROOT) if Path(res['weights']).is_relative_to(ROOT) else res['weights']}`; "
         f"{len(res['cases'])} item(s); PSNR (dB) / SSIM; {res['seconds']:.0f} s."),
        "",
        f"| {first} | " + " | ".join(cell[m] for m in methods) + " |",
        "|---|" + "---|" * len(methods),
        "| **mean** | " + " | ".join(f"**{fmt(res['mean'][m])}**" for m in methods) + " |",
        *(f"| {case} | " + " | ".join(fmt(c[m]) if m in c else "-" for m in methods) + " |" for case, c in rows.items()),
        "",
    ]


def per_t_lines(res: dict) -> list[str]:
    """BVFI: mean PSNR of the network and of frame averaging at each t."""
    keys = sorted({k for c in res["cases"].values() for k in c["per_t"] if k.startswith("psnr_t")})
    out = []
    for k in keys:
        t = k.split("_", 1)[1]
        net = sum(c["per_t"][k] for c in res["cases"].values()) / len(res["cases"])
        avg = sum(c["per_t"][f"psnr_input_{t}"] for c in res["cases"].values()) / len(res["cases"])
        out.append(f"{t}: network {net:.2f} dB, frame averaging {avg:.2f} dB")
    return ["Per t (mean PSNR): " + "; ".join(out) + ".", ""] if out else []


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundles", nargs="+", default=list(ALL_BUNDLES), choices=ALL_BUNDLES)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "natural_real_val.md"))
    p.add_argument("--max-images", type=int, default=None,
                   help="evaluate N evenly spaced items of each bundle (photographs, triplets, windows or pairs)")
    p.add_argument("--weights-dir", default=None,
                   help="candidate weights: <dir>/<bundle>.pt, <dir>/<bundle>/model.pt or <dir>/<bundle>/models/model.pt "
                        "(default: each bundle's shipped models/model.pt)")
    p.add_argument("--stereo-split", default="val", choices=["train", "val", "test"],
                   help="rows of the motorcycle pair for ssrde_stereo_sr (the stereo sample's split)")
    p.add_argument("--override", nargs="+", default=[], metavar="ID=JSON",
                   help="bundle config overrides for every bundle run, e.g. self_ensemble=true (value parsed as JSON)")
    args = p.parse_args(argv)
    extra = {}
    for item in args.override:
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--override {item!r}: use ID=VALUE, e.g. self_ensemble=true")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value

    results = {}
    for bundle in tqdm(args.bundles, desc="bundles"):
        results[bundle] = evaluate(bundle, args.max_images, args.weights_dir, args.stereo_split, extra)
        tqdm.write(f"{bundle}: " + ", ".join(f"{m} {v[0]:.2f} dB / {v[1]:.4f}" for m, v in results[bundle]["mean"].items()))

    lines = [
        "# Natural-image bundles on the real validation photographs and clips",
        "",
        "Degradations, networks and metrics of each bundle's `configs/evaluate.json` (fixed seeds per case id), "
        "on `data/photos` (validation split, 13 real photographs), `data/clips` (validation split: `realshort`, "
        "`talking_head`) and the stereo sample's motorcycle rows; see `docs/natural_data.md`. "
        f"`python benchmarks/natural_real_val.py {' '.join(sys.argv[1:])}`".rstrip() + "; "
        f"{torch.get_num_threads()} CPU thread(s), {'CUDA' if torch.cuda.is_available() else 'CPU'}."
        + (f" `--max-images {args.max_images}`: at most {args.max_images} evenly spaced items per bundle." if args.max_images else ""),
        "",
        "| bundle | items | input | baseline | network |",
        "|---|---|---|---|---|",
        *(f"| {b} | {len(r['cases'])} | " + " | ".join(
            "; ".join(f"{r['mean'][k][0]:.2f} / {r['mean'][k][1]:.4f}" + (f" ({r[k]})" if k in ("baseline", "second") else "")
                      for k in ((m, "second") if m == "baseline" else (m,)) if k in r["mean"]) or "-"
            for m in ("input", "baseline", "network")) + " |" for b, r in results.items()),
        "",
    ]
    for bundle, res in results.items():
        lines += table(bundle, res)
        if bundle == "bvfi_blurry_vfi":
            lines += per_t_lines(res)
    emit(lines, args.out)
    if args.out:
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
