"""`kernelswarm run` and `kernelswarm export`: bad input, a full run with a fake evaluator, resume, export."""

from __future__ import annotations

import re
import sqlite3
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

import kernelswarm.supervisor as supervisor_module
from kernelswarm import machine
from kernelswarm.cli import app
from kernelswarm.records import Evaluation, Kind, Timing, Verdict
from kernelswarm.store import Store

SWARM = Path(__file__).parents[1] / "fixtures" / "swarm"
LINEAR = str(SWARM / "problems" / "tiny_linear.py")
CONV = str(SWARM / "problems" / "tiny_conv.py")

runner = CliRunner()


def _t(ms: float) -> Timing:
    return Timing.from_samples([ms])


def fake_evaluate(problem, source, options) -> Evaluation:
    """Accepts everything; `compile-freezing` is fastest, hand-written files faster still."""
    ms = 2.0 if "Hand-written" in source else 6.0 if "compile-freezing" in source else 9.5
    return Evaluation(problem.name, options.device, Verdict.ACCEPTED, "ok", kind=Kind.PYTORCH_REWRITE,
                      reference=options.reference, compiled=options.compiled, candidate=_t(ms),
                      versions={**machine.identity(options.device), "driver": "fake"})


def fake_baselines(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, **_):
    return {"eager": _t(10.0), **({"compile:default": _t(8.0)} if compile_modes else {})}


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich tables stay on one line per row


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: fake_evaluate)
    monkeypatch.setattr(supervisor_module, "_real_baseline_timer", lambda: fake_baselines)
    monkeypatch.setattr(supervisor_module, "_real_screener", lambda lock: lambda problem, device: [])


