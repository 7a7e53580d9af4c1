"""Ignite handlers for evaluation outputs."""

from monai_mcrecon.handlers.writers import MetricsCSVWriter, ReconstructionFigureWriter, RestorationFigureWriter

__all__ = ["MetricsCSVWriter", "ReconstructionFigureWriter", "RestorationFigureWriter"]
