"""Modules that load at their first use: what a process may need but most runs never touch.

``d2l.torch`` imports torchvision, pandas and matplotlib's plotting: about three seconds of every
start-up, for plots and data sets that only the notebooks' demonstrations use. Registered lazily,
``from d2l import torch as d2l`` binds the name at once and the code runs at its first attribute
lookup (importlib's ``LazyLoader`` recipe).
"""

from __future__ import annotations

import importlib.util
import sys
import types

__all__ = ["LAZY_MODULES", "import_lazily", "load_now"]

#: Modules the notebooks' setup cells import that the graded functions do not use.
LAZY_MODULES = ("d2l.torch",)


def import_lazily(name: str) -> None:
    """Put ``name`` in ``sys.modules`` as a module that runs its code at its first attribute lookup;
    nothing when it is imported already or not installed."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:
        return
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def load_now(name: str) -> types.ModuleType:
    """``name`` imported for real, whether or not it was registered lazily."""
    module = importlib.import_module(name)
    module.__dict__  # noqa: B018 - any attribute lookup runs a lazy module's code
    return module
