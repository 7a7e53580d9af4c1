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


@pytest.fixture(scope="module")
def check_weight_average(cfg, tiny_train: dict, tiny_checkpoint: Path) -> Callable[[Path], None]:
    """``check_weight_average(tmp_path)``: train ``train.json`` with ``--ema_momentum`` from ``tiny_checkpoint`` and
    check that validation and ``model.pt`` use the moving average of the weights, which starts from
    ``--init_ckpt`` (a tiny momentum keeps it there) while the trained weights move on; that the checkpoint carries
    the average; and that a resumed run continues it instead of restarting it from the trained weights."""
    import json

    import torch

    def check(tmp_path: Path) -> None:
        out = tmp_path / "train"
        common = {**tiny_train, "output_dir": str(out), "init_ckpt": str(tiny_checkpoint), "ema_momentum": 1e-9,
                  "learning_rate": 1e-2, "val_interval": 1, "checkpoint_interval": 1}
        run(config_file=cfg("train.json"), **common)
        init = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
        averaged = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
        final = torch.load(out / "model_final.pt", map_location="cpu", weights_only=False)
        assert all(torch.allclose(averaged[k], init[k], atol=1e-6) for k in init)
        assert all(torch.equal(final["ema_model"][k], averaged[k]) for k in init)
        assert max((final["model"][k] - init[k]).abs().max().item() for k in init) > 1e-3
        assert json.loads((out / "training_info.json").read_text())["ema_momentum"] == 1e-9
        # one more epoch from the checkpoint: the average is restored (still the init weights), not re-synced
        run(config_file=cfg("train.json"), **{**common, "resume": True, "max_epochs": 2})
        resumed = torch.load(out / "model_final.pt", map_location="cpu", weights_only=False)
        assert all(torch.allclose(resumed["ema_model"][k], init[k], atol=1e-6) for k in init)
        assert max((resumed["model"][k] - init[k]).abs().max().item() for k in init) > 1e-3

    return check


@pytest.fixture(scope="module")
def check_clean_pairs_and_hues(cfg) -> Callable[..., None]:
    """``check_clean_pairs_and_hues("rain_free_prob", **overrides)``: with that probability at 0.5, about half the
    training pairs of ``train.json`` are clean (input = target) and the others degraded; with ``--hue_prob 1`` the
    targets' colours are rotated, so every channel is the brightest in some sample of one photograph; both
    probabilities default to 0 (the recipe of the shipped weights)."""
    import torch
    from monai.bundle import ConfigParser

    def check(free_key: str, **overrides) -> None:
        parser = ConfigParser()
        parser.read_config(cfg("train.json"))
        assert parser["hue_prob"] == 0.0 and parser[free_key] == 0.0
        parser.update({"use_photos": "false", "patch_size": [48, 48], "zoom_prob": 0.0, "hue_prob": 1.0,
                       free_key: 0.5, **overrides})
        transforms = parser.get_parsed_content("train#dataset").transform
        transforms.set_random_state(0)
        first = dict(parser.get_parsed_content("train#datalist")[0])
        pairs = [transforms(dict(first)) for _ in range(24)]
        clean = [torch.equal(torch.as_tensor(p["image"]), torch.as_tensor(p["label"])) for p in pairs]
        assert 6 <= sum(clean) <= 18, f"{sum(clean)} of 24 pairs clean with {free_key} 0.5"
        assert all((p["image"] - p["label"]).abs().mean() > 1e-3 for p, c in zip(pairs, clean) if not c)
        brightest = {int(torch.as_tensor(p["label"]).mean((1, 2)).argmax()) for p in pairs}
        assert brightest == {0, 1, 2}, f"hue rotations should make every channel the brightest somewhere: {brightest}"

    return check
