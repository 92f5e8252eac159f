"""Paired timing end to end: a copy of the reference on a busy machine measures 1 within its
interval, and `eval --min-speedup` gates on the interval's low end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelswarm.records import Evaluation, Kind, Timing, Verdict

HERE = Path(__file__).parent
PROBLEM = HERE / "problems" / "softmax_rows.py"


def _burners(n: int = 2) -> list[subprocess.Popen]:
    """Processes that burn a core each: the machine made busy on purpose."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


@pytest.mark.xfail(strict=False, reason="issue 13, open: a copy of the reference can measure below 1 with an "
                   "interval excluding it on this busy 2-core CPU. Session 18: its evaluation alone failed 5 of 14 at load "
                   "3-6, most of them charged by the CPU-time check (the copy's worker's CPU outside its claims 0.14-0.24 ms "
                   "a call above the reference's, allowed 0.13). Session 19 split each worker's CPU by what the parent was "
                   "doing (benchmarks/cpu_charge_split.py): at load 4.5-11 a stop cost both workers alike in place (being "
                   "stopped 0.05-0.06 CPU ms, continued 0.03-0.07), the copy's 0.9 extra stops a call were covered by the "
                   "idle stop cost left out, and none of 12 evaluations at load 4.5-11 was charged by it; the one that failed "
                   "(0.818x [0.22, 0.86], load 6-7) was charged by the burst check (its calls in bursts 0.45 ms against the "
                   "claimed 0.23). Session 20 (burst20, docs/benchmarks.md): 3 of 5 failed at load 1.5-8.8, one each by the CPU-time "
                   "check, the paired per-call check and the bursts (0.655x [0.07, 0.69]); a burst call here is 3-5x the work in "
                   "fingerprint and projections, and the copy's process ran the same bursts persistently slower or faster than the "
                   "clean worker's through an evaluation (+0.39 ms a call in 12 of 12 rounds, +30% CPU, at load 12; -0.49 at load 10), "
                   "as two clean processes' bursts of the reference did (+0.15 to +0.53 ms a call in 3 of 4 evaluations), which no "
                   "burst allowance covers (they scale with the work, not with that overhead); and twice at load 2.5-3.7 nothing "
                   "was charged but the copy's own claims ran 5% above the reference's, the interval's high end 0.996-0.997. "
                   "Session 21 (pair21, benchmarks/pair_gap.py): two *clean* processes running the reference through the "
                   "candidate's and the clean worker's seats measure as far apart (0.82-1.17x a window of 200 pairs, intervals "
                   "excluding 1 in 3-9 of every 12-24 windows, charged by the per-call checks in a third of them, load 3-15). Two "
                   "parts: the candidate's seat is slower for any process in it (claims 2.1% slower, median of 16 evaluations, 12 "
                   "below 1; +0.06-0.15 ms a call unclaimed, +0.10-0.27 CPU, in 87 and 94 of 94 windows), and each pair of processes "
                   "has its own offset (median 2.9%, up to 7.6%, either sign): neither heap history, 4K aliasing, one intra-op "
                   "thread nor the symmetric flush switches removed either, and a second clean process measures its own offset, "
                   "not the candidate's, so no calibration from one was built. The parent's perf sampling of both workers "
                   "(ipsample) is the largest noise: unsampled, the claims were 35-45% shorter and at load 12-16 the two "
                   "processes agreed within 1.5%, but at load 7-9 the candidate's seat was then 7.5% slower in 4 of 4 windows, "
                   "intervals excluding 1. And the copy in the real (confined) "
                   "candidate worker, unsampled, measured 0.65-0.89x with every interval below 1 (sampled 0.80-1.00, load "
                   "10-15): the candidate's worker has a cost of its own (+0.01-0.06 ms a call) to find as well. This test on main 20001cc: 2 of 6 failed "
                   "(load 3.1-5.0: [0.43, 0.986], [0.20, 0.975]), 4 passed (load 3.7-14). Session 22: two biases between the "
                   "seats found and removed on a CPU (the clean worker kept warmer by the empty calls it also made, now the "
                   "flush worker's; the candidate's OpenMP pool woken by the continue before its call, now the clean "
                   "worker's too): copies of this problem under two burners (load 2-3) held 1 in 4 of 6 intervals, "
                   "0.91-1.00x (main before: 1 of 6, 0.65-0.98x); the misses were the copy's claims 6-9% above the "
                   "reference's, a gap with no cause found yet")
