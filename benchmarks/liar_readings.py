"""What the per-call wall clock and the candidate's CPU time read, call by call, for one fixture
scenario (issue 13: a clock's "liar" verdict capped by the CPU time, 0bbaeda, let
cheat/reply_rewrite/nostatic through).

    python benchmarks/liar_readings.py --scenario cheat/reply_rewrite/nostatic --burners 2 --rounds 2 \
        --out OUT [--root-old /work/main]

Each evaluation runs in its own process (the tree's `src` first on its path; `--root-old` runs
another tree in turn, old and new alternated; `--burners N`: N `while True: pass` processes for
the run, as test_paired's copy test has, `--bursty` makes them spin and sleep in turn), with the fixture's own options (test_fixtures's
`_options`). Inside it `timing._judged` is wrapped: its inputs (claims, unclaimed wall ms of each
call and of the empty calls, the reference's) and, per cycle of the candidate (from one timed
call's stop to the next, what `cpu_marks` spans), its processes' CPU ms (as the cap read it),
and, read by the parent beside each CPU mark, the run delay of all the candidate's threads
(/proc/PID/task/TID/schedstat, field 2: runnable but waiting for a core) and the parent's own.
`cpu_room` and `cpu_proven` are 0bbaeda's two readings (timing.cpu_bounds), worked out here from
the same data whichever tree runs; to see the cap itself decide, re-apply it first
(`git show 0bbaeda -- src/kernelswarm/evaluate/parent/wallclock.py src/kernelswarm/evaluate/parent/timing.py
| git apply`), as session 20 did (docs/benchmarks.md, liar20). Wrapped too: wallclock.judge_burst's inputs.
One JSON line per evaluation; the per-window tables: results/liar_cpu_2026-12-03_s20_liar20/replay.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ONE = r'''
import itertools, json, os, statistics, sys, threading, time
sys.path.insert(0, sys.argv[2])  # tests/evaluate: the fixtures' reader
from fixtures import PROBLEMS, scenarios
import test_fixtures
from kernelswarm.evaluate import evaluate
from kernelswarm.evaluate.parent import cputime, procs, timing, wallclock
from kernelswarm.problems import load_problem

def delay_ns(pid):
    """Run delay (ns) of every live thread of pid and its descendants; and CPU ns by schedstat."""
    tot = 0
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    tot += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            pass
        todo.extend(cputime.children(p))
    return tot

def own_delay_ns():
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
        return int(f.read().split()[1])

marks = {}  # pid -> [(t, cpu_ms, delay_ms, parent_delay_ms)]
orig_cpu = procs.WorkerProcess.cpu_ms
def cpu_ms(self):
    v = orig_cpu(self)
    marks.setdefault(self.proc.pid, []).append((time.perf_counter() * 1e3, v, delay_ns(self.proc.pid) / 1e6, own_delay_ns() / 1e6))
    return v
procs.WorkerProcess.cpu_ms = cpu_ms

reqs = {}  # pid -> [(op, wall_ms, parent_wait_ms, cpu_ms, delay_ms)]: the candidate's requests, read around them
def _around(self, op, fn):
    pid = self.proc.pid
    c0, d0 = cputime.tree_cpu_ns(pid), delay_ns(pid)
    out = fn()
    c1, d1 = cputime.tree_cpu_ns(pid), delay_ns(pid)
    reqs.setdefault(pid, []).append((op, self.last_wall_s * 1e3, self.last_wait_s * 1e3, (c1 - c0) / 1e6, (d1 - d0) / 1e6))
    return out
orig_call, orig_cwc = procs.WorkerProcess.call, procs.WorkerProcess.call_when_continued
def call(self, msg, blob=b"", deadline=None):
    if msg.get("op") == "prepare":
        return _around(self, "prepare", lambda: orig_call(self, msg, blob, deadline))
    if msg.get("op") == "time_burst":  # 0bbaeda's burst readings: CPU ms per burst call, each side
        op = f"burst:{'null' if msg.get('null') else 'calls'}:{len(msg.get('calls', []))}"
        return _around(self, op, lambda: orig_call(self, msg, blob, deadline))
    return orig_call(self, msg, blob, deadline)
def cwc(self, msg, while_stopped, deadline=None):
    return _around(self, msg.get("op"), lambda: orig_cwc(self, msg, while_stopped, deadline))
procs.WorkerProcess.call, procs.WorkerProcess.call_when_continued = call, cwc

bursts = []  # per burst check: wallclock.judge_burst's inputs
orig_jb = wallclock.judge_burst
def judge_burst(times, per_call_ms, calls, *a, **k):
    v = orig_jb(times, per_call_ms, calls, *a, **k)
    bursts.append({"claim": statistics.median(times), "per_call_ms": per_call_ms, "calls": calls, "believed": v.believed,
                   "charge": v.charge, "detail": v.detail[:400]})
    return v
wallclock.judge_burst = judge_burst

seen = []
orig_judged = timing._judged
def judged(times, slack, null_slack, result):
    v = orig_judged(times, slack, null_slack, result)
    row = {"times": times, "slack": slack, "null_slack": null_slack, "ref_slack": list(result.ref_slack),
           "ref_times": list(result.ref_times), "ref_cpu": list(result.ref_cpu), "cpu_threads": result.cpu_threads,
           "believed": v.believed, "charge": v.charge, "detail": v.detail[:900],
           "undecided": getattr(v, "undecided", False), "stop_ms": result.stop_ms,
           "stop_marks": list(result.stop_marks), "cpu_marks": list(result.cpu_marks),
           "delay_marks": list(getattr(result, "delay_marks", [])), "null_cpu": list(getattr(result, "null_cpu", [])),
           "null_stops": list(getattr(result, "null_stops", []))}
    cm = result.cpu_marks
    if result.cpu_threads and len(cm) >= 4 and min(cm) >= 0:
        cycles = [b - a for a, b in itertools.pairwise(cm)]
        n = min(len(cycles), len(times))
        row["cycles_cpu"] = cycles
        row["cpu_room"] = wallclock.median([cycles[i] - times[i] for i in range(n)])
        stops = [b - a for a, b in itertools.pairwise(result.stop_marks)]
        cj = cputime.judge(cycles, times, result.ref_cpu, result.ref_times, result.cpu_threads, stops, result.stop_ms,
                           result.ref_stops)
        row["cpu_proven"] = cj.charge_ms if cj is not None else None
        if hasattr(cputime, "waited") and row["delay_marks"] and len(row["delay_marks"]) == len(cm):
            wv = cputime.waited(cycles, times, [b - a for a, b in itertools.pairwise(row["delay_marks"])], row["null_cpu"],
                                wallclock.median(slack) - wallclock.median(null_slack), stops, result.stop_ms, row["null_stops"],
                                row["cpu_proven"])
            row["waited"] = wv.waited if wv is not None else None
            row["waited_detail"] = wv.detail if wv is not None else None
        # the candidate's marks: those whose CPU readings are cm, in order (the last len(cm) of its pid's)
        for pid, ms in marks.items():
            vals = [m[1] for m in ms]
            for k in range(len(vals) - len(cm) + 1):
                if vals[k:k + len(cm)] == cm:
                    sel = ms[k:k + len(cm)]
                    row["cycles_wall"] = [b[0] - a[0] for a, b in itertools.pairwise(sel)]
                    row["cycles_delay"] = [b[2] - a[2] for a, b in itertools.pairwise(sel)]
                    row["cycles_parent_delay"] = [b[3] - a[3] for a, b in itertools.pairwise(sel)]
                    tc = [r for r in reqs.get(pid, []) if r[0] == "time_call"][-len(times):]
                    if len(tc) == len(times):
                        row["call_wall"] = [r[1] for r in tc]
                        row["call_parent_wait"] = [r[2] for r in tc]
                        row["call_cpu"] = [r[3] for r in tc]
                        row["call_delay"] = [r[4] for r in tc]
                    pr = [r for r in reqs.get(pid, []) if r[0] == "prepare"][-len(times):]
                    if len(pr) == len(times):
                        row["prep_wall"] = [r[1] for r in pr]
                        row["prep_cpu"] = [r[3] for r in pr]
                        row["prep_delay"] = [r[4] for r in pr]
                    break
    seen.append(row)
    return v
timing._judged = judged

name = sys.argv[1]
t0 = time.time()
if "=" in name:  # PROBLEM=CANDIDATE files, as a run's search judges them (EvalOptions.for_device("cpu"))
    from pathlib import Path
    from kernelswarm.evaluate import EvalOptions
    prob, cand = name.split("=", 1)
    s = None
    ev = evaluate(load_problem(Path(prob)), Path(cand).read_text(), EvalOptions.for_device("cpu"))
else:
    s = next(x for x in scenarios(name.split("/")[0]) if x.id == name)
    ev = evaluate(load_problem(PROBLEMS / f"{s.problem}.py"), s.path.read_text(), test_fixtures._options(s))
med = statistics.median
summary = []
for r in seen:
    d = {"claim": med(r["times"]), "slack": med(r["slack"]), "null_slack": med(r["null_slack"]),
         "ref_claim": med(r["ref_times"]) if r["ref_times"] else None,
         "ref_slack": med(r["ref_slack"]) if r["ref_slack"] else None,
         "cpu_room": r.get("cpu_room"), "cpu_proven": r.get("cpu_proven"), "believed": r["believed"], "charge": r["charge"],
         "undecided": r.get("undecided"), "waited": r.get("waited"), "waited_detail": r.get("waited_detail"),
         "null_cpu": med(r["null_cpu"]) if r.get("null_cpu") else None,
         "delay": med([b - a for a, b in itertools.pairwise(r["delay_marks"])]) if len(r.get("delay_marks") or []) > 1 else None}
    for k in ("cycles_cpu", "cycles_wall", "cycles_delay", "cycles_parent_delay", "ref_cpu", "call_wall",
              "call_parent_wait", "call_cpu", "call_delay", "prep_wall", "prep_cpu", "prep_delay"):
        if r.get(k):
            d[k] = med(r[k])
    summary.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()})
print(json.dumps({"verdict": ev.verdict.value, "speedup": ev.speedup, "ci": ev.speedup_ci, "reason": ev.reason[:500],
                  "expected": list(s.expected()[0]) if s else ["accepted"], "check": s.expected()[1] if s else None,
                  "max_speedup": s.max_speedup if s else None,
                  "judged": summary, "raw": seen, "bursts": bursts,
                  "burst_reqs": {str(pid): [r for r in rs if r[0].startswith("burst:")] for pid, rs in reqs.items()}, "wall_s": round(time.time() - t0, 1)}))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--root-old", type=Path)
    ap.add_argument("--scenario", action="append", required=True, help="a test_fixtures id, e.g. cheat/reply_rewrite/nostatic, or PROBLEM=CANDIDATE (files; the "
                    "CPU options a run's search uses)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--bursty", action="store_true", help="burners that spin 6 ms and sleep 3 ms in turn (as other evaluations load the machine)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    log = (a.out / "liar_readings.jsonl").open("a")
    trees = [("new", a.root.resolve())] + ([("old", a.root_old.resolve())] if a.root_old else [])
    code = ("import time\nwhile True:\n    t = time.perf_counter()\n    while time.perf_counter() - t < 0.006: pass\n"
            "    time.sleep(0.003)") if a.bursty else "while True: pass"
    burners = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(a.burners)]
    try:
        for k in range(a.rounds):
            for scen in a.scenario:
                for name, root in (trees if k % 2 == 0 else trees[::-1]):
                    with tempfile.TemporaryDirectory() as t:
                        env = {**os.environ, "PYTHONPATH": str(root / "src"), "KERNELSWARM_CACHE": str(Path(t) / "cache")}
                        load0 = os.getloadavg()[0]
                        p = subprocess.run([sys.executable, "-c", _ONE, scen, str(a.root.resolve() / "tests" / "evaluate")],
                                           capture_output=True, text=True, env=env, timeout=1200, check=False,
                                           cwd=str(a.root.resolve()))
                    try:
                        row = json.loads(p.stdout.strip().splitlines()[-1])
                    except (IndexError, ValueError):
                        row = {"verdict": "error", "reason": p.stderr[-1500:]}
                    row = {"tree": name, "scenario": scen, "round": k, "at": time.strftime("%H:%M:%S"),
                           "load": [round(load0, 1), round(os.getloadavg()[0], 1)], **row}
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    short = {x: v for x, v in row.items() if x != "raw"}
                    print(json.dumps(short), flush=True)
    finally:
        for p in burners:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