@pytest.mark.parametrize("args, message", [
    (["run", "/nonexistent/problem.py"], "/nonexistent/problem.py"),
    (["run", LINEAR, "--agents", "nope"], "unknown agent 'nope'"),
    (["run", LINEAR, "--models", "/nonexistent/models.toml"], "no such models file"),
    (["run", LINEAR, "--context", "gossip"], "unknown context arm"),
    (["run", LINEAR, "--device", "tpu"], "unknown device"),
    (["run", LINEAR, "--candidates", "/nonexistent/dir"], "no such candidates folder"),
    (["run", LINEAR, "--mode", "backward"], "unknown mode 'backward'"),
    (["run", "--resume"], "no unfinished run"),
    (["export", "--out", "x"], "no such store"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_unparsable_models_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.toml").write_text("[[models]\nname=")
    res = runner.invoke(app, ["run", LINEAR, "--models", "m.toml", "--db", "k.db"])
    assert res.exit_code == 2 and "m.toml" in res.output
    assert Store("k.db").list_runs() == []  # nothing started, nothing lost


def test_run_summary_and_export(tmp_path: Path, monkeypatch, fake) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["run", LINEAR, CONV, "--device", "cpu", "--candidates", str(SWARM / "candidates")])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "baselines: eager 10.000 ms, torch.compile 8.000 ms" in out
    assert "best: folder" in out and "best: compile-freezing" in out
    assert "geomean" in out and "fast_1.5" in out and "best agent, level" not in out
    assert re.search(r"best agent, no level: (compile-freezing|folder) 50%, (compile-freezing|folder) 50%", out)
    db = Store("kernelswarm.db")
    [run] = db.list_runs()
    assert run.status == "finished" and run.versions["driver"] == "fake"
    agents = {c.agent for c in db.candidates(run.id)}
    assert agents == {"compile", "compile-freezing", "channels-last", "folder"}

    res = runner.invoke(app, ["export", "--out", "best"])
    assert res.exit_code == 0, res.output
    linear = (tmp_path / "best" / "tiny_linear.py").read_text()
    assert "# agent: folder" in linear and "5.000x vs eager" in linear and machine.identity("cpu")["device_name"] in linear
    assert linear.endswith((SWARM / "candidates" / "tiny_linear.py").read_text())
    assert "class ModelNew" in (tmp_path / "best" / "tiny_conv.py").read_text()


def test_flagged_problem_is_marked_and_kept_out_of_the_summary(tmp_path: Path, monkeypatch, fake) -> None:
    """Issue 13.5: `run` screens each problem; a flagged one is marked wherever its speedup is shown."""
    import json

    monkeypatch.chdir(tmp_path)
    flags = {"tiny_conv": ["output is tiny: max |output| = 0 < 1e-06, so zeros would pass"]}
    monkeypatch.setattr(supervisor_module, "_real_screener", lambda lock: lambda p, d: flags.get(p.name, []))
    res = runner.invoke(app, ["run", LINEAR, CONV, "--device", "cpu", "--candidates", str(SWARM / "candidates")])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "note: flagged by the screen: output is tiny" in out
    assert "tiny_conv [flagged]" in out and "tiny_linear [flagged]" not in out
    assert "[flagged] tiny_conv: output is tiny" in out
    assert "1 flagged problem(s) kept out of the figures above" in out
    res = runner.invoke(app, ["report", "--out", "rep", "--json"])
    assert res.exit_code == 0, res.output
    problems = {p["name"]: p for p in json.loads((tmp_path / "rep" / "report.json").read_text())["problems"]}
    assert problems["tiny_conv"]["flags"] == flags["tiny_conv"] and problems["tiny_linear"]["flags"] == []
    assert 'class="chip flag"' in (tmp_path / "rep" / "index.html").read_text()


def test_no_usable_result_exits_1_and_says_why(tmp_path: Path, monkeypatch, fake) -> None:
    """Issue 13.6: a run where no agent proposed anything judged, or no baseline could be timed,
    must not exit 0."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["run", LINEAR, "--device", "cpu", "--agents", "folder", "--candidates", "empty"])
    assert res.exit_code == 1, res.output
    assert "no problem got a usable result: no candidate was judged" in res.output
    assert "outcomes: 0 won by a candidate, 1 baseline stands (torch.compile 1)" in res.output

    def failing(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, **_):
        raise RuntimeError("the reference fails to run")

    monkeypatch.setattr(supervisor_module, "_real_baseline_timer", lambda: failing)
    res = runner.invoke(app, ["run", LINEAR, "--device", "cpu", "--agents", "compile", "--db", "other.db"])
    assert res.exit_code == 1 and "no problem got a usable result: no baseline could be measured" in res.output
    assert "1 baselines failed, 0 not measured" in res.output


def test_baseline_stands_and_exports_as_a_wrapper(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervisor_module, "_real_baseline_timer", lambda: fake_baselines)
    slow = lambda p, s, o: Evaluation(p.name, o.device, Verdict.ACCEPTED, "ok", reference=o.reference,  # noqa: E731
                                      candidate=_t(9.0), kind=Kind.PYTORCH_REWRITE)
    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: slow)
    monkeypatch.setattr(supervisor_module, "_real_screener", lambda lock: lambda problem, device: [])
    res = runner.invoke(app, ["run", LINEAR, "--device", "cpu", "--agents", "compile"])
    assert res.exit_code == 0 and "nothing beat the baseline: compile stands (1.25x eager)" in res.output
    assert "baseline stands (torch.compile)" in res.output and "outcomes: 0 won by a candidate, 1 baseline stands" in res.output
    assert runner.invoke(app, ["export", "--out", "best"]).exit_code == 0
    text = (tmp_path / "best" / "tiny_linear.py").read_text()
    assert "this file IS that baseline: torch.compile of Model" in text and "torch.compile(super().forward)" in text
    module = types.ModuleType("ks_exported")
    sys.modules[module.__name__] = module
    exec(compile(text, "exported.py", "exec"), module.__dict__)
    assert module.ModelNew(32) is not None


def test_resume_continues_a_killed_run(tmp_path: Path, monkeypatch, fake) -> None:
    monkeypatch.chdir(tmp_path)
    calls: list[str] = []

    def dying(problem, source, options):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run stops mid-way, as on Ctrl-C
        calls.append(problem.name)
        return fake_evaluate(problem, source, options)

    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: dying)
    res = runner.invoke(app, ["run", LINEAR, CONV, "--device", "cpu", "--agents", "compile,compile-freezing,channels-last"])
    assert res.exit_code == 130 and "--resume" in res.output
    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: lambda p, s, o: calls.append(p.name) or fake_evaluate(p, s, o))
    res = runner.invoke(app, ["run", "--resume"])
    assert res.exit_code == 0, res.output
    assert len(calls) == 5  # 2 + 3 candidates, each evaluated exactly once
    n = sqlite3.connect("kernelswarm.db").execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    assert n == 5


def test_resume_on_another_machine_says_why_in_one_line(tmp_path: Path, monkeypatch, fake) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: _interrupt)
    res = runner.invoke(app, ["run", LINEAR, "--device", "cpu", "--agents", "compile"])
    assert res.exit_code == 130
    store = Store(Path("kernelswarm.db"))
    store.update_versions(store.latest_run_id(), {"device_name": "NVIDIA H200"})
    res = runner.invoke(app, ["run", "--resume"])
    assert res.exit_code == 2
    line = [ln for ln in res.output.splitlines() if ln.startswith("kernelswarm:")]
    assert len(line) == 1 and "timed on another machine (device_name NVIDIA H200 there" in line[0]


def _interrupt(problem, source, options):
    raise KeyboardInterrupt


@pytest.mark.slow
def test_end_to_end_on_cpu_with_the_real_evaluator(tmp_path: Path, monkeypatch) -> None:
    """A real run: baselines, a compiled candidate and a hand-written one, judged by the evaluator."""
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["run", LINEAR, "--device", "cpu", "--agents", "compile-freezing",
                              "--candidates", str(SWARM / "candidates"), "--db", "e2e.db"])
    assert res.exit_code == 0, res.output
    store = Store("e2e.db")
    [run] = store.list_runs()
    rows = store.candidates(run.id)
    assert sorted(c.agent for c in rows) == ["compile-freezing", "folder"]
    assert all(c.verdict is not None for c in rows), [(c.agent, c.verdict, c.reason) for c in rows]
    folder = next(c for c in rows if c.agent == "folder")
    assert folder.verdict == "accepted", folder.reason
    [r] = store.problem_results(run.id)
    assert r.eager_ms and r.speedup_vs_best_baseline >= 1.0
    assert run.versions.get("torch")
    assert runner.invoke(app, ["export", "--db", "e2e.db", "--out", "best"]).exit_code == 0
    assert "class ModelNew" in (tmp_path / "best" / "tiny_linear.py").read_text()


_DRIVER = """
import sys, time
sys.path.insert(0, {tests!r})
import kernelswarm.supervisor as s
import test_run_cmd as t

def slow(problem, source, options):
    time.sleep(0.2)
    return t.fake_evaluate(problem, source, options)

s._real_evaluator = lambda: slow
s._real_baseline_timer = lambda: t.fake_baselines
from kernelswarm.cli import app
app(sys.argv[1:])
"""


def test_sigkill_mid_run_then_resume(tmp_path: Path, monkeypatch) -> None:
    """A run killed with SIGKILL keeps every finished evaluation, and --resume redoes none of them."""
    import os
    import signal
    import subprocess

    monkeypatch.chdir(tmp_path)
    driver = _DRIVER.format(tests=str(Path(__file__).parent))
    args = ["run", LINEAR, CONV, "--device", "cpu", "--agents", "compile,compile-freezing,channels-last"]
    proc = subprocess.Popen([sys.executable, "-c", driver, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    accepted = 0
    for line in proc.stdout:
        accepted += "accepted" in line
        if accepted == 3:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = {c.id for c in Store("kernelswarm.db").candidates(1) if c.verdict}
    assert len(stored) >= 3
    calls: list[str] = []
    monkeypatch.setattr(supervisor_module, "_real_evaluator",
                        lambda: lambda p, s, o: calls.append(s) or fake_evaluate(p, s, o))
    monkeypatch.setattr(supervisor_module, "_real_baseline_timer", lambda: fake_baselines)
    res = runner.invoke(app, ["run", "--resume"])
    assert res.exit_code == 0, res.output
    assert len(calls) == 5 - len(stored)
    assert all(c.verdict == "accepted" for c in Store("kernelswarm.db").candidates(1))
