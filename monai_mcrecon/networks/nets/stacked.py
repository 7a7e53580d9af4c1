"""One-tensor-in, one-tensor-out views of the bundles' networks, for export (ONNX) and ``verify_net_in_out``.

MONAI's bundle tools (``python -m monai.bundle onnx_export``, ``verify_net_in_out``, ``ckpt_export``)
call a network with one random ``[1, C, H, W]`` tensor and read one tensor back. These wrappers give
every image-to-image network that interface, holding the wrapped network as ``network`` (its state
dict loads with or without the ``network.`` prefix, so the bundles' ``models/model.pt`` loads as it is):

* :class:`SingleTensorNetwork`: the network's own input, padded in an export-friendly way (below).
* :class:`StackedViews`: several images stacked along the channels (stereo views, two video frames) and
  split back into the network's positional arguments; a dict output is reduced to chosen keys
  stacked along the channels.
* :class:`KernelChannel`: Deep RL's ``(image, kernel)``: the kernel rides in an extra channel, in its
  top-left ``kernel_size x kernel_size`` corner.
* :class:`FixedTimes`: BVFI's ``(blurry window, t)`` with the target times fixed when the bundle is built.

Export-friendly padding: networks that pad their input to a multiple of some ``m`` decide
``if pad_h or pad_w`` from the size; ``torch.export`` records that decision for the example size
(e.g. "no padding" for 256 x 256), and the exported graph then fails or is wrong at 33 x 41. While
exporting (``torch.compiler.is_exporting()``), the wrappers pad first, always, to ``m * ceil(H / m)``
(written as ``(H + m - 1) // m * m``: ONNX integer division truncates, so no negative floor division),
with the network's own padding mode; the network then sees a size that is a multiple of ``m`` for every
``H`` and pads nothing. Run eagerly, the wrappers call the network as it is (bit-equal outputs). The
exported graphs equal the network within 1e-4 relative under ONNX Runtime (tests/test_export.py) for
``H, W >= m`` (MDRN, SPDNet: reflect padding needs fewer padded rows than the image has).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FixedTimes", "KernelChannel", "SingleTensorNetwork", "StackedViews", "padding_rule", "pad_to_multiple"]


def padding_rule(network: nn.Module) -> tuple[int, str]:
    """``(multiple, mode)`` with which ``network`` pads its input internally (``(1, "replicate")``: it does not).

    Known: MC-CDic (``size_multiple``, replicate), MDRN (``2 ** levels``, reflect), SPDNet (``MULTIPLE``,
    reflect), FGDCN (``multiple``, replicate), BVFI (``feature_stride``, replicate).
    """
    name = type(network).__name__
    if name == "MCCDic":
        return int(network.size_multiple), "replicate"
    if name == "MDRN":
        return 2 ** int(network.levels), "reflect"
    if name == "SPDNet":
        return int(network.MULTIPLE), "reflect"
    if name == "FGDCN":
        return int(network.multiple), "replicate"
    if name == "BVFI":
        return int(network.feature_stride), "replicate"
    return 1, "replicate"


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> torch.Tensor:
    """Pad ``x [..., H, W]`` at the bottom and right to ``multiple * ceil(H / multiple)`` (and W), always.

    Args:
        x: the input; its last two axes are padded.
        multiple: the size multiple ``m`` (1: returned unchanged).
        mode: ``F.pad`` mode (``"replicate"``, ``"reflect"``; reflect needs fewer than ``H`` padded rows).

    Returns:
        the padded tensor (a copy also when nothing is padded, so that export sees one graph for all sizes).
    """
    if multiple <= 1:
        return x
    h, w = x.shape[-2:]
    return F.pad(x, (0, (w + multiple - 1) // multiple * multiple - w, 0, (h + multiple - 1) // multiple * multiple - h),
                 mode=mode)


def _add_prefix_hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    """Load-state-dict pre-hook: keys of the wrapped network without the ``network.`` prefix get it."""
    inner = prefix + "network."
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(inner)]:
        state_dict[inner + key[len(prefix):]] = state_dict.pop(key)


class SingleTensorNetwork(nn.Module):
    """``network(x)`` with ``x [B, in_channels, H, W]``, padded export-friendly (module docstring), cropped back.

    Args:
        network: the wrapped network (set to eval mode by the caller; the wrapper follows ``train()``/``eval()``).
        in_channels: channels of the one input tensor (checked; ``None`` skips the check).
        multiple: pad to a multiple of this; ``None`` reads it from :func:`padding_rule`.
        pad_mode: ``F.pad`` mode; ``None`` reads it from :func:`padding_rule`.
        scale: output size over input size (2 for x2 super-resolution), used to crop the padding off.

    Raises:
        ValueError: at call time, an input that is not ``[B, in_channels, H, W]``.
    """

    def __init__(
        self,
        network: nn.Module,
        in_channels: int | None = None,
        multiple: int | None = None,
        pad_mode: str | None = None,
        scale: int = 1,
    ) -> None:
        super().__init__()
        self.network = network
        rule = padding_rule(network)
        self.in_channels = None if in_channels is None else int(in_channels)
        self.multiple = int(rule[0] if multiple is None else multiple)
        self.pad_mode = rule[1] if pad_mode is None else pad_mode
        self.scale = int(scale)
        self.register_load_state_dict_pre_hook(_add_prefix_hook)

    def check(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``[B, in_channels, H, W]``."""
        if x.ndim != 4 or (self.in_channels is not None and x.shape[1] != self.in_channels):
            raise ValueError(
                f"{type(self).__name__} expects one tensor [B, {self.in_channels or 'C'}, H, W], got {tuple(x.shape)}; "
                "stack the inputs along the channels as the bundle's metadata.json describes."
            )

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped call on the padded input (subclasses split the input here)."""
        return self.network(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        if self.multiple <= 1 or not torch.compiler.is_exporting():  # eager: the network pads as it always does
            return self.run(x)
        h, w = x.shape[-2:]
        out = self.run(pad_to_multiple(x, self.multiple, self.pad_mode))
        return out[..., : h * self.scale, : w * self.scale]


class StackedViews(SingleTensorNetwork):
    """``network(x[:, :c], x[:, c:2c], ...)``: views stacked along the channels, one tensor out.

    Args:
        network: a network called with ``num_views`` images of ``view_channels`` channels each.
        view_channels: channels per view (3 for RGB).
        num_views: number of views / frames.
        output_keys: for a network returning a mapping (or an object with ``to_dict()``), the entries stacked
            along the channels, in this order; ``None`` expects a tensor.
        multiple, pad_mode, scale: see :class:`SingleTensorNetwork`.

    Raises:
        ValueError: at call time, the wrong number of channels; a mapping output without ``output_keys``.
    """

    def __init__(
        self,
        network: nn.Module,
        view_channels: int = 3,
        num_views: int = 2,
        output_keys: Sequence[str] | None = None,
        multiple: int | None = None,
        pad_mode: str | None = None,
        scale: int = 1,
    ) -> None:
        super().__init__(network, int(view_channels) * int(num_views), multiple, pad_mode, scale)
        self.view_channels, self.num_views = int(view_channels), int(num_views)
        self.output_keys = None if output_keys is None else [str(k) for k in output_keys]

    def run(self, x: torch.Tensor) -> torch.Tensor:
        c = self.view_channels
        out: Any = self.network(*(x[:, i * c : (i + 1) * c] for i in range(self.num_views)))
        if isinstance(out, torch.Tensor):
            return out
        if hasattr(out, "to_dict"):
            out = out.to_dict()
        if not isinstance(out, Mapping) or self.output_keys is None:
            raise ValueError(
                f"{type(self.network).__name__} returned {type(out).__name__}; give StackedViews output_keys naming "
                "the entries to stack (e.g. ['out4_left', 'out4_right', 'disp_hr2_left'])."
            )
        return torch.cat([out[k] for k in self.output_keys], dim=1)


class KernelChannel(SingleTensorNetwork):
    """``network(x[:, :-1], x[:, -1:, :k, :k])``: the image and, in one extra channel, its blur kernel.

    The kernel (odd size ``k x k``, or a smaller odd kernel zero-padded to ``k x k`` about its centre, which
    blurs identically) fills the top-left ``k x k`` corner of the last channel; the rest of that channel is
    ignored. ``H`` and ``W`` must be at least ``k``.

    Args:
        network: a network called as ``network(image, kernel [B, 1, k, k])`` (Deep RL).
        image_channels: channels of the image (3 for RGB); the input has ``image_channels + 1``.
        kernel_size: ``k``, odd.

    Raises:
        ValueError: an even ``kernel_size``; at call time, the wrong channels or an image smaller than the kernel.
    """

    def __init__(self, network: nn.Module, image_channels: int = 3, kernel_size: int = 15) -> None:
        if int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size} must be odd (the blur stays centred); use e.g. 15.")
        super().__init__(network, int(image_channels) + 1, multiple=1)
        self.kernel_size = int(kernel_size)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        if x.shape[-2] < k or x.shape[-1] < k:
            raise ValueError(
                f"KernelChannel needs images of at least {k}x{k} (the kernel's corner), got {x.shape[-2]}x{x.shape[-1]}; "
                "pad the image or build the wrapper with a smaller kernel_size."
            )
        return self.network(x[:, :-1], x[:, -1:, :k, :k])


class FixedTimes(SingleTensorNetwork):
    """``network(x, t=times)`` with the times fixed: a channel-stacked window in, ``[B, 3 L, H, W]`` out (BVFI).

    Args:
        network: a network called as ``network(window, t)`` returning the channel-stacked frames at the ``L`` times.
        times: the target times (fractions of the interval between the two middle frames).
        in_channels, multiple, pad_mode: see :class:`SingleTensorNetwork`.

    Raises:
        ValueError: no time, or a time outside [0, 1].
    """

    def __init__(
        self,
        network: nn.Module,
        times: Sequence[float] | float = (0.5,),
        in_channels: int | None = None,
        multiple: int | None = None,
        pad_mode: str | None = None,
    ) -> None:
        times = [float(times)] if isinstance(times, (int, float)) else [float(t) for t in times]
        if not times or any(not 0.0 <= t <= 1.0 for t in times):
            raise ValueError(f"times={times}: give at least one target time in [0, 1] (e.g. [0.5]).")
        super().__init__(network, in_channels, multiple, pad_mode)
        self.times = times

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x, t=list(self.times))
