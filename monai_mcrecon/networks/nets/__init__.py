"""One file per model, named after the paper's model."""

from .clgnet import CLGNet
from .mc_cdic import MCCDic
from .varnet import SingleCoilVarNet

__all__ = ["CLGNet", "MCCDic", "SingleCoilVarNet"]
