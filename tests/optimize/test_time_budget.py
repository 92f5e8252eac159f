"""`optimize --time-budget` / `time_budget=` (issue 15): a wall budget for the whole run, checked
before each task and before the assembled model is judged, from what the run measured itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from kernelswarm.optimize.clock import TimeBudget, parse_seconds

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC), COLUMNS="400")  # the summary on one line per row
    return subprocess.run([sys.executable, "-m", "kernelswarm", "optimize", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1500)


@pytest.mark.parametrize("text,seconds", [("900", 900.0), ("900s", 900.0), ("15m", 900.0), ("1.5h", 5400.0),
                                          (" 2H ", 7200.0), ("0.5", 0.5), ("10min", 600.0)])
def test_parse_seconds(text, seconds):
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "0", "0s", "5d", "1e3", "15 m x"])
def test_parse_seconds_refuses(text):
    with pytest.raises(ValueError, match="time budget"):
        parse_seconds(text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stage(name: str, **seconds: float):
    return SimpleNamespace(name=name, seconds=seconds)


def _event(kind: str, problem: str):
    return SimpleNamespace(kind=kind, problem=problem)


def test_estimates_come_from_what_the_run_measured():
    clock = FakeClock()
    b = TimeBudget(100.0, jobs=1, clock=clock)
    assert not b.should_stop()  # nothing measured yet: only the time already spent counts
    clock.now += 40
    b.stage(_stage("baselines", capture=1.0, baselines=10.0))
    # judgement 3 x 10 s, the next task a quarter of the whole model's window: 40 + 32.5 fits
    assert b.reserve() == 30.0 and not b.should_stop()
    b.event(_event("problem", "t1"))
    clock.now += 20
    b.event(_event("done", "t1"))
    assert b.task_s == 20.0
    assert b.should_stop() and b.stopped  # 60 s spent + 30 s judgement + a 20 s task > 100 s
    b.stage(_stage("searched"))  # the search is over: only the judgement (30 s) remains
    assert not b.should_stop()
    clock.now += 15
    assert b.should_stop()  # 75 + 30 > 100: the assembled model would not be judged in time


def test_overlap_and_training_change_the_reserve():
    clock = FakeClock()
    assert TimeBudget(100.0, jobs=1, clock=clock).reserve() == 0.0
    for jobs, train, want in ((1, False, 30.0), (2, False, 20.0), (1, True, 40.0), (3, True, 30.0)):
        b = TimeBudget(100.0, jobs=jobs, train=train, clock=clock)
        b.stage(_stage("baselines", baselines=10.0))
        assert b.reserve() == want, (jobs, train)


def test_the_callers_own_stop_is_asked_but_not_blamed_on_the_budget():
    b = TimeBudget(1e9, also=lambda: True, clock=FakeClock())
    assert b.should_stop() and not b.stopped


def test_bad_time_budget_is_one_line(tmp_path):
    for bad in ("soon", "0", "-3m"):
        r = _cli(str(HERE / "tinynet.py"), "--device", "cpu", "--time-budget", bad, cwd=tmp_path)
        assert r.returncode == 2, (bad, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "--time-budget" in lines[0], (bad, r.stderr)
    assert not (tmp_path / "kernelswarm.db").exists()  # refused before anything was started


def test_api_refuses_a_budget_of_nothing():
    import torch

    import kernelswarm
    from kernelswarm.optimize.api import OptimizeError

    with pytest.raises(OptimizeError, match="time_budget"):
        kernelswarm.optimize(torch.nn.Linear(2, 2), (torch.randn(1, 2),), device="cpu", time_budget=0)


@pytest.mark.slow
def test_a_spent_budget_leaves_the_search_and_says_so(tmp_path):
    """A budget already spent when the first task would start: the whole model's eager time is
    still measured and stands (correct), every task is reported unsearched, --json's notes say the
    budget ended the search and offer --resume; --tasks-out and --out are written all the same,
    and the terminal summary shows the shares, the Amdahl ceiling and the report."""
    from test_optimize_cli import KEYS, TASK_KEYS

    from kernelswarm.problems.load import exec_problem, load_problem

    r = _cli(str(HERE / "tinynet.py"), "--device", "cpu", "--agents", "compile", "--no-compile",
             "--time-budget", "1s", "--db", str(tmp_path / "ks.db"), "--tasks-out", str(tmp_path / "tasks"),
             "--out", str(tmp_path / "out"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert set(result) == KEYS and all(set(t) == TASK_KEYS for t in result["tasks"])
    assert result["correct"] is True and result["choice"] == "eager", result
    assert result["speedup_vs_compile"] is None and result["out"] == str(tmp_path / "out")
    assert result["tasks"] and all(t["agent"] is None and t["baseline_ms"] is None for t in result["tasks"])
    assert any("time budget" in n and "resume" in n for n in result["notes"]), result["notes"]
    shares = [t["share"] for t in result["tasks"]]
    assert shares == sorted(shares, reverse=True)  # hottest first
    for t in result["tasks"]:  # every task an ordinary problem file that builds and runs alone
        p = load_problem(tmp_path / "tasks" / f"{t['name']}.py")
        mod = exec_problem(p.source, str(p.path), "cpu")
        mod.Model(*mod.get_init_inputs())(*mod.get_inputs())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["model_class"] == "Model" and manifest["choice"] == "eager"

    r = _cli(str(HERE / "tinynet.py"), "--device", "cpu", "--agents", "compile", "--no-compile",
             "--time-budget", "1s", "--db", str(tmp_path / "ks2.db"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "Amdahl ceiling" in out and "of the model's time" in out, out
    assert "not searched" in out and "time budget" in out and "report:" in out, out
