"""One file per model, named after the paper's model."""

from .mc_cdic import MCCDic
