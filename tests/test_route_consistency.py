"""Data consistency on the h5 route, and the same case through every route of mc_cdic_recon.

The end-to-end test runs ``benchmarks/route_consistency.py`` on a 2-slice slab of the embedded
sample's first test case with the shipped ``small`` weights (the full case:
``python benchmarks/route_consistency.py``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from monai_mcrecon.data import write_fastmri_h5
from monai_mcrecon.kspace import create_mask_func, fft2c, ifft2c, undersample_image
from monai_mcrecon.commands.simulate import simulate
from monai_mcrecon.transforms.kspace_input import FastMRIKspaceToImaged, kspace_consistency_note

ROOT = Path(__file__).resolve().parents[1]
TOL_DB = 0.1


def _benchmark():
    name = "benchmarks_route_consistency"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "route_consistency.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclass looks its module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def _slab(seed: int = 0, shape=(2, 16, 20)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(shape, generator=g) * 100
    mask = create_mask_func("mc_cdic", 4)(tuple(shape[-2:]), seed=42).mask  # [1, W]
    return img, mask


# --- the transform -------------------------------------------------------------------------------


def test_single_coil_file_gives_its_kspace_slice_axis_first(tmp_path):
    img, mask = _slab()
    kspace, zf = undersample_image(img, mask)  # [S, H, W]
    h5 = write_fastmri_h5(tmp_path / "single.h5", kspace.to(torch.complex64), mask=mask[0])
    d = FastMRIKspaceToImaged("target", kspace_key="kspace")({"target": str(h5)})
    assert d["target"].shape == (1, 16, 20, 2)  # image: slice axis last
    assert d["kspace"].shape == (1, 2, 16, 20) and d["kspace"].dtype == torch.complex64  # k-space: slice axis first
    assert d["mask"].shape == (1, 20) and d["mask"].dtype == torch.float32
    torch.testing.assert_close(d["mask"], mask.float())
    # |ifft2c(k)| is the zero-filled image, slice by slice
    torch.testing.assert_close(ifft2c(d["kspace"][0]).abs(), zf.float(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(d["target"][0].permute(2, 0, 1).as_tensor(), zf.float(), rtol=1e-5, atol=1e-4)
    assert d["target"].meta["kspace_data_consistency"] == "acquired k-space passed on"
    # without kspace_key nothing more is stored (the previous behaviour)
    plain = FastMRIKspaceToImaged("target")({"target": str(h5)})
    assert set(plain) == {"target"}


def test_multicoil_and_cropped_files_store_no_kspace(tmp_path):
    img, mask = _slab()
    coils = torch.stack([img, 0.5 * img], dim=1).to(torch.complex64)  # [S, 2, H, W]
    multi = write_fastmri_h5(tmp_path / "multi.h5", fft2c(coils) * mask, mask=mask[0])
    d = FastMRIKspaceToImaged("target", kspace_key="kspace")({"target": str(multi)})
    assert "kspace" not in d and "mask" not in d
    assert d["target"].meta["kspace_data_consistency"].startswith("off: multi-coil")
    single = write_fastmri_h5(
        tmp_path / "single.h5", fft2c(img.to(torch.complex64)) * mask, mask=mask[0], recon_size=(12, 16, 1)
    )
    d = FastMRIKspaceToImaged("target", kspace_key="kspace", crop_to_recon_size=True)({"target": str(single)})
    assert "kspace" not in d and d["target"].shape == (1, 12, 16, 2)
    assert d["target"].meta["kspace_data_consistency"].startswith("off: cropped")
    assert kspace_consistency_note(False, False) is None


def test_simulate_single_coil_h5_is_the_kspace_of_the_zero_filled_nifti(tmp_path):
    import h5py
    import nibabel as nib

    img, _ = _slab(shape=(2, 16, 20))
    vol = np.ascontiguousarray(np.moveaxis(img.numpy(), 0, -1))  # [X, Y, Z]
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / "t2.nii.gz"))
    simulate(tmp_path / "t2.nii.gz", tmp_path / "study", single_coil_h5=True, log=lambda s: None)
    zf = np.asarray(nib.load(str(tmp_path / "study" / "target_degraded.nii.gz")).dataobj)
    with h5py.File(tmp_path / "study" / "target_kspace.h5", "r") as f:
        k = torch.from_numpy(f["kspace"][()])
        assert k.shape == (2, 16, 20) and "reconstruction_esc" in f
        np.testing.assert_array_equal(f["mask"][()], np.load(tmp_path / "study" / "mask.npy")[0].astype(bool))
    np.testing.assert_allclose(np.moveaxis(ifft2c(k).abs().numpy(), 0, -1), zf, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="choose one"):
        simulate(tmp_path / "t2.nii.gz", tmp_path / "study2", coils=2, single_coil_h5=True, log=lambda s: None)


# --- every route, end to end ---------------------------------------------------------------------


def test_routes_agree(tmp_path):
    bench = _benchmark()
    rows = bench.run_routes(tmp_path, slices=slice(7, 9), device="cpu", log=lambda s: None, nifti_dc_on=False)
    by = {(r.route[:4].strip(), r.dc_requested): r for r in rows if r.route.startswith("(")}
    # DC off: evaluate.json, inference.json (simulating) and simulate + reconstruct (NIfTI and h5) agree
    off = [by[(k, False)].psnr for k in ("(1)", "(2)", "(3a)", "(3b)")]
    assert max(off) - min(off) < TOL_DB, off
    # DC on: evaluate.json, inference.json and the single-coil h5 through the command agree
    on = [by[(k, True)].psnr for k in ("(1)", "(2)", "(3b)")]
    assert max(on) - min(on) < TOL_DB, on
    assert all(by[(k, True)].dc_applied for k in ("(1)", "(2)", "(3b)"))
    # data consistency with the acquired k-space improves on the network alone
    assert by[("(3b)", True)].psnr > by[("(3b)", False)].psnr
    # the command records what it did
    info = json.loads((tmp_path / "reconstruct_target_degraded_nodc" / "run_info.json").read_text())
    assert info["data_consistency_applied"] is False and info["bundle_input"] == "nifti"
    info = json.loads((tmp_path / "reconstruct_target_kspace_dc" / "run_info.json").read_text())
    assert info["data_consistency"].startswith("on (hard)") and info["bundle_input"] == "kspace_file"
    assert Path(info["nifti"]).name == "target_kspace_recon.nii.gz"
