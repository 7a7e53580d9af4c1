"""Bad input gets a clear error: damaged files, bad content, bad configuration.

Cases already covered elsewhere are not repeated here (see docs/reliability.md for the full table
and where each case is tested): e.g. mixed DICOM series (tests/data/test_dicom.py), h5 without
``kspace`` (tests/data/test_fastmri_h5.py), NaN in a bundle's volume, unknown mask and contrast
names, acceleration < 1 (tests/bundles/test_mc_cdic_recon_bundle.py, tests/transforms).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import run

from monai_mcrecon.bundles import BUNDLES_DIR, CheckpointLoader, WeightsError, check_overrides, load_weights
from monai_mcrecon.cli import main
from monai_mcrecon.data import SAMPLE_DIR
from monai_mcrecon.data.dicom import read_dicom_series, write_dicom_series
from monai_mcrecon.pipeline import load_volume, run_model
from monai_mcrecon.transforms.natural import LoadNaturalImage

SAMPLE_T2 = Path(SAMPLE_DIR) / "icbm_test_a" / "t2.nii.gz"
QUIET = {"log": lambda s: None}


def _nifti(path: Path, arr: np.ndarray, affine=None) -> Path:
    nib.save(nib.Nifti1Image(arr, np.eye(4) if affine is None else affine), str(path))
    return path


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory) -> Path:
    """3 slices of the sample's t2 / t1 (the CLI's test case), for the checks that run before a bundle."""
    root = tmp_path_factory.mktemp("pair")
    for c in ("t1", "t2"):
        img = nib.load(str(Path(SAMPLE_DIR) / "icbm_test_a" / f"{c}.nii.gz"))
        _nifti(root / f"{c}.nii.gz", np.asarray(img.dataobj, dtype=np.float32)[:, :, 6:9], img.affine)
    return root


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------


def test_empty_nifti(tmp_path):
    (tmp_path / "e.nii.gz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e\.nii\.gz' is empty \(0 bytes\)"):
        load_volume(tmp_path / "e.nii.gz", **QUIET)


def test_truncated_compressed_nifti(tmp_path):
    data = SAMPLE_T2.read_bytes()
    (tmp_path / "t.nii.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"t\.nii\.gz': it is truncated or corrupt \(EOFError"):
        load_volume(tmp_path / "t.nii.gz", **QUIET)


def test_truncated_uncompressed_nifti(tmp_path):
    raw = gzip.decompress(SAMPLE_T2.read_bytes())
    (tmp_path / "t.nii").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"truncated or corrupt \(OSError: Expected \d+ bytes, got \d+"):
        load_volume(tmp_path / "t.nii", **QUIET)


def test_corrupt_nifti(tmp_path):
    (tmp_path / "c.nii.gz").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"truncated or corrupt \(ImageFileError: .*not a gzip file"):
        load_volume(tmp_path / "c.nii.gz", **QUIET)


def test_complex_nifti_is_a_wrong_dtype(tmp_path):
    _nifti(tmp_path / "z.nii.gz", (np.ones((4, 4, 2)) + 1j).astype(np.complex64))
    with pytest.raises(ValueError, match="holds complex64 voxels; expected real-valued magnitude"):
        load_volume(tmp_path / "z.nii.gz", **QUIET)


def test_four_d_nifti_where_a_volume_is_expected(tmp_path):
    _nifti(tmp_path / "v4.nii.gz", np.zeros((8, 8, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"has shape \(8, 8, 2, 3\); expected a 3-D volume"):
        load_volume(tmp_path / "v4.nii.gz", **QUIET)
    # a trailing singleton axis is not an error: it is squeezed
    _nifti(tmp_path / "v1.nii.gz", np.ones((8, 8, 2, 1), np.float32))
    assert load_volume(tmp_path / "v1.nii.gz", **QUIET).array.shape == (8, 8, 2)


@pytest.fixture()
def series(tmp_path) -> Path:
    vol = np.random.default_rng(1).random((8, 8, 3)).astype(np.float32) * 100
    write_dicom_series(vol, tmp_path / "s", affine=np.eye(4))
    return tmp_path / "s"


def test_dicom_series_with_an_empty_file(series):
    first = sorted(series.glob("*.dcm"))[0]
    first.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"\['{first.name}'\] are not readable DICOM images"):
        read_dicom_series(series)


def test_dicom_series_with_a_truncated_header(series):
    f = sorted(series.glob("*.dcm"))[1]
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(ValueError, match=rf"\['{f.name}'\] are not readable DICOM images"):
        read_dicom_series(series)


def test_dicom_series_with_truncated_pixel_data(series):
    f = sorted(series.glob("*.dcm"))[2]
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(ValueError, match=rf"{f.name}.*(not readable DICOM|truncated)"):
        read_dicom_series(series)


def test_folder_of_corrupt_dicom_files(tmp_path):
    (tmp_path / "x.dcm").write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(FileNotFoundError, match="No DICOM series found"):
        read_dicom_series(tmp_path)


def test_intact_series_still_reads(series):
    vol, meta = read_dicom_series(series)
    assert vol.shape == (8, 8, 3) and len(meta["files"]) == 3


def test_empty_and_truncated_h5(tmp_path, small_pair):
    (tmp_path / "e.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e\.h5' is not a readable HDF5 file"):
        load_volume(tmp_path / "e.h5", **QUIET)
    from monai_mcrecon.data import write_fastmri_h5

    k = torch.randn(2, 2, 16, 16, dtype=torch.complex64)
    write_fastmri_h5(tmp_path / "full.h5", k, reconstruction=k.abs().sum(1), mask=torch.ones(16))
    data = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "half.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"half\.h5'.*(not a readable HDF5|truncated|cannot)"):
        load_volume(tmp_path / "half.h5", **QUIET)


def _png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_empty_png(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(ValueError, match="is not an image PIL can read"):
        LoadNaturalImage()(tmp_path / "e.png")


def test_truncated_png(tmp_path):
    data = _png_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"t\.png' is truncated or corrupt"):
        LoadNaturalImage()(tmp_path / "t.png")
    (tmp_path / "ok.png").write_bytes(data)
    assert LoadNaturalImage()(tmp_path / "ok.png").shape == (3, 32, 32)


# --------------------------------------------------------------------------------------------------
# content (checked before a bundle runs)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_target_is_refused_before_the_model_runs(tmp_path, small_pair, bad):
    arr = np.asarray(nib.load(str(small_pair / "t2.nii.gz")).dataobj, dtype=np.float32).copy()
    arr[3, 4, 1] = bad
    arr[5, 5, 0] = bad
    target = _nifti(tmp_path / "t2.nii.gz", arr, nib.load(str(small_pair / "t2.nii.gz")).affine)
    with pytest.raises(ValueError, match=r"target .* has 2 NaN or infinite voxel\(s\)"):
        run_model(target, tmp_path / "out", reference=small_pair / "t1.nii.gz", device="cpu", **QUIET)
    assert not (tmp_path / "out" / "t2_recon.nii.gz").exists()


def test_all_zero_volumes_are_refused(tmp_path, small_pair):
    zero = _nifti(tmp_path / "t2.nii.gz", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"target .* is all zero: nothing to reconstruct"):
        run_model(zero, tmp_path / "a", reference=small_pair / "t1.nii.gz", device="cpu", **QUIET)
    with pytest.raises(ValueError, match=r"reference .* is all zero"):
        run_model(small_pair / "t2.nii.gz", tmp_path / "b", reference=zero, device="cpu", **QUIET)
    assert main(["simulate", "-i", str(zero), "-o", str(tmp_path / "c")]) == 1


def test_reference_outside_the_target_field_of_view(tmp_path, small_pair):
    img = nib.load(str(small_pair / "t1.nii.gz"))
    far = img.affine.copy()
    far[:3, 3] += 10_000.0  # 10 m away: no overlap
    ref = _nifti(tmp_path / "t1_far.nii.gz", np.asarray(img.dataobj, dtype=np.float32), far)
    with pytest.raises(ValueError, match="does not overlap the target's field of view"):
        run_model(small_pair / "t2.nii.gz", tmp_path / "o", reference=ref, register=False, device="cpu", **QUIET)


# --------------------------------------------------------------------------------------------------
# networks: odd and tiny sizes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,channels", [("MCCDic", 2), ("CLGNet", 1), ("MDRN", 3), ("SPDNet", 3), ("MSTN", 3), ("DeepRL", 3)])
@pytest.mark.parametrize("hw", [(7, 9), (1, 1), (33, 18)])
def test_networks_keep_odd_and_tiny_sizes(name, channels, hw):
    from monai_mcrecon.networks import nets

    torch.manual_seed(0)
    net = getattr(nets, name).from_preset("tiny").eval()
    x = torch.rand(1, channels, *hw)
    args = (x, torch.full((1, 1, 5, 5), 1 / 25)) if name == "DeepRL" else (x,)
    with torch.no_grad():
        out = net(*args)
    out = out if torch.is_tensor(out) else out[0]
    assert tuple(out.shape[-2:]) == hw and out.shape[0] == 1
    assert torch.isfinite(out).all()


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------


def test_unknown_override_key_is_named_with_the_closest_keys(capsys):
    config = BUNDLES_DIR / "mc_cdic_recon" / "configs" / "inference.json"
    with pytest.raises(KeyError, match=r"'acceleraton' \(did you mean 'acceleration'"):
        check_overrides(config, {"acceleraton": 8, "preset": "tiny"})
    check_overrides(config, {"acceleration": 8, "slice_inferer#progress": True, "run_id": "run"})  # known ids pass
    rc = main(["run-bundle", "mc_cdic_recon", "--config", "inference", "--acceleraton", "8"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "Unknown override(s) 'acceleraton'" in err and "'acceleration'" in err


def test_weights_of_another_preset_are_named(tmp_path):
    from monai_mcrecon.networks.nets import MCCDic

    shipped = BUNDLES_DIR / "mc_cdic_recon" / "models" / "model.pt"
    net = MCCDic.from_preset("tiny")
    with pytest.raises(WeightsError, match=r"do not fit the MCCDic network: shape mismatch .*preset"):
        CheckpointLoader(str(shipped), {"model": net})(type("E", (), {"state": type("S", (), {"max_epochs": None, "epoch": 0})()})())
    # the same through the bundle, as a user runs it (tiny preset, small weights)
    with pytest.raises(Exception) as err:
        run(
            config_file=str(BUNDLES_DIR / "mc_cdic_recon" / "configs" / "inference.json"),
            preset="tiny", output_dir=str(tmp_path), device="cpu",
        )
    chain = []
    e = err.value
    while e is not None:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    assert any("do not fit the MCCDic network" in m and "shape mismatch" in m and "preset" in m for m in chain)
    assert not list(tmp_path.rglob("*.nii.gz"))


def test_bundle_run_without_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No weights at .*nowhere\.pt.*train\.json"):
        load_weights(tmp_path / "nowhere.pt")
    with pytest.raises(Exception) as err:
        run(
            config_file=str(BUNDLES_DIR / "mc_cdic_recon" / "configs" / "inference.json"),
            ckpt_path=str(tmp_path / "nowhere.pt"), output_dir=str(tmp_path), device="cpu",
        )
    e, found = err.value, False
    while e is not None and not found:
        found = isinstance(e, FileNotFoundError) and "No weights at" in str(e)
        e = e.__cause__ or e.__context__
    assert found
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"empty\.pt' is empty"):
        load_weights(tmp_path / "empty.pt")


def test_truncated_weights_file(tmp_path):
    data = (BUNDLES_DIR / "mc_cdic_recon" / "models" / "model.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match=r"cut\.pt': it is truncated or not a PyTorch checkpoint"):
        load_weights(tmp_path / "cut.pt")


def test_cli_several_references_for_one_target(small_pair, tmp_path, capsys):
    t2, t1 = str(small_pair / "t2.nii.gz"), str(small_pair / "t1.nii.gz")
    assert main(["reconstruct", "-t", t2, "-r", t1, t1, "-o", str(tmp_path / "o")]) == 1
    assert "one --reference per --target" in capsys.readouterr().err
    assert main(["reconstruct", "-t", t2, t2, "-r", t1, t1, t1, "-o", str(tmp_path / "o")]) == 1
    assert "one --reference per --target" in capsys.readouterr().err


def test_datalist_json_that_is_not_json(tmp_path):
    from monai_mcrecon.data import load_datalist

    bad = tmp_path / "datalist.json"
    bad.write_text("{not json")
    with pytest.raises((ValueError, json.JSONDecodeError)):
        load_datalist(str(bad), "test", ["t2", "t1"])


def test_shipped_weights_files_are_listed_with_hashes():
    """Every bundle this issue covers ships large_files.yml entries for all its weights."""
    from monai_mcrecon.bundles import read_large_files, verify_weights_file

    for name in ("mc_cdic_recon", "mc_cdic_sr", "clgnet_recon", "mdrn_denoise", "deep_rl_deblur", "spdnet_derain", "mstn_dehaze"):
        root = BUNDLES_DIR / name
        listed = read_large_files(root)
        weights = sorted(str(p.relative_to(root)) for p in (root / "models").glob("*.pt"))
        assert sorted(listed) == weights, name
        for rel in weights:
            assert listed[rel]["hash_type"] == "sha256" and len(listed[rel]["hash_val"]) == 64
            assert verify_weights_file(root / rel) == listed[rel]["hash_val"]


def test_copying_a_bundle_keeps_its_checks(tmp_path):
    """A bundle copied elsewhere keeps large_files.yml, so its weights stay verified there."""
    dst = tmp_path / "mc_cdic_recon"
    shutil.copytree(BUNDLES_DIR / "mc_cdic_recon", dst, ignore=shutil.ignore_patterns("train_output", "__pycache__"))
    from monai_mcrecon.bundles import verify_weights_file

    assert verify_weights_file(dst / "models" / "model.pt") is not None
