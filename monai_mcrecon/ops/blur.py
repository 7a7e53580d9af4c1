"""Blur operator ``A(x) = k * x`` and its adjoint, with one kernel per sample.

This is the single home of the blur operator used both to synthesise blurred data
(:class:`monai_mcrecon.transforms.degradation.SaturatedMotionBlur`) and inside models that
unroll a deconvolution (Deep RL, see docs/models/deep_rl.md, 'Architecture'), so the
kernel orientation convention never matters inside the project.

Convention: :func:`blur` is a *true convolution* (cross-correlation with the flipped kernel),
the same as ``scipy.ndimage.convolve`` / ``scipy.signal.convolve2d(mode="same")`` for odd kernel
sizes. :func:`blur_adjoint` is the cross-correlation with the kernel itself; it is the exact
adjoint (``<A x, y> = <x, A^T y>``) only for ``padding="constant"`` (zeros) or ``"circular"``;
with ``"reflect"``/``"replicate"`` it is the usual approximation (Richardson-Lucy uses it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["PADDING_MODES", "as_kernel_batch", "blur", "blur_adjoint"]

PADDING_MODES = ("reflect", "replicate", "constant", "circular")


def as_kernel_batch(kernel: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Kernels as ``[B or 1, 1, kh, kw]`` (``[B, kh, kw]`` / ``[1, kh, kw]`` accepted), checked against the batch."""
    if kernel.ndim == 3:
        kernel = kernel[:, None]
    if kernel.ndim != 4 or kernel.shape[1] != 1:
        raise ValueError(
            f"kernel must be [B, 1, kh, kw], [B, kh, kw] or [1, kh, kw] (one kernel shared by all channels), "
            f"got shape {tuple(kernel.shape)}."
        )
    if kernel.shape[0] not in (1, batch_size):
        raise ValueError(
            f"kernel batch size {kernel.shape[0]} does not match the image batch size {batch_size}; "
            "give one kernel per sample or a single kernel [1, kh, kw]."
        )
    return kernel


def _check(x: torch.Tensor, kernel: torch.Tensor, padding: str) -> torch.Tensor:
    if x.ndim != 4:
        raise ValueError(
            f"blur expects x as [B, C, H, W], got shape {tuple(x.shape)}; add the batch axis with x[None]."
        )
    if padding not in PADDING_MODES:
        raise ValueError(f"padding={padding!r} is not supported; use one of {PADDING_MODES}.")
    kernel = as_kernel_batch(kernel, x.shape[0])
    kh, kw = kernel.shape[-2:]
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(
            f"kernel size must be odd so the output stays centred, got {kh}x{kw}; pad the kernel with zeros."
        )
    if padding == "reflect" and (kh // 2 >= x.shape[-2] or kw // 2 >= x.shape[-1]):
        raise ValueError(
            f"reflect padding needs the image ({x.shape[-2]}x{x.shape[-1]}) larger than half the kernel ({kh}x{kw}); "
            "use padding='replicate' or a smaller kernel."
        )
    return kernel.to(dtype=x.dtype, device=x.device)


def _correlate(x: torch.Tensor, kernel: torch.Tensor, padding: str) -> torch.Tensor:
    """Same-size cross-correlation of every channel of sample b with kernel[b]."""
    b, c, h, w = x.shape
    kh, kw = kernel.shape[-2:]
    pad = (kw // 2, kw // 2, kh // 2, kh // 2)
    if padding == "constant":
        xp = F.pad(x, pad, mode="constant", value=0.0)
    else:
        xp = F.pad(x, pad, mode=padding)
    weight = kernel.expand(b, 1, kh, kw)
    # one group per (sample, channel): the kernel of sample i is repeated for its C channels
    weight = weight.repeat_interleave(c, dim=0)
    out = F.conv2d(xp.reshape(1, b * c, h + kh - 1, w + kw - 1), weight, groups=b * c)
    return out.reshape(b, c, h, w)


def blur(x: torch.Tensor, kernel: torch.Tensor, padding: str = "reflect") -> torch.Tensor:
    """Blur ``x`` with a per-sample kernel (true convolution, same-size output).

    Args:
        x: images ``[B, C, H, W]``.
        kernel: ``[B, 1, kh, kw]`` (one per sample) or ``[1, kh, kw]`` / ``[1, 1, kh, kw]`` (shared);
            odd sizes; usually non-negative and summing to 1 (not enforced, so derivative filters work).
        padding: border handling, one of ``"reflect"``, ``"replicate"``, ``"constant"`` (zeros), ``"circular"``.

    Returns:
        ``[B, C, H, W]``: ``(k * x)[i, j] = sum_{u, v} k[u, v] x[i - u + ch, j - v + cw]``.
    """
    kernel = _check(x, kernel, padding)
    return _correlate(x, kernel.flip(-1, -2), padding)


def blur_adjoint(x: torch.Tensor, kernel: torch.Tensor, padding: str = "reflect") -> torch.Tensor:
    """Adjoint of :func:`blur`: cross-correlation with ``kernel`` (exact for "constant" and "circular" padding)."""
    kernel = _check(x, kernel, padding)
    return _correlate(x, kernel, padding)
