"""MONAI Label infer task for the guided (reference-contrast) restoration bundles.

:class:`GuidedRestorationInfer` runs the ``mc_cdic_recon`` (undersampled reconstruction) or
``mc_cdic_sr`` (super-resolution) bundle on one volume of a study: the request's ``image`` is the
degraded target contrast (default T2), the fully sampled reference contrast (default T1) is taken
from the same study (see :func:`find_reference`), both are min-max scaled per volume, the 2-D
network runs slice by slice (slice axis -1), the intensity is restored and a **float32** NIfTI is
written on the output grid with its affine.

The pre-processing, network, weights and slice inferer are those of the bundle's
``configs/inference.json`` (parsed with :class:`monai.bundle.ConfigParser`), so the task and
``python -m monai.bundle run`` give the same result.

This module needs ``monailabel`` (installed in its own venv, see ``tools/label_venv.sh``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from monai_mcrecon.label import pydicom_compat
from monai_mcrecon.label.validation import validate_infer_request

pydicom_compat()

from monailabel.interfaces.tasks.infer_v2 import InferType  # noqa: E402
from monailabel.tasks.infer.basic_infer import BasicInferTask  # noqa: E402
from monailabel.transform.writer import Writer  # noqa: E402

__all__ = ["GuidedRestorationInfer", "find_reference", "load_bundle_config", "split_contrast"]

logger = logging.getLogger(__name__)

NIFTI_EXTENSIONS = (".nii.gz", ".nii")


def _strip_ext(name: str) -> tuple[str, str]:
    """Split ``name`` into ``(stem, extension)`` for NIfTI names (``.nii.gz`` counts as one extension)."""
    for ext in NIFTI_EXTENSIONS:
        if name.endswith(ext):
            return name[: -len(ext)], ext
    stem, ext = os.path.splitext(name)
    return stem, ext


def split_contrast(path: str, contrasts: Sequence[str]) -> tuple[str, str, str] | None:
    """Parse a study file name into ``(case_id, contrast, extension)``.

    Two layouts are understood:

    * flat (MONAI Label's local datastore): ``<dir>/<case_id>_<contrast>.nii.gz``;
    * nested (the package's datalist layout): ``<dir>/<case_id>/<contrast>.nii.gz``.

    Args:
        path: image path.
        contrasts: contrast names to recognise (e.g. ``("t2", "t1")``), matched case-insensitively.

    Returns:
        ``(case_id, contrast, extension)`` or ``None`` when the name carries none of ``contrasts``.
    """
    stem, ext = _strip_ext(os.path.basename(path))
    low = stem.lower()
    for c in contrasts:
        c_low = c.lower()
        if low == c_low:
            return os.path.basename(os.path.dirname(os.path.abspath(path))), c, ext
        if low.endswith("_" + c_low):
            return stem[: -len(c) - 1], c, ext
    return None


def find_reference(image: str, target_contrast: str, reference_contrast: str, reference: str | None = None) -> str:
    """Locate the reference-contrast file of the study that ``image`` belongs to.

    Rule (first that applies):

    1. ``reference`` given and an existing path: used as is.
    2. ``reference`` given as a bare file name or datastore id: looked up next to ``image``
       (``<dir>/<reference>``, then ``<dir>/<reference>.nii.gz`` / ``.nii``).
    3. Otherwise the naming convention: ``<dir>/<case>_<target>.nii.gz`` pairs with
       ``<dir>/<case>_<reference>.nii.gz`` and ``<dir>/<case>/<target>.nii.gz`` with
       ``<dir>/<case>/<reference>.nii.gz`` (either NIfTI extension).

    Raises:
        FileNotFoundError: no reference found; the message names the paths tried.
    """
    folder = os.path.dirname(os.path.abspath(image))
    tried: list[str] = []
    if reference:
        candidates = [reference] if os.path.isabs(reference) else [reference, os.path.join(folder, reference)]
        candidates += [os.path.join(folder, reference + ext) for ext in NIFTI_EXTENSIONS]
        for cand in candidates:
            tried.append(cand)
            if os.path.isfile(cand):
                return cand
        raise FileNotFoundError(f"Reference {reference!r} for image {image!r} not found; tried {tried}.")

    parsed = split_contrast(image, [target_contrast])
    if parsed is None:
        raise FileNotFoundError(
            f"Cannot derive the {reference_contrast!r} reference of {image!r}: its name is neither "
            f"'<case>_{target_contrast}.nii.gz' nor '<case>/{target_contrast}.nii.gz'. Pass the reference "
            "explicitly (request key 'reference': a path or a file name beside the image)."
        )
    stem, _ = _strip_ext(os.path.basename(image))
    prefix = stem[: len(stem) - len(target_contrast)]  # "<case>_" (flat) or "" (nested)
    for ext in NIFTI_EXTENSIONS:
        for name in {prefix + reference_contrast, prefix + reference_contrast.upper(), prefix + reference_contrast.lower()}:
            cand = os.path.join(folder, name + ext)
            tried.append(cand)
            if os.path.isfile(cand):
                return cand
    raise FileNotFoundError(
        f"No {reference_contrast!r} reference found for {image!r} (same study); tried {sorted(set(tried))}. "
        "Put the reference beside the image or pass it in the request as 'reference'."
    )


def load_bundle_config(bundle: str, overrides: dict[str, Any] | None = None) -> Any:
    """Parse ``bundles/<bundle>/configs/inference.json`` (or ``<bundle>/configs/inference.json`` when
    ``bundle`` is a folder) with ``overrides`` applied; returns the :class:`monai.bundle.ConfigParser`."""
    from monai.bundle import ConfigParser

    from monai_mcrecon.bundle.locate import bundle_dir

    root = bundle if os.path.isdir(bundle) else bundle_dir(bundle)
    parser = ConfigParser()
    parser.read_config(os.path.join(root, "configs", "inference.json"))
    parser["bundle_root"] = root
    for k, v in (overrides or {}).items():
        parser[k] = v
    return parser


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class GuidedRestorationInfer(BasicInferTask):
    """Image-to-image MONAI Label infer task for ``mc_cdic_recon`` / ``mc_cdic_sr``.

    Request keys (besides MONAI Label's own ``image``, ``device``...):

    * ``reference``: reference-contrast file (path, or file name beside the image); default: the same
      study's ``reference_contrast`` file found by :func:`find_reference`.
    * ``simulate_acquisition``: ``True`` when ``image`` is a fully sampled target and the bundle's
      degradation must be simulated first (demo / evaluation); default ``False``: ``image`` is the
      acquired undersampled (zero-filled magnitude) or low-resolution target.
    * ``truth``: optional fully sampled target; PSNR / SSIM (fastMRI, per volume) of the output and
      of the input against it are added to the result JSON.

    The output is a float32 NIfTI with the affine of the target (or, for a low-resolution target
    that the SR bundle brings onto the reference grid, of the reference).

    MONAI Label's :class:`~monailabel.interfaces.tasks.infer_v2.InferType` has no image-to-image
    member; the task registers as ``InferType.OTHERS`` with no labels (clients then show the output
    as a volume, not as a segmentation).

    Args:
        bundle: bundle name under ``bundles/`` (``"mc_cdic_recon"`` or ``"mc_cdic_sr"``) or a bundle folder.
        path: checkpoint; defaults to the bundle's ``ckpt_path`` (``models/model.pt``).
        overrides: bundle config overrides (e.g. ``{"acceleration": 8}``, ``{"scale": 4}``).
        description: task description.
        studies: the local studies folder; files named by a request (``image``, ``reference``,
            ``truth``) must lie inside it (see :func:`~monai_mcrecon.label.validation.validate_infer_request`).
        **kwargs: passed to :class:`~monailabel.tasks.infer.basic_infer.BasicInferTask`.
    """

    def __init__(
        self,
        bundle: str = "mc_cdic_recon",
        path: str | None = None,
        overrides: dict[str, Any] | None = None,
        description: str | None = None,
        studies: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.bundle = bundle
        self.studies = studies
        self.overrides = dict(overrides or {})
        parser = load_bundle_config(bundle, {**self.overrides, "device": "$torch.device('cpu')"})
        self.target_contrast = str(parser.get_parsed_content("target_contrast"))
        self.reference_contrast = str(parser.get_parsed_content("reference_contrast"))
        self.slice_batch_size = int(parser.get_parsed_content("slice_batch_size"))
        network = parser.get_parsed_content("network_def", instantiate=True)
        path = path or parser.get_parsed_content("ckpt_path")
        if path and os.path.isfile(path):
            from monai_mcrecon.bundle.weights import verify_weights_file

            # MONAI Label loads the file itself (torch >= 2.6: weights_only by default); refuse a tampered one first
            verify_weights_file(path)
        super().__init__(
            path=path,
            network=network,
            type=InferType.OTHERS,
            labels=None,
            dimension=3,
            description=description
            or f"Guided {self._kind()} of the {self.target_contrast} contrast with the {self.reference_contrast} "
            f"reference of the same study (bundle {os.path.basename(str(bundle))}); float output",
            input_key="image",
            output_label_key="pred",
            config={
                "simulate_acquisition": False,
                "reference": "",
                "slice_batch_size": self.slice_batch_size,
                "result_extension": ".nii.gz",
                "result_dtype": "float32",
            },
            **kwargs,
        )
        self._parsers: dict[bool, Any] = {}

    def _kind(self) -> str:
        return "super-resolution" if "sr" in os.path.basename(str(self.bundle)).split("_") else "reconstruction"

    def _parser(self, simulate: bool) -> Any:
        if simulate not in self._parsers:
            self._parsers[simulate] = load_bundle_config(
                self.bundle, {**self.overrides, "simulate_acquisition": simulate, "device": "$torch.device('cpu')"}
            )
        return self._parsers[simulate]

    # ------------------------------------------------------------------ transforms
    def pre_transforms(self, data: dict[str, Any] | None = None) -> Sequence[Callable]:
        """Pair the image with its reference, then the bundle's ``volume_transforms`` (load, scale,
        slice axis first, degradation or SR input, channel-stacked ``image``)."""
        if data is not None:
            data = validate_infer_request(data, self.studies)
        simulate = _to_bool((data or {}).get("simulate_acquisition", False))
        return [self._pair, *self._parser(simulate).get_parsed_content("volume_transforms")]

    def _pair(self, data: dict[str, Any]) -> dict[str, Any]:
        d = validate_infer_request(data, self.studies)
        image = d["image"]
        if not isinstance(image, str) or not os.path.isfile(image):
            raise FileNotFoundError(f"{type(self).__name__} needs the image as a file path, got {image!r}.")
        reference = find_reference(image, self.target_contrast, self.reference_contrast, d.get("reference") or None)
        parsed = split_contrast(image, [self.target_contrast])
        d["case_id"] = parsed[0] if parsed else _strip_ext(os.path.basename(image))[0]
        d[self.target_contrast] = image
        d[self.reference_contrast] = reference
        d["reference_path"] = reference
        logger.info(f"Target {image}; reference {reference}")
        return d

    def inferer(self, data: dict[str, Any] | None = None) -> Callable:
        """The bundle's slice inferer (2-D network over the slices, ``slice_batch_size`` at a time)."""
        from monai.inferers import SliceInferer

        batch = int((data or {}).get("slice_batch_size", self.slice_batch_size))
        return SliceInferer(spatial_dim=0, roi_size=(-1, -1), sw_batch_size=batch, progress=False)

    def post_transforms(self, data: dict[str, Any] | None = None) -> Sequence[Callable]:
        """Restore intensity units, put the slice axis back last, keep float32 and the output grid's affine."""
        from monai_mcrecon.transforms import DataConsistencyd, MoveSliceAxisd, RestoreIntensityd

        return [
            # the bundle's own output data consistency: active where the acquisition is simulated
            # (simulate_acquisition), a no-op for a scan given as its zero-filled image
            *[t for t in self._parser(False).get_parsed_content("postprocessing#transforms") if isinstance(t, DataConsistencyd)],
            RestoreIntensityd(keys="pred", range_key="target_intensity_range"),
            MoveSliceAxisd(keys="pred", source=1, destination=-1),
            self._finalize,
        ]

    def _finalize(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        pred = torch.as_tensor(d["pred"]).detach().cpu().as_subclass(torch.Tensor).to(torch.float32)[0]
        # output grid: the target's, unless the target was brought onto the reference grid (LR -> HR)
        # (d["target"] is [1, slices, H, W] here: the bundle moved the slice axis first)
        target_shape = tuple(torch.as_tensor(d["target"]).movedim(1, -1).shape[1:])
        geometry = "target" if target_shape == tuple(pred.shape) else "reference"
        affine = self._affine(d, geometry)
        d["pred"] = MetaTensor(pred, affine=affine)
        d["pred_meta_dict"] = {"affine": affine}
        d["result_dtype"] = np.float32
        d.setdefault("result_extension", ".nii.gz")
        result = dict(d.get("result") or {})
        result.update(
            {
                "bundle": os.path.basename(str(self.bundle)),
                "target_contrast": self.target_contrast,
                "reference_contrast": self.reference_contrast,
                "reference": d.get("reference_path"),
                "simulate_acquisition": _to_bool(d.get("simulate_acquisition", False)),
                "output_grid": geometry,
                "output_shape": list(pred.shape),
                "dtype": "float32",
            }
        )
        if d.get("sr_input"):
            result["sr_input"] = d["sr_input"]
        truth = d.get("truth")
        if truth:
            result.update(self._quality(truth, pred, d))
        d["result"] = result
        return d

    @staticmethod
    def _affine(d: dict[str, Any], key: str) -> torch.Tensor:
        import nibabel as nib

        src = d.get("image_path") if key == "target" else d.get("reference_path")
        if src and os.path.isfile(src):
            return torch.as_tensor(nib.load(src).affine, dtype=torch.float64)
        value = d[key]
        if isinstance(value, MetaTensor):
            return value.affine.to(torch.float64)
        raise ValueError(f"No affine available for the {key!r} grid.")

    def _quality(self, truth: str, pred: torch.Tensor, d: dict[str, Any]) -> dict[str, float]:
        import nibabel as nib

        from monai_mcrecon.metrics import psnr, ssim

        gt = torch.as_tensor(np.asarray(nib.load(truth).dataobj, dtype=np.float32))
        if tuple(gt.shape) != tuple(pred.shape):
            raise ValueError(f"truth {tuple(gt.shape)} and output {tuple(pred.shape)} differ in shape.")
        gt_s, pred_s = gt.movedim(-1, 0), pred.movedim(-1, 0)  # [slices, H, W]
        out = {"psnr": float(psnr(gt_s, pred_s)), "ssim": float(ssim(gt_s, pred_s))}
        degraded = d.get("degraded")
        if degraded is not None:
            from monai_mcrecon.transforms.array import ScaleIntensityRecord

            inp = ScaleIntensityRecord.restore(torch.as_tensor(degraded).as_subclass(torch.Tensor), d["target_intensity_range"])
            inp = inp.to(torch.float32)[0]  # [slices, H, W]
            if tuple(inp.shape) == tuple(gt_s.shape):
                out.update({"psnr_input": float(psnr(gt_s, inp)), "ssim_input": float(ssim(gt_s, inp))})
        return out

    def writer(self, data: dict[str, Any], extension: str | None = None, dtype: Any = None) -> tuple[Any, Any]:
        """Write ``pred`` as a float32 NIfTI (MONAI's NibabelWriter) with the output grid's affine.

        MONAI Label's default :class:`~monailabel.transform.writer.Writer` is used with ``nibabel=True``
        and ``result_dtype`` forced to float32, so nothing is cast to an integer label type.
        """
        data["result_extension"] = extension or data.get("result_extension") or ".nii.gz"
        data["result_dtype"] = np.float32 if dtype is None else dtype
        return Writer(label=self.output_label_key, json=self.output_json_key, nibabel=True)(data)
