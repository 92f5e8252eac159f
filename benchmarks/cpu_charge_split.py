"""Where each worker's CPU time goes in the timed loop, split by what the parent was doing (issue 13:
the CPU-time check's charge on copies of the reference under load).

    python benchmarks/cpu_charge_split.py --root . --rounds 4 --burners 2 --out OUT [--root-old /tmp/old]

Each evaluation (a copy of tests/evaluate/problems/softmax_rows.py, `class Model` renamed) runs in
its own process with the tree's `src` first on its path. Inside it, every request sent and answered
and every stop and continue of the candidate's worker and of the clean (reference) worker is an
event; at each the parent reads both workers' CPU time (WorkerProcess.cpu_ms: the candidate's less
its keepers). The CPU between two events is put on each worker's state then: in a request (by op),
being stopped (SIGSTOP sent until every thread is stopped), stopped, continuing (the SIGCONT sent,
until the parent's signalling returns), continued (from then until the worker's next event of its
own), or idle. Per evaluation (one JSON line): the totals per
timed call of each state for the candidate's worker, the same for the clean worker inside its
reference calls' windows (what `ref_cpu` measures), the stops per window, `stop_cost_ms`'s idle
figure, and the CPU-time check's figures and detail. `--burners N`: N `while True: pass` processes
for the run, as test_paired's copy test has. With `--root-old`, the old tree runs in turn.
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
import json, sys, time, statistics
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.evaluate.parent import procs, timing, cputime

state = {"cand": None, "clean": None, "on": False}
events = []  # (tag, who, cand_cpu, clean_cpu)
judged = {}

def mark(tag, who):
    if not state["on"]:
        return
    c, r = state["cand"], state["clean"]
    events.append((tag, who, c.cpu_ms(), r.cpu_ms()))

def who(w):
    return "cand" if w is state["cand"] else "clean" if w is state["clean"] else "other"

orig_loop = timing.timed_loop
def timed_loop(worker, clean, o, deadline, result, n, fl=None):
    state.update(cand=worker, clean=clean, on=True)
    try:
        return orig_loop(worker, clean, o, deadline, result, n, fl)
    finally:
        state["on"] = False
timing.timed_loop = timed_loop

orig_send, orig_finish = procs.WorkerProcess.send, procs.WorkerProcess.finish_call
def send(self, msg, blob=b""):
    op = msg.get("op") + (":null" if msg.get("null") else "")
    mark("send:" + op, who(self))
    return orig_send(self, msg, blob)
def finish_call(self, op, deadline=None):
    out = orig_finish(self, op, deadline)
    mark("recv:" + str(op), who(self))
    return out
procs.WorkerProcess.send, procs.WorkerProcess.finish_call = send, finish_call

orig_sig = procs.signal_group
def signal_group(pgid, sig, before_continue=None):
    w = "cand" if state["cand"] is not None and pgid == state["cand"].proc.pid else \
        "clean" if state["clean"] is not None and pgid == state["clean"].proc.pid else "other"
    name = "stop" if sig == 19 else "cont"
    mark(name, w)
    orig_sig(pgid, sig, before_continue)
    mark(name + "ped" if name == "stop" else "conted", w)
procs.signal_group = signal_group

orig_stop_cost = cputime.stop_cost_ms
def stop_cost_ms(pid, *a, **k):
    v = orig_stop_cost(pid, *a, **k)
    judged.setdefault("stop_ms", []).append(v)
    return v
cputime.stop_cost_ms = stop_cost_ms

orig_judge = cputime.judge
def judge(cand, claims, ref, ref_claims, threads, stops=None, stop_ms=0.0, ref_stops=None):
    v = orig_judge(cand, claims, ref, ref_claims, threads, stops, stop_ms, ref_stops)
    n, m = min(len(cand), len(claims)), min(len(ref), len(ref_claims))
    st = stops or [0] * n
    rs = ref_stops if ref_stops and len(ref_stops) >= m else [0] * m
    judged.setdefault("windows", []).append({
        "cand_cpu": round(statistics.median(cand[:n]), 4), "ref_cpu": round(statistics.median(ref[:m]), 4),
        "cand_claim": round(statistics.median(claims[:n]), 4), "ref_claim": round(statistics.median(ref_claims[:m]), 4),
        "cand_stops": round(statistics.mean(st[:n]), 3), "ref_stops": round(statistics.mean(rs[:m]), 3),
        "cand_out": round(statistics.median([(cand[i] - st[i] * stop_ms) / threads - claims[i] for i in range(n)]), 4),
        "ref_out": round(statistics.median([(ref[j] - rs[j] * stop_ms) / threads - ref_claims[j] for j in range(m)]), 4),
        "cand_out_raw": round(statistics.median([cand[i] / threads - claims[i] for i in range(n)]), 4),
        "ref_out_raw": round(statistics.median([ref[j] / threads - ref_claims[j] for j in range(m)]), 4),
        "stop_ms": stop_ms, "charge": v.charge_ms if v else None})
    return v
cputime.judge = judge

path = Path(sys.argv[1])
copy = path.read_text().replace("class Model(", "class ModelNew(")
t0 = time.time()
ev = evaluate(__import__("kernelswarm.problems", fromlist=["load_problem"]).load_problem(path), copy,
              EvalOptions.for_device("cpu"))

# Walk the events: each worker's state between consecutive events.
def split(side):
    other = "clean" if side == "cand" else "cand"
    idx = 2 if side == "cand" else 3
    tot, st, req = {}, "idle", None
    windows, cur, in_ref = [], None, False
    for k in range(len(events) - 1):
        tag, w = events[k][0], events[k][1]
        if w == side:
            if tag == "stop":
                st = "stopping"
            elif tag == "stopped":
                st = "stopped"
            elif tag == "cont":  # a request written while stopped (call_when_continued) starts here
                st = ("req:" + req) if req else "continuing"
            elif tag == "conted":
                st = ("req:" + req) if req else "continued"
            elif tag.startswith("send:"):
                req = tag[5:]
                st = "req:" + req
            elif tag.startswith("recv:"):
                req = None
                st = "idle"
        d = events[k + 1][idx] - events[k][idx]
        if side == "clean":
            # the clean worker's reference windows: from its stop before a prepare to its time_call's reply
            if w == "clean" and tag == "stop" and cur is None:
                cur = {}
            if cur is not None:
                key = st
                cur[key] = cur.get(key, 0.0) + d
                nxt = events[k + 1]
                if nxt[1] == "clean" and nxt[0].startswith("recv:time_call"):
                    windows.append((nxt[0] == "recv:time_call", cur))
                    cur = None
                elif nxt[1] == "clean" and nxt[0] == "send:time_call:null":
                    cur["null"] = True
        tot[st] = tot.get(st, 0.0) + d
    return tot, windows

n_calls = sum(1 for e in events if e[1] == "cand" and e[0] == "send:time_call")
cand_tot, _ = split("cand")
_, wins = split("clean")
refw = [c for ok, c in wins if ok and not c.get("null")]
def per(d, n):
    return {k: round(v / max(1, n), 4) for k, v in sorted(d.items()) if not isinstance(v, bool)}
ref_tot = {}
for c in refw:
    for k, v in c.items():
        if not isinstance(v, bool):
            ref_tot[k] = ref_tot.get(k, 0.0) + v
cand_stops = sum(1 for e in events if e[1] == "cand" and e[0] == "stop")
ref_stops = sum(c.get("_stops", 0) for c in refw)
detail = {c.name: c.detail for c in ev.checks}
cpu_detail = [v for v in detail.values() if "CPU time outside" in v]
print(json.dumps({"verdict": ev.verdict.value, "speedup": ev.speedup, "ci": ev.speedup_ci, "n_calls": n_calls,
                  "n_ref": len(refw), "cand_stops_per_call": round(cand_stops / max(1, n_calls), 2),
                  "cand": per(cand_tot, n_calls), "ref": per(ref_tot, len(refw)),
                  "judge": judged, "cpu_detail": cpu_detail[0][-700:] if cpu_detail else "",
                  "wall_s": round(time.time() - t0, 1)}))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--root-old", type=Path)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the new tree's runs")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    log = (a.out / "cpu_charge_split.jsonl").open("a")
    problem = a.root.resolve() / "tests" / "evaluate" / "problems" / "softmax_rows.py"
    trees = [("new", a.root.resolve(), a.env)] + ([("old", a.root_old.resolve(), [])] if a.root_old else [])
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.burners)]
    try:
        for k in range(a.rounds):
            for name, root, env_kv in trees:
                with tempfile.TemporaryDirectory() as t:
                    env = {**os.environ, "PYTHONPATH": str(root / "src"), "KERNELSWARM_CACHE": str(Path(t) / "cache")}
                    env.update(kv.split("=", 1) for kv in env_kv)
                    load0 = os.getloadavg()[0]
                    p = subprocess.run([sys.executable, "-c", _ONE, str(problem)], capture_output=True, text=True,
                                       env=env, timeout=900, check=False)
                try:
                    row = json.loads(p.stdout.strip().splitlines()[-1])
                except (IndexError, ValueError):
                    row = {"verdict": "error", "reason": p.stderr[-600:]}
                row = {"tree": name, "env": env_kv, "round": k, "at": time.strftime("%H:%M:%S"),
                       "load": [round(load0, 1), round(os.getloadavg()[0], 1)], **row}
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(json.dumps(row), flush=True)
    finally:
        for p in burners:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
