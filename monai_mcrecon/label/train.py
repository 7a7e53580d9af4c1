"""MONAI Label train task for the guided restoration bundles, with PSNR / SSIM instead of Dice.

:class:`GuidedRestorationTrain` fine-tunes MC-CDic (``mc_cdic_recon`` / ``mc_cdic_sr``) on the
fully sampled (target, reference) studies of a MONAI Label datastore. The network, loss and
optimiser are the bundle's ``train.json`` pieces (``MCCDic.from_preset``,
``ReferenceWeightedL1Loss``, Adam); the degradation (k-space undersampling or truncation) is
simulated on the fly as in the bundle. The key metric of training and validation is the fastMRI
PSNR of the restored target (``train_psnr`` / ``val_psnr``), SSIM is an additional metric.

Training samples are random 2-D patches of random slices of the degraded volume
(``RandSpatialCropSamplesd`` with the slice axis first); validation runs the whole volume slice by slice
(``SliceInferer``) as at inference.

This module needs ``monailabel`` (installed in its own venv, see ``tools/label_venv.sh``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
from monai.inferers import SimpleInferer, SliceInferer
from monai.transforms import (
    ConcatItemsd,
    CopyItemsd,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    RandSpatialCropSamplesd,
    SelectItemsd,
    SqueezeDimd,
)

from monai_mcrecon.label import pydicom_compat

pydicom_compat()

from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.train.basic_train import BasicTrainTask, Context

from monai_mcrecon.label.infer import find_reference, split_contrast
from monai_mcrecon.label.validation import validate_train_request

__all__ = ["GuidedRestorationTrain", "target_channel"]

logger = logging.getLogger(__name__)

TRAIN_METRIC_PSNR = "train_psnr"
VAL_METRIC_PSNR = "val_psnr"
TRAIN_METRIC_SSIM = "train_ssim"
VAL_METRIC_SSIM = "val_ssim"


def target_channel(output: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Ignite output transform: ``(pred, label)`` restricted to channel 0, the restored target.

    During training MC-CDic also returns the reconstructed reference (channel 1) and the label
    stacks the clean target and reference; the metrics score the target only.
    """
    items = output if isinstance(output, (list, tuple)) else [output]
    return [i["pred"][:1] for i in items], [i["label"][:1] for i in items]


def _bundle_train_config(bundle: str, overrides: dict[str, Any] | None = None) -> Any:
    from monai.bundle import ConfigParser

    from monai_mcrecon.bundle.locate import bundle_dir

    root = bundle if os.path.isdir(bundle) else bundle_dir(bundle)
    parser = ConfigParser()
    parser.read_config(os.path.join(root, "configs", "train.json"))
    parser["bundle_root"] = root
    parser["device"] = "$torch.device('cpu')"
    for k, v in (overrides or {}).items():
        parser[k] = v
    return parser


