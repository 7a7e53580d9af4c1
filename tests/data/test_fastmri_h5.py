"""fastMRI h5 reader / writer: cross-checked against ``fastmri.data.SliceDataset`` on files written in
the fastMRI layout; lazy (one slice per read) and leaves no file handles open."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from monai_mcrecon.data import (
    ISMRMRD_NAMESPACE,
    FastMRISliceDataset,
    FastMRIVolume,
    parse_ismrmrd_header,
    write_fastmri_h5,
)
from monai_mcrecon.kspace.fft import fft2c, ifft2c

fastmri_data = pytest.importorskip("fastmri.data")

SLICES, COILS, H, W = 3, 4, 32, 24
REC = (16, 12)
# 9 of 24 columns: the fully sampled centre run 10..13 (4 columns) plus 5 outer columns
MASK = np.zeros(W, dtype=bool)
MASK[[0, 4, 8, 10, 11, 12, 13, 16, 20]] = True


def _complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@pytest.fixture
def multicoil_dir(tmp_path) -> Path:
    """Two multi-coil files: a training-style file (target, padded encoding limits) and a test-style
    file (undersampled k-space and a mask, no target)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "multicoil"
    write_fastmri_h5(
        root / "file_a.h5",
        _complex(rng, (SLICES, COILS, H, W)),
        reconstruction=rng.random((SLICES, *REC)).astype(np.float32),
        encoding_limits=(0, 10, 19),
        attrs={"acquisition": "CORPD_FBK", "patient_id": "abc123"},
    )
    write_fastmri_h5(root / "file_b.h5", _complex(rng, (2, COILS, H, W)) * MASK, mask=MASK)
    return root


@pytest.fixture
def singlecoil_dir(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    root = tmp_path / "singlecoil"
    write_fastmri_h5(
        root / "file_s.h5",
        _complex(rng, (SLICES, H, W)),
        reconstruction=rng.random((SLICES, *REC)).astype(np.float32),
        attrs={"acquisition": "CORPDFS_FBK"},
    )
    return root


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _open_h5_files() -> int:
    return h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)


# --- cross-check against fastmri.data.SliceDataset -------------------------------------------------


@pytest.mark.parametrize("challenge", ["multicoil", "singlecoil"])
def test_matches_fastmri_slice_dataset(challenge, multicoil_dir, singlecoil_dir):
    root = multicoil_dir if challenge == "multicoil" else singlecoil_dir
    ours = FastMRISliceDataset(root, challenge=challenge)
    ref = fastmri_data.SliceDataset(root, challenge=challenge, transform=None)
    assert len(ours) == len(ref) == (SLICES + 2 if challenge == "multicoil" else SLICES)
    n_targets = 0
    for i in range(len(ref)):
        kspace, mask, target, attrs, fname, slice_num = ref[i]
        item = ours[i]
        k = item["kspace"]
        assert k.dtype == torch.complex64
        if challenge == "multicoil":
            assert k.shape == (COILS, H, W)
            assert np.array_equal(k.numpy(), kspace)
        else:  # single-coil: channel-first with one coil
            assert k.shape == (1, H, W) and kspace.shape == (H, W)
            assert np.array_equal(k[0].numpy(), kspace)
        if mask is None:
            assert "mask" not in item
        else:
            assert item["mask"].shape == (1, W) and np.array_equal(item["mask"][0].numpy(), mask.astype(np.float32))
        if target is None:
            assert "target" not in item
        else:
            n_targets += 1
            assert item["target"].shape == (1, *REC) and item["target"].dtype == torch.float32
            assert np.array_equal(item["target"][0].numpy(), target)
        meta = item["metadata"]
        assert meta["fname"] == fname and meta["slice_num"] == slice_num
        assert set(attrs) <= set(meta)
        for key, value in attrs.items():  # attrs + fastMRI's parsed header (padding, sizes)
            assert meta[key] == value, key
        assert meta["num_coils"] == (COILS if challenge == "multicoil" else 1)
    assert n_targets == SLICES


