"""Why copies of the reference win under load on a CPU (issue 13): the evaluator's two-worker
pattern reproduced with plain processes, and each worker's threads' scheduler figures read around
every timed call.

Two workers ("clean" and "cand", as the evaluator's reference and candidate workers) time the
same torch op on `--threads` intra-op threads, alternately, a third process flushing the caches
before each timed call (see one_rep for the sequence). Each worker leads its own session
(`start_new_session=True`, so its own autogroup where `kernel.sched_autogroup_enabled` is 1), or
all share this script's (mode `one`). Each worker reads `/proc/self/task/*/schedstat`
(run ns, runnable-but-waiting ns) of all its threads right before and after its timed call, so
that the reply says how long the call's threads ran and waited for a core meanwhile.

Load: `--burners` processes of 512-cube matmuls on 2 threads each, each in its own session (as
other users' work on a shared runner is).

  python benchmarks/autogroup_bias.py --modes separate,symmetric,one --rounds 30 --reps 3

Prints one JSON line per mode and rep: medians of both workers' claimed ms, their ratio
(clean/cand: above 1 means a copy would "win"), and the medians of the calls' wait and run ms.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time

WORKER = r"""
import json, os, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))  # OMP_WAIT_POLICY=PASSIVE, as the evaluator's workers
n = int(sys.argv[2])
x = torch.randn(n, n)
w = torch.randn(n, n)
flush = torch.empty(16 * 1024 * 1024)  # 64 MiB, beyond the caches

def sched():
    run = wait = 0
    for t in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{t}/schedstat") as f:
                a, b, _ = f.read().split()
        except OSError:
            continue
        run += int(a)
        wait += int(b)
    return run, wait, len(os.listdir("/proc/self/task"))

def op():
    return torch.softmax(x @ w, dim=-1)

op()
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "work":
        for _ in range(int(cmd[1])):
            flush.add_(1.0)
            op()
        print("{}", flush=True)
    elif cmd[0] == "time":
        r0, w0, _ = sched()
        t0 = time.perf_counter()
        op()
        ms = 1000 * (time.perf_counter() - t0)
        r1, w1, k = sched()
        print(json.dumps({"ms": ms, "run_ms": (r1 - r0) / 1e6, "wait_ms": (w1 - w0) / 1e6, "threads": k}), flush=True)
"""

BURNER = r"""
import torch
torch.set_num_threads(2)
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a)
"""


class Worker:
    def __init__(self, threads: int, n: int, own_session: bool) -> None:
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        self.p = subprocess.Popen([sys.executable, "-c", WORKER, str(threads), str(n)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, start_new_session=own_session, env=env)
        assert self.p.stdout.readline().strip() == "ready"

    def ask(self, line: str) -> dict:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def stop(self) -> None:
        os.kill(self.p.pid, signal.SIGSTOP)

    def cont(self) -> None:
        os.kill(self.p.pid, signal.SIGCONT)

    def autogroup(self) -> str:
        with open(f"/proc/{self.p.pid}/autogroup") as f:
            return f.read().split()[0]

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


def one_rep(mode: str, a: argparse.Namespace, rng: random.Random) -> dict:
    """One evaluator-like timing: per round, the reference's call in the clean worker (the cand
    worker stopped throughout) and the cand worker's call, in a drawn order; before each timed
    call the worker's own `prepare` (one input drawn, `--clean-work` extra op calls for the clean
    worker: the empty calls and settles it does besides), then the flush in a third process (the
    evaluator's flusher) with the timed worker stopped meanwhile where the evaluator stops it: the
    cand worker always, the clean worker only in `symmetric` (KERNELSWARM_TIMING_SYMMETRIC=1)."""
    own = mode != "one"
    clean, cand, flusher = (Worker(a.threads, a.n, own) for _ in range(3))
    if mode == "nice" and own:  # the clean worker's group given a larger weight than the other's
        with open(f"/proc/{clean.p.pid}/autogroup", "w") as f:
            f.write(str(a.nice))
    groups = {clean.autogroup(), cand.autogroup(), flusher.autogroup()}
    rows: dict[str, list[dict]] = {"clean": [], "cand": []}
    load0 = os.getloadavg()[0]
    symmetric = mode == "symmetric"
    try:
        for _ in range(a.rounds):
            order = ["clean", "cand"] if rng.random() < 0.5 else ["cand", "clean"]
            for who in order:
                if who == "clean":
                    cand.stop()
                    clean.ask(f"work {a.clean_work}")
                    if symmetric:
                        clean.stop()
                    flusher.ask("work 1")
                    if symmetric:
                        clean.cont()
                    rows["clean"].append(clean.ask("time"))
                    cand.cont()
                else:
                    if symmetric:
                        clean.stop()
                    cand.ask("work 0")
                    cand.stop()
                    flusher.ask("work 1")
                    cand.cont()
                    rows["cand"].append(cand.ask("time"))
                    if symmetric:
                        clean.cont()
    finally:
        for w in (clean, cand, flusher):
            w.close()

    def med(who: str, key: str) -> float:
        return round(statistics.median(r[key] for r in rows[who]), 3)

    return {"mode": mode, "threads": a.threads, "clean_work": a.clean_work, "autogroups": len(groups),
            "clean_ms": med("clean", "ms"), "cand_ms": med("cand", "ms"),
            "ratio": round(med("clean", "ms") / med("cand", "ms"), 3),
            "clean_wait_ms": med("clean", "wait_ms"), "cand_wait_ms": med("cand", "wait_ms"),
            "clean_run_ms": med("clean", "run_ms"), "cand_run_ms": med("cand", "run_ms"),
            "load": [round(load0, 1), round(os.getloadavg()[0], 1)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="separate,symmetric,one",
                    help="separate (each worker its own session: the evaluator's default), symmetric "
                         "(as separate, the clean worker stopped as the cand worker is), one (all three "
                         "in this script's session), nice (as separate, the clean worker's autogroup "
                         "given --nice)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=384, help="the op: softmax(x @ w), n-cube")
    ap.add_argument("--clean-work", type=int, default=1)
    ap.add_argument("--nice", type=int, default=-5)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    burners = [subprocess.Popen([sys.executable, "-c", BURNER], start_new_session=True) for _ in range(a.burners)]
    try:
        time.sleep(2.0)
        modes = a.modes.split(",")
        for _ in range(a.reps):
            rng.shuffle(modes)
            for m in modes:
                print(json.dumps(one_rep(m, a, rng)), flush=True)
    finally:
        for b in burners:
            b.kill()
            b.wait()


if __name__ == "__main__":
    main()
