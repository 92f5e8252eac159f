"""Whole models: capture at example inputs, cut into tasks at module boundaries, the swarm on each
task, assemble the winners as custom operators, judge the whole model, save and load.

Heavy imports (torch) happen only when `optimize` or `load` is called.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def optimize(model: Any, example_inputs: Any, **kwargs: Any) -> Any:
    """See kernelswarm.optimize.api.optimize."""
    from kernelswarm.optimize.api import optimize as run

    return run(model, example_inputs, **kwargs)


def load(model: Any, folder: Any) -> Any:
    """See kernelswarm.optimize.manifest.load."""
    from kernelswarm.optimize.manifest import load as run

    return run(model, folder)


class _Package(types.ModuleType):
    """Importing this package sets `kernelswarm.optimize` to the package, over the function of that
    name: so the package, called, is the function (a second `kernelswarm.optimize(...)` in one
    process failed with "'module' object is not callable")."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from kernelswarm.optimize.api import optimize as run

        return run(*args, **kwargs)


sys.modules[__name__].__class__ = _Package
