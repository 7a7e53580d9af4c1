"""The bundles' own route, ``python -m monai.bundle run``, answers like the ``monai-mcrecon`` command.

A mistyped override, a device the machine does not have, a 4-D input and a reference on another grid
end the run with exit status 1 and one line on stderr (``monai.bundle run: error: <message>``), no
traceback and no logged copy of the error (before: status 0 on the embedded demo data for the typo,
67 to 238 lines and up to 7 tracebacks for the others). ``monai.bundle.run(...)`` called from Python
refuses the typo too. The runs stop before the network runs (at ``initialize`` or at the first data
item).

``evaluate.json`` run alone or before ``inference.json`` (it is an overlay of it) ends the same way, naming the list
form; so does the ``evaluate.json`` of every bundle run alone (all are overlays, and each merges with its base). The command-line runs are made by one subprocess (:func:`_bundle_runs`): it imports ``monai.bundle``
once (the seconds of every Python start with torch and MONAI) and runs each case in a fork of itself as
``python -m monai.bundle run ...`` would (``runpy`` runs the ``monai.bundle`` package as ``__main__`` with the
case's arguments, stdout and stderr go to the case's files, and what leaves ``__main__`` meets what the
interpreter's top level does: ``sys.excepthook``, the exit status, a ``SystemExit`` message; the fork then
ends with ``os._exit``, skipping the seconds of tearing down torch).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_mcrecon.bundle.checks import QuietUserErrors, check_device, find_user_error
from monai_mcrecon.bundle.locate import (
    bundle_dir,
    config_files,
    overlay_base,
    shipped_bundles,
)
from monai_mcrecon.bundle.overrides import check_overrides

REPO = Path(__file__).resolve().parents[2]
RECON = Path(bundle_dir("mc_cdic_recon")) / "configs"
PREFIX = "monai.bundle run: error: "
#: every bundle with an ``evaluate.json`` (an overlay of its ``inference.json``) -> its case of :func:`route` run alone
EVALUATE_BUNDLES = [b for b in shipped_bundles() if (Path(bundle_dir(b)) / "configs" / "evaluate.json").is_file()]
ALONE = {b: "overlay alone" if b == "mc_cdic_recon" else f"alone {b}" for b in EVALUATE_BUNDLES}


# One process runs every case: each in a fork of it, as `python -m monai.bundle <argv>` with stdout / stderr in
# the case's files; an exception leaves the fork through the interpreter's top level (sys.excepthook, status 1).
_FORKS = r"""
import json, os, runpy, sys
import monai.bundle.scripts  # paid once, before the forks, with what every bundle config imports
import ignite.engine, monai_mcrecon.bundle.checks, monai_mcrecon.bundle.overrides, monai_mcrecon.handlers.checkpoint
import monai_mcrecon.handlers.writers, monai_mcrecon.metrics.handlers
codes = []
for case in json.loads(sys.argv[1]):
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for fd, name in ((1, case["stdout"]), (2, case["stderr"])):
            f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.argv = [sys.argv[0], *case["argv"]]
        # what the interpreter's top level does with what leaves __main__ (sys.excepthook, the exit status, a
        # SystemExit message), then os._exit: tearing a torch interpreter down cost 4 s per case
        try:
            runpy.run_module("monai.bundle", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""


def _bundle_runs(cases: dict[str, tuple[Path, list[str], Path]]) -> dict[str, tuple[int, str, str]]:
    """``{name: (config, extra arguments, output_dir)}`` -> ``{name: (exit status, stdout, stderr)}`` of
    ``python -m monai.bundle run --config_file <config> --output_dir <output_dir> <extra arguments>``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MONAI_MCRECON_TRACEBACK", None)
    argv = {n: ["run", "--config_file", str(c), "--output_dir", str(o), *a] for n, (c, a, o) in cases.items()}
    if not hasattr(os, "fork"):  # one Python per case
        procs = {n: subprocess.run([sys.executable, "-m", "monai.bundle", *a], cwd=REPO, env=env, capture_output=True,
                                   text=True, timeout=300) for n, a in argv.items()}
        return {n: (p.returncode, p.stdout, p.stderr) for n, p in procs.items()}
    files = {n: (o.parent / f"{o.name}.stdout", o.parent / f"{o.name}.stderr") for n, (_, _, o) in cases.items()}
    spec = [{"argv": argv[n], "stdout": str(files[n][0]), "stderr": str(files[n][1])} for n in cases]
    proc = subprocess.run([sys.executable, "-c", _FORKS, json.dumps(spec)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    return {n: (rc, files[n][0].read_text(), files[n][1].read_text()) for n, rc in zip(cases, codes)}


def _assert_one_line(rc: int, out: str, err: str, needle: str) -> str:
    """Exit status 1, no traceback, the error once (the last line of stderr); returns that line."""
    both = out + err
    assert rc == 1, both[-3000:]
    assert "Traceback" not in both, both[-3000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith(PREFIX) and needle in line, err[-3000:]
    assert [x for x in both.splitlines() if needle in x] == [line], both[-3000:]
    assert not [x for x in both.splitlines() if " - ERROR - " in x], both[-3000:]
    return line


def _nifti(path: Path, array: np.ndarray, zooms: tuple = (1.0, 1.0, 2.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array.astype(np.float32), np.diag([*zooms, 1.0])), str(path))
    return path


DEVICE = f"cuda:{torch.cuda.device_count() + 7}" if torch.cuda.is_available() else "cuda"


@pytest.fixture(scope="module")
def route(tmp_path_factory) -> dict[str, tuple[int, str, str, Path]]:
    """The command-line cases, run once: ``{name: (exit status, stdout, stderr, the case's folder)}``."""
    root = tmp_path_factory.mktemp("route")
    rng = np.random.default_rng(0)
    _nifti(root / "4d" / "data" / "case0" / "t2.nii.gz", rng.random((16, 16, 2, 3)))
    _nifti(root / "4d" / "data" / "case0" / "t1.nii.gz", rng.random((16, 16, 2)))
    rng = np.random.default_rng(0)
    _nifti(root / "grid" / "data" / "case0" / "t2.nii.gz", rng.random((16, 16, 2)))
    _nifti(root / "grid" / "data" / "case0" / "t1.nii.gz", rng.random((20, 18, 2)), zooms=(0.8, 0.9, 2.0))
    cases = {
        "typo": ["--datset_dir", "/x"],
        "device": ["--device", DEVICE],
        "4d": ["--dataset_dir", str(root / "4d" / "data")],
        "grid": ["--dataset_dir", str(root / "grid" / "data")],
        "overlay alone": [],
        "overlay first": [],
    }
    cases.update({case: [] for case in ALONE.values()})
    for name in cases:
        (root / name).mkdir(exist_ok=True)
    config = {n: RECON / "inference.json" for n in cases}
    config.update({case: Path(bundle_dir(b)) / "configs" / "evaluate.json" for b, case in ALONE.items()})
    config["overlay first"] = f"['{RECON / 'evaluate.json'}','{RECON / 'inference.json'}']"
    runs = _bundle_runs({n: (config[n], a, root / n / "out") for n, a in cases.items()})
    return {n: (*runs[n], root / n) for n in cases}


# --------------------------------------------------------------------------------------------------
# 1. overrides
# --------------------------------------------------------------------------------------------------


def test_a_mistyped_override_is_refused_with_the_closest_key(route):
    rc, out, err, tmp_path = route["typo"]
    line = _assert_one_line(rc, out, err, "Unknown override(s) 'datset_dir'")
    assert "did you mean 'dataset_dir'?" in line
    assert not (tmp_path / "out").exists()  # the demo data did not run


def test_monai_bundle_run_from_python_refuses_the_typo_too():
    """MONAI wraps what a config entry raises in ``RuntimeError``; the KeyError is its cause."""
    import monai.bundle

    with pytest.raises(Exception) as info:
        monai.bundle.run(config_file=str(RECON / "inference.json"), logging_file=False, acceleraton=8)
    found = find_user_error(info.value)
    assert isinstance(found, KeyError) and "'acceleraton' (did you mean 'acceleration'?)" in found.args[0]
    with pytest.raises(Exception) as info:
        monai.bundle.create_workflow(config_file=[str(RECON / "inference.json"), str(RECON / "evaluate.json")],
                                     logging_file=False, datset_dir="/x")
    assert "'datset_dir' (did you mean 'dataset_dir'?)" in find_user_error(info.value).args[0]


@pytest.mark.parametrize("bundle, option, value", [("deep_rl_deblur", "kernel_file", "/x/kernel.npy"),
                                                    ("unikd_classification", "dataset_dir", "/x"),
                                                    ("mc_cdic_recon", "overwrite", True)])
def test_an_inference_option_that_evaluation_ignores_is_refused(bundle, option, value):
    """An id of ``inference.json`` that its overlay ``evaluate.json`` does not use (evaluation makes its input from
    the truth) is a known key of the merged config, so only the overlay's own check stops it doing nothing."""
    import monai.bundle

    files = [str(f) for f in config_files(bundle_dir(bundle), "evaluate.json")]
    with pytest.raises(Exception) as info:
        monai.bundle.create_workflow(config_file=files, logging_file=False, **{option: value})
    found = find_user_error(info.value)
    assert isinstance(found, ValueError) and f"evaluate.json does not use --{option}:" in str(found), info.value
    monai.bundle.create_workflow(config_file=files, logging_file=False)  # without it, no complaint


@pytest.mark.parametrize("case", ["overlay alone", "overlay first"])
def test_evaluate_json_alone_or_first_names_the_list_form_with_inference_json(route, case):
    """``evaluate.json`` is an overlay of ``inference.json``: alone it has no network nor data, and before
    ``inference.json`` its keys would be replaced (the run would be inference)."""
    rc, out, err, tmp_path = route[case]
    line = _assert_one_line(rc, out, err, "is an overlay of inference.json")
    assert f"""--config_file "['{RECON / 'inference.json'}','{RECON / 'evaluate.json'}']\"""" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bundle", EVALUATE_BUNDLES)
def test_every_evaluate_json_is_an_overlay_refused_alone(route, bundle):
    """Every bundle's ``evaluate.json`` holds only what evaluation adds to its ``inference.json`` (the model-zoo
    convention): it names its base, repeats none of its entries, merges with it without a ``+`` key left
    dangling, every reference of the merged evaluator resolves, and run alone it ends with the one line naming
    the list form."""
    import warnings

    from monai.bundle import ConfigParser

    configs = Path(bundle_dir(bundle)) / "configs"
    base, overlay = configs / "inference.json", configs / "evaluate.json"
    assert overlay_base(overlay) == base
    assert config_files(configs.parent, "evaluate.json") == [base, overlay]
    own, inherited = json.loads(overlay.read_text()), json.loads(base.read_text())
    assert [k for k in own if k in inherited and own[k] == inherited[k]] == []  # no copy of an entry of inference.json
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parser = ConfigParser()
        parser.read_config([str(base), str(overlay)])
    assert not [w for w in caught if "Can't merge entry" in str(w.message)]
    evaluator = parser.get_parsed_content("evaluator", instantiate=False, eval_expr=False)  # every reference resolves
    assert evaluator.get_config()["_target_"]
    assert any(e.get("_target_") == "monai_mcrecon.bundle.checks.check_overlay" for e in parser["initialize"]
               if isinstance(e, dict))
    rc, out, err, tmp_path = route[ALONE[bundle]]
    line = _assert_one_line(rc, out, err, "is an overlay of inference.json")
    assert f"""--config_file "['{base}','{overlay}']\"""" in line
    assert not (tmp_path / "out").exists()


def test_overlay_overrides_are_checked_on_the_merged_config(capsys):
    from monai_mcrecon.bundle.locate import config_files
    from monai_mcrecon.cli import main

    files = [RECON / "inference.json", RECON / "evaluate.json"]
    assert config_files(RECON.parent, "evaluate.json") == files and config_files(RECON.parent, "train.json") == [
        RECON / "train.json"
    ]
    check_overrides(files, {"handlers#4#_disabled_": True, "split": "validation", "key_metric#psnr#save_details": False})
    with pytest.raises(KeyError, match="'handlers#5#_disabled_'"):
        check_overrides(files, {"handlers#5#_disabled_": True})  # 3 handlers of inference.json + 2 of evaluate.json
    # monai-mcrecon run-bundle --config evaluate runs the overlay on its base
    assert main(["run-bundle", "mc_cdic_recon", "--config", "evaluate", "--splt", "test"]) == 1
    assert "'splt' (did you mean 'split'?) for inference.json, evaluate.json" in capsys.readouterr().err


def test_known_overrides_and_new_arguments_of_a_component_pass():
    train = Path(bundle_dir("clgnet_recon")) / "configs" / "train.json"
    check_overrides(train, {"acceleration": 8, "network_def#fourier": False, "run_id": "run", "meta_file": "m.json"})
    with pytest.raises(KeyError, match="network_deff"):
        check_overrides(train, {"network_deff#fourier": False})
    fgdcn = Path(bundle_dir("fgdcn_vfi")) / "configs"  # the flow-step overlay edits initialize#3 of train.json
    check_overrides([fgdcn / "train.json", fgdcn / "train_flow.json"], {"initialize#3#info#trained": "x"})


# --------------------------------------------------------------------------------------------------
# 2. device
# --------------------------------------------------------------------------------------------------


def test_an_unavailable_cuda_device_is_one_line(route):
    rc, out, err, _ = route["device"]
    line = _assert_one_line(rc, out, err, f"device '{DEVICE}' was requested but")
    assert line.endswith("--device cpu.")


def test_check_device(monkeypatch):
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="'gpu' is not a torch device"):
        check_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^device 'cuda' was requested but no CUDA GPU is available; pass --device cpu\.$"):
        check_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"has 2 CUDA GPU\(s\) \(cuda:0 to cuda:1\)"):
        check_device(torch.device("cuda:2"))


# --------------------------------------------------------------------------------------------------
# 3. data errors inside MONAI's transform chains
# --------------------------------------------------------------------------------------------------


def test_a_4d_input_gives_the_message_of_the_command(route):
    from monai_mcrecon.data.volume import load_volume

    rc, out, err, tmp_path = route["4d"]
    t2 = tmp_path / "data" / "case0" / "t2.nii.gz"  # 16 x 16 x 2 x 3, its t1 16 x 16 x 2
    with pytest.raises(ValueError) as command:  # what `monai-mcrecon reconstruct --target t2.nii.gz` says
        load_volume(t2)
    line = _assert_one_line(rc, out, err, "has shape (16, 16, 2, 3)")
    assert line == PREFIX + str(command.value)


def test_a_reference_on_another_grid_is_one_line(route):
    rc, out, err, _ = route["grid"]  # t2 16 x 16 x 2 (1 x 1 x 2 mm), t1 20 x 18 x 2 (0.8 x 0.9 x 2 mm)
    line = _assert_one_line(rc, out, err, "the reference lies on another grid")
    assert "t1.nii.gz" in line and "t2.nii.gz" in line and "monai-mcrecon reconstruct" in line


def test_only_errors_raised_by_the_package_are_shortened():
    from monai_mcrecon.transforms import CheckVolumed

    try:
        try:
            CheckVolumed(keys="image")({"image": torch.zeros(4, 4, 2, 3)})
        except ValueError as e:
            raise RuntimeError("applying transform CheckVolumed") from e
    except RuntimeError as e:
        wrapped = e
    found = find_user_error(wrapped)
    assert isinstance(found, ValueError) and "(4, 4, 2, 3)" in str(found)
    try:
        int("not a number")  # a ValueError raised outside the package: keeps its traceback
    except ValueError as other:
        assert find_user_error(other) is None

    quiet = QuietUserErrors()
    exc_info = (RuntimeError, wrapped, wrapped.__traceback__)
    engine = "ignite.engine.engine.SupervisedEvaluator"
    assert not quiet.filter(logging.LogRecord(engine, logging.ERROR, __file__, 1, "Exception: ...", None, exc_info))
    assert quiet.filter(logging.LogRecord(engine, logging.INFO, __file__, 1, "progress", None, None))
    assert quiet.filter(logging.LogRecord("my.code", logging.ERROR, __file__, 1, "carrying on", None, exc_info))
