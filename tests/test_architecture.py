"""The package's layering, checked on the source (docs/architecture.md): no import cycle between modules or
between subpackages, the low layers import nothing above them, and a module over 600 lines says why.

Imports inside functions count too: a lazy import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monai_mcrecon"

#: What each low layer must not import (the layers above it).
FORBIDDEN = {
    "kspace": {"data", "transforms", "networks", "losses", "metrics", "engines", "handlers", "bundle", "commands", "label"},
    "ops": {"data", "transforms", "networks", "losses", "metrics", "engines", "handlers", "bundle", "commands", "label"},
    "data": {"transforms", "networks", "losses", "engines", "handlers", "bundle", "commands", "label"},
    "transforms": {"networks", "losses", "engines", "handlers", "bundle", "commands", "label"},
    "networks": {"data", "transforms", "losses", "engines", "handlers", "bundle", "commands", "label"},
    "losses": {"data", "transforms", "engines", "handlers", "bundle", "commands", "label"},
    "bundle": {"commands", "label"},
}
MAX_LINES = 600
REASON = "Over 600 lines"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


MODULES = _modules()


def _owner(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path) -> set[str]:
    """The package modules that ``name`` imports (at module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else [])) if node.level else (node.module or "")
            if not mod.startswith("monai_mcrecon"):
                continue
            for alias in node.names:
                target = _owner(f"{mod}.{alias.name}") if f"{mod}.{alias.name}" in MODULES else _owner(mod)
                if target and target != name:
                    found.add(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = _owner(alias.name) if alias.name.startswith("monai_mcrecon") else None
                if target and target != name:
                    found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycle_between_modules():
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_subpackages():
    layers: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        if module.endswith("__init__") or module.count(".") < 1:
            continue
        for t in targets:
            if _layer(t) != _layer(module) and "." in t:
                layers.setdefault(_layer(module), set()).add(_layer(t))
    assert _cycles(layers) == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_low_layers_import_nothing_above_them(layer):
    wrong = sorted(
        f"{m} -> {t}" for m, targets in GRAPH.items() if _layer(m) == layer for t in targets if _layer(t) in FORBIDDEN[layer]
    )
    assert wrong == []


def test_long_modules_state_why():
    long = []
    for name, path in MODULES.items():
        text = path.read_text()
        if text.count("\n") > MAX_LINES and REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{name} ({text.count(chr(10))} lines)")
    assert long == [], f"modules over {MAX_LINES} lines without '{REASON} ...' in their docstring"


def test_the_checks_see_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