def test_header_fields_and_attrs(multicoil_dir):
    path = multicoil_dir / "file_a.h5"
    with h5py.File(path, "r") as hf:
        raw = hf["ismrmrd_header"][()]
        assert isinstance(raw, bytes) and hf["ismrmrd_header"].shape == ()
        assert hf["kspace"].dtype == np.complex64 and hf["kspace"].shape == (SLICES, COILS, H, W)
        assert hf["reconstruction_rss"].dtype == np.float32 and hf["reconstruction_rss"].shape == (SLICES, *REC)
        recon = hf["reconstruction_rss"][()]
        attrs = dict(hf.attrs)
        assert "mask" not in hf
    assert ET.fromstring(raw).tag == f"{{{ISMRMRD_NAMESPACE}}}ismrmrdHeader"
    header = parse_ismrmrd_header(raw)
    assert header["encoding_size"] == (H, W, 1) and header["recon_size"] == (*REC, 1)
    assert (header["enc_limits_min"], header["enc_limits_center"], header["enc_limits_max"]) == (0, 10, 19)
    # acquired columns [W // 2 - center, that + maximum + 1) = [2, 22)
    assert (header["padding_left"], header["padding_right"]) == (2, 22)
    assert header["receiver_channels"] == COILS
    assert header["encoding_fov_mm"] == (float(H), float(W), 1.0)
    assert attrs["acquisition"] == "CORPD_FBK" and attrs["patient_id"] == "abc123"
    assert attrs["max"] == pytest.approx(float(recon.max()), rel=1e-7)
    assert attrs["norm"] == pytest.approx(float(np.linalg.norm(recon.astype(np.float64))), rel=1e-6)
    # the str header parses too, and a namespace-less header is accepted
    assert parse_ismrmrd_header(raw.decode())["padding_right"] == 22
    plain = raw.decode().replace(f' xmlns="{ISMRMRD_NAMESPACE}"', "")
    assert parse_ismrmrd_header(plain)["recon_size"] == (*REC, 1)


def test_test_file_mask_and_attrs(multicoil_dir):
    with FastMRIVolume(multicoil_dir / "file_b.h5") as vol:
        assert vol.target(0) is None and not vol.has_target
        m = vol.mask()
        meta = vol.metadata
    assert m.shape == (1, W) and m.dtype == torch.float32
    assert np.array_equal(m[0].numpy(), MASK.astype(np.float32))
    assert meta["acceleration"] == 3 and meta["num_low_frequency"] == 4  # round(24 / 9), columns 10..13
    assert "max" not in meta and "norm" not in meta
    with h5py.File(multicoil_dir / "file_b.h5", "r") as hf:
        assert hf["mask"].dtype == bool and hf["mask"].shape == (W,)


def test_kspace_follows_fft_convention(tmp_path):
    """Stored k-space is exactly what fft2c made; ifft2c of what the reader returns is the image."""
    g = torch.Generator().manual_seed(0)
    img = torch.randn(SLICES, COILS, H, W, generator=g, dtype=torch.complex64)
    path = write_fastmri_h5(tmp_path / "phys.h5", fft2c(img))
    with FastMRIVolume(path) as vol:
        for s in range(SLICES):
            assert torch.equal(vol.kspace(s), fft2c(img[s]))
            assert torch.allclose(ifft2c(vol.kspace(s)), img[s], atol=1e-5)


# --- FastMRIVolume -------------------------------------------------------------------------------


def test_volume_properties_and_close(multicoil_dir, singlecoil_dir):
    before = _open_h5_files()
    with FastMRIVolume(multicoil_dir / "file_a.h5") as vol:
        assert _open_h5_files() == before + 1
        assert vol.shape == (SLICES, COILS, H, W) and vol.num_slices == SLICES
        assert vol.is_multicoil and vol.num_coils == COILS and vol.recon_key == "reconstruction_rss"
        assert vol.mask() is None
        assert torch.equal(vol.kspace(-1), vol.kspace(SLICES - 1))
        assert vol.metadata["padding_left"] == 2
        with pytest.raises(IndexError, match="out of range"):
            vol.kspace(SLICES)
    assert vol.closed and _open_h5_files() == before
    for read in (lambda: vol.kspace(0), lambda: vol.target(0), lambda: vol.mask(), lambda: vol.shape):
        with pytest.raises(RuntimeError, match="is closed"):
            read()
    vol.close()  # idempotent

    vol = FastMRIVolume(singlecoil_dir / "file_s.h5")
    assert not vol.is_multicoil and vol.num_coils == 1 and vol.recon_key == "reconstruction_esc"
    assert vol.kspace(0).shape == (1, H, W) and vol.target(0).shape == (1, *REC)
    vol.close()
    assert _open_h5_files() == before


