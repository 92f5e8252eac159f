"""Where a copy's unclaimed wall time beyond the paired reference call's goes, segment by segment
(issue 13: wallclock.judge_paired_slack charged copies of softmax_rows 0.1-0.2 ms a call on this
busy 2-core CPU).

    python benchmarks/slack_split.py --runs 3 --burners 2 [--old OLD/src] [--env K=V ...]

Each run evaluates a copy of `tests/evaluate/problems/PROBLEM.py` (`class Model` renamed `ModelNew`)
on the CPU in its own process, with `WorkerProcess.call`, `call_when_continued` and the parent's
`signal_group` wrapped there (the library is not changed). For every timed call of the candidate
and the reference call paired with it, the unclaimed wall ms the paired check judges (`prepare`'s
wall plus `time_call`'s, less the claim) is split into:

- `prepare out`: the `prepare` request's wall less the worker's own time for it (`op_s`): the pipe
  both ways and both processes' wake-ups;
- `prepare in`: the worker's own time for `prepare`;
- `cont tail`: inside the candidate's `time_call` wall, from its clock's start to the SIGCONT's
  return (the parent continuing every member of the worker's session);
- `call out`: `time_call`'s wall less `op_s` (and less `cont tail`): pipe and wake-ups (`call wall
  - op`: with `cont tail`);
- `call in`: `op_s` less the claim: the worker's own work around its timer.

Per run one JSON line: verdict, speedup, interval, the paired check's detail, and per segment the
median of the candidate's, of the reference's, and of the pairs' differences (the statistic the
check uses), with the load. With `--old`, each run is made with the old tree and this one in turn.
`SLACK_SPLIT_RAW=FILE` appends every pair's segments to FILE; `--env SLACK_SPLIT_CAND_SETTLES=1`
sends the candidate's worker an uncharged `settle` before each `prepare`, as the clean worker was
before session 17 (a probe of where the time goes, never an evaluator setting: an uncharged request
is time to compute in, cheat/settle_work).
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
import json, os, sys, time
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import procs, timed_loop as tl
from kernelswarm.problems import load_problem

clock = time.perf_counter
names = {}  # id(process) -> "cand" | "clean", while a timed loop runs
cur = {"cand": {}, "clean": {}}  # the segments of the call being assembled, per side
pairs = {"cand": [], "clean": []}  # one dict of segments per timed call (reference calls for "clean")
tail = [0.0]

W = procs.WorkerProcess
orig_call, orig_cwc = W.call, W.call_when_continued
orig_sig = procs.signal_group


def sig(pgid, s, before_continue=None):
    if before_continue is None:
        return orig_sig(pgid, s)
    t = [0.0]
    def bc():
        t[0] = clock()
        before_continue()
    orig_sig(pgid, s, bc)
    tail[0] = 1000 * (clock() - t[0])
procs.signal_group = sig


def record(self, msg, reply, cont_ms):
    who = names.get(id(self))
    op = msg.get("op")
    if who is None or msg.get("null") or op not in ("prepare", "time_call"):
        return
    wall, inside = 1000 * self.last_wall_s, 1000 * float(reply.get("op_s", 0.0))
    c = cur[who]
    if op == "prepare":
        c.clear()
        c.update({"prepare out": wall - inside, "prepare in": inside})
        return
    ms = float(reply["ms"])
    c.update({"cont tail": cont_ms, "call out": wall - inside - cont_ms, "call in": inside - ms, "claim": ms,
              "call wall - op": wall - inside})
    c["slack"] = c.get("prepare out", 0) + c.get("prepare in", 0) + wall - ms
    pairs[who].append(dict(c))


def call(self, msg, blob=b"", deadline=None):
    r = orig_call(self, msg, blob, deadline)
    record(self, msg, r[0], 0.0)
    return r


def cwc(self, msg, while_stopped, deadline=None):
    tail[0] = 0.0
    r = orig_cwc(self, msg, while_stopped, deadline)
    record(self, msg, r[1], tail[0])
    return r


W.call, W.call_when_continued = call, cwc
orig_loop = tl.timed_loop
def loop(worker, clean, *a, **k):
    names[id(worker)], names[id(clean)] = "cand", "clean"
    n0 = (len(pairs["cand"]), len(pairs["clean"]))
    try:
        return orig_loop(worker, clean, *a, **k)
    finally:
        names.clear()
        n = min(len(pairs["cand"]) - n0[0], len(pairs["clean"]) - n0[1])  # a window's pairs only
        del pairs["cand"][n0[0] + n:], pairs["clean"][n0[1] + n:]
tl.timed_loop = loop
if os.environ.get("SLACK_SPLIT_CAND_SETTLES") == "1":  # a probe only: an uncharged request is a hole
    tl.candidate_settles = lambda device: True
from kernelswarm.evaluate.parent import timing
timing.timed_loop = loop

path = Path(sys.argv[1])
ev = evaluate(load_problem(path), path.read_text().replace("class Model(", "class ModelNew("), EvalOptions.for_device("cpu"))
med = lambda x: sorted(x)[len(x) // 2] if x else 0.0  # noqa: E731
keys = ["prepare out", "prepare in", "cont tail", "call out", "call wall - op", "call in", "claim", "slack"]
split = {k: [round(med([p[k] for p in pairs["cand"]]), 4), round(med([p[k] for p in pairs["clean"]]), 4),
             round(med([c[k] - r[k] for c, r in zip(pairs["cand"], pairs["clean"])]), 4)] for k in keys}
if os.environ.get("SLACK_SPLIT_RAW"):  # every pair's segments, for a look call by call
    with open(os.environ["SLACK_SPLIT_RAW"], "a") as f:
        f.write(json.dumps(pairs) + "\n")
print(json.dumps({"verdict": ev.verdict.value, "speedup": ev.speedup, "ci": ev.speedup_ci, "pairs": len(pairs["cand"]),
                  "paired": next((c.detail[:300] for c in ev.checks if "paired reference" in c.detail), ""),
                  "split_ms": split}))
'''


def one(src: Path, problem: str, env_kv: list[str], timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.update(kv.split("=", 1) for kv in env_kv)
    load = os.getloadavg()[0]
    r = subprocess.run([sys.executable, "-c", _ONE, str(PROBLEMS / f"{problem}.py")], capture_output=True, text=True,
                       env=env, timeout=timeout, check=False)
    row: dict = {"tree": str(src), "env": env_kv, "load": [round(load, 1), round(os.getloadavg()[0], 1)]}
    if r.returncode != 0:
        row["error"] = (r.stderr.strip().splitlines() or ["?"])[-1][:300]
    else:
        row.update(json.loads(r.stdout.strip().splitlines()[-1]))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", default="softmax_rows")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--old", type=Path, help="an old tree's src folder, run in turn with this one")
    ap.add_argument("--old-only", action="store_true", help="with --old: that tree alone")
    ap.add_argument("--env", action="append", default=[], help="K=V for the evaluations")
    ap.add_argument("--timeout", type=float, default=900.0)
    a = ap.parse_args()
    trees = ([a.old.resolve()] if a.old_only else [a.old.resolve(), ROOT / "src"]) if a.old else [ROOT / "src"]
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.burners)]
    try:
        time.sleep(1.0)
        for k in range(a.runs):
            for src in trees:
                print(json.dumps({"run": k, "burners": a.burners, **one(src, a.problem, a.env, a.timeout)}), flush=True)
    finally:
        for p in burners:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
