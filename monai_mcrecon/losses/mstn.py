"""MSTN's training loss: L1, plus an optional VGG16 perceptual term (docs/models/mstn.md, 'Loss').

The release (``main.py`` with ``--perloss``, FFA-Net's ``PerceptualLoss.py``) uses
``L1(out, gt) + 0.04 * mean_l MSE(phi_l(out), phi_l(gt))`` with ``phi`` = ImageNet VGG16 relu1_2,
relu2_2, relu3_3 on un-normalised [0, 1] images. ImageNet weights cannot be downloaded here, so the
extractor is supplied by the user (any module returning a list of feature maps, e.g.
:class:`VGG16Features` built from a local weights file) and the term is off by default: without an
extractor the loss is exactly ``L1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MSTNLoss", "VGG16Features"]


class VGG16Features(nn.Module):
    """Frozen VGG16 activations relu1_2, relu2_2, relu3_3 (``torchvision.models.vgg16().features[:16]``).

    Args:
        weights_path: a local state-dict file: a full VGG16 state dict (torchvision's
            ``vgg16-397923af.pth``) or that of its ``features``. ``None`` keeps the random
            initialisation (for tests only; a random extractor is not a perceptual loss).
        normalize: subtract the ImageNet mean and divide by its standard deviation first (the
            release does not: ``False``).

    Raises:
        FileNotFoundError: when ``weights_path`` is given but is not a file.
    """

    SLICES = (4, 9, 16)

    def __init__(self, weights_path: str | os.PathLike | None, normalize: bool = False) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs["D"], batch_norm=False)  # == torchvision.models.vgg16().features
        if weights_path is not None:
            if not os.path.isfile(weights_path):
                raise FileNotFoundError(
                    f"VGG16Features: {str(weights_path)!r} is not a file. Put an ImageNet VGG16 state dict (e.g. "
                    "torchvision's vgg16-397923af.pth) on this machine and pass its path; weights are never "
                    "downloaded. Without one, train with the L1 loss alone (MSTNLoss(extractor=None))."
                )
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
            if any(k.startswith("features.") for k in state):
                state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
            features.load_state_dict(state)
        starts = (0, *self.SLICES[:-1])
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in zip(starts, self.SLICES))
        self.normalize = bool(normalize)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x [B, 3, H, W]`` (a single channel is repeated to RGB) -> three feature maps."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = (x - self.mean) / self.std if self.normalize else x
        out = []
        for block in self.slices:
            h = block(h)
            out.append(h)
        return out


class MSTNLoss(nn.Module):
    """``L1(pred, label) + perceptual_weight * mean_l MSE(phi_l(pred), phi_l(label))``.

    Args:
        perceptual_weight: weight of the perceptual term (release: 0.04).
        extractor: frozen feature extractor returning a tensor or a list of feature maps;
            ``None`` (default) skips the perceptual term: the loss is the release's plain ``L1``.

    The extractor's parameters are frozen and it is kept in eval mode; the gradient flows through
    it to ``pred`` only.
    """

    def __init__(
        self,
        perceptual_weight: float = 0.04,
        extractor: nn.Module | Callable[[torch.Tensor], Sequence[torch.Tensor]] | None = None,
    ) -> None:
        super().__init__()
        if perceptual_weight < 0:
            raise ValueError(f"perceptual_weight must be >= 0, got {perceptual_weight=}.")
        self.perceptual_weight = float(perceptual_weight)
        self.extractor = extractor
        if isinstance(extractor, nn.Module):
            extractor.requires_grad_(False)
            extractor.eval()

    def train(self, mode: bool = True) -> MSTNLoss:
        super().train(mode)
        if isinstance(self.extractor, nn.Module):
            self.extractor.eval()
        return self

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.extractor(x)
        return [out] if isinstance(out, torch.Tensor) else list(out)

    def perceptual(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """``mean_l MSE(phi_l(pred), phi_l(label))``; zero without an extractor."""
        if self.extractor is None:
            return pred.new_zeros(())
        with torch.no_grad():
            targets = self._features(label)
        preds = self._features(pred)
        return torch.stack([F.mse_loss(p, t) for p, t in zip(preds, targets)]).mean()

    def forward(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if pred.shape != label.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and label {tuple(label.shape)} must have the same shape.")
        loss = F.l1_loss(pred, label)
        if self.extractor is not None and self.perceptual_weight > 0:
            loss = loss + self.perceptual_weight * self.perceptual(pred, label)
        return loss
