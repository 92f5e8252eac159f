"""Where a timed evaluation's wall time goes, request by request (issues 13 and 16).

    PYTHONPATH=src python benchmarks/request_costs.py --device cuda --out OUT \
        --problem src/kernelswarm/problems/suite/level1/relu.py --problem tests/evaluate/problems/matmul_big.py
    # another tree (its own src; label its rows): --src .old/src --variant old

Each problem's copy (`class Model` renamed `ModelNew`: correct, about 1x) is evaluated in one
process, one after another (the first also starts the zygote and the device). In that process the
parent's `WorkerProcess.call` is wrapped: per worker role and request (`op`, with `null` and
`calibrate` told apart) the parent's wall ms of each request and the worker's own op ms as it
reports it; `WorkerProcess.stopped` (SIGSTOP of a worker's session, then SIGCONT) is timed too,
and so is `contain.session_states` (the scan of /proc each stop and continue made) and, where the
tree has it, `members.NamespaceView.states` (the contained worker's namespace listed instead).

Writes OUT/request_costs.jsonl (one line per evaluation: verdict, speedup, interval, phases,
calls, and per (role, op) count / median / total ms) and OUT/request_costs.md (the tables).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_CHILD = r'''
import collections, json, os, re, statistics, sys, time
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import procs
from kernelswarm.evaluate.worker import contain
from kernelswarm.problems import load_problem

rec = collections.defaultdict(list)   # (role, op) -> [(wall_ms, op_ms)]
original_call = procs.WorkerProcess.call
def call(self, msg, *a, **k):
    t = time.perf_counter()
    reply = original_call(self, msg, *a, **k)
    op = str(msg.get("op")) + (".null" if msg.get("null") else "") + (".calibrate" if msg.get("calibrate") else "")
    op_s = reply[0].get("op_s") if isinstance(reply[0], dict) else None
    ms = reply[0].get("ms") if isinstance(reply[0], dict) else None
    rec[(self.role, op)].append((1000 * (time.perf_counter() - t), 1000 * float(op_s) if isinstance(op_s, (int, float)) else -1.0,
                                 float(ms) if isinstance(ms, (int, float)) else -1.0))
    return reply
procs.WorkerProcess.call = call

original_continued = procs.WorkerProcess.call_when_continued
def call_when_continued(self, msg, while_stopped, deadline=None):
    t = time.perf_counter()
    before, reply = original_continued(self, msg, while_stopped, deadline)
    op = str(msg.get("op")) + " (after the flush, continued)"
    op_s, ms = reply.get("op_s"), reply.get("ms")
    rec[(self.role, op)].append((1000 * self.last_wall_s, 1000 * float(op_s) if isinstance(op_s, (int, float)) else -1.0,
                                 float(ms) if isinstance(ms, (int, float)) else -1.0))
    return before, reply
procs.WorkerProcess.call_when_continued = call_when_continued

original_stopped = procs.WorkerProcess.stopped
import contextlib
@contextlib.contextmanager
def stopped(self):
    t = time.perf_counter()
    cm = original_stopped(self)
    cm.__enter__()
    rec[(self.role, "(SIGSTOP)")].append((1000 * (time.perf_counter() - t), -1.0, -1.0))
    try:
        yield
    finally:
        t = time.perf_counter()
        cm.__exit__(None, None, None)
        rec[(self.role, "(SIGCONT)")].append((1000 * (time.perf_counter() - t), -1.0, -1.0))
procs.WorkerProcess.stopped = stopped

original_scan = contain.session_states
def scan(sid):
    t = time.perf_counter()
    out = original_scan(sid)
    rec[("parent", "(scan /proc)")].append((1000 * (time.perf_counter() - t), -1.0, -1.0))
    return out
contain.session_states = scan
try:  # the namespace's own /proc (parent/members.py), where the tree has it
    from kernelswarm.evaluate.parent import members
    original_states = members.NamespaceView.states
    def ns_states(self):
        t = time.perf_counter()
        out = original_states(self)
        rec[("parent", "(list the namespace)")].append((1000 * (time.perf_counter() - t), -1.0, -1.0))
        return out
    members.NamespaceView.states = ns_states
except ImportError:
    pass

nproc = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
device = sys.argv[1]
for path in map(Path, sys.argv[2:]):
    rec.clear()
    t0 = time.perf_counter()
    source = re.sub(r"\bclass Model\(", "class ModelNew(", path.read_text())
    ev = evaluate(load_problem(path), source, EvalOptions.for_device(device))
    table = {f"{r}:{o}": {"n": len(v), "median_ms": round(statistics.median(x[0] for x in v), 3),
                          "total_s": round(sum(x[0] for x in v) / 1000, 2),
                          "worker_op_median_ms": round(statistics.median(x[1] for x in v), 3),
                          "claimed_median_ms": round(statistics.median(x[2] for x in v), 4)}
             for (r, o), v in sorted(rec.items(), key=lambda kv: -sum(x[0] for x in kv[1]))}
    print(json.dumps({"problem": path.stem, "verdict": ev.verdict.value, "reason": ev.reason[:300],
                      "speedup": ev.speedup, "ci": ev.speedup_ci, "wall_s": round(time.perf_counter() - t0, 1),
                      "phases_s": ev.phases_s, "calls": ev.candidate.n if ev.candidate else 0,
                      "processes_in_proc": nproc, "variant": os.environ.get("RC_VARIANT", ""),
                      "checks": [f"{c.name}: {c.detail}"[:600] for c in ev.checks if any(w in c.name for w in ("wall", "clock", "burst", "paired", "timing"))],
                      "requests": table}), flush=True)
'''


def markdown(rows: list[dict]) -> str:
    out = []
    for r in rows:
        out.append(f"### {r['problem']} {r.get('variant', '')}: {r['verdict']} {r.get('speedup')} {r.get('ci')}, {r['wall_s']} s, "
                   f"{r['calls']} timed calls, {r['processes_in_proc']} processes in /proc")
        out.append(f"phases: {json.dumps(r['phases_s'])}\n")
        out += [f"- {c}" for c in r.get("checks", [])] + [""]
        out.append("| role:request | n | median ms | total s | worker's own op ms (median) | claimed ms (median) |")
        out.append("|---|---|---|---|---|---|")
        for k, v in r["requests"].items():
            out.append(f"| {k} | {v['n']} | {v['median_ms']} | {v['total_s']} | {v['worker_op_median_ms']} | {v['claimed_median_ms']} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", action="append", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--timeout", type=float, default=500)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src",
                    help="the `src` folder of the tree to measure (an old one: `git archive REV src`)")
    ap.add_argument("--variant", default="", help="a label for this tree's rows (RC_VARIANT)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(a.src.resolve()), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if a.variant:
        env["RC_VARIANT"] = a.variant
    try:
        p = subprocess.run([sys.executable, "-c", _CHILD, a.device, *a.problem], capture_output=True, text=True,
                           env=env, timeout=a.timeout, check=False)
        out, err = p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = "timed out"
    rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    (a.out / "request_costs.jsonl").open("a").write("".join(json.dumps(r) + "\n" for r in rows))
    (a.out / "request_costs.md").open("a").write(markdown(rows))
    print(markdown(rows))
    if not rows:
        print("no evaluation finished:", err.strip()[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
