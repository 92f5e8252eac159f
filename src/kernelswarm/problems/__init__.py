"""Problems: loading, hashing, the bundled suite and screening."""

from kernelswarm.problems.load import Problem, ProblemError, load_problem, problem_hash

__all__ = ["Problem", "ProblemError", "load_problem", "problem_hash"]
