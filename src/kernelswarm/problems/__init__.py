"""Problems: loading, hashing, the bundled suite and screening."""

from kernelswarm.problems.load import Problem, ProblemError, load_problem, problem_hash
from kernelswarm.problems.suite import SUITES, bundled_dir, load_folder, quick_subset, resolve_problems

# screen and measure import torch, so they are imported from their modules, not from here.
__all__ = [
    "Problem", "ProblemError", "load_problem", "problem_hash",
    "SUITES", "bundled_dir", "load_folder", "quick_subset", "resolve_problems",
]
