"""Bad k-space files (fastMRI ``.h5``): empty, truncated and corrupt files, a file without a ``kspace``
dataset, and real-valued k-space where complex is needed (docs/reliability.md, "Files"). Bad masks and
k-space shapes in the operators are in test_kspace_properties.py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from monai_mcrecon.data import write_fastmri_h5
from monai_mcrecon.data.volume import load_volume

QUIET = {"log": lambda s: None}


def test_empty_and_truncated_h5(tmp_path):
    (tmp_path / "e.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e\.h5' is not a readable HDF5 file"):
        load_volume(tmp_path / "e.h5", **QUIET)
    k = torch.randn(2, 2, 16, 16, dtype=torch.complex64)
    write_fastmri_h5(tmp_path / "full.h5", k, reconstruction=k.abs().sum(1), mask=torch.ones(16))
    data = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "half.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"half\.h5'.*(not a readable HDF5|truncated|cannot)"):
        load_volume(tmp_path / "half.h5", **QUIET)


def test_corrupt_h5(tmp_path):
    bad = tmp_path / "noise.h5"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"^'.*noise\.h5' is not a readable HDF5 file .*fastMRI data are \.h5 files"):
        load_volume(bad, **QUIET)


def test_h5_without_kspace(tmp_path):
    path = tmp_path / "image_only.h5"
    with h5py.File(path, "w") as hf:
        hf.create_dataset("image", data=np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"no 'kspace' dataset \(found \['image'\]\).*write_fastmri_h5"):
        load_volume(path, **QUIET)


def test_real_kspace_is_a_wrong_dtype(tmp_path):
    with pytest.raises(TypeError, match="must be complex"):
        write_fastmri_h5(tmp_path / "real.h5", np.zeros((2, 8, 6), np.float32))
