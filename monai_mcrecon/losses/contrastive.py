"""Contrastive regularisation (AECR-Net style) and the CLGNet (reconstructed) training loss.

CLGNet (arXiv:2111.15200) states only that contrastive learning pulls the output towards the fully
sampled image (positive) and pushes it away from the undersampled input (negative). The project
reconstructs it with the contrastive regulariser of AECR-Net (Wu et al., CVPR 2021), see
docs/models/clgnet.md, 'Contrastive loss'::

    CR(x^; x_gt, x_u) = sum_i w_i * |phi_i(x^) - phi_i(x_gt)|_1 / (|phi_i(x^) - phi_i(x_u)|_1 + eps)

with frozen feature maps ``phi_i`` and detached positives / negatives. The feature extractor is
pluggable, and no weights are ever downloaded:

- ``"pyramid"`` (default): :class:`PyramidFeatures`, deterministic, weight-free, always available;
- ``"vgg19"``: :class:`VGG19Features`, torchvision VGG19 relu1_1 .. relu5_1 (AECR-Net's choice)
  from a weights file the user provides; a missing file is an error, never a silent fallback;
- any ``nn.Module`` returning a tensor or a list of tensors (frozen here).

``extractor_name`` records which one was used (bundles write it to their metadata).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CLGNetLoss", "ContrastiveRegularization", "PyramidFeatures", "VGG19Features"]


def _fold_channels(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W] -> [B * C, 1, H, W]``: each channel is a grey image of its own."""
    if x.ndim != 4:
        raise ValueError(f"Expected an image batch [B, C, H, W], got shape {tuple(x.shape)}.")
    return x.reshape(-1, 1, *x.shape[-2:])


class PyramidFeatures(nn.Module):
    """Weight-free multi-scale features from fixed filters.

    Scale ``s`` works on the Haar approximation ``a_s`` (``a_0 = x``, ``a_{s+1} = AvgPool2x2(a_s)``)
    and returns ``cat(a_s, Sobel_x a_s, Sobel_y a_s, Laplacian a_s)`` (3x3 filters, replicate
    padding), one ``[B, 4C, H / 2^s, W / 2^s]`` map per scale: intensity, gradients and a band-pass
    at ``num_scales`` resolutions. Each input channel is filtered on its own. The filters are
    buffers; the module has no parameters.

    Args:
        num_scales: number of scales (feature levels); images need ``min(H, W) >= 2^(num_scales - 1)``.
    """

    def __init__(self, num_scales: int = 4) -> None:
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales=}.")
        self.num_scales = int(num_scales)
        identity = torch.zeros(3, 3)
        identity[1, 1] = 1.0
        sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
        laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
        self.register_buffer("filters", torch.stack([identity, sobel_x, sobel_x.T, laplacian])[:, None])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b, c = x.shape[:2]
        if min(x.shape[-2:]) < 2 ** (self.num_scales - 1):
            raise ValueError(
                f"Image of size {tuple(x.shape[-2:])} is too small for {self.num_scales} scales; "
                f"it needs min(H, W) >= {2 ** (self.num_scales - 1)} (or use fewer num_scales)."
            )
        a = _fold_channels(x)
        filters = self.filters.to(a.dtype)
        features = []
        for s in range(self.num_scales):
            if s:
                a = F.avg_pool2d(a, 2)
            f = F.conv2d(F.pad(a, (1, 1, 1, 1), mode="replicate"), filters)
            features.append(f.reshape(b, c * filters.shape[0], *f.shape[-2:]))
        return features


class VGG19Features(nn.Module):
    """VGG19 activations relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (AECR-Net's contrastive features).

    The layers are those of ``torchvision.models.vgg19(weights=None).features``; the weights come
    from a local file only (nothing is downloaded), either a full VGG19 state dict such as
    torchvision's ``vgg19-dcbb9e9d.pth`` or the state dict of its ``features``. Each input channel
    is repeated to RGB and normalised with the ImageNet mean and standard deviation (inputs in
    [0, 1]).

    Args:
        weights_path: path of the state-dict file.

    Raises:
        FileNotFoundError: when ``weights_path`` is ``None`` or not a file.
    """

    SLICES = (2, 7, 12, 21, 30)
    WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, weights_path: str | os.PathLike | None) -> None:
        super().__init__()
        if weights_path is None or not os.path.isfile(weights_path):
            where = "no vgg_weights_path was given" if weights_path is None else f"{str(weights_path)!r} is not a file"
            raise FileNotFoundError(
                f"The 'vgg19' contrastive extractor needs ImageNet VGG19 weights on disk, but {where}. Put "
                "torchvision's vgg19-dcbb9e9d.pth (or any VGG19 state dict) on this machine and pass its path "
                "as vgg_weights_path; weights are never downloaded. The weight-free alternative is "
                "extractor='pyramid'."
            )
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs["E"], batch_norm=False)  # == torchvision.models.vgg19().features
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        if any(k.startswith("features.") for k in state):
            state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        features.load_state_dict(state)
        starts = (0, *self.SLICES[:-1])
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in zip(starts, self.SLICES))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (_fold_channels(x).expand(-1, 3, -1, -1) - self.mean) / self.std
        features = []
        for block in self.slices:
            h = block(h)
            features.append(h)
        return features


