"""What the bundle tests share: the bundle's config files, its metrics CSV and a tiny trained checkpoint.

A test module of one bundle states only what differs::

    BUNDLE = "mc_cdic_recon"  # the shipped bundle it tests
    TINY_TRAIN = {"preset": "tiny", "max_epochs": 1, "val_interval": 1, "patch_size": [32, 32]}  # train.json overrides

and asks for the fixtures below. ``tiny_checkpoint`` trains ``train.json`` once per module with the overrides of
the ``tiny_train`` fixture, which are the module's ``TINY_TRAIN``; a module whose overrides need other fixtures (a
folder of clips, a config file path) overrides ``tiny_train`` itself. The metadata schema is
:data:`monai_mcrecon.bundle.METADATA_SCHEMA`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from monai.bundle import run

from monai_mcrecon.bundle.locate import bundle_dir


@pytest.fixture(scope="module")
def bundle_root(request: pytest.FixtureRequest) -> Path:
    """The folder of the module's ``BUNDLE``."""
    name = getattr(request.module, "BUNDLE", None)
    if name is None:
        raise pytest.UsageError(f"{request.module.__name__} uses a bundle fixture but sets no BUNDLE = '<name>'")
    return Path(bundle_dir(name))


@pytest.fixture(scope="module")
def cfg(bundle_root: Path) -> Callable[..., str | list[str]]:
    """``cfg("train.json")``: the path of one of the bundle's config files; with several names, the list of paths
    (``monai.bundle`` merges them in order)."""

    def path(*names: str) -> str | list[str]:
        files = [str(bundle_root / "configs" / n) for n in names]
        return files[0] if len(files) == 1 else files

    return path


def _csv_rows(path: Path | str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def read_rows() -> Callable[[Path | str], list[dict]]:
    """``read_rows(output_dir / "metrics.csv")``: the rows of a CSV as dicts (column -> text), in file order (the
    metrics writers put the ``mean`` row first)."""
    return _csv_rows


@pytest.fixture(scope="module")
def tiny_train(request: pytest.FixtureRequest) -> dict:
    """The ``train.json`` overrides of :func:`tiny_checkpoint`: the module's ``TINY_TRAIN``."""
    overrides = getattr(request.module, "TINY_TRAIN", None)
    if overrides is None:
        raise pytest.UsageError(f"{request.module.__name__} uses tiny_checkpoint but sets no TINY_TRAIN = {{...}}")
    return dict(overrides)


@pytest.fixture(scope="module")
def tiny_checkpoint(cfg, tiny_train: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``model.pt`` of one tiny training run of the module's bundle (``output_dir`` a fresh temporary folder)."""
    out = tmp_path_factory.mktemp("train")
    run(config_file=cfg("train.json"), output_dir=str(out), **tiny_train)
    assert (out / "model_final.pt").exists() and (out / "model.pt").exists()
    return out / "model.pt"
