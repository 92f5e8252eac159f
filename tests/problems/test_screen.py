"""Screening flags degenerate problems for the right reason."""

import pytest

from kernelswarm.problems.load import load_problem
from kernelswarm.problems.screen import Screening, rel_error, screen

import torch


def _screen(fixtures, name):
    result = screen(load_problem(fixtures / "degenerate" / f"{name}.py"), "cpu", time_it=False)
    assert isinstance(result, Screening) and not result.ok
    return " | ".join(result.reasons)


@pytest.mark.parametrize("name, expected", [
    ("mean_of_all", "a constant"),
    ("mean_of_all", "another seed"),
    ("tiny_output", "output is tiny"),
    ("ignores_input", "does not depend on input #1"),
    ("saturated", "does not depend on input #0"),
    ("random_forward", "identical calls differ"),
    ("stateful_forward", "identical calls differ"),
    ("ill_conditioned", "ill-conditioned in float32"),
    ("identity_batchnorm", "input #0 returned unchanged"),
    ("always_zero", "output is tiny"),
])
def test_degenerate_problem_is_flagged(fixtures, name, expected):
    assert expected in _screen(fixtures, name)


def test_one_disturbed_call_is_not_randomness(fixtures):
    result = screen(load_problem(fixtures / "fair" / "one_call_disturbed.py"), "cpu", time_it=False)
    assert result.ok, result.reasons


def test_problem_that_raises_is_flagged_not_raised(fixtures):
    result = screen(load_problem(fixtures / "bad" / "raises.py"), "cpu", time_it=False)
    assert not result.ok and "fails to run: RuntimeError: broken inputs" in result.reasons[0]


def test_clean_problem_passes_with_timing(fixtures):
    result = screen(load_problem(fixtures / "folder" / "level1" / "relu.py"), "cpu")
    assert result.ok, result.reasons
    assert result.eager_ms is not None and result.eager_ms > 0
    assert result.bytes == 2 * 1024 * 4096 * 4


def test_too_large_is_flagged_without_running(tmp_path):
    path = tmp_path / "huge.py"
    path.write_text(
        "import torch\nimport torch.nn as nn\n\n"
        "class Model(nn.Module):\n    def forward(self, x):\n        return x + 1\n\n"
        "def get_inputs():\n    return [torch.randn(1 << 31)]\n"
    )
    result = screen(load_problem(path), "cpu")
    assert not result.ok and result.reasons[0].startswith("too large for cpu")


def test_rel_error():
    a = [torch.ones(4)]
    assert rel_error(a, a) == 0.0
    assert rel_error([torch.zeros(4)], a) == pytest.approx(1.0)
    assert rel_error([torch.zeros(4)], [torch.zeros(4)]) == 0.0


def test_a_reference_that_raises_on_structured_inputs_is_flagged(fixtures):
    # Every candidate would fail the evaluator's structured trial there (worker/structured.py).
    result = screen(load_problem(fixtures / "bad" / "inverse_of_batch.py"), "cpu", time_it=False)
    assert not result.ok and len(result.reasons) == 1, result.reasons
    assert result.reasons[0].startswith("fails on structured inputs (constant slices, exact zeros, ties)")
