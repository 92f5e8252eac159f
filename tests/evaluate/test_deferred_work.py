"""The floor's FLOP count deferred (worker/base.py op_work): where the device's peaks are cached and
the problem's count is not, `spec` answers without it and the reference's worker counts while the
candidate's trials run; the floor is there before the timing, as before, and cached after."""

from __future__ import annotations

import json
import re

from fixtures import PROBLEMS

from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.worker import support
from kernelswarm.problems.load import load_problem


def _floor(ev) -> str:
    """The floor the speed-of-light check used. Its verdict is not asserted: on this busy CPU the
    measured peaks read low, and a copy of the reference fell below its floor once (load 18)."""
    check = next(c for c in ev.checks if c.name == "speed-of-light")
    return re.search(r"floor ([0-9.e+-]+) ms", check.detail).group(1)


def test_a_deferred_count_gives_the_floor_a_cached_one_gives():
    problem = load_problem(PROBLEMS / "relu_linear.py")
    copy = re.sub(r"\bclass Model\(", "class ModelNew(", problem.source)
    work = support.cache_dir() / "work.json"
    work.unlink(missing_ok=True)  # never counted: `spec` measures the peaks if it must, and defers the count
    first = evaluate(problem, copy, EvalOptions.for_device("cpu", timeout_s=300))
    assert "work_wait" in first.phases_s and "reference.work" in first.phases_s
    assert json.loads(work.read_text())  # counted and cached by the deferred request
    again = evaluate(problem, copy, EvalOptions.for_device("cpu", timeout_s=300))  # cached: nothing deferred
    assert "work_wait" not in again.phases_s and "reference.work" not in again.phases_s
    assert _floor(again) == _floor(first)
    assert again.sol_ms == first.sol_ms
