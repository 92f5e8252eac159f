"""Every fixture candidate gets the verdict its header states, on the CPU."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from fixtures import PROBLEMS, Scenario, running_with, scenarios
from leftovers import kernel_leftovers
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import forkserver
from kernelswarm.evaluate.worker import sandbox
from kernelswarm.problems import load_problem
from kernelswarm.records import Precision


def _options(s: Scenario) -> EvalOptions:
    return EvalOptions.for_device(
        s.device, timeout_s=s.timeout, strict=s.strict, precision=Precision(s.precision), static_screen=s.static,
        timed_calls=10 if s.device == "cpu" else 100, min_timing_s=s.min_timing,
        max_timed_calls=s.calls or (20 if s.device == "cpu" else 200),
        cpu_threads=1,
    )


def _params(folder: str, device: str = "cpu") -> list:
    no_sandbox = pytest.mark.skipif(sandbox.abi() < 1, reason="this kernel has no Landlock")
    return [pytest.param(s, id=s.id, marks=([pytest.mark.slow] if s.slow else []) + ([no_sandbox] if s.sandbox else []))
            for s in scenarios(folder, device)]


def _own_processes(tag: str) -> list[int]:
    """Live processes that carry this test's tag in their environment: only what this test
    started (the workers pass KERNELSWARM_* on), never another kernelswarm on the machine."""
    # The zygote (zygote.py) carries the tag of the test that started it and never runs candidate code.
    zygotes = set(forkserver.zygote_pids())
    needle = f"KERNELSWARM_TEST_TAG={tag}".encode()
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid() and int(pid) not in zygotes:
            try:
                if running_with(int(pid), needle):
                    pids.append(int(pid))
            except OSError:
                continue
    return pids


def run_scenario(s: Scenario):
    problem = load_problem(PROBLEMS / f"{s.problem}.py")
    tag = uuid.uuid4().hex
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERNELSWARM_TEST_TAG", tag)
        ev = evaluate(problem, s.path.read_text(), _options(s))
    elapsed = time.monotonic() - started
    verdicts, check = s.expected()
    assert ev.verdict.value in verdicts, f"{s.id}: got {ev.verdict.value}: {ev.reason}\n{ev.log_tail}"
    if check:
        failed = [c.name for c in ev.checks if not c.passed]
        assert check in failed, f"{s.id}: expected check {check} to fail, failed: {failed} ({ev.reason})"
    if s.kind:
        assert ev.kind is not None and ev.kind.value == s.kind, f"{s.id}: kind {ev.kind}: {ev.checks}"
    if s.max_speedup is not None and ev.correct:
        assert ev.speedup < s.max_speedup, f"{s.id}: implausible speedup {ev.speedup}"
    if ev.correct:
        assert ev.speedup is not None and ev.candidate.n >= 10 and ev.reference.n >= 10
    else:
        assert ev.kind is None and ev.speedup is None
    assert elapsed < s.timeout + 30, "the time limit bounds the whole evaluation"
    if s.forks:  # the evaluation returns only once they are gone: no waiting here
        assert _own_processes(tag) == [], "a candidate's child process outlived its evaluation"
        left = [p for p in (f"/dev/shm/ks-escape-{tag}", f"/tmp/ks-escape-{tag}", f"/var/tmp/ks-escape-{tag}")
                if os.path.exists(p)]
        assert left == [], f"files the candidate wrote outlived its evaluation: {left}"
        objects = kernel_leftovers(tag)
        assert objects == [], f"kernel objects the candidate made outlived its evaluation: {objects}"
    return ev


@pytest.mark.parametrize("scenario", _params("correct"))
def test_correct(scenario: Scenario) -> None:
    run_scenario(scenario)


@pytest.mark.parametrize("scenario", _params("wrong"))
def test_wrong(scenario: Scenario) -> None:
    run_scenario(scenario)


@pytest.mark.parametrize("scenario", _params("cheat"))
def test_cheat(scenario: Scenario) -> None:
    run_scenario(scenario)
