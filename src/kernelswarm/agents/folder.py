"""The folder agent: proposes `DIR/<problem name>.py` for each problem that has one.

This is how a user re-verifies kernels published elsewhere or brings hand-written ones; the
files are judged like any other candidate.
"""

from __future__ import annotations

from pathlib import Path

from kernelswarm.agents.base import Context
from kernelswarm.problems.load import Problem
from kernelswarm.records import Candidate


class FolderAgent:
    billable = False  # never counts against --budget

    def __init__(self, directory: str | Path, name: str = "folder") -> None:
        self.directory = Path(directory)
        self.name = name
        if not self.directory.is_dir():
            raise ValueError(f"{self.directory}: no such candidates folder")

    def propose(self, problem: Problem, context: Context) -> list[Candidate]:
        # A file does not change between rounds: propose it once.
        path = self.directory / f"{problem.name}.py"
        if context.round > 0 or not path.is_file():
            return []
        try:
            source = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            return [Candidate(source="", agent=self.name, problem=problem.name, round=context.round,
                              note=f"{path}: cannot read ({e.__class__.__name__})")]
        return [Candidate(source=source, agent=self.name, problem=problem.name, round=context.round,
                          context=context.arms(), language=_language(source), note=f"from {path}")]


def _language(source: str) -> str:
    """A best guess for reports; the evaluator decides the kind from what actually ran."""
    if "triton" in source:
        return "triton"
    if "load_inline" in source or "cpp_extension" in source:
        return "cuda" if "__global__" in source else "cpp"
    if "compile_shader" in source:
        return "metal"
    return "pytorch"
