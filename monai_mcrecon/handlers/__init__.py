"""Ignite handlers for evaluation outputs."""

from monai_mcrecon.handlers.video import InterpolatedClipWriter, InterpolationFigureWriter, SaveBlurryVFIFiguresd
from monai_mcrecon.handlers.writers import AtomicNibabelWriter, MetricsCSVWriter, ReconstructionFigureWriter, RestorationFigureWriter

__all__ = ["AtomicNibabelWriter", "InterpolatedClipWriter", "InterpolationFigureWriter", "MetricsCSVWriter", "ReconstructionFigureWriter", "RestorationFigureWriter", "SaveBlurryVFIFiguresd"]
