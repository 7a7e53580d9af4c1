"""The command hands its volumes to the bundle in memory: no temporary NIfTI file, and the same prediction as
the bundle's own file route (``inference.json`` on a dataset folder) for the same target and reference."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import run
from monai.data import MetaTensor

from monai_mcrecon.bundle.locate import bundle_dir
from monai_mcrecon.commands.restore import run_model
from monai_mcrecon.transforms.volume_input import LoadVolumed, volume_image

SLICES = slice(7, 9)  # 2 axial slices of the sample's first test case


@pytest.fixture(scope="module")
def case(tmp_path_factory, write_sample_crop) -> Path:
    """``<root>/scan/t2.nii.gz`` (the target as given) and ``t1.nii.gz`` (the reference), on one grid."""
    root = tmp_path_factory.mktemp("data")
    write_sample_crop(root / "scan", (slice(None), slice(None), SLICES))
    return root


@pytest.mark.parametrize("task, bundle", [("recon", "mc_cdic_recon"), ("sr", "mc_cdic_sr")])
def test_command_writes_only_its_outputs_and_predicts_as_the_file_route(case, task, bundle, tmp_path, monkeypatch):
    written: list[Path] = []
    save = nib.save

    def spy(img, filename, *args, **kwargs):
        written.append(Path(filename))
        return save(img, filename, *args, **kwargs)

    monkeypatch.setattr(nib, "save", spy)
    out = tmp_path / "out"
    result = run_model(case / "scan" / "t2.nii.gz", out, reference=case / "scan" / "t1.nii.gz", task=task,
                       device="cpu", batch_size=2, progress=False, log=lambda s: None)
    # one NIfTI written, the output itself (through its temporary name beside it)
    assert len(written) == 1 and written[0].parent == out, written
    assert result["bundle_input"] == "nifti" and sorted(p.name for p in out.iterdir()) == ["run_info.json", f"t2_{task}.nii.gz"]
    monkeypatch.setattr(nib, "save", save)

    files = tmp_path / "files"
    run(config_file=str(Path(bundle_dir(bundle)) / "configs" / "inference.json"), dataset_dir=str(case),
        output_dir=str(files), simulate_acquisition=False, slice_batch_size=2, device="cpu")
    by_file = nib.load(str(files / "scan" / f"t2_{task}.nii.gz"))
    by_command = nib.load(str(out / f"t2_{task}.nii.gz"))
    ref = np.asarray(by_file.dataobj)
    assert ref.shape == (193, 229, 2) and float(ref.max()) > 100  # a real prediction in the target's units
    np.testing.assert_array_equal(np.asarray(by_command.dataobj), ref)  # the same numbers, voxel for voxel
    np.testing.assert_array_equal(by_command.affine, by_file.affine)
    if task == "sr":  # the sidecar json of the file route is in run_info.json
        sidecar = json.loads((files / "scan" / "t2_sr.json").read_text())
        info = json.loads((out / "run_info.json").read_text())["sr_input"]
        assert {k: v for k, v in info.items() if k not in ("file", "geometry_from")} == {
            k: v for k, v in sidecar.items() if k not in ("file", "geometry_from")
        }
        assert info["input_grid"] == "hr" and info["target_shape"] == [193, 229] and info["file"] == "t2_sr.nii.gz"


def test_load_volumed_reads_paths_and_passes_metatensors(case):
    path = case / "scan" / "t2.nii.gz"
    img = nib.load(str(path))
    arr = np.asarray(img.dataobj, dtype=np.float32)
    vol = volume_image(arr, img.affine, source=path)
    d = LoadVolumed(["target", "reference"])({"case_id": "scan", "target": str(path), "reference": vol})
    for k in ("target", "reference"):
        assert isinstance(d[k], MetaTensor) and tuple(d[k].shape) == (193, 229, 2) and d[k].dtype == torch.float32
        np.testing.assert_array_equal(d[k].numpy(), arr)
        np.testing.assert_allclose(d[k].affine.numpy(), img.affine)
    assert d["reference"].meta["filename_or_obj"] == str(path)
    # a MetaTensor built without the channel note is a 3-D volume without channel, as a loaded file
    bare = LoadVolumed("target")({"target": MetaTensor(torch.ones(4, 5, 3), affine=torch.eye(4) * 2)})["target"]
    assert np.isnan(bare.meta["original_channel_dim"]) and float(bare.affine[0, 0]) == 2.0
    with pytest.raises(ValueError, match="carries no affine; give the file path, or the volume as monai.data.MetaTensor"):
        LoadVolumed("target")({"case_id": "x", "target": arr})
