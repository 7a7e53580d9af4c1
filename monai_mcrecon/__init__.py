"""monai-mcrecon: a MONAI extension for multi-contrast MRI reconstruction and image restoration."""

__version__ = "0.1.0"
