"""Inference-time options in one home: faster inference with the same outputs, and the self-ensemble.

* :class:`OptimizedInferer` wraps any MONAI inferer (``SimpleInferer``, the bundles' ``SliceInferer``
  with its slice batching, ``SlidingWindowInferer``) and runs it under ``torch.inference_mode``,
  optionally with the network and inputs in the channels-last memory format, a ``torch.compile``d
  network (compiled once per network), automatic mixed precision on CUDA (ignored on CPU, where
  bfloat16 autocast would change results beyond the tolerances below), and tiles
  (:class:`TiledInferer`) inside every slice batch; or the network run by ONNX Runtime on the CPU
  (``backend="onnxruntime"``, :mod:`monai_mcrecon.onnx_backend`: exported once per network and weights, cached).
* :class:`SelfEnsembleInferer` (not output-preserving, on purpose): the average of the network's outputs
  over flipped inputs (each output flipped back) and, for frame interpolation, over the two input frames
  swapped (the middle frame of ``(I1, I0)`` is the same frame). The "self-ensemble" of image restoration
  (Lim et al., EDSR, CVPRW 2017; Timofte et al., CVPR 2016) and of frame interpolation (RIFE, IFRNet test
  with flips and time reversal); it costs one network call per variant.
* :class:`TiledInferer`: :class:`monai.inferers.SlidingWindowInferer` with a margin weight map:
  every tile contributes with weight 1 in its centre and ``margin_weight`` (1e-6) in a border of
  ``margin`` pixels, and tiles overlap by ``2 * margin``. For a network whose receptive-field radius
  is at most ``margin`` (and zero padding), the stitched output equals the whole-image output up to
  ``margin_weight`` relative (tested); networks with global receptive fields (MC-CDic's multi-scale
  dictionaries, CLGNet's Fourier layers) are approximated, the closer the larger the tile.

Tolerances (tests/performance/test_inference.py): ``inference_mode`` and ``torch.compile`` (eager
backend) bit-equal or 1e-6 relative; channels-last 1e-5 relative (another summation order in
oneDNN); tiles 1e-5 relative for a local network; the ONNX Runtime backend 1e-4 relative
(tests/performance/test_onnx_backend.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.inferers import Inferer, SimpleInferer, SlidingWindowInferer
from monai.inferers.utils import sliding_window_inference
from torch import nn

__all__ = ["OptimizedInferer", "SelfEnsembleInferer", "TiledInferer", "margin_weight_map", "prepare_network", "tile_margins"]


def tile_margins(roi_size: Sequence[int], margin: Sequence[int] | int, spatial_size: Sequence[int]) -> list[int]:
    """The margin used along each axis: none where the tile covers the image, else ``margin``.

    Raises:
        ValueError: a tile smaller than the image along an axis but not larger than its two margins
            (no centre would count), naming the sizes and the fix.
    """
    margins = margin if isinstance(margin, Sequence) else [margin] * len(spatial_size)
    out = []
    for axis, (t, m, n) in enumerate(zip(roi_size, margins, spatial_size)):
        if t < n and t <= 2 * int(m):
            raise ValueError(
                f"A tile of {t} pixels along in-plane axis {axis} (the image has {n}) leaves no centre inside its two "
                f"{int(m)}-pixel margins; use tiles larger than {2 * int(m)} pixels or a smaller margin."
            )
        out.append(0 if t >= n else int(m))
    return out


def margin_weight_map(roi_size: Sequence[int], margin: Sequence[int], margin_weight: float = 1e-6) -> torch.Tensor:
    """``[1, 1, *roi_size]`` weights: 1 in the centre, ``margin_weight`` within ``margin`` of a tile's border."""
    weights = torch.ones(1, 1, *roi_size)
    for axis, (size, m) in enumerate(zip(roi_size, margin)):
        if m <= 0:
            continue
        if 2 * m >= size:
            raise ValueError(f"margin {m} leaves no centre in a tile of {size} pixels; use a tile larger than 2 * margin.")
        profile = torch.ones(size)
        profile[:m] = margin_weight
        profile[size - m :] = margin_weight
        shape = [1] * len(roi_size)
        shape[axis] = size
        weights = weights * profile.view(1, 1, *shape)
    return weights


