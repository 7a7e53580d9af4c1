"""One file per model, named after the paper's model."""

from .clgnet import CLGNet
from .mc_cdic import MCCDic
from .varnet import SingleCoilVarNet
from .deep_rl import DeepRL, DeepRLOutput
from .mdrn import MDRN, DnCNN
from .mstn import MSTN
from .spdnet import SPDNet, SPDNetOutput
from .ssrde_fnet import SSRDEFNet, SSRDEFNetOutput, SSRDEFNetTestOutput
from .fgdcn import FGDCN, FGDCNOutput
from .bvfi import BVFI
from .kd_students import StageNet

__all__ = [
    "BVFI",
    "FGDCN",
    "FGDCNOutput",
    "SSRDEFNet",
    "SSRDEFNetOutput",
    "SSRDEFNetTestOutput",
    "StageNet",
    "CLGNet",
    "DeepRL",
    "DeepRLOutput",
    "DnCNN",
    "MCCDic",
    "MDRN",
    "MSTN",
    "SingleCoilVarNet",
    "SPDNet",
    "SPDNetOutput",
]
