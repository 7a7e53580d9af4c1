"""Lazy attributes for package ``__init__`` modules (PEP 562).

A package that re-exports names from its submodules normally imports every submodule when it is
imported, and with them their dependencies: importing ``monai_mcrecon.networks.nets`` used to load
every network, and with them ``monai`` (which imports all of its subpackages, ``torchvision``,
``matplotlib``, ``pandas``, ``skimage``...; about 370 MB of resident memory over ``torch``), even to
build a single network that needs none of it. With :func:`attach` the package's names are looked
up in their submodule only when first used: ``from monai_mcrecon.networks.nets import MCCDic``
imports ``mc_cdic`` (and what it needs), nothing else; dotted references such as bundle
``_target_`` strings (``monai_mcrecon.networks.nets.MCCDic.from_preset``, resolved by
:func:`pydoc.locate`) work because they end in ``getattr`` on the package.

Usage in a package ``__init__``::

    from monai_mcrecon._lazy import attach

    _EXPORTS = {"MCCDic": "mc_cdic", "CLGNet": "clgnet"}
    __all__ = sorted(_EXPORTS)
    __getattr__, __dir__ = attach(__name__, _EXPORTS)

A name that equals a submodule's own name (a function ``f`` in a submodule ``f``) must
be imported eagerly instead: importing the submodule sets the package attribute to the module, and
a module ``__getattr__`` is only consulted for attributes that do not exist.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package whose names load on first use.

    Args:
        package: the package's ``__name__``.
        exports: public name -> submodule (relative to ``package``, without the leading dot) that
            defines it.

    Returns:
        ``(__getattr__, __dir__)`` to assign in the package's namespace. ``__getattr__`` imports the
        submodule, caches the value in the package's namespace (later look-ups are plain attribute
        reads) and returns it; ``__dir__`` lists the loaded names and every export.

    Raises:
        ValueError: a submodule name that is also one of its exports (import that name eagerly).
    """
    clashes = sorted(name for name, module in exports.items() if name == module)
    if clashes:
        raise ValueError(
            f"Lazy exports {clashes} of {package} share their submodule's name; import them eagerly instead."
        )
    exports = dict(exports)

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module_name}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
