"""Ignite engines for what SupervisedTrainer does not cover (teacher-student distillation; several inputs/outputs/loss terms)."""

from monai_mcrecon.engines.distillation import DistillationTrainer, check_distillation_options
from monai_mcrecon.engines.multi_io import (
    MultiIOEvaluator,
    MultiIOTrainer,
    PrepareMultiInput,
    loss_terms_transform,
    select_output,
)

__all__ = [
    "DistillationTrainer",
    "MultiIOEvaluator",
    "MultiIOTrainer",
    "PrepareMultiInput",
    "check_distillation_options",
    "loss_terms_transform",
    "select_output",
]
