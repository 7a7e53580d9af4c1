"""Spatial and Fourier layer (SFL) and residual block (SFRB) of CLGNet (reconstructed).

Paper: Q. Yi, J. Liu, L. Hu, F. Fang, G. Zhang, "Contrastive Learning for Local and Global Learning
MRI Reconstruction", arXiv:2111.15200 (2021). No code is public; the abstract only states that an
SFL learns local (spatial) and global (Fourier) information at once and that SFRBs built on it are
the main component. The layer below is the project's reconstruction (docs/models/clgnet.md,
'Architecture'), not a faithful reproduction.

The Fourier branch is a feature-domain operation (real FFT of feature maps, pointwise mixing of
frequencies), not the acquisition model, so it calls ``torch.fft`` directly; the k-space
conventions of the acquisition live in :mod:`monai_mcrecon.kspace`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FUSIONS", "SpatialFourierLayer", "SpatialFourierResidualBlock", "irfft2_as_ifft2", "rfft2_as_fft2"]

FUSIONS = ("sum", "conv1x1")


def rfft2_as_fft2(x: torch.Tensor) -> torch.Tensor:
    """``torch.fft.rfft2(x, norm="ortho")`` as the first ``W // 2 + 1`` columns of a complex ``fft2`` (for export).

    Args:
        x: real ``[..., H, W]``.

    Returns:
        complex ``[..., H, W // 2 + 1]``, equal to ``rfft2`` up to float rounding.
    """
    spectrum = torch.fft.fft2(torch.complex(x, torch.zeros_like(x)), norm="ortho")
    return spectrum[..., : x.shape[-1] // 2 + 1]


def irfft2_as_ifft2(real: torch.Tensor, imag: torch.Tensor, width: int) -> torch.Tensor:
    """``irfft2(complex(real, imag), s=(H, width), norm="ortho")`` as the real part of a complex ``ifft2``.

    The one-sided spectrum (``width // 2 + 1`` columns) is weighted by 2 on the columns that stand for a
    conjugate pair (1 on the DC column and, for an even ``width``, the Nyquist column) and zero-padded to
    ``width`` columns; the real part of its inverse transform is the real inverse transform (which, like
    this, ignores the imaginary parts of the DC and Nyquist columns). Used when exporting (ONNX).

    Args:
        real: real part ``[..., H, width // 2 + 1]``.
        imag: imaginary part, same shape.
        width: ``W`` of the output.

    Returns:
        ``[..., H, width]``, equal to ``torch.fft.irfft2`` up to float rounding.
    """
    columns = torch.arange(real.shape[-1], device=real.device)
    weight = torch.where((columns == 0) | (2 * columns == width), 1.0, 2.0).to(real.dtype)
    pad = (0, width - real.shape[-1])
    spectrum = torch.complex(F.pad(real * weight, pad), F.pad(imag * weight, pad))
    return torch.fft.ifft2(spectrum, norm="ortho").real


class SpatialFourierLayer(nn.Module):
    """SFL: a local spatial branch and a global Fourier branch on the same features.

    - spatial: ``S(f) = Conv3x3(C -> C)(f)``;
    - Fourier: ``X = rfft2(f, norm="ortho")``, real and imaginary parts stacked as ``2C`` channels,
      ``Conv1x1(2C -> 2C) -> ReLU -> Conv1x1(2C -> 2C)``, split back into a complex tensor,
      ``G(f) = irfft2(., s=(H, W), norm="ortho")``. Every frequency depends on every pixel, so
      changing one input pixel changes ``G(f)`` everywhere (global receptive field). ``G`` commutes
      with circular shifts only when the per-frequency mixing commutes with the phase factor
      ``exp(-2 pi i k.s / N)`` of a shift, i.e. when it is complex-linear (``[[A, -B], [B, A]]`` on
      ``(Re, Im)``, no bias, no ReLU); the learned branch (real-linear mixing, biases, ReLU on real
      and imaginary parts) is in general *not* shift-equivariant.
    - fusion: ``"sum"`` gives ``S(f) + G(f)``; ``"conv1x1"`` gives ``Conv1x1(2C -> C)(cat(S, G))``.

    Args:
        channels: feature channels ``C`` (input = output).
        fusion: ``"sum"`` (default) or ``"conv1x1"``.
        fourier: ``False`` drops the Fourier branch (and the fusion), leaving the spatial
            convolution alone: the "without Fourier branch" ablation. ``fusion`` is then unused.

    Input ``[B, C, H, W]`` of any ``H, W`` (odd included); output of the same shape. Half-precision
    inputs are transformed in float32 (``rfft2`` of half tensors needs power-of-two sizes).
    """

    def __init__(self, channels: int, fusion: str = "sum", fourier: bool = True) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"Unknown fusion {fusion!r}; use one of {FUSIONS}.")
        self.channels = int(channels)
        self.fusion = fusion
        self.fourier = bool(fourier)
        self.spatial = nn.Conv2d(channels, channels, 3, padding=1)
        self.frequency: nn.Sequential | None = None
        self.fuse: nn.Conv2d | None = None
        if self.fourier:
            self.frequency = nn.Sequential(
                nn.Conv2d(2 * channels, 2 * channels, 1),
                nn.ReLU(inplace=True),
                nn.Conv2d(2 * channels, 2 * channels, 1),
            )
            if fusion == "conv1x1":
                self.fuse = nn.Conv2d(2 * channels, channels, 1)

    def fourier_branch(self, f: torch.Tensor) -> torch.Tensor:
        """``G(f) = irfft2(split(Conv1x1(ReLU(Conv1x1(cat(Re X, Im X))))), s=(H, W))``, ``X = rfft2(f)``."""
        if self.frequency is None:
            raise RuntimeError("This SpatialFourierLayer was built with fourier=False.")
        h, w = f.shape[-2:]
        dtype = torch.promote_types(f.dtype, torch.float32)
        # when exporting: the same values without one-sided DFTs, which ONNX Runtime mis-plans at dynamic sizes
        exporting = torch.compiler.is_exporting()
        spectrum = rfft2_as_fft2(f.to(dtype)) if exporting else torch.fft.rfft2(f.to(dtype), norm="ortho")
        mixed = self.frequency(torch.cat([spectrum.real, spectrum.imag], dim=1).to(f.dtype)).to(dtype)
        real, imag = mixed.chunk(2, dim=1)
        if exporting:
            return irfft2_as_ifft2(real, imag, w).to(f.dtype)
        return torch.fft.irfft2(torch.complex(real, imag), s=(h, w), norm="ortho").to(f.dtype)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        local = self.spatial(f)
        if self.frequency is None:
            return local
        glob = self.fourier_branch(f)
        if self.fuse is None:
            return local + glob
        return self.fuse(torch.cat([local, glob], dim=1))


class SpatialFourierResidualBlock(nn.Module):
    """SFRB: ``f + SFL_2(ReLU(SFL_1(f)))``.

    Args:
        channels: feature channels ``C``.
        fusion: fusion of both SFLs (see :class:`SpatialFourierLayer`).
        fourier: ``False`` makes both SFLs plain 3x3 convolutions (a residual block of the
            spatial branch only).
    """

    def __init__(self, channels: int, fusion: str = "sum", fourier: bool = True) -> None:
        super().__init__()
        self.sfl1 = SpatialFourierLayer(channels, fusion, fourier)
        self.act = nn.ReLU(inplace=True)
        self.sfl2 = SpatialFourierLayer(channels, fusion, fourier)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f + self.sfl2(self.act(self.sfl1(f)))
