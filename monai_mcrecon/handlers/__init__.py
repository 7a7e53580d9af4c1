"""Ignite handlers for evaluation outputs."""

from monai_mcrecon.handlers.writers import MetricsCSVWriter, ReconstructionFigureWriter

__all__ = ["MetricsCSVWriter", "ReconstructionFigureWriter"]
