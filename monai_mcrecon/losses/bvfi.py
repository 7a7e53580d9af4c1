"""Losses of BVFI (inferred; the paper text was not available; docs/models/bvfi.md, 'Losses').

- :func:`charbonnier_loss`: ``mean(sqrt((x - y)^2 + eps))`` with ``eps = 1e-6`` (the restoration papers'
  epsilon-Charbonnier; ``kornia.losses.charbonnier_loss`` is a different, unit-scale function).
- :class:`BVFILoss`: ``Charb(out) + 0.5 Charb(coarse) + 0.5 Charb(x0)`` (deep supervision of stages 1 and 3,
  weights [project]), returning the named terms for :class:`monai_mcrecon.engines.multi_io.MultiIOTrainer`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["BVFILoss", "charbonnier_loss"]


def charbonnier_loss(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``mean(sqrt((x - y)^2 + eps))``.

    Raises:
        ValueError: the shapes differ.
    """
    if x.shape != y.shape:
        raise ValueError(f"Charbonnier loss needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}.")
    return torch.sqrt((x - y) ** 2 + eps).mean()


class BVFILoss(nn.Module):
    """``out_weight Charb(out, y) + coarse_weight Charb(coarse, y) + x0_weight Charb(x0, y)``.

    ``pred`` is BVFI's output dict (``out``, ``coarse``, ``x0`` ``[B, L, 3, H, W]``); ``target`` the sharp frames
    ``[B, L, 3, H, W]`` at the same times. Returns ``{"loss": total, "charb_out", "charb_coarse", "charb_x0"}``.

    Raises:
        KeyError: ``pred`` lacks a needed output (call the network in training mode or with
            ``return_all_outputs=True``).
    """

    def __init__(self, out_weight: float = 1.0, coarse_weight: float = 0.5, x0_weight: float = 0.5,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.weights = {"out": out_weight, "coarse": coarse_weight, "x0": x0_weight}
        self.eps = eps

    def forward(self, pred: Mapping[str, torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
        if not isinstance(pred, Mapping):
            raise KeyError(
                "BVFILoss needs the network's output dict (out, coarse, x0); run BVFI in training mode or with "
                "return_all_outputs=True."
            )
        terms, total = {}, None
        for name, w in self.weights.items():
            if w == 0:
                continue
            if name not in pred:
                raise KeyError(f"BVFI output has no {name!r} (it has {sorted(pred)}).")
            terms[f"charb_{name}"] = charbonnier_loss(pred[name], target, self.eps)
            total = w * terms[f"charb_{name}"] if total is None else total + w * terms[f"charb_{name}"]
        return {"loss": total, **terms}
