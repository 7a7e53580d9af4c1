"""Named stage features of any torch / MONAI network through forward hooks.

Distillation losses in this package (:mod:`monai_mcrecon.losses.distillation`,
:mod:`monai_mcrecon.losses.unikd`) and :class:`monai_mcrecon.engines.distillation.DistillationTrainer`
use the teacher/student protocol ``net(x, return_features=True) -> (output, [features])``. Networks
of the package return their features themselves; :class:`FeatureHooks` gives the same protocol to any
other network (MONAI ``DenseNet121``, ``resnet18``, ``EfficientNetBN``, an MC-CDic, ...) without
editing it: forward hooks on the named sub-modules record their outputs during the normal forward
pass.

Examples::

    from monai.networks.nets import resnet18
    net = FeatureHooks(resnet18(spatial_dims=2, n_input_channels=3, num_classes=10),
                       ["layer1", "layer2", "layer3", "layer4"])
    logits = net(x)                                   # the wrapped network's output, unchanged
    logits, feats = net(x, return_features=True)      # feats: 4 maps, shallow to deep

    FeatureHooks.available(net.network)               # the names that can be hooked
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["FeatureHooks"]

_CALL_MODES = ("last", "first")


class FeatureHooks(nn.Module):
    """Wrap ``network`` so that it also returns the outputs of the sub-modules named in ``layers``.

    Args:
        network: any ``nn.Module``; it is not modified apart from the registered forward hooks
            (removed by :meth:`remove`).
        layers: dotted sub-module names as listed by ``network.named_modules()`` (e.g.
            ``"features.denseblock2"`` for MONAI's ``DenseNet121``, ``"layer3"`` for ``resnet18``,
            ``"_blocks.5"`` for ``EfficientNetBN``, ``"fuse_x"`` for ``MCCDic``). Features are
            returned in this order (list them shallow to deep).
        call: which output to keep when a module runs several times in one forward pass (a module
            shared by unrolled steps): ``"last"`` (default) or ``"first"``.
        return_features: default of the ``return_features`` forward argument. ``False`` keeps the
            wrapped network's interface (evaluators, inferers and ``verify_net_in_out`` see the plain
            output).

    A module whose output is a tuple / list contributes its first element; a dict its ``"pred"``
    or, failing that, its first value.

    Raises:
        ValueError: an empty ``layers``, an unknown ``call``, or a name that is not a sub-module
            (the message lists the closest and all available names).
    """

    def __init__(
        self,
        network: nn.Module,
        layers: Sequence[str],
        call: str = "last",
        return_features: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(layers, str):
            layers = [layers]
        layers = [str(name) for name in layers]
        if not layers:
            raise ValueError("FeatureHooks needs at least one layer name; see FeatureHooks.available(network).")
        if call not in _CALL_MODES:
            raise ValueError(f"call must be one of {_CALL_MODES}, got {call!r}.")
        modules = dict(network.named_modules())
        missing = [name for name in layers if name not in modules or name == ""]
        if missing:
            names = self.available(network)
            close = sorted({c for m in missing for c in difflib.get_close_matches(m, names, n=3)})
            raise ValueError(
                f"{type(network).__name__} has no sub-module named {missing}"
                + (f" (closest: {close})" if close else "")
                + f"; available names: {names}."
            )
        self.network = network
        self.layers = layers
        self.call = call
        self.return_features = bool(return_features)
        self._store: dict[str, torch.Tensor] = {}
        self._handles = [modules[name].register_forward_hook(self._make_hook(name)) for name in layers]

    @staticmethod
    def available(network: nn.Module) -> list[str]:
        """Names of every sub-module of ``network`` that can be hooked (``named_modules`` order)."""
        return [name for name, _ in network.named_modules() if name]

    def _make_hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self.call == "first" and name in self._store:
                return
            self._store[name] = _first_tensor(output, name)

        return hook

    def remove(self) -> None:
        """Remove the forward hooks from the wrapped network."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def forward(self, *args: Any, return_features: bool | None = None, **kwargs: Any):
        """Run the wrapped network; with ``return_features`` return ``(output, [features])``.

        Raises:
            RuntimeError: a hooked module did not run in this forward pass (it is not on the path
                the network takes, e.g. a branch disabled by the input), or the hooks were removed.
        """
        if not self._handles:
            raise RuntimeError("FeatureHooks.remove() was called; build a new FeatureHooks to get features again.")
        self._store = {}
        try:
            output = self.network(*args, **kwargs)
            if not (self.return_features if return_features is None else return_features):
                return output
            silent = [name for name in self.layers if name not in self._store]
            if silent:
                raise RuntimeError(
                    f"Hooked modules {silent} did not run in the forward pass of {type(self.network).__name__}; "
                    "hook modules that the forward pass uses."
                )
            return output, [self._store[name] for name in self.layers]
        finally:
            self._store = {}


def _first_tensor(output: Any, name: str) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        output = output["pred"] if "pred" in output else next(iter(output.values()), None)
        return _first_tensor(output, name)
    if isinstance(output, (tuple, list)) and output:
        return _first_tensor(output[0], name)
    raise TypeError(f"Module {name!r} returned {type(output).__name__}, not a tensor; hook a module that returns a tensor.")
