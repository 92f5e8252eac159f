"""Every bundled problem loads, runs its CPU preset and screens clean."""

import pytest

from kernelswarm.problems.load import SIZES_NAME, exec_problem, load_problem
from kernelswarm.problems.screen import screen
from kernelswarm.problems.suite import resolve_problems

BUNDLED, _ = resolve_problems([])


@pytest.mark.parametrize("problem", BUNDLED, ids=[f"level{p.level}/{p.name}" for p in BUNDLED])
def test_bundled_problem(problem):
    assert load_problem(problem.path).hash == problem.hash
    written = exec_problem(problem.source, str(problem.path), "")
    cpu = exec_problem(problem.source, str(problem.path), "cpu")
    preset = getattr(cpu, SIZES_NAME)["cpu"]
    for key, value in preset.items():
        assert hasattr(written, key), f"preset names {key!r}, which the file does not define"
        assert getattr(cpu, key) == value
    assert any(getattr(written, k) != v for k, v in preset.items()), "the CPU preset changes nothing"
    result = screen(problem, "cpu")  # runs the CPU preset under three seeds, perturbations and stress scales
    assert result.ok, f"{problem.name}: " + "; ".join(result.reasons)
