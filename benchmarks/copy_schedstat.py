"""A copy of a reference evaluated under load, with the scheduler's figures of both workers' threads
read around every timed call (issue 13: why copies win on all cores under load).

    python benchmarks/copy_schedstat.py --problem src/kernelswarm/problems/suite/level3/multi_head_attention.py \
        --load torch:2:2 --clean-nice 0 --out OUT

Each evaluation runs in its own process (as `kernelswarm eval`, the CPU's default options), with
`WorkerProcess.call` wrapped in that process: around each `time_call` request the parent (root
reads any process's /proc) sums `/proc/<pid>/task/*/schedstat` of the threads of every process
in the worker's session (the worker runs below a launcher that leads it) (ns run,
ns runnable but waiting for a core) and reads their PELT utilisation (`se.avg.util_avg` in
`/proc/<pid>/task/*/sched`, the kernel's decayed record of how busy each thread was lately)
right before the request. `--clean-nice N` writes N into `/proc/<pid>/autogroup` of the
reference's worker and the flusher at their first request (N < 0: their autogroups weigh more,
as the kernel weighs a nice level), to test whether the autogroups' weights decide the bias;
`b-10` writes it for the candidate's worker as well.

Per evaluation (one JSON line): verdict, speedup and interval, both sides' claimed medians, and
per side the medians over timed calls of: wait ms and run ms of all threads during the call,
the summed util_avg before it, the means of its threads' involuntary switches (preemptions) and
migrations during it, the run ms of the other worker's threads during the call, and
the worker's whole CPU time over the evaluation. `--symmetric 0,1` sets KERNELSWARM_TIMING_SYMMETRIC
for each evaluation in turn, `--autogroup off,-10` KERNELSWARM_AUTOGROUP_NICE (the evaluator's own
write, session 13; `--clean-nice` is the script's, from before it). Each row also keeps the
evaluation's `scheduling` and `wall-clock` check details and the charged candidate median.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

_ONE = r'''
import json, os, statistics, sys
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import procs
from kernelswarm.problems import load_problem

both = sys.argv[2].startswith("b")  # "b-10": the candidate's worker's autogroup too
nice = int(sys.argv[2].lstrip("b"))
seen = {}   # pid -> {"role": ..., "calls": [...]}
niced = set()

members = {}  # session leader's pid -> the pids of its session (the worker runs below a launcher)

def session(sid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[3]) == sid:
                    out.append(int(p))
            except (OSError, ValueError, IndexError):
                pass
    return out

def threads(sid):
    out = []
    for pid in members.get(sid, [sid]):
        try:
            out += [f"{pid}/task/{t}" for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    return out

COUNTS = ("nr_involuntary_switches", "se.nr_migrations")

def stat(sid):
    run = wait = util = 0
    counts = dict.fromkeys(COUNTS, 0)
    for t in threads(sid):
        try:
            a, b, _ = open(f"/proc/{t}/schedstat").read().split()
            run, wait = run + int(a), wait + int(b)
            for line in open(f"/proc/{t}/sched"):
                key = line.split(":")[0].strip()
                if key == "se.avg.util_avg":
                    util += int(line.split(":")[1])
                elif key in counts:
                    counts[key] += int(line.split(":")[1])
        except (OSError, ValueError):
            pass
    stat.counts = counts
    return run, wait, util

original = procs.WorkerProcess.call
original_continued = procs.WorkerProcess.call_when_continued
def call(self, msg, *a, **k):
    pid = self.proc.pid
    if nice and (self.role == "reference" or both) and pid not in niced:
        niced.add(pid)
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(nice))
    if msg.get("op") != "time_call" or msg.get("null"):
        return original(self, msg, *a, **k)
    return measured(self, msg, lambda: original(self, msg, *a, **k))

def call_when_continued(self, msg, while_stopped, deadline=None):
    # The candidate's timed calls (sent while it is stopped after the flush): read around the
    # whole, the flush included, during which its threads are stopped.
    out = []
    measured(self, msg, lambda: out.append(original_continued(self, msg, while_stopped, deadline)) or (out[0][1], b""))
    return out[0]

def measured(self, msg, do):
    pid = self.proc.pid
    if pid not in members or len(seen.get(pid, {}).get("calls", ())) % 25 == 0:
        members[pid] = session(pid)  # outside the timed request: before it is sent
    others = [o for o in members if o != pid]
    o0 = sum(stat(o)[0] for o in others)
    r0, w0, util = stat(pid)
    c0 = stat.counts
    reply = do()
    r1, w1, _ = stat(pid)
    c1 = stat.counts
    o1 = sum(stat(o)[0] for o in others)
    rec = seen.setdefault(pid, {"role": self.role, "calls": [], "group": open(f"/proc/{pid}/autogroup").read().split()
                                + open(f"/proc/{members[pid][-1]}/cgroup").read().split()})
    rec["calls"].append((float(reply[0].get("ms", 0)), (r1 - r0) / 1e6, (w1 - w0) / 1e6, util, len(threads(pid)),
                     (o1 - o0) / 1e6, c1[COUNTS[0]] - c0[COUNTS[0]], c1[COUNTS[1]] - c0[COUNTS[1]]))
    rec["cpu_s"] = r1 / 1e9
    return reply
procs.WorkerProcess.call = call
procs.WorkerProcess.call_when_continued = call_when_continued

path = Path(sys.argv[1])
ev = evaluate(load_problem(path), path.read_text().replace("class Model(", "class ModelNew("), EvalOptions.for_device("cpu"))
sides = {}
for pid, rec in seen.items():
    c = rec["calls"]
    med = lambda i: round(statistics.median(x[i] for x in c), 3)
    sides[rec["role"]] = {"n": len(c), "claimed_ms": med(0), "run_ms": med(1), "wait_ms": med(2), "util_before": med(3),
                          "threads": med(4), "other_run_ms": med(5),
                          "preempted": round(statistics.mean(x[6] for x in c), 2), "migrated": round(statistics.mean(x[7] for x in c), 2), "cpu_s": round(rec["cpu_s"], 2), "autogroup": " ".join(rec["group"])}
detail = {c.name: c.detail for c in ev.checks}
print(json.dumps({"verdict": ev.verdict.value, "reason": ev.reason[:200], "speedup": ev.speedup, "ci": ev.speedup_ci,
                  "wall_s": round(ev.wall_s, 1), "scheduling": detail.get("scheduling", "-"),
                  "wall_clock": detail.get("wall-clock", "-")[:600],
                  "charged_ms": ev.candidate.median_ms if ev.candidate else None,
                  "reference_ms": ev.reference.median_ms if ev.reference else None, **sides}))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", action="append", required=True)
    ap.add_argument("--load", default="torch:2:2", help="as benchmarks/copy_charges.py; '' for none")
    ap.add_argument("--clean-nice", default="0", help="comma-separated: one evaluation per value and problem, in turn")
    ap.add_argument("--symmetric", default="0", help="comma-separated KERNELSWARM_TIMING_SYMMETRIC values, in turn")
    ap.add_argument("--autogroup", default="", help="comma-separated KERNELSWARM_AUTOGROUP_NICE values, in turn "
                    "(off: the workers' autogroups left as their sessions start them; '': the environment's); "
                    "AG/C also sets KERNELSWARM_SYMMETRIC_CLAIMS=C")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=400)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    from copy_charges import _load

    a.out.mkdir(parents=True, exist_ok=True)
    log = (a.out / "copy_schedstat.jsonl").open("a")
    load = _load(a.load) if a.load else []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    try:
        time.sleep(2.0)
        for k in range(a.rounds):
            for problem in a.problem:
                for nice, sym, ag in [(n, y, g) for n in a.clean_nice.split(",") for y in a.symmetric.split(",")
                                      for g in a.autogroup.split(",")]:
                    env["KERNELSWARM_TIMING_SYMMETRIC"] = sym
                    ag, _, claims = ag.partition("/")  # "-10/1": KERNELSWARM_SYMMETRIC_CLAIMS=1 as well
                    if ag:
                        env["KERNELSWARM_AUTOGROUP_NICE"] = ag
                    if claims:
                        env["KERNELSWARM_SYMMETRIC_CLAIMS"] = claims
                    load0 = os.getloadavg()[0]
                    p = subprocess.run([sys.executable, "-c", _ONE, problem, nice], capture_output=True, text=True,
                                       env=env, timeout=a.timeout, check=False)
                    try:
                        row = json.loads(p.stdout.strip().splitlines()[-1])
                    except (IndexError, ValueError):
                        row = {"verdict": "error", "reason": p.stderr[-300:]}
                    row = {"problem": Path(problem).stem, "round": k, "clean_nice": nice, "symmetric": sym,
                           "autogroup_env": env.get("KERNELSWARM_AUTOGROUP_NICE", ""),
                           "symmetric_claims": env.get("KERNELSWARM_SYMMETRIC_CLAIMS", ""),
                           "load": [round(load0, 1), round(os.getloadavg()[0], 1)], **row}
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    print(json.dumps(row), flush=True)
    finally:
        for p in load:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
