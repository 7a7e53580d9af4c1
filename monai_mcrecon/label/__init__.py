"""MONAI Label tasks for the guided (multi-contrast) image-to-image bundles.

* :class:`~monai_mcrecon.label.infer.GuidedRestorationInfer`: infer task for ``mc_cdic_recon`` /
  ``mc_cdic_sr`` (float volume on the target grid; the reference contrast from the same study).
* :class:`~monai_mcrecon.label.train.GuidedRestorationTrain`: train task with PSNR / SSIM metrics.
* :class:`~monai_mcrecon.label.app.MCReconApp`: the MONAI Label app (``app_dir/main.py``).

``monailabel`` pins versions (numpy 1.26, jsonschema 3.2) that conflict with the main stack, so it
is not a dependency of the package: install it in a separate venv (``tools/label_venv.sh``). This
package imports without it; the names above import ``monailabel`` on first access and raise an
:class:`ImportError` saying how to install it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "APP_DIR",
    "GuidedRestorationInfer",
    "GuidedRestorationTrain",
    "MCReconApp",
    "pydicom_compat",
    "require_monailabel",
]

APP_DIR = str(__import__("pathlib").Path(__file__).resolve().parent / "app_dir")

_LAZY = {
    "GuidedRestorationInfer": "monai_mcrecon.label.infer",
    "GuidedRestorationTrain": "monai_mcrecon.label.train",
    "MCReconApp": "monai_mcrecon.label.app",
}

_INSTALL_HINT = (
    "monai_mcrecon.label needs MONAI Label, which is not installed in this environment. MONAI Label 0.8.5 "
    "pins numpy 1.26 and jsonschema 3.2, so install it in a separate virtual environment: "
    "`python -m venv .venv-label && .venv-label/bin/pip install -e \".[all]\" monailabel==0.8.5` "
    "(or run tools/label_venv.sh)."
)


def require_monailabel() -> None:
    """Raise an :class:`ImportError` with installation instructions when ``monailabel`` is missing."""
    try:
        importlib.import_module("monailabel")
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e


def pydicom_compat() -> None:
    """Let ``pydicom_seg`` 0.4.1 (a MONAI Label dependency) import under pydicom 3.

    ``pydicom_seg`` imports ``SegmentationStorage`` from ``pydicom._storage_sopclass_uids``, a private
    module that pydicom 3 removed (the UIDs are in :mod:`pydicom.uid`). Without this alias
    ``import monailabel.interfaces.app`` (hence the server) fails with
    ``ModuleNotFoundError: No module named 'pydicom._storage_sopclass_uids'``. The alias is only
    registered when that module is missing; DICOM-SEG output of MONAI Label is not used here.
    """
    import sys

    try:
        importlib.import_module("pydicom._storage_sopclass_uids")
    except ModuleNotFoundError:
        try:
            import pydicom.uid
        except ImportError:  # no pydicom: monailabel's own import error will say so
            return
        sys.modules["pydicom._storage_sopclass_uids"] = pydicom.uid


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require_monailabel()
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