# --- laziness and handles ------------------------------------------------------------------------


def test_reads_one_slice_at_a_time(multicoil_dir, monkeypatch):
    """Every read of kspace / target returns exactly one slice; no whole-array reads."""
    reads: list[tuple[str, tuple, tuple]] = []
    original = h5py.Dataset.__getitem__

    def spy(self, args, *rest, **kwargs):
        out = original(self, args, *rest, **kwargs)
        reads.append((self.name, tuple(self.shape), np.shape(out)))
        return out

    def forbidden(self, *args, **kwargs):
        raise AssertionError(f"whole-array read of {self.name}")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    monkeypatch.setattr(h5py.Dataset, "read_direct", forbidden)
    monkeypatch.setattr(h5py.Dataset, "__array__", forbidden)

    ds = FastMRISliceDataset(multicoil_dir)
    assert [r[0] for r in reads] == ["/ismrmrd_header", "/ismrmrd_header"]  # init: headers only
    reads.clear()
    for i in range(len(ds)):
        ds[i]
    big = [r for r in reads if r[0] in ("/kspace", "/reconstruction_rss")]
    assert len([r for r in big if r[0] == "/kspace"]) == len(ds) == SLICES + 2
    assert len([r for r in big if r[0] == "/reconstruction_rss"]) == SLICES
    for name, full, got in big:
        assert got == full[1:], (name, full, got)
    assert {r[0] for r in reads} <= {"/kspace", "/reconstruction_rss", "/mask"}


def test_handles_closed_after_each_item(multicoil_dir, tmp_path, monkeypatch):
    calls = {"open": 0, "close": 0}
    init, close = h5py.File.__init__, h5py.File.close

    def counting_init(self, name, *args, **kwargs):
        calls["open"] += isinstance(name, (str, os.PathLike))  # not h5py's internal File(FileID) wrappers
        init(self, name, *args, **kwargs)

    def counting_close(self):
        calls["close"] += self.id.valid  # explicit close of an open file, not garbage collection
        close(self)

    monkeypatch.setattr(h5py.File, "__init__", counting_init)
    monkeypatch.setattr(h5py.File, "close", counting_close)
    fds, files = _open_fds(), _open_h5_files()
    ds = FastMRISliceDataset(multicoil_dir)
    assert (_open_fds(), _open_h5_files()) == (fds, files)
    assert calls == {"open": 2, "close": 2}  # one open per file at init
    for i in range(len(ds)):
        ds[i]
        assert (_open_fds(), _open_h5_files()) == (fds, files)
        assert calls == {"open": 3 + i, "close": 3 + i}  # one open per item, closed before returning
    monkeypatch.undo()
    # failed opens close their handle too
    bad = tmp_path / "no_kspace.h5"
    with h5py.File(bad, "w") as hf:
        hf.create_dataset("image", data=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError):
        FastMRIVolume(bad)
    assert (_open_fds(), _open_h5_files()) == (fds, files)
    # the file can be rewritten right after reading (no handle or lock left)
    write_fastmri_h5(multicoil_dir / "file_a.h5", np.ones((1, 2, 4, 4), np.complex64))
    with FastMRIVolume(multicoil_dir / "file_a.h5") as vol:
        assert vol.shape == (1, 2, 4, 4)


# --- dataset API ---------------------------------------------------------------------------------


def test_inputs_transform_and_dataloader(multicoil_dir):
    files = sorted(multicoil_dir.glob("*.h5"))
    assert len(FastMRISliceDataset(files[0])) == SLICES
    assert [s[1] for s in FastMRISliceDataset([str(f) for f in files]).samples] == [0, 1, 2, 0, 1]

    def add_image(item):
        item["image"] = ifft2c(item["kspace"]).abs().pow(2).sum(0, keepdim=True).sqrt()
        return item

    ds = FastMRISliceDataset(files[0], transform=add_image)
    item = ds[1]
    assert item["image"].shape == (1, H, W)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["kspace"].shape == (2, COILS, H, W) and batch["kspace"].dtype == torch.complex64
    assert batch["target"].shape == (2, 1, *REC) and batch["image"].shape == (2, 1, H, W)
    assert batch["metadata"]["slice_num"].tolist() == [0, 1]
    assert batch["metadata"]["fname"] == ["file_a.h5", "file_a.h5"]


