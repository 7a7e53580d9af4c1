"""Ignite handlers for evaluation outputs."""

from monai_mcrecon.handlers.writers import AtomicNibabelWriter, MetricsCSVWriter, ReconstructionFigureWriter, RestorationFigureWriter

__all__ = ["AtomicNibabelWriter", "MetricsCSVWriter", "ReconstructionFigureWriter", "RestorationFigureWriter"]
