"""Ignite engines for what SupervisedTrainer does not cover (teacher-student distillation)."""

from monai_mcrecon.engines.distillation import DistillationTrainer, check_distillation_options

__all__ = ["DistillationTrainer", "check_distillation_options"]
