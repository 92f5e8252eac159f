"""Every bundled problem loads, runs its CPU preset and screens clean."""

import pytest

from kernelswarm.problems.load import SIZES_NAME, exec_problem, load_problem
from kernelswarm.problems.screen import screen
from kernelswarm.problems.suite import resolve_problems

BUNDLED, _ = resolve_problems([])
TRAIN, _ = resolve_problems([], suite="train")  # issue 17: screened forward and backward


def test_training_problems_are_their_own_suite():
    """At least 12 training problems over the three levels; the default (inference) suite has none."""
    assert len(TRAIN) >= 12 and {p.level for p in TRAIN} == {1, 2, 3}
    assert all(p.mode == "train" for p in TRAIN)
    assert not any(p.mode == "train" for p in BUNDLED)
    assert {p.name for p in resolve_problems(["train/level2/*"])[0]} == {p.name for p in TRAIN if p.level == 2}


@pytest.mark.parametrize("problem", BUNDLED + TRAIN, ids=[f"level{p.level}/{p.name}" for p in BUNDLED + TRAIN])
def test_bundled_problem(problem):
    assert load_problem(problem.path).hash == problem.hash
    written = exec_problem(problem.source, str(problem.path), "")
    cpu = exec_problem(problem.source, str(problem.path), "cpu")
    preset = getattr(cpu, SIZES_NAME)["cpu"]
    for key, value in preset.items():
        assert hasattr(written, key), f"preset names {key!r}, which the file does not define"
        assert getattr(cpu, key) == value
    assert any(getattr(written, k) != v for k, v in preset.items()), "the CPU preset changes nothing"
    # Runs the CPU preset under three seeds, perturbations and stress scales; a training problem's
    # gradients too (finite, not tiny, float32 tracking float64 at every stress scale).
    result = screen(problem, "cpu")
    assert result.ok, f"{problem.name}: " + "; ".join(result.reasons)
