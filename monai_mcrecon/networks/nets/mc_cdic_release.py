"""Weights trained with the authors' MC-CDic release, loaded into :class:`~monai_mcrecon.networks.nets.MCCDic`.

The release (github.com/lpcccc-cv/MC-CDic, ``models/modules/MCCDic.py``) and :class:`MCCDic` have
the same modules one to one, under other names. :func:`convert_release_state_dict` renames a
release state dict into this package's layout, :func:`load_release_checkpoint` reads a release
checkpoint file into a ready :class:`MCCDic`, and the command line writes a state dict that the
``mc_cdic_recon`` / ``mc_cdic_sr`` bundles load with ``--ckpt_path``::

    python -m monai_mcrecon.networks.nets.mc_cdic_release --in release.pth --out model_release.pt
    python -m monai.bundle run --config_file bundles/mc_cdic_recon/configs/inference.json \\
        --preset default --ckpt_path model_release.pt --dataset_dir /data --output_dir out

Key mapping (after removing ``module.`` prefixes of ``DataParallel`` / ``DistributedDataParallel``
and the release's ``predict_ista.`` wrapper; ``v`` is ``x``, ``y``, ``z``, ``zx`` or ``zy``,
``i`` a level index, ``s`` a scale, ``j`` a block)::

    release                                            MCCDic
    layer_in_{x,y,z}.{weight,bias}                     lift_{x,y,z}.*
    encoder_dictionary_v.<dictionary>                  dict_v.<dictionary>
    precond_encoder_dictionary_{x,y,z}.<dictionary>    precond_{x,y,z}.<dictionary>
    decoder_dictionary_{x,y,z}.<dictionary>            decoder_{x,y,z}.<dictionary>
    adjoint_encoder_dictionary_{x,y,z}.*               (tied to precond_*: checked equal, dropped)
      <dictionary>: bottleneck_conv.weight             bottleneck.weight
                    syn_up_list.i.up.weight            up.i.weight
                    syn_up_list.i.conv.weight          fuse.i.weight
                    syn_outc.conv.weight               out.weight
    resnet_{x,y,z}.s.body.j.body.{0,2}.*               prox_{x,y,z}.s.body.j.body.{0,2}.*
    resnet_{x,y,z}.s.body.j.body.3.conv_du.{0,2}.*     prox_{x,y,z}.s.body.j.body.3.fc.{0,2}.*
                                                       (1x1 conv weight [C_out, C_in, 1, 1] -> Linear [C_out, C_in])
    resnet_{x,y,z}.s.body.<last>.*                     prox_{x,y,z}.s.body.<last>.*
    cpmpress_z.*                                       compress_z.*
    HFF_fuse_{x,y}.*                                   fuse_{x,y}.*
    rec_{x,y}_unique.*                                 head_{x,y}.*
    decoder.*                                          (the release's unused decoder: dropped)

The adjoint dictionaries of the release hold the *same* parameters as its preconditioners
(``transpose_conv.weight = conv.weight``), so their state-dict entries duplicate ``precond_*``;
they are compared with them (a checkpoint where they differ was not saved by the release) and
dropped, as :class:`MCCDic` applies the adjoint with the preconditioner's own weights.

Step sizes and thresholds are not in a release checkpoint (the release keeps them in plain Python
lists, computed when the network is built: ``eta = 1 / L`` with ``L`` from 20 power iterations on
the freshly initialised dictionaries ``D_x, D_y, D_z``, ``lambda = 0.01``), so the release itself
uses a slightly different ``eta`` every time it builds the network (about 2 % standard deviation
between random initialisations at the default widths). The converted network takes them from
:class:`MCCDic`'s construction under a fixed seed (``step_sizes="init"``, the release's procedure,
reproducible), or from power iterations on the loaded, trained dictionaries
(``step_sizes="trained"``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from monai_mcrecon.networks.nets.mc_cdic import MCCDic

__all__ = [
    "CHECKPOINT_KEYS",
    "STEP_SIZE_SOURCES",
    "convert_release_state_dict",
    "infer_release_kwargs",
    "load_release_checkpoint",
    "main",
    "read_release_state_dict",
]

#: Keys under which training scripts commonly nest a state dict in a checkpoint, tried in this order.
CHECKPOINT_KEYS = ("state_dict", "model", "net", "network", "params", "params_ema")
#: Where the converted network's step sizes come from (see the module docstring).
STEP_SIZE_SOURCES = ("init", "trained")

_DICTIONARY = re.compile(r"^(precond_encoder|adjoint_encoder|encoder|decoder)_dictionary_(x|y|z|zx|zy)\.(.+)$")
_DICTIONARY_ROLES = {"encoder": "dict", "precond_encoder": "precond", "decoder": "decoder", "adjoint_encoder": "precond"}
_DICTIONARY_PARTS = (
    (re.compile(r"^bottleneck_conv\.weight$"), "bottleneck.weight"),
    (re.compile(r"^syn_up_list\.(\d+)\.up\.weight$"), r"up.\1.weight"),
    (re.compile(r"^syn_up_list\.(\d+)\.conv\.weight$"), r"fuse.\1.weight"),
    (re.compile(r"^syn_outc\.conv\.weight$"), "out.weight"),
)
# the adjoint dictionary's modules (tied to the preconditioner's weights)
_ADJOINT_PARTS = (
    (re.compile(r"^adjoint_syn_bottleneck_conv\.transpose_conv\.weight$"), "bottleneck.weight"),
    (re.compile(r"^adjoint_syn_up_list\.(\d+)\.adjoint_up\.weight$"), r"up.\1.weight"),
    (re.compile(r"^adjoint_syn_up_list\.(\d+)\.adjoint_conv_op\.transpose_conv\.weight$"), r"fuse.\1.weight"),
    (re.compile(r"^adjoint_syn_outc\.adjoint_conv\.weight$"), "out.weight"),
)
_PROX = re.compile(r"^resnet_(x|y|z)\.(\d+)\.body\.(.+)$")
_CHANNEL_ATTENTION = re.compile(r"^(\d+)\.body\.3\.conv_du\.(0|2)\.(weight|bias)$")
_RENAMES = (
    (re.compile(r"^layer_in_(x|y|z)\.(weight|bias)$"), r"lift_\1.\2"),
    (re.compile(r"^cpmpress_z\.(weight|bias)$"), r"compress_z.\1"),
    (re.compile(r"^HFF_fuse_(x|y)\.(weight|bias)$"), r"fuse_\1.\2"),
    (re.compile(r"^rec_(x|y)_unique\.(weight|bias)$"), r"head_\1.\2"),
)
_UNUSED_DECODER = re.compile(r"^decoder\.")
# MCCDic entries that no release checkpoint holds: filled from the network (module docstring)
_HYPER = re.compile(r"^(step_size_(x|y|z)|threshold_(x|y|z)_\d+)$")


def _strip_wrappers(key: str) -> str:
    """``module.module.predict_ista.lift...`` -> ``lift...``."""
    while key.startswith("module."):
        key = key[len("module.") :]
    if key.startswith("predict_ista."):
        key = key[len("predict_ista.") :]
    return key


def _substitute(patterns: Sequence[tuple[re.Pattern[str], str]], key: str) -> str | None:
    for pattern, replacement in patterns:
        if pattern.match(key):
            return pattern.sub(replacement, key)
    return None


def _map_key(key: str) -> tuple[str, str | None]:
    """Classify one release key (wrappers stripped).

    Returns:
        ``(kind, name)``: kind ``"param"`` (``name`` is the MCCDic key), ``"conv_du"`` (a channel-attention
        weight to reshape), ``"tied"`` (adjoint duplicate of the MCCDic key ``name``), ``"unused"``
        (the release's dead decoder) or ``"unknown"`` (``name`` ``None``).
    """
    m = _DICTIONARY.match(key)
    if m:
        role, variable, part = m.groups()
        if role in ("precond_encoder", "adjoint_encoder", "decoder") and variable in ("zx", "zy"):
            return "unknown", None
        parts = _ADJOINT_PARTS if role == "adjoint_encoder" else _DICTIONARY_PARTS
        mapped = _substitute(parts, part)
        if mapped is None:
            return "unknown", None
        name = f"{_DICTIONARY_ROLES[role]}_{variable}.{mapped}"
        return ("tied" if role == "adjoint_encoder" else "param"), name
    m = _PROX.match(key)
    if m:
        variable, scale, rest = m.groups()
        ca = _CHANNEL_ATTENTION.match(rest)
        if ca:
            block, layer, kind = ca.groups()
            name = f"prox_{variable}.{scale}.body.{block}.body.3.fc.{layer}.{kind}"
            return ("conv_du" if kind == "weight" else "param"), name
        if re.match(r"^\d+\.(body\.(0|2)\.)?(weight|bias)$", rest):
            return "param", f"prox_{variable}.{scale}.body.{rest}"
        return "unknown", None
    mapped = _substitute(_RENAMES, key)
    if mapped is not None:
        return "param", mapped
    if _UNUSED_DECODER.match(key):
        return "unused", None
    return "unknown", None


def _few(items: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" ... ({len(items)} in all)" if len(items) > limit else "")


_OWN_MODULES = frozenset(
    {"lift_x", "lift_y", "lift_z", "compress_z", "fuse_x", "fuse_y", "head_x", "head_y"}
    | {f"{role}_{v}" for role in ("dict", "precond", "decoder", "prox") for v in ("x", "y", "z", "zx", "zy")}
)


def _looks_converted(key: str) -> bool:
    """A key of this package's MCCDic (a file that needs no conversion)."""
    key = _strip_wrappers(key)
    return bool(_HYPER.match(key)) or key.split(".")[0] in _OWN_MODULES


def _map_state_dict(
    state: Mapping[str, Any],
) -> tuple[dict[str, torch.Tensor], dict[str, list[str]], list[str]]:
    """Rename a release state dict; the tied adjoint entries are checked against ``precond_*`` and left out.

    Returns:
        ``(mapped, report, problems)``: ``mapped`` the MCCDic-named tensors; ``report`` lists of release
        keys: ``"tied"`` (adjoint duplicates, dropped), ``"unused"`` (the dead decoder, dropped);
        ``problems`` descriptions of unknown keys, non-tensor values, two keys mapping to one name and
        adjoint weights that differ from the preconditioner's (empty when the state dict is usable).
    """
    import torch

    mapped: dict[str, torch.Tensor] = {}
    source: dict[str, str] = {}
    tied: dict[str, list[tuple[str, torch.Tensor]]] = {}
    report: dict[str, list[str]] = {"tied": [], "unused": []}
    unknown: list[str] = []
    not_tensors: list[str] = []
    duplicates: list[str] = []
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            not_tensors.append(f"{key} ({type(value).__name__})")
            continue
        kind, name = _map_key(_strip_wrappers(str(key)))
        if kind == "unknown":
            unknown.append(str(key))
        elif kind == "unused":
            report["unused"].append(str(key))
        elif kind == "tied":
            tied.setdefault(name, []).append((str(key), value))
            report["tied"].append(str(key))
        else:
            if kind == "conv_du":
                if value.ndim == 4 and value.shape[-2:] == (1, 1):
                    value = value.reshape(value.shape[0], value.shape[1])
                elif value.ndim != 2:
                    unknown.append(f"{key} (shape {tuple(value.shape)}, expected a 1x1 convolution weight)")
                    continue
            if name in mapped:
                duplicates.append(f"{source[name]} and {key} -> {name}")
                continue
            mapped[name] = value
            source[name] = str(key)
    untied = []
    for name, copies in tied.items():
        for key, value in copies:
            if name in mapped and (value.shape != mapped[name].shape or not torch.equal(value, mapped[name])):
                untied.append(f"{key} vs {source[name]}")
    problems = []
    if unknown:
        hint = ""
        if any(_looks_converted(k) for k in unknown):
            hint = " (these look like monai-mcrecon keys: load such a file directly, it needs no conversion)"
        problems.append(f"{len(unknown)} key(s) the release does not have: {_few(unknown)}{hint}")
    if not_tensors:
        problems.append(f"{len(not_tensors)} value(s) that are not tensors: {_few(not_tensors)}")
    if duplicates:
        problems.append(f"keys mapping to the same parameter: {_few(duplicates)}")
    if untied:
        problems.append(
            f"adjoint dictionary weights that differ from the preconditioner's, which the release ties: {_few(untied)}"
        )
    return mapped, report, problems


def _raise(problems: Sequence[str], fix: str) -> None:
    """One ``ValueError`` naming every problem, then the fix."""
    if problems:
        raise ValueError("Cannot convert the MC-CDic release weights: " + "; ".join(problems) + ". " + fix)


_FIX_KEYS = "Pass a state dict saved from the authors' MCCDic network (torch.save(model.state_dict(), path))."
_FIX_SHAPES = (
    "Build the network with the settings the checkpoint was trained with (load_release_checkpoint(path) reads "
    "them from the checkpoint; the release's own settings are the 'default' preset)."
)


def convert_release_state_dict(
    state: Mapping[str, torch.Tensor], template: Mapping[str, torch.Tensor] | torch.nn.Module
) -> dict[str, torch.Tensor]:
    """Rename and reshape a state dict of the authors' MC-CDic into :class:`MCCDic`'s layout.

    Args:
        state: the release's state dict (keys as saved by its ``MCCDic`` / ``MCUNet`` wrapper, with or
            without ``module.`` and ``predict_ista.`` prefixes).
        template: the :class:`MCCDic` to load into, or its ``state_dict()``: gives the expected keys and
            shapes, and the step sizes / thresholds, which no release checkpoint holds.

    Returns:
        a state dict with exactly the template's keys, for ``net.load_state_dict(..., strict=True)``:
        the release's tensors (channel-attention 1x1 convolution weights reshaped to ``Linear``
        weights), and ``step_size_*`` / ``threshold_*`` from the template. The release's unused
        ``decoder`` and its tied adjoint-dictionary entries are dropped.

    Raises:
        ValueError: one message naming every unknown key (not a release key), missing key (a
            parameter of the network the checkpoint lacks) and shape mismatch (the checkpoint was
            trained with other widths / features / steps / RCAB counts than ``template``).
    """
    if hasattr(template, "state_dict") and callable(template.state_dict):
        template = template.state_dict()
    mapped, _, problems = _map_state_dict(state)
    missing = [k for k in template if k not in mapped and not _HYPER.match(k)]
    unexpected = [k for k in mapped if k not in template]
    shapes = [
        f"{k}: checkpoint {tuple(mapped[k].shape)} vs network {tuple(template[k].shape)}"
        for k in template
        if k in mapped and tuple(mapped[k].shape) != tuple(template[k].shape)
    ]
    fix = _FIX_KEYS if problems and not (shapes or missing or unexpected) else _FIX_SHAPES
    if shapes:
        problems.append(f"shape mismatch in {len(shapes)} tensor(s): {_few(shapes)}")
    if missing:
        problems.append(f"missing from the checkpoint: {_few(missing)}")
    if unexpected:
        problems.append(f"not in the network: {_few(unexpected)}")
    _raise(problems, fix)
    out: dict[str, torch.Tensor] = {}
    for key, value in template.items():
        out[key] = mapped[key] if key in mapped else value.detach().clone()
    return out


def infer_release_kwargs(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The :class:`MCCDic` constructor arguments a release state dict was trained with.

    Args:
        state: the release's state dict (any prefixes).

    Returns:
        ``widths``, ``features``, ``num_steps``, ``rcabs_per_scale``, ``reduction`` and
        ``kernel_size`` read from the tensors' shapes (the release's network: the ``default`` preset).

    Raises:
        ValueError: the state dict is not a release state dict, or lacks the tensors the settings
            are read from.
    """
    mapped, _, problems = _map_state_dict(state)
    _raise(problems, _FIX_KEYS)
    needed = ("lift_x.weight", "dict_x.bottleneck.weight", "fuse_x.weight")
    absent = [k for k in needed if k not in mapped]
    if absent:
        raise ValueError(
            f"Cannot read the network settings from the release state dict: it lacks {absent} (after renaming); "
            "pass the full state dict of the authors' MCCDic, or build the network yourself and call "
            "convert_release_state_dict."
        )
    features = int(mapped["lift_x.weight"].shape[0])
    bottleneck = mapped["dict_x.bottleneck.weight"]
    widths = [int(bottleneck.shape[0])]
    level = 0
    while f"dict_x.fuse.{level}.weight" in mapped:
        widths.append(int(mapped[f"dict_x.fuse.{level}.weight"].shape[0]))
        level += 1
    rcabs = []
    for s in range(len(widths)):
        blocks = 0
        while f"prox_x.{s}.body.{blocks}.body.0.weight" in mapped:
            blocks += 1
        rcabs.append(blocks)
    hidden = mapped.get("prox_x.0.body.0.body.3.fc.0.weight")
    kwargs: dict[str, Any] = {
        "widths": tuple(widths),
        "features": features,
        "num_steps": int(mapped["fuse_x.weight"].shape[1]) // features + 1,
        "rcabs_per_scale": tuple(rcabs),
        "kernel_size": int(bottleneck.shape[-1]),
    }
    if hidden is not None and hidden.shape[0] > 0:
        kwargs["reduction"] = int(widths[0] // hidden.shape[0])
    return kwargs


def read_release_state_dict(
    path: str | Path, key: str | None = None, map_location: Any = "cpu"
) -> dict[str, torch.Tensor]:
    """Read a release checkpoint file safely (``torch.load(weights_only=True)``) and return its state dict.

    Args:
        path: a ``.pth`` / ``.pt`` file holding the state dict, or a dict that nests it under one of
            :data:`CHECKPOINT_KEYS` (``state_dict``, ``model``, ``net``, ``network``, ``params``, ``params_ema``).
        key: the nesting key to use (default: the first of :data:`CHECKPOINT_KEYS` present; none when the
            file's dict holds tensors directly).
        map_location: ``torch.load``'s ``map_location``.

    Returns:
        the state dict (tensor values).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that ``weights_only`` refuses (pickled code), that is not a checkpoint, or whose
            dict holds no state dict under ``key`` / :data:`CHECKPOINT_KEYS`.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No release checkpoint at {str(path)!r}; check the path.")
    try:
        checkpoint = torch.load(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = [line.strip() for line in str(e).splitlines() if "global" in line.lower()]
        if refused:  # weights_only met a class or function: never executed
            raise ValueError(
                f"Refusing to load {str(path)!r}: it holds pickled Python objects beyond tensors and containers "
                f"({refused[0][:200]}); re-save it from the release's code as torch.save(model.state_dict(), path)."
            ) from e
        raise ValueError(
            f"Cannot read {str(path)!r}: it is truncated or not a PyTorch checkpoint; restore the file."
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(
            f"Cannot read {str(path)!r}: it is truncated or not a PyTorch checkpoint ({type(e).__name__}); "
            "restore the file."
        ) from e
    if not isinstance(checkpoint, Mapping):
        raise ValueError(
            f"{str(path)!r} holds a {type(checkpoint).__name__}, not a state dict; save model.state_dict() instead."
        )
    if key is not None:
        if key not in checkpoint:
            raise ValueError(f"{str(path)!r} has no key {key!r}; it has {sorted(map(str, checkpoint))[:10]}.")
        checkpoint = checkpoint[key]
    elif not any(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        nested = [k for k in CHECKPOINT_KEYS if isinstance(checkpoint.get(k), Mapping)]
        if not nested:
            raise ValueError(
                f"{str(path)!r} holds no tensors and none of the keys {list(CHECKPOINT_KEYS)} (it has "
                f"{sorted(map(str, checkpoint))[:10]}); pass key=<the key that holds the state dict>."
            )
        checkpoint = checkpoint[nested[0]]
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"The entry {key!r} of {str(path)!r} is a {type(checkpoint).__name__}, not a state dict.")
    return dict(checkpoint)


def load_release_checkpoint(
    path: str | Path | Mapping[str, torch.Tensor],
    preset: str | None = None,
    *,
    key: str | None = None,
    seed: int = 0,
    step_sizes: str = "init",
    map_location: Any = "cpu",
    **network_kwargs: Any,
) -> MCCDic:
    """An :class:`MCCDic` holding the weights of a checkpoint trained with the authors' release.

    Args:
        path: the release checkpoint file (see :func:`read_release_state_dict`), or its state dict.
        preset: build ``MCCDic.from_preset(preset, **network_kwargs)``; ``None`` (default): the settings
            read from the checkpoint (:func:`infer_release_kwargs`), updated by ``network_kwargs``.
        key: the key that nests the state dict in the file (default: found, see :data:`CHECKPOINT_KEYS`).
        seed: seed of the network's construction, which sets the step sizes for ``step_sizes="init"``
            (and the power iterations' start for ``"trained"``), so a conversion is reproducible.
        step_sizes: ``"init"``: from power iterations on freshly initialised dictionaries, as the release
            computes them; ``"trained"``: from power iterations on the loaded dictionaries.
        map_location: ``torch.load``'s ``map_location``.
        network_kwargs: constructor arguments of :class:`MCCDic` (e.g. ``learnable_steps``, ``fast``).

    Returns:
        the network (in training mode, like a newly built module: call ``.eval()`` for inference).

    Raises:
        FileNotFoundError: no checkpoint file.
        ValueError: an unreadable file, keys that are not the release's, missing keys or shape
            mismatches (one message naming them), an unknown preset or ``step_sizes``.
    """
    import torch

    from monai_mcrecon.networks.blocks.dictionary import power_iteration
    from monai_mcrecon.networks.nets.mc_cdic import MCCDic

    if step_sizes not in STEP_SIZE_SOURCES:
        raise ValueError(f"Unknown step_sizes={step_sizes!r}; choose one of {list(STEP_SIZE_SOURCES)}.")
    state = dict(path) if isinstance(path, Mapping) else read_release_state_dict(path, key, map_location)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if preset is None:
            net = MCCDic(**{**infer_release_kwargs(state), **network_kwargs})
        else:
            net = MCCDic.from_preset(preset, **network_kwargs)
    net.load_state_dict(convert_release_state_dict(state, net), strict=True)
    if step_sizes == "trained":
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for v in ("x", "y", "z"):
                lipschitz = power_iteration(getattr(net, f"dict_{v}"), generator=generator)
                getattr(net, f"step_size_{v}").fill_(float(1.0 / lipschitz))
    return net


def _matching_preset(net: MCCDic) -> str | None:
    """The name of the :class:`MCCDic` preset that builds a network of ``net``'s shapes, if any."""
    import inspect

    from monai_mcrecon.networks.nets.mc_cdic import MCCDic

    defaults = {
        name: p.default for name, p in inspect.signature(MCCDic.__init__).parameters.items() if p.default is not p.empty
    }

    def shape_settings(cfg: Mapping[str, Any]) -> tuple:
        widths = tuple(int(w) for w in cfg["widths"])
        hidden = tuple(w // min(int(cfg["reduction"]), w) for w in widths)  # ChannelAttention's hidden widths
        steps, kernel = int(cfg["num_steps"]), int(cfg["kernel_size"])
        return widths, int(cfg["features"]), steps, tuple(cfg["rcabs_per_scale"]), kernel, hidden

    own = shape_settings(
        {
            "widths": net.widths,
            "features": net.features,
            "num_steps": net.num_steps,
            "rcabs_per_scale": [len(group.body) - 1 for group in net.prox_x],
            "kernel_size": net.dict_x.kernel_size,
            "reduction": max(1, net.widths[0] // net.prox_x[0].body[0].body[3].fc[0].out_features)
            if len(net.prox_x[0].body) > 1
            else defaults["reduction"],
        }
    )
    for name, overrides in MCCDic.PRESETS.items():
        if shape_settings({**defaults, **overrides}) == own:
            return name
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Convert a release checkpoint into a state dict for the MC-CDic bundles; returns the exit status.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``); ``--help`` lists them.

    Returns:
        0 on success, 1 for a user error (reported on stderr in one line), 2 for bad arguments.
    """
    parser = argparse.ArgumentParser(
        prog="python -m monai_mcrecon.networks.nets.mc_cdic_release",
        description="Convert a checkpoint trained with the authors' MC-CDic release into a monai-mcrecon MCCDic "
        "state dict that the mc_cdic_recon / mc_cdic_sr bundles load with --ckpt_path.",
        epilog="example: python -m monai_mcrecon.networks.nets.mc_cdic_release --in release.pth --out "
        "model_release.pt, then python -m monai.bundle run --config_file bundles/mc_cdic_recon/configs/"
        "inference.json --preset default --ckpt_path model_release.pt ...",
    )
    parser.add_argument(
        "--in", dest="source", required=True, metavar="PATH", help="the release checkpoint (.pth / .pt)."
    )
    parser.add_argument(
        "--out", required=True, metavar="PATH", help="the converted state dict to write (e.g. model_release.pt)."
    )
    parser.add_argument(
        "--preset", default=None,
        help="MCCDic preset to build (default: the settings read from the checkpoint; the release's are 'default').",
    )
    parser.add_argument(
        "--key", default=None, help=f"key nesting the state dict in the file (default: one of {list(CHECKPOINT_KEYS)})."
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the network's construction, which sets the step sizes (default 0)."
    )
    parser.add_argument(
        "--step-sizes", choices=STEP_SIZE_SOURCES, default="init",
        help="init: power iterations on freshly initialised dictionaries (the release's procedure); trained: on the "
        "loaded dictionaries (default init).",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file.")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    prog = parser.prog
    try:
        out = Path(args.out)
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{str(out)!r} exists; pass --overwrite to replace it or choose another --out.")
        import torch

        from monai_mcrecon.safe_io import atomic_path

        state = read_release_state_dict(args.source, args.key)
        _, report, _ = _map_state_dict(state)
        net = load_release_checkpoint(state, args.preset, seed=args.seed, step_sizes=args.step_sizes)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            torch.save(net.state_dict(), str(tmp))
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    preset = args.preset or _matching_preset(net)
    params = sum(p.numel() for p in net.parameters())
    print(
        f"Wrote {str(out)!r}: {len(net.state_dict())} entries, {params:,} parameters; dropped "
        f"{len(report['tied'])} tied adjoint-dictionary entries and {len(report['unused'])} of the release's unused "
        f"decoder; step sizes from {args.step_sizes!r} (seed {args.seed})."
    )
    if preset is not None:
        print(f"Bundles: --preset {preset} --ckpt_path {out}")
    else:
        print(
            "Its settings match no MCCDic preset, so the bundles (which build a preset) cannot load it; load it in "
            "Python with load_release_checkpoint(<release file>)."
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