class TiledInferer(SlidingWindowInferer):
    """Tile-wise inference whose tiles only count in their centres (see the module docstring).

    Args:
        roi_size: tile size per spatial axis.
        margin: pixels of each tile border that are (almost) ignored; at least the network's
            receptive-field radius for an exact result.
        sw_batch_size: tiles per forward pass.
        margin_weight: weight of the border pixels (> 0 so that the image border, covered only by
            tile borders, still gets a value, which is exact there for zero-padded networks).
        progress: progress bar over the tiles.
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int,
        margin: Sequence[int] | int = 32,
        sw_batch_size: int = 1,
        margin_weight: float = 1e-6,
        progress: bool = False,
    ) -> None:
        super().__init__(roi_size=roi_size, sw_batch_size=sw_batch_size, overlap=0.0, progress=progress)
        self.margin = margin
        self.margin_weight = float(margin_weight)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any):
        spatial = inputs.shape[2:]
        roi = [spatial[i] if r <= 0 else min(int(r), spatial[i]) for i, r in enumerate(
            self.roi_size if isinstance(self.roi_size, Sequence) else [self.roi_size] * len(spatial))]
        margins = tile_margins(roi, self.margin, spatial)
        overlap = [2 * m / r for m, r in zip(margins, roi)]
        weights = margin_weight_map(roi, margins, self.margin_weight).to(inputs.device)
        return sliding_window_inference(
            inputs, roi, self.sw_batch_size, network, overlap=overlap, mode="constant",
            progress=self.progress, roi_weight_map=weights, **kwargs,
        )


def prepare_network(network: nn.Module, channels_last: bool = False) -> nn.Module:
    """``eval()`` and, optionally, channels-last weights (in place; state-dict keys unchanged)."""
    network.eval()
    if channels_last:
        network.to(memory_format=torch.channels_last)
    return network


class OptimizedInferer(Inferer):
    """A MONAI inferer run under ``torch.inference_mode`` with optional speed options (module docstring).

    Args:
        inferer: the wrapped inferer (default ``SimpleInferer()``).
        amp: float16 autocast when the inputs are on CUDA; no effect on CPU.
        channels_last: network and 4-D inputs in the channels-last memory format. Measured on CPU
            (benchmarks/results/inference_speed.md): 1.17x for MC-CDic, 0.77x (slower) for CLGNet
            at one thread, so it is off by default.
        compile: ``torch.compile`` the network once (``compile_kwargs`` passed through).
        tile: a :class:`TiledInferer` run inside every batch of the wrapped inferer (tiles of each slice).
        backend: ``"torch"`` (default) or ``"onnxruntime"``: the network exported to ONNX once (cached under
            ``onnx_cache_dir``, see :mod:`monai_mcrecon.onnx_backend`) and run by ONNX Runtime on the CPU
            (needs the ``onnx`` extra; outputs within 1e-4 relative of PyTorch's).
        onnx_cache_dir: folder of the cached ONNX files (default ``~/.cache/monai_mcrecon/onnx``).
        onnx_threads: ONNX Runtime threads (default: PyTorch's ``torch.get_num_threads()``).

    Raises:
        ValueError: an unknown ``backend``, or ``"onnxruntime"`` with ``compile`` or ``channels_last`` (PyTorch
            options that ONNX Runtime does not use).
    """

    def __init__(
        self,
        inferer: Inferer | None = None,
        amp: bool = False,
        channels_last: bool = False,
        compile: bool = False,
        compile_kwargs: dict[str, Any] | None = None,
        tile: TiledInferer | None = None,
        backend: str = "torch",
        onnx_cache_dir: str | None = None,
        onnx_threads: int | None = None,
    ) -> None:
        super().__init__()
        if backend not in ("torch", "onnxruntime"):
            raise ValueError(f"Unknown inference backend {backend!r}; use 'torch' (default) or 'onnxruntime'.")
        if backend == "onnxruntime" and (compile or channels_last):
            raise ValueError(
                "The onnxruntime backend runs the exported graph, so compile and channels_last (PyTorch options) do not "
                "apply; set them to false or use backend 'torch'."
            )
        self.backend = backend
        self.onnx_cache_dir = onnx_cache_dir
        self.onnx_threads = onnx_threads
        self._onnx: dict[int, Callable] = {}
        self.inferer = inferer if inferer is not None else SimpleInferer()
        self.amp = bool(amp)
        self.channels_last = bool(channels_last)
        self.compile = bool(compile)
        self.compile_kwargs = dict(compile_kwargs or {})
        self.tile = tile
        self._compiled: dict[int, Callable] = {}

    def _network(self, network: Callable) -> Callable:
        if self.backend == "onnxruntime":
            from monai_mcrecon.onnx_backend import as_backend

            key = id(network)
            if key not in self._onnx:
                if isinstance(network, nn.Module):
                    network.eval()
                self._onnx[key] = as_backend(network, "onnxruntime", cache_dir=self.onnx_cache_dir,
                                             threads=self.onnx_threads)
            return self._onnx[key]
        if isinstance(network, nn.Module):
            prepare_network(network, self.channels_last)
            if self.compile:
                key = id(network)
                if key not in self._compiled:
                    self._compiled[key] = torch.compile(network, **self.compile_kwargs)
                return self._compiled[key]
        return network

    def __call__(self, inputs: torch.Tensor, network: Callable, *args: Any, **kwargs: Any) -> torch.Tensor:
        net = self._network(network)
        if self.tile is not None:
            base = net

            def net(x: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
                return self.tile(x, base, *a, **k)

        use_amp = self.amp and inputs.device.type == "cuda"
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            x = inputs
            if self.channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            out = self.inferer(x, net, *args, **kwargs)
        # a normal (not inference-mode) tensor in the input's dtype, so post-processing may modify it in place
        if isinstance(out, torch.Tensor):
            return out.to(inputs.dtype if inputs.is_floating_point() else out.dtype).contiguous().clone()
        return out


_FLIP_DIMS = {"h": (-1,), "v": (-2,), "hv": (-2, -1)}


class SelfEnsembleInferer(Inferer):
    """Average a network over flipped (and, for two-frame inputs, swapped) copies of its inputs.

    Every variant flips the input and each tensor argument with the input's spatial size (``h``: width,
    ``v``: height, ``hv``: both), calls the wrapped inferer, flips the output back; with ``swap_inputs`` each
    of these also runs with the two frames swapped (``network(frame1, frame0)``, or a stacked input
    ``[B, 2, C, H, W]`` reversed along dim 1). The result is the mean
    of the ``(1 + len(flips)) * (2 if swap_inputs else 1)`` outputs. For a network that commutes with the flips
    and is symmetric in its two inputs, this equals the plain output.

    Args:
        inferer: the wrapped inferer (default ``SimpleInferer()``).
        flips: any of ``"h"``, ``"v"``, ``"hv"`` (the unflipped pass always runs).
        swap_inputs: also average over the two frames swapped (frame interpolation at t = 0.5): the
            second frame is the first extra argument, or the input stacks both as ``[B, 2, C, H, W]``.

    Raises:
        ValueError: an unknown flip, or ``swap_inputs`` without a second image argument of the input's shape.
    """

    def __init__(self, inferer: Inferer | None = None, flips: Sequence[str] = ("h", "v"), swap_inputs: bool = False) -> None:
        super().__init__()
        bad = [f for f in flips if f not in _FLIP_DIMS]
        if bad:
            raise ValueError(f"Unknown flips {bad}; use any of {sorted(_FLIP_DIMS)} (the unflipped pass always runs).")
        self.inferer = inferer if inferer is not None else SimpleInferer()
        self.flips = tuple(flips)
        self.swap_inputs = bool(swap_inputs)

    @property
    def num_passes(self) -> int:
        return (1 + len(self.flips)) * (2 if self.swap_inputs else 1)

    def __call__(self, inputs: torch.Tensor, network: Callable, *args: Any, **kwargs: Any) -> torch.Tensor:
        def image_like(x: Any) -> bool:
            return isinstance(x, torch.Tensor) and x.ndim == inputs.ndim and x.shape[-2:] == inputs.shape[-2:]

        stacked = not args and inputs.ndim == 5 and inputs.shape[1] == 2
        if self.swap_inputs and not (stacked or (args and image_like(args[0]))):
            raise ValueError(
                "SelfEnsembleInferer(swap_inputs=True) needs two frames: network(frame0, frame1) with a second image of "
                f"the input's shape, or one stacked input [B, 2, C, H, W]; got an input of shape {tuple(inputs.shape)} "
                f"and extra arguments {[type(a).__name__ for a in args]}. Set swap_inputs=False for single-input networks."
            )
        total, count = None, 0
        for dims in [(), *(_FLIP_DIMS[f] for f in self.flips)]:
            x = inputs.flip(dims) if dims else inputs
            rest = [a.flip(dims) if dims and image_like(a) else a for a in args]
            orders = [(x, rest)]
            if self.swap_inputs:
                orders.append((x.flip(1), rest) if stacked else (rest[0], [x, *rest[1:]]))
            for first, others in orders:
                out = self.inferer(first, network, *others, **kwargs)
                if not isinstance(out, torch.Tensor):
                    raise TypeError(
                        f"SelfEnsembleInferer averages tensor outputs; the network returned {type(out).__name__} "
                        "(put the network in eval mode, or use a network that returns one image)."
                    )
                out = out.flip(dims) if dims else out
                total = out if total is None else total + out
                count += 1
        return total / count
