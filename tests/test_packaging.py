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


# --------------------------------------------------------------------------------------------------
# the wheel: built offline, installed without -e into a fresh folder, used from another folder
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel file, the folder it is installed into with ``pip install --no-deps --target``)."""
    import subprocess
    import sys

    pytest.importorskip("setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp / "dist"), str(ROOT)],
        capture_output=True, text=True, cwd=tmp,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp / "dist").glob("monai_mcrecon-*.whl"))
    target = tmp / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True, text=True, cwd=tmp,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return wheel, target


def test_wheel_carries_the_bundles_and_leaves_training_data_out(installed_wheel):
    import zipfile

    wheel, _ = installed_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    for bundle in ("mc_cdic_recon", "mc_cdic_sr", "clgnet_recon", "spdnet_derain"):
        for part in ("configs/inference.json", "configs/metadata.json", "models/model.pt", "large_files.yml"):
            assert f"monai_mcrecon/bundles/{bundle}/{part}" in names
    assert "monai_mcrecon/bundle/meta_schema.json" in names
    assert any(n.startswith("monai_mcrecon/data/video_sample/test/") for n in names)
    for left_out in ("data/video_sample/train/", "data/video_sample/val/", "data/synth_source/", "data/real_val/",
                     "data/photos/", "data/clips/"):
        assert not any(n.startswith(f"monai_mcrecon/{left_out}") for n in names), left_out
    assert wheel.stat().st_size < 45e6, f"the wheel grew to {wheel.stat().st_size / 1e6:.1f} MB"


def test_installed_wheel_reconstructs_the_sample_from_another_folder(installed_wheel, tmp_path):
    """``monai-mcrecon reconstruct`` from the installed wheel (not the repository) in an unrelated folder."""
    import json
    import os
    import subprocess
    import sys

    import nibabel as nib
    import numpy as np

    _, site = installed_wheel
    case = site / "monai_mcrecon" / "data" / "sample" / "icbm_test_a"
    small = tmp_path / "in"  # two slices of the installed sample, cropped: a quick run
    small.mkdir()
    for name in ("t1", "t2"):
        img = nib.load(str(case / f"{name}.nii.gz"))
        arr = np.asarray(img.dataobj, dtype=np.float32)[48:112, 64:128, 6:8]
        nib.save(nib.Nifti1Image(arr, img.affine), str(small / f"{name}.nii.gz"))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run(
        [sys.executable, "-m", "monai_mcrecon", "reconstruct", "--target", str(small / "t2.nii.gz"),
         "--reference", str(small / "t1.nii.gz"), "--output", "out", "--no-progress"],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    info = json.loads((workdir / "out" / "run_info.json").read_text())
    assert Path(info["bundle_root"]).resolve().is_relative_to(site.resolve())  # the installed copy, not the repository
    out = nib.load(str(workdir / "out" / "t2_recon.nii.gz"))
    assert out.shape == (64, 64, 2)
    assert np.allclose(out.affine, nib.load(str(small / "t2.nii.gz")).affine)
    assert np.isfinite(np.asarray(out.dataobj)).all() and float(np.asarray(out.dataobj).std()) > 0
