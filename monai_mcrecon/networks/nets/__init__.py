"""One file per model, named after the paper's model.

The names below load on first use (PEP 562, :mod:`monai_mcrecon._lazy`): importing this package
imports no network (nor ``torch`` / ``monai``); ``from monai_mcrecon.networks.nets import MCCDic``
and bundle ``_target_`` strings such as ``monai_mcrecon.networks.nets.MCCDic.from_preset`` import
only the module that defines the network.

A model's private blocks live in its file and are imported from there
(``from monai_mcrecon.networks.nets.mdrn import MDRBlock``); ``networks.blocks`` holds the blocks
that two or more networks use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monai_mcrecon._lazy import attach

_EXPORTS = {
    "BVFI": "bvfi",
    "CLGNet": "clgnet",
    "DeepRL": "deep_rl",
    "DeepRLOutput": "deep_rl",
    "DnCNN": "mdrn",
    "FGDCN": "fgdcn",
    "FGDCNOutput": "fgdcn",
    "MCCDic": "mc_cdic",
    "MDRN": "mdrn",
    "MSTN": "mstn",
    "SingleCoilVarNet": "varnet",
    "SPDNet": "spdnet",
    "SPDNetOutput": "spdnet",
    "SSRDEFNet": "ssrde_fnet",
    "SSRDEFNetOutput": "ssrde_fnet",
    "SSRDEFNetTestOutput": "ssrde_fnet",
    "StageNet": "kd_students",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from .bvfi import BVFI
    from .clgnet import CLGNet
    from .deep_rl import DeepRL, DeepRLOutput
    from .fgdcn import FGDCN, FGDCNOutput
    from .kd_students import StageNet
    from .mc_cdic import MCCDic
    from .mdrn import MDRN, DnCNN
    from .mstn import MSTN
    from .spdnet import SPDNet, SPDNetOutput
    from .ssrde_fnet import SSRDEFNet, SSRDEFNetOutput, SSRDEFNetTestOutput
    from .varnet import SingleCoilVarNet
