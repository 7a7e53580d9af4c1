"""Every ``_target_`` of the shipped bundles' configs that names a ``monai_mcrecon`` object spells it with the
module that defines it (``monai_mcrecon.networks.nets.mc_cdic.MCCDic.from_preset``, not the re-export
``monai_mcrecon.networks.nets.MCCDic.from_preset``), and it is importable. A re-export can move while a
defining module stays where the code is, and the spelled path tells a reader which file to open."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

from monai_mcrecon.bundle.locate import BUNDLES_DIR

PREFIX = "monai_mcrecon."


def _targets(node, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str) and target.startswith(PREFIX):
            found.append(target)
        for value in node.values():
            _targets(value, found)
    elif isinstance(node, list):
        for value in node:
            _targets(value, found)
    return found


def _config_targets(root: Path = Path(BUNDLES_DIR)) -> dict[str, list[str]]:
    """``{target: [bundle/configs/file.json, ...]}`` over every config of the bundles in ``root``."""
    where: dict[str, list[str]] = {}
    for path in sorted(root.glob("*/configs/*.json")):
        for target in _targets(json.loads(path.read_text()), []):
            where.setdefault(target, []).append(path.relative_to(root).as_posix())
    return where


def _longest_module(parts: list[str]) -> int:
    """How many leading parts name an importable module (a missing dependency inside it is raised)."""
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is None or not name.startswith(err.name):
                raise
            continue
        return n
    return 0


def spelling_problem(target: str) -> str | None:
    """None when ``target`` is ``<defining module>.<qualified name>[.<method> ...]`` and resolves."""
    parts = target.split(".")
    n = _longest_module(parts)
    module, attrs = ".".join(parts[:n]), parts[n:]
    if not attrs:
        return f"{target!r} names a module, not a class or function"
    obj = importlib.import_module(module)
    owner = None  # the first object of the chain: a class or function, which must be defined in `module`
    for i, attr in enumerate(attrs):
        if not hasattr(obj, attr):
            return f"{target!r} does not resolve: {'.'.join([module, *attrs[:i]])!r} has no attribute {attr!r}"
        obj = getattr(obj, attr)
        if owner is None:
            owner = obj
            qualname = ".".join(attrs[: i + 1])
            defined = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"
            if defined != f"{module}.{qualname}":
                return f"{target!r} is spelled through {module!r}; it is defined as {defined!r}"
    if not callable(obj):
        return f"{target!r} is not callable"
    return None


def _problems(root: Path = Path(BUNDLES_DIR)) -> dict[str, tuple[str, list[str]]]:
    where = _config_targets(root)
    return {t: (problem, where[t]) for t in sorted(where) if (problem := spelling_problem(t)) is not None}


def test_config_targets_are_spelled_with_their_defining_module():
    assert len(_config_targets()) > 50  # the shipped configs name many package objects: the walk found them
    problems = _problems()
    assert not problems, "\n".join(f"{p} (in {', '.join(files)})" for p, files in problems.values())


def test_a_target_spelled_through_a_re_export_is_found(tmp_path):
    """The check on a copy of mc_cdic_recon whose inference.json names the network through the package."""
    configs = tmp_path / "mc_cdic_recon" / "configs"
    shutil.copytree(Path(BUNDLES_DIR) / "mc_cdic_recon" / "configs", configs)
    text = (configs / "inference.json").read_text()
    right, wrong = "monai_mcrecon.networks.nets.mc_cdic.MCCDic.from_preset", "monai_mcrecon.networks.nets.MCCDic.from_preset"
    assert right in text
    (configs / "inference.json").write_text(text.replace(right, wrong))
    problems = _problems(tmp_path)
    assert list(problems) == [wrong] and problems[wrong][1] == ["mc_cdic_recon/configs/inference.json"]
    assert "it is defined as 'monai_mcrecon.networks.nets.mc_cdic.MCCDic'" in problems[wrong][0]


def test_the_check_refuses_a_re_export_and_a_missing_name():
    assert spelling_problem("monai_mcrecon.networks.nets.mc_cdic.MCCDic.from_preset") is None
    assert "it is defined as 'monai_mcrecon.networks.nets.mc_cdic.MCCDic'" in spelling_problem(
        "monai_mcrecon.networks.nets.MCCDic.from_preset"
    )
    assert "has no attribute 'from_presets'" in spelling_problem("monai_mcrecon.networks.nets.mc_cdic.MCCDic.from_presets")
    assert "names a module" in spelling_problem("monai_mcrecon.networks.nets.mc_cdic")
