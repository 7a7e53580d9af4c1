"""ONNX export of the package's networks and ONNX Runtime as an inference backend.

* :func:`export_onnx`: a network (wrapped by :class:`~monai_mcrecon.networks.nets.stacked.SingleTensorNetwork`
  when it is not one already, so that its padding exports for every size) to an ONNX file: ``torch.export``
  with a dynamic batch, height and width (``Dim.DYNAMIC``: a network that would fix a size fails here
  instead of exporting a graph that is only right at the example size), then ``torch.onnx.export``.
  ``python -m monai.bundle onnx_export`` (docs/export.md) runs the same exporter.
* :class:`OnnxRuntimeNetwork`: a callable that stands in for the network: tensors in, ONNX Runtime
  (CPU) in between, tensors out. It exports once per network and weights: the file is cached under
  ``<cache_dir>/<Network>-<sha256 of class, structure and weights>.onnx`` (default
  ``$XDG_CACHE_HOME/monai_mcrecon/onnx`` or ``~/.cache/monai_mcrecon/onnx``, created private), so a later run
  with the same weights loads it without exporting.
* :class:`monai_mcrecon.inference.OptimizedInferer` (``backend="onnxruntime"``) and the MRI bundles'
  ``inference_backend`` option use it.

Requires the ``onnx`` extra (``pip install "monai-mcrecon[onnx]"``: onnx, onnxscript, onnxruntime).
Outputs equal PyTorch's within 1e-4 relative (tests/test_export.py; measured about 1e-7).
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from monai_mcrecon.networks.nets.stacked import SingleTensorNetwork
from monai_mcrecon.safe_io import atomic_path

__all__ = ["OnnxRuntimeNetwork", "as_backend", "default_cache_dir", "export_onnx", "network_checksum", "onnxruntime_session"]

#: Bumped when the export recipe changes, so that cached files of an older recipe are not reused.
EXPORT_RECIPE = 1


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(
            f"The ONNX backend needs {module!r}, which is not installed; install the extra: "
            'pip install "monai-mcrecon[onnx]" (onnx, onnxscript, onnxruntime).'
        ) from err


def export_onnx(
    network: nn.Module,
    in_channels: int,
    filepath: str | os.PathLike,
    example_size: Sequence[int] = (64, 64),
    dynamic_batch: bool = True,
    optimize: bool = True,
) -> Path:
    """Export ``network`` (one ``[B, in_channels, H, W]`` tensor in, one tensor out) to ``filepath``.

    The input is named ``image``, the output ``pred``; height and width (and the batch, with
    ``dynamic_batch``) are dynamic. The network is put in eval mode; the file is written atomically.

    Args:
        network: the network; wrapped by ``SingleTensorNetwork`` unless it is one (padding that exports).
        in_channels: channels of the input.
        filepath: the ``.onnx`` file to write.
        example_size: ``(H, W)`` of the example input that is traced (any size the network accepts, > 1).
        dynamic_batch: make the batch axis dynamic too (the example then has batch 2).
        optimize: run the exporter's graph optimisations (slower export, leaner graph).

    Returns:
        the path written.

    Raises:
        ImportError: onnx / onnxscript missing (install the ``onnx`` extra).
        RuntimeError: the export failed; names the network and the cause.
    """
    _require("onnx")
    _require("onnxscript")
    model = network if isinstance(network, SingleTensorNetwork) else SingleTensorNetwork(network)
    model.eval()
    example = torch.rand(2 if dynamic_batch else 1, int(in_channels), *[int(s) for s in example_size],
                         generator=torch.Generator().manual_seed(0))
    param = next(model.parameters(), None)
    if param is not None:
        example = example.to(device=param.device, dtype=param.dtype)
    dynamic = torch.export.Dim.DYNAMIC  # raises where the network would fix a size (no silent specialisation)
    axes = {0: dynamic, 2: dynamic, 3: dynamic} if dynamic_batch else {2: dynamic, 3: dynamic}
    final = Path(filepath)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(model, (example,), dynamic_shapes=(axes,), strict=False)
            with atomic_path(final) as tmp:
                torch.onnx.export(program, f=str(tmp), input_names=["image"], output_names=["pred"], dynamo=True,
                                  optimize=optimize, external_data=False, verbose=False)
    except ImportError:
        raise
    except Exception as err:  # the exporter raises many types; name the network and keep the cause
        name = type(getattr(model, "network", model)).__name__
        raise RuntimeError(
            f"ONNX export of {name} failed ({type(err).__name__}: {str(err).strip().splitlines()[0][:300]}); "
            "run it with the PyTorch backend (inference_backend 'torch') or see docs/export.md."
        ) from err
    return final


def network_checksum(network: nn.Module, in_channels: int) -> str:
    """SHA-256 over the network's class, structure (``repr``), weights and buffers, and the input channels."""
    h = hashlib.sha256()
    inner = getattr(network, "network", network)
    h.update(f"{type(network).__qualname__}/{type(inner).__module__}.{type(inner).__qualname__}/{in_channels}/"
             f"{EXPORT_RECIPE}/{torch.__version__}\n{network!r}".encode())
    for name, value in network.state_dict().items():
        h.update(name.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    for attr in ("fast", "training"):  # forward switches that are plain attributes
        h.update(f"{attr}={getattr(inner, attr, None)}".encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$MONAI_MCRECON_ONNX_CACHE``, else ``$XDG_CACHE_HOME/monai_mcrecon/onnx``, else ``~/.cache/monai_mcrecon/onnx``."""
    if os.environ.get("MONAI_MCRECON_ONNX_CACHE"):
        return Path(os.environ["MONAI_MCRECON_ONNX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monai_mcrecon" / "onnx"


def _private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0o700) or check an existing one: owned by this user, not writable by others.

    Raises:
        PermissionError: a folder that another user owns or that group / others may write to.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        raise PermissionError(
            f"The ONNX cache folder {str(path)!r} is not private (owned by another user or writable by group/others), "
            "so a model in it could have been replaced; pass onnx_cache_dir pointing to a folder of your own."
        )
    return path


def onnxruntime_session(filepath: str | os.PathLike, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session for ``filepath``, with ``threads`` intra-op threads (default: PyTorch's count)."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only (ONNX Runtime warns about constant folding it skips)
    return ort.InferenceSession(str(filepath), options, providers=["CPUExecutionProvider"])


def _weights_version(network: nn.Module) -> int:
    """Sum of the weights' in-place version counters: changes whenever a weight is updated or loaded."""
    return sum(int(t._version) for t in network.state_dict(keep_vars=True).values() if isinstance(t, torch.Tensor))


class OnnxRuntimeNetwork:
    """``network`` run by ONNX Runtime (CPU): ``OnnxRuntimeNetwork(net)(x)`` equals ``net(x)`` within 1e-4.

    The network is exported at the first call (input channels from ``x``) or loaded from the cache, and
    exported again when its weights change (in-place updates or ``load_state_dict``).

    Args:
        network: a network with one ``[B, C, H, W]`` input and one tensor output.
        cache_dir: folder of the cached ``.onnx`` files (default :func:`default_cache_dir`; made private).
        threads: ONNX Runtime intra-op threads (default: ``torch.get_num_threads()``).
        optimize: the exporter's graph optimisations (see :func:`export_onnx`).

    Raises:
        ImportError: onnxruntime / onnx missing; RuntimeError: the export failed (at the first call).
    """

    def __init__(
        self,
        network: nn.Module,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
        optimize: bool = True,
    ) -> None:
        _require("onnxruntime")
        self.network = network
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.threads = threads
        self.optimize = bool(optimize)
        self.path: Path | None = None
        self._session: Any = None
        self._key: tuple[int, int] | None = None

    def session(self, in_channels: int) -> Any:
        """The ONNX Runtime session for ``in_channels``-channel inputs (exported or loaded once)."""
        key = (int(in_channels), _weights_version(self.network))
        if self._session is not None and key == self._key:
            return self._session
        folder = _private_dir(self.cache_dir or default_cache_dir())
        name = type(getattr(self.network, "network", self.network)).__name__
        path = folder / f"{name}-{network_checksum(self.network, in_channels)[:24]}.onnx"
        if not path.is_file():
            was_training = self.network.training
            try:
                export_onnx(self.network, in_channels, path, optimize=self.optimize)
            finally:
                self.network.train(was_training)
        self._session, self._key, self.path = onnxruntime_session(path, self.threads), key, path
        return self._session

    def __call__(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if args or kwargs:
            raise TypeError(
                "The ONNX Runtime backend runs networks with one input tensor; pass no extra arguments or use backend 'torch'."
            )
        session = self.session(x.shape[1])
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        out = session.run(None, {session.get_inputs()[0].name: array})[0]
        return torch.from_numpy(np.ascontiguousarray(out)).to(device=x.device, dtype=x.dtype)


def as_backend(network: Callable, backend: str, **kwargs: Any) -> Callable:
    """``network`` itself (``"torch"``) or an :class:`OnnxRuntimeNetwork` of it (``"onnxruntime"``).

    Raises:
        ValueError: an unknown backend, or ``"onnxruntime"`` for something that is not an ``nn.Module``.
    """
    if backend == "torch":
        return network
    if backend != "onnxruntime":
        raise ValueError(f"Unknown inference backend {backend!r}; use 'torch' (default) or 'onnxruntime'.")
    if not isinstance(network, nn.Module):
        raise ValueError(f"The onnxruntime backend exports an nn.Module, got {type(network).__name__}.")
    return OnnxRuntimeNetwork(network, **kwargs)
