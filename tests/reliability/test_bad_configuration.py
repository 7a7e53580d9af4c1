"""Bad configuration: an unknown bundle override key (named with the closest keys, through check_overrides
and run-bundle), a datalist JSON that is not JSON, a contrast name the case does not have
(docs/reliability.md, "Files" and "Configuration")."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from monai_mcrecon.bundle.locate import BUNDLES_DIR
from monai_mcrecon.bundle.overrides import check_overrides
from monai_mcrecon.cli import main
from monai_mcrecon.data import build_datalist

def test_unknown_override_key_is_named_with_the_closest_keys(capsys):
    config = BUNDLES_DIR / "mc_cdic_recon" / "configs" / "inference.json"
    with pytest.raises(KeyError, match=r"'acceleraton' \(did you mean 'acceleration'"):
        check_overrides(config, {"acceleraton": 8, "preset": "tiny"})
    check_overrides(config, {"acceleration": 8, "slice_inferer#progress": True, "run_id": "run"})  # known ids pass
    rc = main(["run-bundle", "mc_cdic_recon", "--config", "inference", "--acceleraton", "8"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "Unknown override(s) 'acceleraton'" in err and "'acceleration'" in err


def test_datalist_json_that_is_not_json(tmp_path):
    from monai_mcrecon.data import load_datalist

    bad = tmp_path / "datalist.json"
    bad.write_text("{not json")
    with pytest.raises((ValueError, json.JSONDecodeError)):
        load_datalist(str(bad), "test", ["t2", "t1"])


def test_wrong_contrast_name(tmp_path):
    from monai_mcrecon.transforms import SelectContrastsd

    case = tmp_path / "c1"
    case.mkdir()
    for c in ("t1", "t2"):
        nib.save(nib.Nifti1Image(np.ones((4, 4, 2), np.float32), np.eye(4)), str(case / f"{c}.nii.gz"))
    item = {"case_id": "c1", "t1": str(case / "t1.nii.gz"), "t2": str(case / "t2.nii.gz")}
    with pytest.raises(FileNotFoundError, match=r"'c1'.*'flair'.*\['t1', 't2'\]"):
        SelectContrastsd(target_contrast="flair", reference_contrast="t1")(item)
    with pytest.raises(FileNotFoundError, match=r"'c1' has no 'flair' contrast \(it has \['t1', 't2'\]\)"):
        build_datalist(tmp_path, contrasts=["flair", "t1"])