def test_a_copy_of_the_reference_under_load_gets_an_interval_containing_1(tmp_path):
    copy = tmp_path / "copy.py"
    copy.write_text(PROBLEM.read_text().replace("class Model(", "class ModelNew("))
    env = {**os.environ, "KERNELSWARM_CACHE": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(sys.path)}
    burners = _burners()
    try:
        r = subprocess.run([sys.executable, "-m", "kernelswarm", "eval", str(PROBLEM), str(copy), "--device", "cpu",
                            "--json", "--min-speedup", "1.5", "--timeout", "600"],
                           capture_output=True, text=True, env=env, timeout=900, check=False)
    finally:
        for p in burners:
            p.kill()
            p.wait()
    d = json.loads(r.stdout)
    assert d["verdict"] == "accepted", d["reason"]
    low, high = d["speedup_ci"]
    assert low <= 1.0 <= high, d["speedup_ci"]
    assert low <= d["speedup"] <= high
    assert r.returncode == 1  # accepted, but its interval's low end is far below 1.5
    assert len(d["reference"]["samples"]) == len(d["candidate"]["samples"])  # paired call by call


def _fake(ci: tuple[float, float] | None, verdict: Verdict = Verdict.ACCEPTED):
    def evaluate(problem, source, options):
        t = Timing.from_samples([1.0, 1.1])
        ok = verdict is Verdict.ACCEPTED
        return Evaluation(problem.name, options.device, verdict, "ok" if ok else "wrong", kind=Kind.PYTORCH_REWRITE if ok else None,
                          reference=t, candidate=t, speedup_ci=ci)
    return evaluate


@pytest.mark.parametrize("ci, verdict, args, code", [
    ((1.2, 1.4), Verdict.ACCEPTED, [], 0),
    ((1.2, 1.4), Verdict.ACCEPTED, ["--min-speedup", "1.1"], 0),
    ((1.2, 1.4), Verdict.ACCEPTED, ["--min-speedup", "1.2"], 0),
    ((1.2, 1.4), Verdict.ACCEPTED, ["--min-speedup", "1.3"], 1),  # the point estimate clears it, the interval does not
    (None, Verdict.INCORRECT, ["--min-speedup", "0.5"], 1),
    ((1.2, 1.4), Verdict.ACCEPTED, ["--min-speedup", "-1"], 2),
])
def test_min_speedup_exit_codes(monkeypatch, ci, verdict, args, code):
    import kernelswarm.evaluate as ev_mod
    from kernelswarm.cli import app

    monkeypatch.setattr(ev_mod, "evaluate", _fake(ci, verdict))
    res = CliRunner().invoke(app, ["eval", str(PROBLEM), str(PROBLEM), "--device", "cpu", "--json", *args])
    assert res.exit_code == code, res.output
    if code != 2:
        assert json.loads(res.stdout)["speedup_ci"] == (list(ci) if ci else None)


def test_the_work_key_follows_the_users_own_imported_modules(tmp_path):
    from kernelswarm.problems.load import load_problem, local_imports_digest

    (tmp_path / "helper.py").write_text("SCALE = 2\n")
    prob = tmp_path / "p.py"
    prob.write_text("import torch\nimport helper\nfrom helper import SCALE\nclass Model(torch.nn.Module):\n"
                    "    def forward(self, x):\n        return x * SCALE\n\ndef get_inputs():\n    return [torch.ones(2)]\n")
    first = local_imports_digest(load_problem(prob))
    assert first
    (tmp_path / "helper.py").write_text("SCALE = 3\n")
    assert local_imports_digest(load_problem(prob)) not in ("", first)
    assert local_imports_digest(load_problem(PROBLEM)) == ""  # torch is not the user's module
