"""A warm evaluation's fixed costs after the timing (issue 16): the trials' checks go out to the
clean workers while the kept outputs are copied out of the candidate's worker, their replies
judged in the same order as before; a source without a kernel of its own is labelled without a
profiled call, and a profiled call starts without importing torch._inductor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernelswarm.evaluate.parent import acceptance, judge, timing
from kernelswarm.evaluate.parent.state import State, VerdictReached
from kernelswarm.evaluate.parent.devicelock import NO_LOCK
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.records import Kind, Timing, Verdict

HERE = Path(__file__).parent


class _Clean:
    """A clean worker's side of the checks: replies from `answers` by the check's input seed."""

    def __init__(self, name: str, log: list, answers: dict[int, dict]) -> None:
        self.name, self.log, self.answers, self.asked = name, log, answers, None

    def send(self, msg: dict, blob: object = b"") -> None:
        assert self.asked is None, "one request at a time"
        self.asked = msg
        self.log.append(("check", self.name, msg["input_seed"]))

    def finish_call(self, op: str, deadline: float | None = None) -> tuple[dict, bytes]:
        msg, self.asked = self.asked, None
        self.log.append(("reply", self.name, msg["input_seed"]))
        return {"ok": True, **self.answers.get(msg["input_seed"], {"match": True, "rel_error": 1e-7})}, b""


class _Candidate:
    def __init__(self, log: list, bad: int | None = None) -> None:
        self.log, self.bad = log, bad

    def call(self, msg: dict, blob: object = b"", deadline: float | None = None) -> tuple[dict, bytes]:
        self.log.append(("kept", msg["index"]))
        if msg["index"] == self.bad:
            return {"ok": True, "bad_output": "a tensor subclass"}, b""
        return {"ok": True}, b"outputs"


def _setup(n_trials: int, n_kept: int, answers: dict[int, dict], bad: int | None = None):
    st = State(EvalOptions.for_device("cpu"), NO_LOCK, 0.0)
    st.pending = [(f"trial {i}", {"op": "check", "input_seed": i}, b"") for i in range(n_trials)]
    ct = timing.CandidateTiming(Timing.from_samples([1.0]))
    ct.kept = [(f"timed call {k}", {"op": "check", "input_seed": 100 + k}) for k in range(n_kept)]
    log: list = []
    clean = (_Clean("reference", log, answers), _Clean("flusher", log, answers))
    return st, ct, clean, _Candidate(log, bad), log


def test_the_trials_are_checked_while_the_kept_outputs_are_collected() -> None:
    st, ct, clean, cand, log = _setup(5, 2, {})
    assert judge.collect_checking(st, clean, cand, ct) == ""
    # Before each copy out of the candidate's worker, two trials' checks went to the clean workers.
    assert log == [("check", "reference", 0), ("check", "flusher", 1), ("kept", 0),
                   ("reply", "reference", 0), ("reply", "flusher", 1),
                   ("check", "reference", 2), ("check", "flusher", 3), ("kept", 1),
                   ("reply", "reference", 2), ("reply", "flusher", 3)]
    assert [label for label, _, _ in ct.pending] == ["timed call 0", "timed call 1"] and ct.kept == []
    st.pending.extend(ct.pending)
    log.clear()
    judge.outputs(st, clean)  # only what was not asked yet: trial 4 and the two kept outputs
    assert [e for e in log if e[0] == "check"] == [("check", "reference", 4), ("check", "flusher", 100),
                                                   ("check", "reference", 101)]
    assert [c.name for c in st.checks] == ["correctness", "timed-output"]


def test_replies_asked_early_are_judged_in_order() -> None:
    """The first mismatch in the order of the checks decides, whenever its reply arrived; and a
    kept output that is no plain result is found before any check is judged, as before."""
    wrong = {"match": False, "detail": "off by 1", "rel_error": 1.0}
    st, ct, clean, cand, _ = _setup(5, 2, {1: wrong, 4: {**wrong, "detail": "later"}})
    assert judge.collect_checking(st, clean, cand, ct) == ""
    st.pending.extend(ct.pending)
    with pytest.raises(VerdictReached) as v:
        judge.outputs(st, clean)
    assert v.value.verdict is Verdict.INCORRECT and v.value.reason == "correctness: trial 1: off by 1"

    st, ct, clean, cand, log = _setup(5, 2, {1: wrong}, bad=0)
    assert judge.collect_checking(st, clean, cand, ct) == "timed call 0: a tensor subclass"
    assert ("reply", "flusher", 1) in log, "no request is left unanswered in a clean worker"


def test_a_source_without_a_kernel_of_its_own_is_labelled_without_a_profile() -> None:
    st = State(EvalOptions.for_device("cpu"), NO_LOCK, 0.0)
    ct = timing.CandidateTiming(Timing.from_samples([1.0]), profile_skipped="its source defines and builds no kernel of its own")
    assert acceptance.label(st, ct, "import torch\n") is Kind.PYTORCH_REWRITE
    assert st.checks[-1].detail.endswith("PyTorch did the work (not profiled)")


def test_a_plain_candidate_is_not_profiled() -> None:
    """A whole evaluation (correct/same_ops, PyTorch only): its worker is never asked for the
    profiled call (no `candidate.label` among its phases), and no share is recorded for it."""
    from kernelswarm.evaluate import evaluate
    from kernelswarm.problems import load_problem

    options = EvalOptions.for_device("cpu", timeout_s=600, timed_calls=10, max_timed_calls=20, cpu_threads=1)
    ev = evaluate(load_problem(HERE / "problems" / "relu_linear.py"),
                  (HERE / "candidates" / "correct" / "same_ops.py").read_text(), options)
    assert ev.verdict is Verdict.ACCEPTED and ev.kind is Kind.PYTORCH_REWRITE, ev.reason
    assert "candidate.label" not in ev.phases_s and ev.custom_share is None
    assert "not profiled" in next(c.detail for c in ev.checks if c.name == "kind")


_FIRST_LABEL = """
import sys, torch
from kernelswarm.evaluate.worker.labels import profile_call
lazy = torch.__dict__["__getattr__"]
x = torch.randn(64, 64)
share, ran = profile_call(lambda: torch.relu(x), torch.device("cpu"), set(), None)
assert "aten::relu" in ran, ran
assert torch.__dict__["__getattr__"] is lazy, "torch's lazy attributes are as they were"
print("inductor" if "torch._inductor" in sys.modules else "none")
"""


def test_the_first_profiled_call_does_not_import_inductor() -> None:
    """The profiler's start imported torch._inductor (`hasattr(torch, "_inductor")`), 5.5 s of
    a first profiled call on this CPU; where nothing had imported it, it stays unimported."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _FIRST_LABEL], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "none"
