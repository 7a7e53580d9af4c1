"""Winograd 3x3 convolutions on the CPU for inference, through the NNPACK library that PyTorch ships.

oneDNN, PyTorch's default CPU convolution, computes a 3x3 convolution directly. NNPACK's Winograd
transform F(6x6, 3x3) needs about a quarter of the multiplications for the same output, up to float
rounding (relative difference about 3e-6 in float32). On one core of this project's AMD EPYC it is
1.4-1.5x faster than oneDNN in its preferred channels-last layout for the wide convolutions that dominate
MC-CDic (64 -> 64 channels at 240 x 240: 59 ms against 87 ms) and slower for narrow or small ones, so only
wide ones are routed to it (:func:`winograd_eligible`).

:class:`WinogradConvolutions` is a :class:`torch.overrides.TorchFunctionMode`: inside it, every
``torch.nn.functional.conv2d`` call (``nn.Conv2d`` modules included) that is eligible runs
``torch._nnpack_spatial_convolution``; every other call is untouched. Use it around CPU inference only::

    with torch.inference_mode(), WinogradConvolutions():
        out = net(image)

:func:`winograd_usable` says whether a forward pass on ``x`` may use it: a float32 CPU tensor, no autograd
graph being recorded, not inside ``torch.compile`` / ``torch.export`` / TorchScript tracing, NNPACK built in.
MC-CDic's fast forward applies it by itself (``MCCDic.winograd``, docs/performance.md).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["WinogradConvolutions", "winograd_available", "winograd_eligible", "winograd_usable"]

#: both channel counts at least this: narrower convolutions are faster in oneDNN (measured 0.4-0.7x with NNPACK)
MIN_CHANNELS = 32
#: at least this many pixels per map: on small maps the transform's overhead wins (0.65-0.9x at 17-30 px)
MIN_PIXELS = 48 * 48


@lru_cache(maxsize=1)
def winograd_available() -> bool:
    """Whether this PyTorch build has NNPACK on this CPU. The call also initialises NNPACK, which its
    convolution needs first (without it every call fails with 'NNPACK SpatialConvolution_updateOutput failed')."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def _pair(value) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def winograd_eligible(x: torch.Tensor, weight: torch.Tensor, stride=1, padding=0, dilation=1, groups=1) -> bool:
    """Whether ``F.conv2d(x, weight, ...)`` is one that NNPACK's Winograd path computes and computes faster:
    a 3x3 kernel, stride 1, no dilation, one group, numeric padding, float32 CPU tensors of 4 dimensions, at least
    :data:`MIN_CHANNELS` input and output channels and :data:`MIN_PIXELS` pixels per map, and no gradient wanted."""
    if not (isinstance(x, torch.Tensor) and isinstance(weight, torch.Tensor)):
        return False
    if x.dim() != 4 or weight.dim() != 4 or tuple(weight.shape[-2:]) != (3, 3) or groups != 1:
        return False
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32:
        return False
    if _pair(stride) != (1, 1) or _pair(dilation) != (1, 1) or _pair(padding) is None:
        return False
    if weight.shape[0] < MIN_CHANNELS or weight.shape[1] < MIN_CHANNELS or x.shape[-2] * x.shape[-1] < MIN_PIXELS:
        return False
    return not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))


def winograd_usable(x: torch.Tensor) -> bool:
    """Whether a forward pass on ``x`` may run inside :class:`WinogradConvolutions`: float32 on the CPU, no autograd
    graph recorded (``torch.no_grad`` / ``torch.inference_mode``, or nothing requires a gradient is not enough:
    the network's parameters do), not traced or compiled, and NNPACK available."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_grad_enabled():
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    if torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return False
    return winograd_available()


class WinogradConvolutions(TorchFunctionMode):
    """Route the eligible 2-D convolutions (:func:`winograd_eligible`) to NNPACK's Winograd convolution.

    ``calls`` counts the routed convolutions (for tests and profiling). Outputs equal ``F.conv2d``'s up to
    float rounding (about 3e-6 relative); the convolutions that are not eligible run unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        if not winograd_available():
            raise RuntimeError(
                "WinogradConvolutions needs PyTorch's NNPACK (torch._nnpack_available() is False on this build or "
                "CPU); run without it (MCCDic: net.winograd = False)."
            )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv2d or func is torch.conv2d:
            names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
            defaults = (None, None, None, 1, 0, 1, 1)
            values = dict(zip(names, defaults))
            values.update(zip(names, args))
            values.update(kwargs)
            x, weight = values["input"], values["weight"]
            if winograd_eligible(x, weight, values["stride"], values["padding"], values["dilation"], values["groups"]):
                self.calls += 1
                return torch._nnpack_spatial_convolution(
                    x.contiguous(), weight.contiguous(), values["bias"], list(_pair(values["padding"])), [1, 1]
                )
        return func(*args, **kwargs)
