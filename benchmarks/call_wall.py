"""Where a warm evaluation's wall goes, phase by phase and, inside the timed loop, request by
request: an old source tree beside this one in one run (issue 16).

    git archive BASE src | tar -x -C .old17              # the old path
    PYTHONPATH=src python benchmarks/call_wall.py --old .old17/src --device cuda

For each tree, one process evaluates a copy of each problem's reference (ModelNew = Model) in
turn; its first evaluation starts everything (the zygote, torch) and is a warm-up, not shown
(`--warmup` names it). The child stamps the parent's side of every request with
time.perf_counter, by wrapping the evaluator's own functions in this benchmark's process (the
library is not changed): per worker (`reference`, `candidate`, `flusher`) and op, the wall from
send to reply and the worker's own time for it (`op_s`), and the stops and continues (SIGSTOP,
SIGCONT with their scans of the worker's processes) and CPU-time reads. Only requests made inside
`timed_loop` count there; its figures are per timed call of the candidate (one pair: the
candidate's call, the reference's, and the share of an empty call). `other` is the loop's wall
that none of them holds: the parent's own Python. What a tree lacks of the wrapped functions
(the old tree may be any commit) is named on stderr and its figures left out; its phases stay.

Prints two markdown tables to stdout: every phase of `phases_s` per problem, old beside new, and
the timed loop's ms per timed call by request. Exit 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in the child, under the tree's own PYTHONPATH: nothing of the other tree is imported.
_CHILD = r"""
import importlib, json, re, signal, sys, time
from collections import defaultdict
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.problems.load import load_problem
import kernelswarm

clock = time.perf_counter
stats = defaultdict(lambda: [0, 0.0, 0.0])  # key -> [count, parent ms, worker ms]
each = defaultdict(list)  # key -> every request's parent ms (their spread: benchmarks/stop_rule.py)
windows = []  # per timed loop: its calls' claims and unclaimed ms, as the stop rule saw them
inside = [False]
sent = {}
loop = [0.0, 0]  # the timed loops' wall ms, the candidate's timed calls
missing = []  # what this tree lacks of what is wrapped: its figures are left out, the phases stay

def note(key, ms, worker_ms=0.0):
    if inside[0]:
        s = stats[key]
        s[0] += 1; s[1] += ms; s[2] += worker_ms
        each[key].append(round(ms, 4))

def found(module, *names):
    # The first of `names` that module `module` (of kernelswarm.evaluate) has: a tree that moved
    # or renamed it loses that figure, not its run (the old tree may be any commit).
    for where in (f"kernelswarm.evaluate.parent.{module}", f"kernelswarm.evaluate.{module}"):
        try:
            mod = importlib.import_module(where)
        except ImportError:
            continue
        for name in names:
            if callable(getattr(mod, name, None)):
                return mod, name
    missing.append(f"{module}.{'|'.join(names)}")
    return None, None

mod, _ = found("procs", "WorkerProcess")
W = getattr(mod, "WorkerProcess", None)
if W is not None and all(hasattr(W, n) for n in ("__init__", "send", "finish_call", "cpu_ms")):
    init, send, finish, cpu = W.__init__, W.send, W.finish_call, W.cpu_ms
    def _init(self, role, workdir, *a, **k):
        init(self, role, workdir, *a, **k)
        self.tag = Path(workdir).name
    def _send(self, msg, blob=b""):
        sent[id(self)] = clock()
        return send(self, msg, blob)
    def _finish(self, op, deadline=None):
        reply, out = finish(self, op, deadline)
        note(f"{getattr(self, 'tag', '?')}.{op}", 1000 * (clock() - sent.get(id(self), clock())),
             1000 * float(reply.get("op_s", 0.0)))
        return reply, out
    def _cpu(self):
        t = clock(); v = cpu(self); note("cpu_ms reads", 1000 * (clock() - t)); return v
    W.__init__, W.send, W.finish_call, W.cpu_ms = _init, _send, _finish, _cpu
elif W is not None:
    missing.append("procs.WorkerProcess's send/finish_call/cpu_ms")
if mod is not None and callable(getattr(mod, "signal_group", None)):
    sig = mod.signal_group
    def _sig(pgid, s, *a, **k):
        t = clock(); sig(pgid, s, *a, **k)
        note({signal.SIGSTOP: "SIGSTOP (and scan)", signal.SIGCONT: "SIGCONT (and scan)"}.get(s, "signal"), 1000 * (clock() - t))
    mod.signal_group = _sig
# The loop as the timing calls it: through timing's own name for it.
tmod, tname = found("timing", "timed_loop", "_timed_loop")
if tmod is not None:
    tl = getattr(tmod, tname)
    def _loop(worker, clean, o, deadline, result, *a, **k):
        n0, t = len(result.calls), clock()
        inside[0] = True
        try:
            out = tl(worker, clean, o, deadline, result, *a, **k)
            if isinstance(out, tuple) and len(out) == 3:
                windows.append({"times": out[0], "slack": out[1], "null_slack": out[2],
                                "ref_times": list(getattr(result, "ref_times", [])),
                                "ref_slack": list(getattr(result, "ref_slack", [])),
                                "timed_calls": o.timed_calls, "min_timing_s": o.min_timing_s})
            return out
        finally:
            inside[0] = False
            loop[0] += 1000 * (clock() - t); loop[1] += len(result.calls) - n0
    setattr(tmod, tname, _loop)
if missing:
    print("call_wall: this tree lacks " + ", ".join(missing) + ": its timed loop's figures are left out", file=sys.stderr)

