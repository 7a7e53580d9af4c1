"""Bad natural-image files (``LoadNaturalImage``, the loader of the restoration bundles): missing, empty,
truncated and corrupt PNGs (docs/reliability.md, "Files")."""

from __future__ import annotations

import io

import numpy as np
import pytest

from monai_mcrecon.transforms.natural import LoadNaturalImage

def _png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_missing_png(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^Image file '.*absent\.png' does not exist"):
        LoadNaturalImage()(tmp_path / "absent.png")


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


def test_corrupt_png(tmp_path):
    bad = tmp_path / "noise.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"^'.*noise\.png' is not an image PIL can read; use PNG, JPEG"):
        LoadNaturalImage()(bad)
