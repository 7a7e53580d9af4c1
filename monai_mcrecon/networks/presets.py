"""One preset mechanism for every network in the package.

Every network's constructor defaults are the paper / release values. Named presets (``small`` for
CPU training, ``tiny`` for unit tests) are keyword overrides of the constructor, declared in the
class attribute ``PRESETS`` and built with ``Net.from_preset(name, **overrides)``. Bundle configs
use ``"_target_": "monai_mcrecon.networks.nets.MCCDic.from_preset"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["PresetMixin"]


class PresetMixin:
    """Adds ``PRESETS`` and ``from_preset`` to a network class."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides: Any):
        """Build the network from a named preset; ``overrides`` replace single constructor arguments.

        Raises:
            ValueError: when ``preset`` is not one of ``cls.PRESETS``.
        """
        if preset not in cls.PRESETS:
            raise ValueError(
                f"Unknown preset {preset!r} for {cls.__name__}; choose one of {sorted(cls.PRESETS)}."
            )
        kwargs = dict(cls.PRESETS[preset])
        kwargs.update(overrides)
        return cls(**kwargs)
