"""TV-L1 optical flow (Zach, Pock and Bischof, DAGM 2007; scikit-image ``optical_flow_tvl1``) in the package's
flow convention: ``[2, H, W]`` (x, y) displacements in pixels with ``warp(other, flow) ~ reference``
(:func:`monai_mcrecon.ops.warp.flow_warp`, backward warping).

One home for the classical flow that the FGDCN teacher stand-in (:class:`TVL1FlowTeacher`) and the TV-L1
interpolation baseline (:func:`monai_mcrecon.baselines.tvl1_interpolate`) both use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["TVL1FlowTeacher", "tvl1_flow"]


def tvl1_flow(reference: np.ndarray, other: np.ndarray, **tvl1_kwargs: Any) -> torch.Tensor:
    """TV-L1 flow ``[2, H, W]`` (x, y), float64, between two 2-D gray images, with ``warp(other, flow) ~ reference``.

    Args:
        reference, other: ``[H, W]`` gray images of the same shape.
        tvl1_kwargs: passed to ``skimage.registration.optical_flow_tvl1`` (e.g. ``attachment``, ``num_warp``).
    """
    from skimage.registration import optical_flow_tvl1

    v, u = optical_flow_tvl1(reference, other, **tvl1_kwargs)  # skimage: (row, col) displacements
    return torch.from_numpy(np.stack([u, v]))


class TVL1FlowTeacher:
    """Classical stand-in for the release's LiteFlowNet teacher: scikit-image ``optical_flow_tvl1`` on gray images.

    ``teacher(reference, other)`` returns ``[B, 2, H, W]`` (x, y) pixels with ``warp(other, flow) ~ reference``
    (skimage's ``(v, u)`` reordered). Runs on the CPU per sample, without gradient: slow (about a second per
    100 x 100 pair), so it suits small crops or precomputing. No learned weights are involved.

    Args:
        **tvl1_kwargs: passed to ``skimage.registration.optical_flow_tvl1`` (e.g. ``attachment``, ``num_warp``).
    """

    def __init__(self, **tvl1_kwargs: Any) -> None:
        self.kwargs = tvl1_kwargs

    @staticmethod
    def _gray(x: torch.Tensor) -> np.ndarray:
        x = x.detach().cpu().double()
        g = 0.2989 * x[0] + 0.5870 * x[1] + 0.1140 * x[2] if x.shape[0] == 3 else x[0]
        return g.numpy()

    def __call__(self, reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        if reference.ndim != 4 or reference.shape != other.shape:
            raise ValueError(
                f"TVL1FlowTeacher expects two batches [B, C, H, W] of the same shape, got {tuple(reference.shape)} "
                f"and {tuple(other.shape)}."
            )
        flows = [tvl1_flow(self._gray(a), self._gray(b), **self.kwargs) for a, b in zip(reference, other)]
        return torch.stack(flows).to(dtype=reference.dtype, device=reference.device)
