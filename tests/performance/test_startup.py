"""Start-up: ``monai-mcrecon --help`` and the package imports load no heavy dependency (issue 23, item 5).

Each check runs in a fresh interpreter and asserts on ``sys.modules``, not on wall-clock time
(the timings are in docs/performance.md, "Start-up and import memory").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "monai", "numpy", "matplotlib", "SimpleITK", "pydicom", "nibabel", "ignite", "torchvision", "scipy")


def _loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return which of :data:`HEAVY` it imported and what it printed."""
    probe = (
        "import sys, json, contextlib, io\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        + "".join(f"    {line}\n" for line in code.splitlines())
        + f"print(json.dumps({{'heavy': sorted(m for m in {list(HEAVY)!r} if m in sys.modules), 'out': out.getvalue()}}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["reconstruct", "--help"], ["super-resolve", "--help"],
                                  ["simulate", "--help"], ["evaluate", "--help"], ["run-bundle", "--help"],
                                  ["reconstruct", "--no-such-option"]])
def test_command_help_and_argument_errors_import_no_heavy_dependency(argv):
    result = _loaded_after(
        "from monai_mcrecon.cli import main\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        f"    rc = main({argv!r})\n"
        "assert rc in (0, 2), rc"
    )
    assert result["heavy"] == [], f"monai-mcrecon {' '.join(argv)} imported {result['heavy']}"
    if argv[-1] == "--help":
        assert "usage: monai-mcrecon" in result["out"]


def test_module_entry_help_imports_no_heavy_dependency():
    """``python -m monai_mcrecon --help``."""
    result = _loaded_after(
        "import runpy\nsys.argv = ['monai-mcrecon', '--help']\ntry:\n"
        "    runpy.run_module('monai_mcrecon', run_name='__main__')\nexcept SystemExit as e:\n    assert not e.code, e.code"
    )
    assert result["heavy"] == []
    assert "reconstruct" in result["out"]


def test_console_script_help_imports_no_heavy_dependency():
    """The installed ``monai-mcrecon`` entry point (``console_scripts``), its imports listed by ``-X importtime``."""
    script = Path(sys.executable).parent / "monai-mcrecon"
    if not script.is_file():
        pytest.skip("the monai-mcrecon entry point is not installed next to this interpreter")
    res = subprocess.run(
        [sys.executable, "-X", "importtime", str(script), "--help"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0 and "usage: monai-mcrecon" in res.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    assert "monai_mcrecon.cli" in imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY}, sorted(m for m in imported if m.split(".")[0] in HEAVY)[:5]


def test_networks_package_imports_nothing_until_a_network_is_used():
    result = _loaded_after("import monai_mcrecon, monai_mcrecon.networks, monai_mcrecon.networks.nets")
    assert result["heavy"] == []
    # a network that needs only torch does not pull in monai (and with it torchvision, matplotlib, ...)
    result = _loaded_after("from monai_mcrecon.networks.nets import CLGNet")
    assert "torch" in result["heavy"] and "monai" not in result["heavy"] and "matplotlib" not in result["heavy"]


def test_lazy_names_resolve_like_eager_imports():
    import pydoc

    import monai_mcrecon.networks.blocks as blocks
    import monai_mcrecon.networks.nets as nets
    from monai_mcrecon.networks.nets.mc_cdic import MCCDic

    assert nets.MCCDic is MCCDic
    assert pydoc.locate("monai_mcrecon.networks.nets.MCCDic.from_preset") == MCCDic.from_preset  # bundle _target_
    assert set(nets.__all__) <= set(dir(nets)) and set(blocks.__all__) <= set(dir(blocks))
    for name in nets.__all__:
        assert getattr(nets, name).__name__ == name
    for name in blocks.__all__:
        getattr(blocks, name)
    with pytest.raises(AttributeError, match="no attribute 'NoSuchNet'"):
        nets.NoSuchNet  # noqa: B018
    namespace: dict = {}
    exec("from monai_mcrecon.networks.nets import *", namespace)
    assert namespace["MCCDic"] is MCCDic
