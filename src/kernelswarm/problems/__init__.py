"""Problems: loading, hashing, the bundled suite and screening."""

from __future__ import annotations

from typing import Any

from kernelswarm.problems.load import Problem, ProblemError, load_problem, problem_hash

# screen and measure import torch, so they are imported from their modules, not from here.
__all__ = [
    "Problem", "ProblemError", "load_problem", "problem_hash",
    "SUITES", "bundled_dir", "load_folder", "quick_subset", "resolve_problems",
]


_SUITE = frozenset({"SUITES", "bundled_dir", "load_folder", "quick_subset", "resolve_problems"})


def __getattr__(name: str) -> Any:
    # The bundled suite, imported when first asked for: a worker process loads one problem
    # (load.py) and nothing of the suite.
    if name in _SUITE:
        from kernelswarm.problems import suite

        return getattr(suite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