suite = Path(kernelswarm.__file__).parent / "problems" / "suite"
for name in sys.argv[2].split(","):
    problem = load_problem(suite / f"{name}.py")
    source = re.sub(r"\bclass Model\(", "class ModelNew(", problem.source)
    stats.clear(); each.clear(); windows.clear(); loop[:] = [0.0, 0]
    ev = evaluate(problem, source, EvalOptions.for_device(sys.argv[1]))
    print(json.dumps({"problem": name, "verdict": ev.verdict.value, "reason": ev.reason[:200], "wall_s": ev.wall_s,
                      "phases": ev.phases_s, "calls": ev.candidate.n if ev.candidate else 0, "speedup": ev.speedup,
                      "loop_ms": loop[0] if tmod is not None else None, "loop_calls": loop[1],
                      "requests": {k: v for k, v in stats.items()},
                      "each": dict(each), "windows": list(windows)}), flush=True)
"""


def _run(tree: Path, device: str, problems: str, locks: str, limit_s: float) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree), "KERNELSWARM_LOCK_DIR": locks}
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, device, problems], env=env, capture_output=True,
                              text=True, check=False, timeout=limit_s)
        out, code, err = proc.stdout, proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        code, err = "stopped at --limit", ""
    for line in err.splitlines():
        if line.startswith("call_wall:"):  # what of this tree could not be wrapped
            print(f"{tree}: {line}", file=sys.stderr)
    if code != 0:
        print(f"{tree}: exited {code}: {err.strip().splitlines()[-1:]}", file=sys.stderr)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def phase_table(old: list[dict], new: list[dict]) -> str:
    """Every phase of either tree's phases_s, per problem: old | new seconds."""
    problems = [r["problem"] for r in new] + [r["problem"] for r in old if r["problem"] not in {x["problem"] for x in new}]
    by = {(tree, r["problem"]): r for tree, rows in (("old", old), ("new", new)) for r in rows}
    head = ["wall", "verdict", "timed calls"]
    phases: list[str] = []
    for r in old + new:
        phases += [p for p in r["phases"] if p not in phases]
    lines = ["| phase (s) | " + " | ".join(f"{p} old | {p} new" for p in problems) + " |",
             "|---|" + "---|---|" * len(problems)]

    def cell(tree: str, p: str, key: str) -> str:
        r = by.get((tree, p))
        if r is None:
            return ""
        v = {"wall": r["wall_s"], "verdict": r["verdict"], "timed calls": r["calls"]}.get(key, r["phases"].get(key))
        return f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v))

    for key in head + phases:
        lines.append(f"| {key} | " + " | ".join(f"{cell('old', p, key)} | {cell('new', p, key)}" for p in problems) + " |")
    return "\n".join(lines)


def request_table(old: list[dict], new: list[dict]) -> str:
    """The timed loop per timed call of the candidate: each request's count, parent-side ms and
    the worker's own ms for it, old | new."""
    lines = ["| problem | tree | loop ms/call | request | per call | parent ms/call | worker ms/call |",
             "|---|---|---|---|---|---|---|"]
    for tree, rows in (("old", old), ("new", new)):
        for r in rows:
            if r.get("loop_ms") is None:  # the tree's loop could not be wrapped (stderr says why)
                lines.append(f"| {r['problem']} | {tree} | | (not measured in this tree) | | | |")
                continue
            n = max(1, r["loop_calls"])
            reqs = sorted(r["requests"].items(), key=lambda kv: -kv[1][1])
            # (a SIGCONT that call_when_continued sends lies inside its request's wall: counted twice)
            shown = sum(v[1] for _, v in reqs)
            reqs.append(("other (parent's own)", [0, r["loop_ms"] - shown, 0.0]))
            for k, (count, ms, worker_ms) in reqs:
                lines.append(f"| {r['problem']} | {tree} | {r['loop_ms'] / n:.2f} | {k} | {count / n:.2f} | {ms / n:.3f} | "
                             f"{worker_ms / n:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="the old tree's src folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--problems", default="level1/layer_norm,level1/softmax,level1/relu")
    ap.add_argument("--warmup", default="level1/relu", help="evaluated first in each process, not shown ('' for none)")
    ap.add_argument("--limit", type=float, default=120.0, help="seconds at most for each tree's process")
    ap.add_argument("--new-first", action="store_true", help="run this tree's process before the old one's")
    ap.add_argument("--out", type=Path, help="also write the rows as JSON here")
    a = ap.parse_args()
    if not (a.old / "kernelswarm").is_dir():
        sys.exit(f"--old {a.old}: no kernelswarm package there")
    problems = ",".join(p for p in [a.warmup, *a.problems.split(",")] if p)
    with tempfile.TemporaryDirectory(prefix="call_wall-") as locks:
        trees = {"old": a.old.resolve(), "new": ROOT / "src"}
        rows = {k: _run(trees[k], a.device, problems, locks, a.limit)
                for k in (("new", "old") if a.new_first else ("old", "new"))}
        old, new = rows["old"], rows["new"]
    if a.warmup:
        old, new = old[1:], new[1:]
    if a.out:
        a.out.write_text(json.dumps({"old": old, "new": new}, indent=1))
    print(f"## phases_s, warm evaluations of copies ({a.device}; old = {a.old})\n")
    print(phase_table(old, new))
    print("\n## the timed loop, per timed call of the candidate\n")
    print(request_table(old, new))


if __name__ == "__main__":
    main()
