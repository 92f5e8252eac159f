"""Where a copy's CPU time outside its claims goes, request by request (issue 13: the CPU-time check
charged copies of the reference 0.2-0.3 ms a call above the reference's on this busy 2-core CPU).

    python benchmarks/cpu_split.py --problem softmax_rows --runs 3 --burners 2 [--env K=V ...]

Each run evaluates a copy of `tests/evaluate/problems/PROBLEM.py` (`class Model` renamed `ModelNew`)
on the CPU in its own process, with `WorkerProcess.call`, `call_when_continued` and `stopped`
wrapped there: the candidate's worker's and the clean worker's CPU time (WorkerProcess.cpu_ms, as
the check reads it) is read at every request's send and reply and at every stop and continue during
the timed loops. The CPU used between two such events is summed per kind of segment ("reply
time_call -> stop": after a call's reply, until the process is stopped). Per run, one JSON line:
verdict, speedup and interval, the check's own detail (cputime.judge), the CPU ms per timed call
of each segment for both workers, and the load. `--env K=V` is set for the evaluations only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "tests" / "evaluate" / "problems"

_ONE = r'''
import collections, contextlib, json, os, sys
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import cputime, timing
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.problems import load_problem

names = {}  # id(process) -> "cand" | "clean", while a timed loop runs
events = collections.defaultdict(list)  # name -> [(label, cpu ms)]


def mark(proc, label):
    who = names.get(id(proc))
    if who:
        events[who].append((label, proc.cpu_ms()))


def op_of(msg):
    return (str(msg.get("op")) + ("/null" if msg.get("null") else "") + ("+keep" if "keep_slot" in msg else "")
            + ("+proj" if "project_seed" in msg else ""))


orig_call, orig_cwc, orig_stopped = WorkerProcess.call, WorkerProcess.call_when_continued, WorkerProcess.stopped


def call(self, msg, blob=b"", deadline=None):
    mark(self, "send " + op_of(msg))
    r = orig_call(self, msg, blob, deadline)
    mark(self, "reply " + op_of(msg))
    return r


def cwc(self, msg, while_stopped, deadline=None):
    def ws():
        mark(self, "stop(cwc)")
        return while_stopped()
    r = orig_cwc(self, msg, ws, deadline)
    mark(self, "reply " + op_of(msg))
    return r


@contextlib.contextmanager
def stopped(self):
    with orig_stopped(self):
        mark(self, "stop")
        try:
            yield
        finally:
            mark(self, "cont")


WorkerProcess.call, WorkerProcess.call_when_continued, WorkerProcess.stopped = call, cwc, stopped
orig_loop = timing.timed_loop
def loop(worker, clean, *a, **k):
    names[id(worker)], names[id(clean)] = "cand", "clean"
    events["cand"].append(("window", worker.cpu_ms()))
    events["clean"].append(("window", clean.cpu_ms()))
    try:
        return orig_loop(worker, clean, *a, **k)
    finally:
        names.clear()
timing.timed_loop = loop
judged = []
orig_judge = cputime.judge
inputs = []
def judge(cand_cpu, claims, ref_cpu, ref_claims, threads, stops=None, stop_ms=0.0, ref_stops=None):
    v = orig_judge(cand_cpu, claims, ref_cpu, ref_claims, threads, stops, stop_ms, ref_stops)
    judged.append(v.detail if v else None)
    n, m = min(len(cand_cpu), len(claims)), min(len(ref_cpu), len(ref_claims))
    own = [cand_cpu[i] - (stops[i] if stops else 0) * stop_ms for i in range(n)]
    def tm(x):  # the highest tenth left out (the check's statistic before session 16)
        kept = sorted(x)[: max(1, len(x) - int(0.1 * len(x)))]
        return sum(kept) / len(kept)
    med = lambda x: sorted(x)[len(x) // 2] if x else 0.0  # noqa: E731
    # The check's two sides taken apart: CPU ms a cycle (its stops left out) and claimed ms, each
    # side's trimmed mean and median.
    inputs.append({"threads": threads, "stop_ms": round(stop_ms, 4),
                   "cand_cpu": [round(tm(own), 4), round(med(own), 4)], "ref_cpu": [round(tm(ref_cpu[:m]), 4), round(med(ref_cpu[:m]), 4)],
                   "cand_claims": [round(tm(claims[:n]), 4), round(med(claims[:n]), 4)],
                   "ref_claims": [round(tm(ref_claims[:m]), 4), round(med(ref_claims[:m]), 4)]})
    if os.environ.get("CPU_SPLIT_RAW"):  # every input of the check, for a look call by call
        with open(os.environ["CPU_SPLIT_RAW"], "a") as f:
            f.write(json.dumps({"cand_cpu": cand_cpu, "claims": claims, "ref_cpu": ref_cpu, "ref_claims": ref_claims,
                                "threads": threads, "stops": stops, "stop_ms": stop_ms}) + "\n")
    return v
cputime.judge = judge

path = Path(sys.argv[1])
ev = evaluate(load_problem(path), path.read_text().replace("class Model(", "class ModelNew("), EvalOptions.for_device("cpu"))
calls = sum(1 for label, _ in events["cand"] if label == "reply time_call")


def trimmed(values):
    kept = sorted(values)[: max(1, len(values) - int(0.1 * len(values)))]
    return sum(kept) / len(kept)


split = {}
for who, evs in events.items():
    # Segments grouped into cycles, each ending at a time_call's reply; a clean cycle is named by
    # its call's kind (reference or empty), every candidate cycle is one timed call.
    cycles, cur = [], []
    for (a, ca), (b, cb) in zip(evs, evs[1:]):
        if b == "window" or ca < 0 or cb < 0:
            continue
        cur.append((f"{a} -> {b}", cb - ca))
        if b.startswith("reply time_call"):
            cycles.append((b, cur))
            cur = []
    by = collections.defaultdict(lambda: collections.defaultdict(list))
    for end, segs in cycles:
        kind = "null" if "/null" in end else "call"
        per = collections.defaultdict(float)
        for label, ms in segs:
            per[label] += ms
        for label, ms in per.items():
            by[kind][label].append(ms)
        by[kind]["(cycle total)"].append(sum(per.values()))
    split[who] = {kind: {label: {"n": len(v), "mean": round(sum(v) / len(v), 4), "trimmed": round(trimmed(v), 4),
                                 "median": round(sorted(v)[len(v) // 2], 4)}
                         for label, v in sorted(labels.items(), key=lambda kv: -sum(kv[1]))}
                  for kind, labels in by.items()}
print(json.dumps({"verdict": ev.verdict.value, "speedup": ev.speedup, "ci": ev.speedup_ci,
                  "reference_ms": ev.reference.median_ms if ev.reference else None,
                  "candidate_ms": ev.candidate.median_ms if ev.candidate else None, "timed_calls": calls,
                  "cpu_check": judged, "judged": inputs,
                  "checks": {c.name: c.detail[:700] for c in ev.checks if c.detail}, "split_ms": split}))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="softmax_rows")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--env", action="append", default=[], help="K=V for the evaluations")
    ap.add_argument("--timeout", type=float, default=900.0)
    a = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.update(kv.split("=", 1) for kv in a.env)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.burners)]
    try:
        time.sleep(1.0)
        for k in range(a.runs):
            load = os.getloadavg()[0]
            r = subprocess.run([sys.executable, "-c", _ONE, str(PROBLEMS / f"{a.problem}.py")], capture_output=True,
                               text=True, env=env, timeout=a.timeout, check=False)
            row = {"run": k, "env": a.env, "burners": a.burners, "load": [round(load, 1), round(os.getloadavg()[0], 1)]}
            if r.returncode != 0:
                row["error"] = (r.stderr.strip().splitlines() or ["?"])[-1][:300]
            else:
                row.update(json.loads(r.stdout.strip().splitlines()[-1]))
            print(json.dumps(row), flush=True)
    finally:
        for p in burners:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