class GuidedRestorationTrain(BasicTrainTask):
    """Fine-tune a guided restoration bundle from a MONAI Label datastore.

    Datastore rule: every image named ``<case>_<target>.nii.gz`` (or ``<case>/<target>.nii.gz``)
    whose study also holds ``<case>_<reference>.nii.gz`` is one fully sampled training pair (see
    :func:`~monai_mcrecon.label.infer.find_reference`); labels are not used. A request may instead
    pass ``train_ds`` / ``val_ds`` lists of ``{"target": path, "reference": path}``.

    Args:
        model_dir: folder for checkpoints and statistics (MONAI Label convention).
        bundle: ``"mc_cdic_recon"`` or ``"mc_cdic_sr"`` (or a bundle folder): network, loss,
            optimiser, degradation and contrasts come from its ``train.json``.
        overrides: ``train.json`` overrides (``preset``, ``acceleration``, ``scale``, ``patch_size``...).
        samples_per_volume: random slices (patches) drawn per volume and iteration.
        description: task description.
        **kwargs: passed to :class:`~monailabel.tasks.train.basic_train.BasicTrainTask`
            (``load_path`` defaults to the bundle's ``models/model.pt``; ``amp`` defaults to False).
    """

    def __init__(
        self,
        model_dir: str,
        bundle: str = "mc_cdic_recon",
        overrides: dict[str, Any] | None = None,
        samples_per_volume: int = 4,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.bundle = bundle
        self.parser = _bundle_train_config(bundle, overrides)
        p = self.parser.get_parsed_content
        self.target_contrast = str(p("target_contrast"))
        self.reference_contrast = str(p("reference_contrast"))
        self.patch_size = tuple(int(s) for s in p("patch_size"))
        self.samples_per_volume = samples_per_volume
        kwargs.setdefault("load_path", os.path.join(p("bundle_root"), "models", "model.pt"))
        if kwargs["load_path"] and os.path.isfile(kwargs["load_path"]):
            from monai_mcrecon.bundle.weights import verify_weights_file

            verify_weights_file(kwargs["load_path"])  # a tampered shipped file is refused before MONAI Label loads it
        kwargs.setdefault("amp", False)
        config = {
            "max_epochs": 10,
            "learning_rate": float(p("learning_rate")),
            "train_batch_size": 1,
            "val_batch_size": 1,
            "val_split": 0.2,
            "dataset": ["Dataset", "CacheDataset"],
            "dataloader": ["DataLoader", "ThreadDataLoader"],
        }
        config.update(kwargs.pop("config", None) or {})
        super().__init__(
            model_dir,
            description or f"Fine-tune {os.path.basename(str(bundle))} (PSNR key metric)",
            config=config,
            **kwargs,
        )

    # ------------------------------------------------------------------ model pieces
    def network(self, context: Context) -> torch.nn.Module:
        return self.parser.get_parsed_content("network_def", instantiate=True)

    def optimizer(self, context: Context) -> torch.optim.Optimizer:
        request = validate_train_request(context.request)
        lr = float(request.get("learning_rate") or self.parser.get_parsed_content("learning_rate"))
        return torch.optim.Adam(context.network.parameters(), lr=lr, betas=(0.9, 0.99))

    def loss_function(self, context: Context) -> torch.nn.Module:
        return self.parser.get_parsed_content("loss", instantiate=True)

    def lr_scheduler_handler(self, context: Context) -> Any:
        return None

    # ------------------------------------------------------------------ data
    def pre_process(self, request: dict[str, Any], datastore: Datastore) -> list[dict[str, str]]:
        """(target, reference) pairs of the datastore's studies; see the class docstring for the rule."""
        request.update(validate_train_request(request))  # types and ranges of what the task reads
        pairs = []
        for image_id in sorted(datastore.list_images()):
            path = datastore.get_image_uri(image_id)
            if split_contrast(path, [self.target_contrast]) is None:
                continue
            try:
                reference = find_reference(path, self.target_contrast, self.reference_contrast)
            except FileNotFoundError:
                logger.warning(f"Skipping {image_id}: no {self.reference_contrast} reference in its study.")
                continue
            pairs.append({"target": path, "reference": reference, "case_id": image_id})
        if not pairs:
            raise ValueError(
                f"No ({self.target_contrast}, {self.reference_contrast}) study pairs in the datastore: name the files "
                f"'<case>_{self.target_contrast}.nii.gz' and '<case>_{self.reference_contrast}.nii.gz'."
            )
        return pairs

    def _volume_transforms(self) -> list:
        from monai_mcrecon.transforms import CheckFinited, CheckPairedShaped, CheckVolumed, MoveSliceAxisd

        keys = ["target", "reference"]
        return [
            LoadImaged(keys=keys, image_only=True),
            CheckVolumed(keys=keys),
            EnsureChannelFirstd(keys=keys),
            EnsureTyped(keys=keys, dtype=torch.float32),
            CheckFinited(keys=keys),
            CheckPairedShaped(keys=keys),
            MoveSliceAxisd(keys=keys, source=-1, destination=1),  # [1, slices, H, W]
        ]

    @staticmethod
    def _normalize() -> Any:
        """The bundles' honest normalisation: the degraded target and the reference, each by its own
        per-slice percentile (never from the fully sampled truth)."""
        from monai_mcrecon.transforms import NormalizeFromInputd

        return NormalizeFromInputd(keys="degraded", scaled_keys=("target",), reference_keys=("reference",))

    def _degrade(self) -> Any:
        """The bundle's degradation: ``undersample`` (recon, fixed mask) or ``degrade`` (SR k-space truncation)."""
        for key in ("undersample", "degrade"):
            if key in self.parser.config:
                return self.parser.get_parsed_content(key, instantiate=True)
        raise KeyError(f"Bundle {self.bundle!r}: train.json defines neither 'undersample' nor 'degrade'.")

    def train_pre_transforms(self, context: Context) -> list:
        size = (1, *self.patch_size)
        keys = ["target", "reference", "degraded"]
        return [
            *self._volume_transforms(),
            self._degrade(),  # on whole slices, as in the bundle (crop after the k-space degradation)
            self._normalize(),
            RandSpatialCropSamplesd(keys=keys, roi_size=size, num_samples=self.samples_per_volume, random_size=False),
            SqueezeDimd(keys=keys, dim=1),  # one slice patch [1, h, w]
            ConcatItemsd(keys=["degraded", "reference"], name="image", dim=0),
            ConcatItemsd(keys=["target", "reference"], name="label", dim=0),
            SelectItemsd(keys=["image", "label"]),
            EnsureTyped(keys=["image", "label"], track_meta=False),
        ]

    def train_post_transforms(self, context: Context) -> None:
        return None  # restoration output needs no post-processing (an empty list would fail in MONAI's engine)

    def val_pre_transforms(self, context: Context) -> list:
        return [
            *self._volume_transforms(),
            self._degrade(),
            self._normalize(),
            ConcatItemsd(keys=["degraded", "reference"], name="image", dim=0),
            CopyItemsd(keys="target", names="label"),
            SelectItemsd(keys=["image", "label"]),
            EnsureTyped(keys=["image", "label"], track_meta=False),
        ]

    def val_post_transforms(self, context: Context) -> None:
        return None

    def train_inferer(self, context: Context) -> SimpleInferer:
        return SimpleInferer()

    def val_inferer(self, context: Context) -> SliceInferer:
        return SliceInferer(spatial_dim=0, roi_size=(-1, -1), sw_batch_size=4, progress=False)

    # ------------------------------------------------------------------ metrics
    def train_key_metric(self, context: Context) -> dict[str, Any]:
        from monai_mcrecon.metrics import FastMRIPSNR

        return {TRAIN_METRIC_PSNR: FastMRIPSNR(output_transform=target_channel)}

    def train_additional_metrics(self, context: Context) -> dict[str, Any]:
        from monai_mcrecon.metrics import FastMRISSIM

        return {TRAIN_METRIC_SSIM: FastMRISSIM(output_transform=target_channel)}

    def val_key_metric(self, context: Context) -> dict[str, Any]:
        from monai_mcrecon.metrics import FastMRIPSNR

        return {VAL_METRIC_PSNR: FastMRIPSNR(output_transform=target_channel)}

    def val_additional_metrics(self, context: Context) -> dict[str, Any]:
        from monai_mcrecon.metrics import FastMRISSIM

        return {VAL_METRIC_SSIM: FastMRISSIM(output_transform=target_channel)}

    def partition_datalist(self, context: Context, shuffle: bool = False) -> tuple[Sequence, Sequence]:
        """MONAI Label's split, keeping at least one training study when only a few exist."""
        train, val = super().partition_datalist(context, shuffle=shuffle)
        if not train and val:
            train, val = list(val), []
        return train, val
