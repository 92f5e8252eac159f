"""Workers forked from the zygote (zygote.py, forkserver.py): each is still a clean process of its
own, a later candidate finds nothing an earlier one left, and the plain start takes over where the
zygote cannot be used."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from fixtures import CANDIDATES, PROBLEMS
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import forkserver
from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
from kernelswarm.problems import load_problem

ISOLATION = CANDIDATES / "isolation"
MODES = [pytest.param({}, id="namespace"), pytest.param({"KERNELSWARM_NO_NAMESPACE": "1"}, id="session")]


def _options() -> EvalOptions:
    return EvalOptions.for_device("cpu", timeout_s=240, static_screen=False, timed_calls=10, max_timed_calls=20,
                                  cpu_threads=1, baseline_compile=False)


def _start(tmp_path: Path, name: str) -> WorkerProcess:
    w = WorkerProcess("reference", tmp_path / name, "cpu")
    problem = load_problem(PROBLEMS / "relu_linear.py")
    w.call(init_message(problem, EvalOptions.for_device("cpu")), deadline=time.monotonic() + 300)
    return w


@pytest.mark.parametrize("mode", MODES)
def test_a_candidate_finds_nothing_an_earlier_one_left(mode: dict, monkeypatch) -> None:
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", uuid.uuid4().hex)
    monkeypatch.delenv(forkserver.ENV_SWITCH, raising=False)
    for k, v in mode.items():
        monkeypatch.setenv(k, v)
    problem = load_problem(PROBLEMS / "relu_linear.py")
    planted = evaluate(problem, (ISOLATION / "planter.py").read_text(), _options())
    assert planted.verdict.value == "accepted", f"{planted.reason}\n{planted.log_tail}"
    assert "PLANTED" in planted.log_tail and "files: []" not in planted.log_tail, planted.log_tail
    zygotes = forkserver.zygote_pids()
    assert zygotes, "the workers were not forked from a zygote"
    sought = evaluate(problem, (ISOLATION / "seeker.py").read_text(), _options())
    assert forkserver.zygote_pids() == zygotes, "both evaluations' workers came from one zygote"
    line = next((x for x in sought.log_tail.splitlines() if x.startswith("SEEKER")), "")
    assert "found: []" in line, line or sought.log_tail
    assert sought.verdict.value == "accepted", f"{sought.reason}\n{sought.log_tail}"
    assert "'self'" in line, "the seeker could not read its own memory: the search proves nothing"
    if mode:  # no namespace hides the zygote: the seeker's parent is the zygote, and it was searched
        assert "kernelswarm.evaluate.worker.zygote" in line, line


def test_plain_start_when_the_zygote_is_off_or_unsafe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(forkserver.ENV_SWITCH, "0")
    w = _start(tmp_path, "off")
    w.kill()
    assert w.started_by == "exec" and forkserver.ENV_SWITCH in w.zygote_why
    monkeypatch.delenv(forkserver.ENV_SWITCH)
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", uuid.uuid4().hex)  # a zygote of its own
    monkeypatch.setattr(forkserver.Zygote, "await_ready", lambda self: {"ok": False, "why": "unsafe here"})
    w = _start(tmp_path, "unsafe")
    w.kill()
    assert w.started_by == "exec" and "unsafe here" in w.zygote_why


def test_a_killed_zygote_takes_its_workers_and_is_started_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(forkserver.ENV_SWITCH, raising=False)
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", uuid.uuid4().hex)
    first = _start(tmp_path, "first")
    assert first.started_by == "zygote", first.zygote_why
    (zygote,) = forkserver.zygote_pids()
    os.kill(zygote, signal.SIGKILL)
    assert first.proc.wait(timeout=30) == -signal.SIGKILL, "a forked worker dies with its zygote"
    first.kill()
    again = _start(tmp_path, "again")
    again.kill()
    assert again.started_by == "zygote" and forkserver.zygote_pids() != [zygote]


def test_forked_workers_are_separate_processes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(forkserver.ENV_SWITCH, raising=False)
    a, b = _start(tmp_path, "a"), _start(tmp_path, "b")
    try:
        assert a.started_by == b.started_by == "zygote", a.zygote_why
        assert a.proc.pid != b.proc.pid
        for w in (a, b):  # each leads its own session and process group
            fields = Path(f"/proc/{w.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            assert int(fields[2]) == int(fields[3]) == w.proc.pid
        assert os.readlink(f"/proc/{a.proc.pid}/cwd") != os.readlink(f"/proc/{b.proc.pid}/cwd")
    finally:
        a.kill()
        b.kill()


_COMPILED = """
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self._run = torch.compile(lambda x: torch.relu(self.lin(x)))

    def forward(self, x):
        return self._run(x)
"""


@pytest.mark.slow
def test_a_forked_candidates_torch_compile_builds_inside_its_sandbox(monkeypatch) -> None:
    """torch.compile's folders come from the worker's own environment, not the zygote's (inductor
    fixes some when imported: the zygote must not import it)."""
    monkeypatch.delenv(forkserver.ENV_SWITCH, raising=False)
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", uuid.uuid4().hex)
    ev = evaluate(load_problem(PROBLEMS / "relu_linear.py"), _COMPILED, _options())
    assert forkserver.zygote_pids(), "the workers were not forked from a zygote"
    assert ev.verdict.value == "accepted", f"{ev.reason}\n{ev.log_tail}"


def test_the_zygote_imports_nothing_that_fixes_folders_at_import() -> None:
    """inductor (and triton) derive cache folders from the temporary folder when imported: in the
    zygote that is the machine's /tmp, outside every worker's folder and sandbox."""
    import json
    import subprocess
    import sys

    code = ("import json, sys; from kernelswarm.evaluate.worker import zygote; r = zygote._prepare(); "
            "print(json.dumps([r, sorted(m for m in sys.modules if m.startswith(('torch._inductor', 'torch._dynamo', "
            "'triton', 'torch.utils.cpp_extension')))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True).stdout
    ready, imported = json.loads(out.splitlines()[-1])
    assert ready["ok"], ready
    assert imported == []
