"""What a wheel of the package holds: every folder of Python code is a package (setup.cfg ``find_namespace:``).

With plain ``find:`` the MONAI Label app folder (``monai_mcrecon/label/app_dir/main.py``, no ``__init__.py``) was
left out of wheels, and the data folders printed a screen of "Package would be ignored" warnings on install.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def packages() -> set[str]:
    setupcfg = pytest.importorskip("setuptools.config.setupcfg")
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)  # find_namespace: resolves relative to the project root
    try:
        return set(setupcfg.read_configuration(str(ROOT / "setup.cfg"))["options"]["packages"])
    finally:
        os.chdir(cwd)


def test_every_code_folder_is_a_package(packages):
    code_dirs = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "monai_mcrecon").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert "monai_mcrecon.label.app_dir" in code_dirs
    missing = sorted(code_dirs - packages)
    assert not missing, f"folders with Python code that a wheel would leave out: {missing}"


def test_shipped_data_folders_are_packaged(packages):
    for name in ("sample", "natural_sample", "stereo_sample", "video_sample"):
        assert f"monai_mcrecon.data.{name}" in packages
    assert not any(p.startswith("tests") or p.startswith("bundles") for p in packages)
