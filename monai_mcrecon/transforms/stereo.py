"""Stereo-pair transforms: loading a pair (and its disparity), low-resolution synthesis and stereo-aware flips
(the channel shuffle that stereo training also uses is a colour augmentation: ``transforms.colour``).

Views are ``[C, H, W]`` float32 tensors in [0, 1]; a disparity is ``[1, H, W]`` float32 in pixels of the
left view (``left[y, x]`` matches ``right[y, x - d]``), ``NaN`` where unknown. A random crop that keeps
both views and the disparity aligned is :class:`~monai_mcrecon.transforms.video.RandCropFramesd` (one
window for every key; cropping the same columns of both views leaves the disparity values unchanged).

Stereo geometry under flips (:class:`RandStereoFlipd`): a vertical flip keeps each view a rectified view
of the same side (rows are flipped in both, epipolar lines stay horizontal), so the disparity is flipped
with them. A horizontal flip mirrors the scene: the mirrored *right* view becomes the new *left* view and
vice versa (otherwise disparities would become negative). The disparity stored for the old left view
then belongs to the new *right* view; the new left view's disparity is not known, so it is set to NaN
(unknown) everywhere.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable, Transform

from monai_mcrecon.transforms.natural import LoadNaturalImage

__all__ = [
    "LoadDisparity",
    "LoadStereoPaird",
    "PadStereod",
    "StereoSROutputd",
    "RandStereoFlipd",
    "SaveDisparityd",
    "StereoLowResolution",
    "StereoLowResolutiond",
    "bicubic_downsample",
]


class LoadDisparity(Transform):
    """Read a ``.npy`` disparity ``[H, W]`` (or ``[1, H, W]``) into ``[1, H, W]`` float32; ``inf`` becomes ``NaN``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a 2-D map.
    """

    def __call__(self, filename) -> torch.Tensor:
        from pathlib import Path

        path = Path(filename)
        if not path.is_file():
            raise FileNotFoundError(f"Disparity file {str(path)!r} does not exist.")
        arr = np.load(path).astype(np.float32)
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2:
            raise ValueError(f"Disparity {str(path)!r} has shape {arr.shape}; save a float32 [H, W] map (NaN = unknown).")
        arr = np.where(np.isfinite(arr), arr, np.nan).astype(np.float32)
        return torch.from_numpy(arr)[None]


class LoadStereoPaird(MapTransform):
    """Load the two views (``keys``, e.g. ``("left", "right")``) and, when present, the disparity ``disp_key``.

    Raises:
        ValueError: the views (or the disparity) differ in size.
    """

    def __init__(self, keys: KeysCollection = ("left", "right"), disp_key: str | None = "disp", channels: int | None = 3):
        super().__init__(keys)
        self.disp_key = disp_key
        self.loader = LoadNaturalImage(channels)
        self.disp_loader = LoadDisparity()

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        keys = list(self.key_iterator(d))
        for k in keys:
            d[k] = self.loader(d[k])
        sizes = {tuple(d[k].shape[-2:]) for k in keys}
        if len(sizes) > 1:
            raise ValueError(f"Stereo views {keys} of {d.get('case_id', '?')!r} differ in size {sorted(sizes)}; both views must match.")
        if self.disp_key and d.get(self.disp_key) is not None:
            d[self.disp_key] = self.disp_loader(d[self.disp_key])
            if sizes and tuple(d[self.disp_key].shape[-2:]) not in sizes:
                raise ValueError(
                    f"Disparity of {d.get('case_id', '?')!r} is {tuple(d[self.disp_key].shape[-2:])} but the views are "
                    f"{sizes.pop()}; the disparity must have the views' size."
                )
        return d


def bicubic_downsample(img: torch.Tensor, scale: int, quantize: bool = True) -> torch.Tensor:
    """Low-resolution synthesis: anti-aliased bicubic down-sampling by ``scale`` (PyTorch's ``antialias=True``,
    close to MATLAB ``imresize``), clamped to [0, 1] and, with ``quantize``, rounded to 8 bits (LR images are
    stored as 8-bit PNG in stereo SR data sets). ``[C, H, W]`` with H, W divisible by ``scale``."""
    h, w = img.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"Image {h}x{w} is not divisible by the scale {scale}; crop it first (StereoLowResolution crops).")
    lr = F.interpolate(img[None].float(), size=(h // scale, w // scale), mode="bicubic", align_corners=False, antialias=True)[0]
    lr = lr.clamp(0.0, 1.0)
    return torch.round(lr * 255.0) / 255.0 if quantize else lr


class StereoLowResolution(Transform):
    """Crop ``[C, H, W]`` to a multiple of ``multiple`` (top-left anchored) and synthesise its LR version.

    Returns ``(hr_cropped, lr)``. ``multiple`` defaults to ``lcm(scale, 4)``: SSRDE-FNet needs an HR size
    divisible by 4 (hourglass) and by the scale.
    """

    def __init__(self, scale: int = 2, multiple: int | None = None, quantize: bool = True) -> None:
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}.")
        self.scale, self.quantize = int(scale), quantize
        self.multiple = int(multiple) if multiple else int(np.lcm(self.scale, 4))

    def crop(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        hh, ww = h // self.multiple * self.multiple, w // self.multiple * self.multiple
        if hh == 0 or ww == 0:
            raise ValueError(f"Image {h}x{w} is smaller than the size multiple {self.multiple}; use larger images.")
        return img[..., :hh, :ww]

    def __call__(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hr = self.crop(img)
        return hr, bicubic_downsample(hr, self.scale, self.quantize)


class StereoLowResolutiond(MapTransform):
    """For each HR key (e.g. ``left``, ``right``) write the LR view to ``f"{prefix}{key}"`` (``lr_left``, ...);
    the HR views (and ``disp_key``) are cropped to the size multiple so that HR = scale x LR exactly."""

    def __init__(
        self,
        keys: KeysCollection = ("left", "right"),
        scale: int = 2,
        prefix: str = "lr_",
        disp_key: str | None = "disp",
        multiple: int | None = None,
        quantize: bool = True,
        upsampled_prefix: str | None = None,
    ) -> None:
        super().__init__(keys)
        self.op = StereoLowResolution(scale, multiple, quantize)
        self.prefix, self.disp_key, self.upsampled_prefix = prefix, disp_key, upsampled_prefix

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for k in self.key_iterator(d):
            d[k], d[f"{self.prefix}{k}"] = self.op(torch.as_tensor(d[k]))
            if self.upsampled_prefix:  # the bicubic baseline
                up = F.interpolate(d[f"{self.prefix}{k}"][None], scale_factor=self.op.scale, mode="bicubic", align_corners=False)
                d[f"{self.upsampled_prefix}{k}"] = up[0].clamp(0.0, 1.0)
        if self.disp_key and isinstance(d.get(self.disp_key), torch.Tensor):
            d[self.disp_key] = self.op.crop(d[self.disp_key])
        return d


class RandStereoFlipd(Randomizable, MapTransform):
    """Random stereo-consistent flips (see the module docstring).

    Args:
        keys: groups of ``(left_key, right_key)`` handled together, e.g. ``[("left", "right"), ("lr_left", "lr_right")]``
            or a single pair ``("left", "right")``.
        disp_key: the left-view disparity ``[1, H, W]`` (flipped vertically; NaN after a horizontal flip).
        prob_h, prob_v: probabilities of the horizontal flip (with view swap) and of the vertical flip.
        seed: random seed.
    """

    def __init__(
        self,
        keys: Sequence[Sequence[str]] | Sequence[str] = ("left", "right"),
        disp_key: str | None = "disp",
        prob_h: float = 0.5,
        prob_v: float = 0.5,
        seed: int | None = None,
    ) -> None:
        pairs = [tuple(keys)] if keys and isinstance(keys[0], str) else [tuple(p) for p in keys]
        for p in pairs:
            if len(p) != 2:
                raise ValueError(f"RandStereoFlipd needs (left_key, right_key) pairs, got {p}.")
        MapTransform.__init__(self, [k for p in pairs for k in p], allow_missing_keys=True)
        self.pairs, self.disp_key = pairs, disp_key
        self.prob_h, self.prob_v = prob_h, prob_v
        if seed is not None:
            self.set_random_state(seed)
        self._h = self._v = False

    def randomize(self, data=None) -> None:
        self._h = bool(self.R.rand() < self.prob_h)
        self._v = bool(self.R.rand() < self.prob_v)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize()
        for lk, rk in self.pairs:
            if lk not in d or rk not in d:
                continue
            left, right = d[lk], d[rk]
            if self._v:
                left, right = torch.flip(left, (-2,)), torch.flip(right, (-2,))
            if self._h:
                left, right = torch.flip(right, (-1,)), torch.flip(left, (-1,))
            d[lk], d[rk] = left, right
        if self.disp_key and isinstance(d.get(self.disp_key), torch.Tensor):
            disp = d[self.disp_key]
            if self._v:
                disp = torch.flip(disp, (-2,))
            if self._h:
                disp = torch.full_like(disp, float("nan"))
            d[self.disp_key] = disp
        return d


class PadStereod(MapTransform):
    """Replicate-pad the views at the bottom / right to a multiple of ``multiple`` (and at least ``multiple``)
    so that any LR pair fits the network's pools and hourglass; the original ``(h, w)`` is stored under
    ``size_key`` for :class:`StereoSROutputd` to crop the SR images back."""

    def __init__(self, keys: KeysCollection = ("left", "right"), multiple: int = 16, size_key: str = "lr_size") -> None:
        super().__init__(keys)
        self.multiple, self.size_key = int(multiple), size_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        m = self.multiple
        for k in self.key_iterator(d):
            img = torch.as_tensor(d[k])
            h, w = img.shape[-2:]
            ph, pw = max(-(-h // m) * m, m) - h, max(-(-w // m) * m, m) - w
            d[k] = F.pad(img[None], (0, pw, 0, ph), mode="replicate")[0] if ph or pw else img
            d[self.size_key] = torch.tensor([h, w])
        return d


class StereoSROutputd(MapTransform):
    """Post-processing of SSRDE-FNet's eval-mode dict output (``output_format="dict"``) for metrics and files.

    Reads ``pred_key`` (the network's dict) and writes, per item:

    - ``sr_left``, ``sr_right``: the final SR views (``out4``) clamped to [0, 1] (cropped to ``scale x`` the
      size under ``size_key`` when present, see :class:`PadStereod`);
    - ``disp_pred``: the final left-view disparity (``disp_hr2_left``) in HR pixels;
    - when the HR views ``left_key`` / ``right_key`` are present: ``hr_left``, ``hr_right`` (copies: post-processing outputs are what metrics read), and ``sr_both`` / ``hr_both``
      (the two views side by side, for the PSNR of both views: MSE pooled over the pair) and, from the
      bicubic baseline under ``f"{bicubic_prefix}left/right"``, ``baseline_left`` / ``baseline_right`` /
      ``baseline_both``;
    - when a disparity ``disp_key`` is present: ``disp_error`` = ``|disp_pred - disp| * N / N_known`` at pixels
      with a known disparity, 0 elsewhere (all NaN when no pixel is known) and ``disp_zero``, so that
      ``MAEMetric(disp_error, disp_zero)`` is the end-point error over the known pixels.
    """

    def __init__(
        self,
        pred_key: str = "pred",
        scale: int = 2,
        left_key: str | None = "left",
        right_key: str | None = "right",
        disp_key: str | None = "disp",
        size_key: str = "lr_size",
        bicubic_prefix: str = "bicubic_",
        final: str = "out4",
        disparity: str = "disp_hr2",
    ) -> None:
        super().__init__(pred_key)
        self.pred_key, self.scale = pred_key, int(scale)
        self.left_key, self.right_key, self.disp_key, self.size_key = left_key, right_key, disp_key, size_key
        self.bicubic_prefix, self.final, self.disparity = bicubic_prefix, final, disparity

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        pred = d[self.pred_key]
        if not isinstance(pred, Mapping) or f"{self.final}_left" not in pred:
            raise TypeError(
                f"StereoSROutputd expects the network's dict output with {self.final}_left (build SSRDEFNet with "
                f"output_format='dict' and run it in eval mode), got {type(pred).__name__}."
            )
        crop = (slice(None),) * 2
        if self.size_key in d:
            h, w = (int(v) for v in torch.as_tensor(d[self.size_key]).reshape(-1)[:2])
            crop = (slice(0, h * self.scale), slice(0, w * self.scale))
        d["sr_left"] = pred[f"{self.final}_left"][..., crop[0], crop[1]].clamp(0.0, 1.0)
        d["sr_right"] = pred[f"{self.final}_right"][..., crop[0], crop[1]].clamp(0.0, 1.0)
        d["disp_pred"] = pred[f"{self.disparity}_left"][..., crop[0], crop[1]]
        if self.left_key and self.right_key and self.left_key in d and self.right_key in d:
            d["hr_left"], d["hr_right"] = d[self.left_key], d[self.right_key]
            d["hr_both"] = torch.cat((d[self.left_key], d[self.right_key]), dim=-1)
            d["sr_both"] = torch.cat((d["sr_left"], d["sr_right"]), dim=-1)
            bl, br = f"{self.bicubic_prefix}{self.left_key}", f"{self.bicubic_prefix}{self.right_key}"
            if bl in d and br in d:
                d["baseline_left"], d["baseline_right"] = d[bl], d[br]
                d["baseline_both"] = torch.cat((d[bl], d[br]), dim=-1)
        gt = d.get(self.disp_key) if self.disp_key else None
        if isinstance(gt, torch.Tensor):
            gt = gt.to(d["disp_pred"].dtype)
            known = torch.isfinite(gt)
            n_known = int(known.sum())
            if n_known:
                err = torch.where(known, (d["disp_pred"] - torch.nan_to_num(gt)).abs(), torch.zeros_like(gt))
                d["disp_error"] = err * (gt.numel() / n_known)
            else:
                d["disp_error"] = torch.full_like(gt, float("nan"))
            d["disp_zero"] = torch.zeros_like(gt)
        return d


class SaveDisparityd(MapTransform):
    """Write the disparity under ``keys`` (``[1, H, W]`` or ``[H, W]``) to ``<output_dir>/<case_id>_<postfix>.npy``
    (float32, pixels); the path is stored under ``"{key}_path"``."""

    def __init__(self, keys: KeysCollection = "disp_pred", output_dir: str = "./outputs", postfix: str = "disp",
                 case_key: str = "case_id") -> None:
        super().__init__(keys)
        self.output_dir, self.postfix, self.case_key = output_dir, postfix, case_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        from pathlib import Path

        d = dict(data)
        if self.case_key not in d:
            raise KeyError(f"SaveDisparityd needs {self.case_key!r} in the data to name the file.")
        case = d[self.case_key]
        case = case[0] if isinstance(case, (list, tuple)) else case
        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        for k in self.key_iterator(d):
            arr = torch.as_tensor(d[k]).detach().cpu().float().numpy()
            arr = arr.reshape(arr.shape[-2:])
            path = Path(self.output_dir) / f"{case}_{self.postfix}.npy"
            np.save(path, arr)
            d[f"{k}_path"] = str(path)
        return d
