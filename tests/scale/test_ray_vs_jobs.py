"""benchmarks/ray_vs_jobs.py, the issue-18 comparison, with fake evaluators and a stand-in Ray
pool: the quarters alternate A B B A over the problems' halves, each candidate is judged once
by each path, a verdict that differs between the paths is shown as such, and a program outside
the benchmark holding the device lock is counted apart."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from scale_fakes import CONV, LINEAR, fake_baselines, fake_evaluate

from kernelswarm.agents.registry import build_agents
from kernelswarm.locks import LockWait
from kernelswarm.problems.load import load_problem
from kernelswarm.records import Verdict
from kernelswarm.runconfig import RunConfig

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import ray_vs_jobs as rvj

CANDIDATES = Path(__file__).parents[2] / "benchmarks" / "candidates" / "scale"
ZERO = str(Path(__file__).parents[1] / "problems" / "fixtures" / "degenerate" / "always_zero.py")


class Pool:
    """Stands in for scale.ray_pool.ActorPool: one 'actor', here; it calls tiny_conv's candidate
    rejected, which the plain path accepts (the fakes accept everything)."""

    def __init__(self) -> None:
        self.actors, self.places = [0], [{"host": "node7", "device_index": None, "pid": os.getpid()}]
        self.calls: list[str] = []

    def label(self, i: int) -> str:
        return "ray actor 0 (node7)"

    def call(self, i, method, *args, **kw):
        self.calls.append(method)
        if method == "evaluate":
            ev = fake_evaluate(*args)
            if ev.problem == "tiny_conv":
                ev = dataclasses.replace(ev, verdict=Verdict.REJECTED, reason="incorrect: fake")
            ev.host = "node7"
            return ev
        if method == "screen":
            return []
        return fake_baselines(*args, **kw), LockWait()  # the actor's answer: timings, its lock wait


def test_quarters_alternate_and_verdicts_are_compared_per_candidate(tmp_path: Path, fake) -> None:
    problems = [load_problem(Path(p)) for p in (LINEAR, CONV, ZERO)]
    agents = build_agents(["folder"], None, CANDIDATES)
    config = RunConfig(device="cpu", jobs=2, agents=["folder"], problems=[p.name for p in problems],
                       candidates=str(CANDIDATES), compile_baseline=False, context=[])
    cmp = rvj.Comparison("cpu", 2, {"device_name": "fake"})
    pool = Pool()
    rvj.measure(cmp, problems, config, agents, pool, tmp_path, time.monotonic() + 600)

    order = [(q.path, q.problems) for q in cmp.quarters]
    assert order == [("jobs", ["tiny_linear", "tiny_conv"]), ("ray", ["tiny_linear", "tiny_conv"]),
                     ("ray", ["always_zero"]), ("jobs", ["always_zero"])]
    assert all(q.finished and not q.skipped for q in cmp.quarters)
    # Two problems have a file in the folder, always_zero none: two evaluations a half.
    assert [q.evaluations for q in cmp.quarters] == [2, 2, 0, 0] and pool.calls.count("evaluate") == 2
    halves = {h["path"]: h for h in rvj.halves(cmp)}
    assert halves["jobs"]["evaluations"] == halves["ray"]["evaluations"] == 2
    assert halves["jobs"]["quarters"] == [1, 4] and halves["ray"]["quarters"] == [2, 3]

    text = (tmp_path / "ray_vs_jobs.md").read_text()
    assert "Verdicts equal between the halves: 1/2 candidates judged by both" in text, text
    rows = {r["problem"]: r for r in json.loads((tmp_path / "ray_vs_jobs.json").read_text())["candidates"]}
    assert rows["tiny_linear"]["jobs"] == rows["tiny_linear"]["ray"] and rows["tiny_linear"]["ray_on"] == "node7"
    assert rows["tiny_conv"]["jobs"] != rows["tiny_conv"]["ray"]
    assert "| tiny_conv | folder |" in text and "**no**" in text


def test_no_quarter_starts_that_the_deadline_cannot_hold(tmp_path: Path, fake) -> None:
    problems = [load_problem(Path(LINEAR))]
    agents = build_agents(["folder"], None, CANDIDATES)
    config = RunConfig(device="cpu", agents=["folder"], candidates=str(CANDIDATES), compile_baseline=False)
    cmp = rvj.Comparison("cpu", 1, {})
    rvj.measure(cmp, problems, config, agents, Pool(), tmp_path, time.monotonic() - 1)
    assert [q.skipped != "" for q in cmp.quarters] == [True, True] and all(q.run_id is None for q in cmp.quarters)
    assert "not started" in (tmp_path / "ray_vs_jobs.md").read_text()
    cmp.quarters[1] = rvj.Quarter(2, "ray", ["tiny_linear"], "x.db")  # planned, never reached
    assert "not run (the command ended first)" in rvj.markdown(cmp)


def test_another_program_holding_the_device_lock_is_counted_apart(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KERNELSWARM_LOCK_DIR", str(tmp_path / "locks"))
    holder = ("import time; from kernelswarm.locks import device_lock; device_lock('cpu').acquire(); "
              "print('held', flush=True); time.sleep(3)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    # Started in its own session, so not a child of this process: another program.
    other = subprocess.Popen([sys.executable, "-c", holder], env=env, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    assert other.stdout.readline().strip() == "held"
    watch = rvj.LockWatch("cpu", {os.getpid() + 10**7}, every=0.05)  # nothing of ours
    watch.start()
    time.sleep(1.0)
    assert watch.stop() >= 0.5
    ours = rvj.LockWatch("cpu", {other.pid}, every=0.05)  # the same holder, counted as ours
    ours.start()
    time.sleep(0.5)
    assert ours.stop() == 0.0
    other.wait(30)
