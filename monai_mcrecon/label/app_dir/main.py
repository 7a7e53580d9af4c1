"""MONAI Label app entry point: ``monailabel start_server --app <this folder> --studies <folder>``.

MONAI Label loads ``main.py`` from the app folder and instantiates the class in it that derives
from ``MONAILabelApp``: here :class:`monai_mcrecon.label.app.MCReconApp`.
"""

from __future__ import annotations

from monai_mcrecon.label.app import MCReconApp

__all__ = ["MCReconApp"]