class ContrastiveRegularization(nn.Module):
    """``CR(x^; x_gt, x_u) = sum_i w_i |phi_i(x^) - phi_i(x_gt)|_1 / (|phi_i(x^) - phi_i(x_u)|_1 + eps)``.

    ``|.|_1`` is the mean absolute difference of a feature level. The extractor is frozen
    (``requires_grad_(False)`` and kept in eval mode, also a user-supplied module, in place);
    ``phi(x_gt)`` and ``phi(x_u)`` are computed without gradient, so gradients flow only through
    ``phi(x^)`` into the prediction.

    Args:
        extractor: ``"pyramid"`` (:class:`PyramidFeatures`, default), ``"vgg19"``
            (:class:`VGG19Features`, needs ``vgg_weights_path``) or an ``nn.Module`` returning a
            tensor or a list of tensors.
        weights: ``w_i``, one per feature level; default uniform ``1 / L`` for the pyramid,
            AECR-Net's ``1/32, 1/16, 1/8, 1/4, 1`` for VGG19, all 1 for a user module.
        vgg_weights_path: state-dict file of VGG19 (``extractor="vgg19"`` only).
        eps: the ``1e-7`` of the denominator.

    Raises:
        FileNotFoundError: ``extractor="vgg19"`` without an existing weights file.
        ValueError: an unknown extractor name, or ``weights`` not matching the number of levels.
    """

    def __init__(
        self,
        extractor: str | nn.Module = "pyramid",
        weights: Sequence[float] | None = None,
        vgg_weights_path: str | os.PathLike | None = None,
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        default_weights: Sequence[float] | None = None
        if isinstance(extractor, nn.Module):
            self.extractor_name = type(extractor).__name__
        elif extractor == "pyramid":
            self.extractor_name = extractor
            extractor = PyramidFeatures()
            default_weights = [1 / extractor.num_scales] * extractor.num_scales
        elif extractor == "vgg19":
            self.extractor_name = extractor
            extractor = VGG19Features(vgg_weights_path)
            default_weights = VGG19Features.WEIGHTS
        else:
            raise ValueError(f"Unknown extractor {extractor!r}; use 'pyramid', 'vgg19' or an nn.Module.")
        self.extractor = extractor.eval().requires_grad_(False)
        weights = weights if weights is not None else default_weights
        self.weights = None if weights is None else tuple(float(w) for w in weights)
        self.eps = eps

    def train(self, mode: bool = True) -> ContrastiveRegularization:
        super().train(mode)
        self.extractor.eval()  # frozen: batch-norm statistics or dropout of a user module stay fixed
        return self

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.extractor(x)
        return [out] if isinstance(out, torch.Tensor) else list(out)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """Args: ``pred`` (the output ``x^``), ``target`` (positive ``x_gt``) and ``negative`` (``x_u``),
        all ``[B, C, H, W]``. Returns the scalar ``CR``."""
        if not pred.shape == target.shape == negative.shape:
            raise ValueError(
                f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and negative {tuple(negative.shape)} "
                "must have the same shape."
            )
        with torch.no_grad():
            positives = self._features(target)
            negatives = self._features(negative)
        anchors = self._features(pred)
        weights = self.weights if self.weights is not None else (1.0,) * len(anchors)
        if len(weights) != len(anchors):
            raise ValueError(f"{len(weights)} weights given for {len(anchors)} feature levels of {self.extractor_name}.")
        loss = pred.new_zeros(())
        for w, a, p, n in zip(weights, anchors, positives, negatives):
            loss = loss + w * F.l1_loss(a, p) / (F.l1_loss(a, n) + self.eps)
        return loss


class CLGNetLoss(nn.Module):
    """CLGNet (reconstructed) training loss ``L1(x^, x_gt) + beta * CR(x^; x_gt, x_u)``.

    ``label`` stacks the clean target and the zero-filled input on the channel axis (MONAI
    ``ConcatItemsd`` of the two keys, target first, in the bundle): ``[B, 2C, H, W]`` for a
    ``[B, C, H, W]`` prediction, the target in the first ``C`` channels, the negative ``x_u`` in the
    last ``C``.

    Args:
        beta: weight of the contrastive term (design: 0.1; ablation 0.01). ``beta=0`` gives plain L1
            and the extractor is not called.
        extractor, weights, vgg_weights_path, eps: see :class:`ContrastiveRegularization`.

    Raises:
        ValueError: ``beta < 0``; in ``forward``, a label that is not ``[B, 2C, H, W]``.
    """

    def __init__(
        self,
        beta: float = 0.1,
        extractor: str | nn.Module = "pyramid",
        weights: Sequence[float] | None = None,
        vgg_weights_path: str | os.PathLike | None = None,
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}.")
        self.beta = beta
        self.contrastive = ContrastiveRegularization(extractor, weights, vgg_weights_path, eps)
        self.extractor_name = self.contrastive.extractor_name

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        c = pred.shape[1]
        if label.shape[0] != pred.shape[0] or label.shape[1] != 2 * c or label.shape[2:] != pred.shape[2:]:
            raise ValueError(
                f"label {tuple(label.shape)} must stack the clean target and the zero-filled input of pred "
                f"{tuple(pred.shape)} on the channel axis: expected {(pred.shape[0], 2 * c, *pred.shape[2:])}."
            )
        target, negative = label[:, :c], label[:, c:]
        loss = F.l1_loss(pred, target)
        if self.beta:
            loss = loss + self.beta * self.contrastive(pred, target, negative)
        return loss
