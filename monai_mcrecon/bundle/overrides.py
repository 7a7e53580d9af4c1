"""Command-line overrides of a bundle run: refuse keys that are no id of the config (a typo must not pass
unnoticed), and read flags given as strings (:func:`as_bool`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_ARGUMENTS",
    "as_bool",
    "check_overrides",
]


#: Arguments of ``monai.bundle.run`` that are not config ids.
RUN_ARGUMENTS = frozenset(
    {"run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "args_file",
     "workflow_type", "workflow_name", "properties_path"}
)


def _config_ids(config: Any, prefix: str = "") -> set[str]:
    ids: set[str] = set()
    if isinstance(config, Mapping):
        items = config.items()
    elif isinstance(config, list):
        items = ((str(i), v) for i, v in enumerate(config))
    else:
        return ids
    for k, v in items:
        key = f"{prefix}#{k}" if prefix else str(k)
        ids.add(key)
        if isinstance(v, Mapping) and "_target_" in v:
            ids.add(f"{key}#*")  # a component: any argument of its target may be added
        ids |= _config_ids(v, key)
    return ids


def check_overrides(config_files: str | Path | list, overrides: Mapping[str, Any]) -> None:
    """Refuse override keys that are no id of the bundle config(s): MONAI would add them silently
    and the run would ignore them (a typo such as ``acceleraton`` must not pass unnoticed). A new
    argument of a component (``network_def#fourier``) is allowed: its constructor refuses a misspelt one.

    Raises:
        KeyError: naming the unknown keys, the closest known ids, and where to look them up.
    """
    import difflib

    from monai.bundle import ConfigParser

    files = config_files if isinstance(config_files, (list, tuple)) else [config_files]
    ids: set[str] = set()
    for f in files:
        ids |= _config_ids(ConfigParser.load_config_file(str(f)))  # JSON or YAML, each file as written
    if len(files) > 1:  # and as MONAI merges them ('+' keys extend lists: an overlay's handler has an index)
        ids |= _config_ids(ConfigParser.load_config_files([str(f) for f in files]))

    def known(key: str) -> bool:
        key = key.replace("::", "#")
        return key in RUN_ARGUMENTS or key in ids or ("#" in key and key.rsplit("#", 1)[0] + "#*" in ids)

    unknown = [k for k in overrides if not known(k)]
    if unknown:
        tops = sorted(i for i in ids if "#" not in i)
        hints = []
        for k in unknown:
            pool = tops if "#" not in k and "::" not in k else sorted(i for i in ids if not i.endswith("#*"))
            close = difflib.get_close_matches(k, pool, n=3, cutoff=0.75)
            hints.append(f"{k!r}" + (f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""))
        raise KeyError(
            f"Unknown override(s) {', '.join(hints)} for {', '.join(Path(f).name for f in files)}; the configurable "
            f"top-level keys are {tops}."
        )


def as_bool(value: Any) -> bool:
    """A config flag given as ``True``/``False`` or, from the command line, as a string (``true``, ``1``, ``yes``, ``on``;
    anything else is false): ``"$monai_mcrecon.bundle.overrides.as_bool(@flag)"``."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")
