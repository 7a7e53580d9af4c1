"""k-space input to the MRI bundles: a fastMRI h5 file (undersampled acquisition + mask) -> one NIfTI volume.

The h5 files hold 3 slices of the embedded sample (icbm_test_a, t2), simulated as 4-coil (or
single-coil) k-space, undersampled with the bundles' fixed evaluation mask (mc_cdic, 4x, seed 42).
The bundles run with their shipped ``small`` weights.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import run

from monai_mcrecon.bundle.locate import bundle_dir
from monai_mcrecon.data import SAMPLE_DIR, write_fastmri_h5
from monai_mcrecon.kspace import create_mask_func, fft2c, ifft2c, rss
from monai_mcrecon.kspace.coils import simulate_multicoil
from monai_mcrecon.metrics.functional import psnr
from monai_mcrecon.transforms import FastMRIKspaceToImage, FastMRIKspaceToImaged, kspace_file_datalist

SLICES = slice(6, 9)
CASE = Path(SAMPLE_DIR) / "icbm_test_a"


def _config(bundle: str) -> str:
    return str(Path(bundle_dir(bundle)) / "configs" / "inference.json")


def _sample(contrast: str) -> tuple[torch.Tensor, np.ndarray]:
    img = nib.load(CASE / f"{contrast}.nii.gz")
    vol = np.asarray(img.dataobj, dtype=np.float32)[..., SLICES]  # [H, W, 3]
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(vol, -1, 0))), img.affine  # [3, H, W]


def _mask(width_height: tuple[int, int]) -> torch.Tensor:
    return create_mask_func("mc_cdic", 4)(width_height, seed=42).mask  # [1, W], the bundles' fixed mask


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("kspace_input")
    t2, affine = _sample("t2")
    t1, _ = _sample("t1")
    mask = _mask(tuple(t2.shape[-2:]))
    sim = simulate_multicoil(t2, num_coils=4, seed=0)  # [3, 4, H, W]
    truth = rss(ifft2c(sim.kspace)).float()  # fully sampled RSS [3, H, W]
    multi = write_fastmri_h5(root / "multi.h5", (sim.kspace * mask).to(torch.complex64), mask=mask[0])
    single_k = fft2c(t2.to(torch.complex64))  # [3, H, W], single-coil
    single = write_fastmri_h5(root / "single.h5", single_k * mask, mask=mask[0])
    ref = root / "t1.nii.gz"
    nib.save(nib.Nifti1Image(np.moveaxis(t1.numpy(), 0, -1), affine), ref)
    return {"root": root, "multi": multi, "single": single, "truth": truth, "t2": t2, "reference": ref, "mask": mask}


def _volume_psnr(truth: torch.Tensor, img: np.ndarray) -> float:
    """fastMRI PSNR over the volume; ``truth`` ``[S, H, W]``, ``img`` ``[H, W, S]``."""
    return float(psnr(truth.double(), torch.from_numpy(np.moveaxis(img, -1, 0)).double()))


def _run(bundle: str, out: Path, **overrides) -> np.ndarray:
    run(config_file=_config(bundle), output_dir=str(out), device="cpu", **overrides)
    written = sorted(out.rglob("*.nii.gz"))
    assert len(written) == 1, written
    return nib.load(written[0]).get_fdata(dtype=np.float32)


# --- the transform -------------------------------------------------------------------------------


def test_transform_is_rss_of_ifft_slice_by_slice(study):
    out = FastMRIKspaceToImage()(study["multi"])
    assert tuple(out.shape) == (1, 193, 229, 3)
    with h5py.File(study["multi"], "r") as f:
        k = torch.from_numpy(f["kspace"][()])
    for s in range(3):
        np.testing.assert_allclose(out[0, ..., s].numpy(), rss(ifft2c(k[s])).numpy(), rtol=1e-5, atol=1e-6)
    assert out.meta["filename_or_obj"] == str(study["multi"])
    assert out.meta["kspace_coil_combine"] == "rss" and out.meta["kspace_mask_source"] == "file"
    assert out.meta["kspace_acceleration"] == pytest.approx(229 / float(study["mask"].sum()))
    np.testing.assert_allclose(out.affine.numpy(), np.eye(4))  # write_fastmri_h5's default 1 mm grid


def test_dictionary_version_sense_and_single_coil(study):
    d = FastMRIKspaceToImaged("target", coil_combine="sense")({"target": str(study["multi"])})
    assert tuple(d["target"].shape) == (1, 193, 229, 3) and d["target"].meta["kspace_coil_combine"] == "sense"
    single = FastMRIKspaceToImage(coil_combine="sense")(study["single"])  # single-coil: |ifft2c|
    expected = ifft2c(fft2c(study["t2"].to(torch.complex64)) * study["mask"]).abs()
    np.testing.assert_allclose(single[0].permute(2, 0, 1).numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    assert single.meta["kspace_coil_combine"] == "single-coil |ifft2c|"


def test_kspace_outside_the_mask_is_rejected(study, tmp_path):
    full = tmp_path / "full.h5"
    write_fastmri_h5(full, fft2c(study["t2"].to(torch.complex64)), mask=study["mask"][0])
    with pytest.raises(ValueError, match="undersampled acquisition"):
        FastMRIKspaceToImage()(full)


def test_missing_reference_is_named(study):
    with pytest.raises(ValueError, match="--reference_file"):
        kspace_file_datalist(study["multi"], "t2", "t1", None, "mc_cdic_recon")


# --- the bundles ---------------------------------------------------------------------------------


def test_clgnet_reconstructs_every_slice_of_a_multicoil_file(study, tmp_path):
    out = _run("clgnet_recon", tmp_path, kspace_file=str(study["multi"]))
    assert out.shape == (193, 229, 3)
    assert (tmp_path / "multi_recon.nii.gz").exists()
    zero_filled = FastMRIKspaceToImage()(study["multi"])[0].numpy()
    assert _volume_psnr(study["truth"], out) > _volume_psnr(study["truth"], zero_filled)


def test_clgnet_single_coil_file(study, tmp_path):
    out = _run("clgnet_recon", tmp_path, kspace_file=str(study["single"]))
    assert out.shape == (193, 229, 3)
    zero_filled = FastMRIKspaceToImage()(study["single"])[0].numpy()
    assert _volume_psnr(study["t2"], out) > _volume_psnr(study["t2"], zero_filled)


def test_mc_cdic_with_reference_file(study, tmp_path):
    out = _run("mc_cdic_recon", tmp_path, kspace_file=str(study["multi"]), reference_file=str(study["reference"]))
    assert out.shape == (193, 229, 3)
    zero_filled = FastMRIKspaceToImage()(study["multi"])[0].numpy()
    assert _volume_psnr(study["truth"], out) > _volume_psnr(study["truth"], zero_filled)


def test_mc_cdic_without_reference_file_is_a_clear_error(study, tmp_path):
    with pytest.raises(Exception) as info:
        run(config_file=_config("mc_cdic_recon"), output_dir=str(tmp_path), device="cpu", kspace_file=str(study["multi"]))
    text = []
    exc = info.value
    while exc is not None:
        text.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    assert "--reference_file" in " ".join(text)