# --- errors --------------------------------------------------------------------------------------


def test_reader_errors(multicoil_dir, singlecoil_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5.*does not exist"):
        FastMRISliceDataset(tmp_path / "missing.h5")
    with pytest.raises(FileNotFoundError, match="missing.h5.*does not exist"):
        FastMRIVolume(tmp_path / "missing.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No .h5 files"):
        FastMRISliceDataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="challenge must be"):
        FastMRISliceDataset(multicoil_dir, challenge="knee")
    with pytest.raises(ValueError, match="use challenge='multicoil'"):
        FastMRISliceDataset(multicoil_dir, challenge="singlecoil")
    with pytest.raises(ValueError, match="use challenge='singlecoil'"):
        FastMRISliceDataset(singlecoil_dir, challenge="multicoil")

    no_kspace = tmp_path / "no_kspace.h5"
    with h5py.File(no_kspace, "w") as hf:
        hf.create_dataset("image", data=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"no 'kspace' dataset \(found \['image'\]\).*write_fastmri_h5"):
        FastMRISliceDataset(no_kspace)
    wrong_rank = tmp_path / "wrong_rank.h5"
    with h5py.File(wrong_rank, "w") as hf:
        hf.create_dataset("kspace", data=np.zeros((4, 4), np.complex64))
    with pytest.raises(ValueError, match=r"shape \(4, 4\); expected \[slices, coils, H, W\]"):
        FastMRIVolume(wrong_rank)
    no_header = tmp_path / "no_header.h5"
    with h5py.File(no_header, "w") as hf:
        hf.create_dataset("kspace", data=np.zeros((1, 4, 4), np.complex64))
    with pytest.raises(ValueError, match="no 'ismrmrd_header'"):
        FastMRISliceDataset(no_header)
    not_h5 = tmp_path / "text.h5"
    not_h5.write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        FastMRIVolume(not_h5)

    with pytest.raises(ValueError, match="not valid XML"):
        parse_ismrmrd_header(b"<ismrmrdHeader")
    with pytest.raises(ValueError, match="no <encoding/reconSpace/matrixSize/x>"):
        parse_ismrmrd_header(
            f'<ismrmrdHeader xmlns="{ISMRMRD_NAMESPACE}"><encoding><encodedSpace><matrixSize><x>4</x><y>4</y>'
            "<z>1</z></matrixSize></encodedSpace></encoding></ismrmrdHeader>"
        )


def test_writer_errors(tmp_path):
    k = np.zeros((2, 3, 8, 6), np.complex64)
    with pytest.raises(TypeError, match="must be complex"):
        write_fastmri_h5(tmp_path / "x.h5", k.real)
    with pytest.raises(ValueError, match=r"\[slices, coils, H, W\]"):
        write_fastmri_h5(tmp_path / "x.h5", k[0, 0])
    with pytest.raises(ValueError, match=r"reconstruction must be real \[slices=2"):
        write_fastmri_h5(tmp_path / "x.h5", k, reconstruction=np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="W=6 entries"):
        write_fastmri_h5(tmp_path / "x.h5", k, mask=np.ones(8))
    with pytest.raises(ValueError, match="binary"):
        write_fastmri_h5(tmp_path / "x.h5", k, mask=np.full(6, 0.5))
    assert not (tmp_path / "x.h5").exists()
    # torch input, custom recon key (fastMRI single-coil files also carry reconstruction_rss)
    path = write_fastmri_h5(
        tmp_path / "sc.h5", torch.zeros(2, 8, 6, dtype=torch.complex64), reconstruction=torch.ones(2, 4, 4),
        recon_key="reconstruction_rss",
    )
    with FastMRIVolume(path, recon_key="reconstruction_rss") as vol:
        assert torch.equal(vol.target(1), torch.ones(1, 4, 4))
    with FastMRIVolume(path) as vol:  # single-coil default key is reconstruction_esc: absent here
        assert vol.target(1) is None
