"""Two clean processes timed against each other by the candidate's timing protocol (issue 13's
A/A gap): how far apart two processes running the same reference measure in one evaluation.

One "evaluation" here is three fresh clean workers on the CPU: A (the clean worker's seat), B (a
second clean process in the candidate's seat, or with --copy the real sandboxed candidate worker
running a copy of the reference) and F (the flush worker). Each window is the timed loop
(timed_loop.timed_loop) and its judgement (timing._judged); each burst round is burst_check. With
--swap, every other window and burst puts B in the clean worker's seat and A in the candidate's:
a gap that keeps its sign by process follows the processes, one that keeps it by seat follows the
protocol. One JSON line per evaluation to --out.

    PYTHONPATH=src python benchmarks/pair_gap.py tests/evaluate/problems/softmax_rows.py \
        --evals 3 --burners 2 --out gap.jsonl [--copy] [--swap] [--threads 1] [--spec-both] [--alt-sym [--full-sym]]

--spec-both: B sends A's `spec` request first (the same history); --alt-sym: KERNELSWARM_FLUSH_SYMMETRIC off
and on in turn by pairs of windows, --full-sym: request_order.SYMMETRIC switched with it; --alt-sample,
--alt-null: no ipsample sampling, or no empty calls after a window's first three, in turn likewise (the
window's `sym` field then says "1" where the probe was on); --no-sample: no sampling at all; --no-sandbox
(with --copy): the candidate worker is not sent `sandbox` (no seccomp filter, no Landlock). Burners run
through each evaluation (none with --burners 0); the figures are in docs/benchmarks.md, session 21.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _load() -> list[str]:
    return open("/proc/loadavg").read().split()[:3]


def _unsampled(pid: int | None) -> tuple[None, str]:
    return None, "not sampled (pair_gap --alt-sample)"


def one_eval(problem_path: Path, args: argparse.Namespace) -> dict:
    from kernelswarm.evaluate.parent import (
        autogroup,
        baselines,
        bursts,
        request_order,
        timed_loop,
        timing,
        wallclock,
    )
    from kernelswarm.evaluate.parent.candidate_timing import (
        POOL_SIZE,
        CandidateTiming,
        fresh_seed,
    )
    from kernelswarm.evaluate.parent.devicelock import NO_LOCK
    from kernelswarm.evaluate.parent.options import EvalOptions
    from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
    from kernelswarm.intervals import ratio_ci
    from kernelswarm.problems import load_problem
    from kernelswarm.records import Timing

    problem = load_problem(problem_path)
    o = EvalOptions.for_device("cpu", timeout_s=600)
    if args.threads:
        o.cpu_threads = args.threads
    deadline = time.monotonic() + 600
    wd = Path(tempfile.mkdtemp(prefix="pairgap-"))
    a = WorkerProcess("reference", wd / "a", "cpu")
    b = WorkerProcess("candidate" if args.copy else "reference", wd / "b", "cpu")
    f = WorkerProcess("reference", wd / "f", "cpu")
    procs = [a, b, f]
    try:
        autogroup.equalize({"a": a.proc.pid, "b": b.proc.pid, "f": f.proc.pid}, autogroup.requested_nice())
        init = init_message(problem, o)
        for w in procs:
            w.send(init)
        for w in procs:
            w.finish_call("init", deadline)
        ask = {"op": "spec", "seed": fresh_seed(), "precision": "fp32", "work_key": "", "defer_work": False}
        spec = baselines.reference_spec(a, ask, NO_LOCK, deadline)["spec"]
        if args.spec_both and not args.copy:  # B with A's history: the same `spec` request first
            baselines.reference_spec(b, ask, NO_LOCK, deadline)
        if args.copy:
            src = problem_path.read_text().replace("class Model(", "class ModelNew(")
            path = wd / "b" / "candidate.py"
            path.write_text(src)
            if not args.no_sandbox:  # the candidate's seccomp filter and Landlock rules (sandbox.py)
                b.call({"op": "sandbox"}, deadline=deadline)
            b.call({"op": "import", "source": src, "path": str(path)}, deadline=deadline)
        ws = fresh_seed()
        seats = [(b, a)] if not args.swap else [(b, a), (a, b)]
        pools = {}
        for w in (a, b):  # a clean worker is set up for either seat; the candidate's worker for its own
            pools[id(w)] = [fresh_seed() for _ in range(POOL_SIZE)]
            calibrate = {"calibrate": True} if w.role == "reference" else {}
            w.call({"op": "time_setup", **calibrate, "pool_seeds": pools[id(w)], "weight_seed": ws, "spec": spec},
                   deadline=deadline)
        bursts_seen: list = []
        orig_view = bursts.burstvouch.view

        def view(ref_med, cand_walls, ref_walls, null_walls, n):
            bursts_seen.append({"ref_med": ref_med, "cand": cand_walls, "ref": ref_walls, "null": null_walls, "n": n})
            return orig_view(ref_med, cand_walls, ref_walls, null_walls, n)

        bursts.burstvouch.view = view
        windows: list[dict] = []
        start_sampler, null_every = timed_loop.ipsample.start, timed_loop.NULL_EVERY
        if args.no_sample:  # neither worker sampled in any window
            timed_loop.ipsample.start = _unsampled
        for k in range(args.windows):
            cand, clean = seats[k % len(seats)]
            if args.alt_sym:  # KERNELSWARM_FLUSH_SYMMETRIC off and on in turn, in pairs of windows (both seats)
                os.environ["KERNELSWARM_FLUSH_SYMMETRIC"] = str((k // len(seats)) % 2)
                if args.full_sym:  # and the clean worker stopped during the candidate's requests (SYMMETRIC)
                    request_order.SYMMETRIC = (k // len(seats)) % 2 == 1
            probe_on = (k // len(seats)) % 2 == 1
            if args.alt_sample and not args.no_sample:  # neither worker sampled (ipsample) in alternate pairs of windows
                timed_loop.ipsample.start = _unsampled if probe_on else start_sampler
            if args.alt_null:  # the empty calls only at the window's start in alternate pairs of windows
                timed_loop.NULL_EVERY = 10**9 if probe_on else null_every
            result = CandidateTiming(Timing.from_samples([1.0]), pool_seeds=pools[id(cand)], weight_seed=ws)
            result.cpu_threads = o.threads() or 1
            l0 = _load()
            times, slack, null_slack = timed_loop.timed_loop(cand, clean, o, deadline, result, 0, f)
            claims = timing._judged(times, slack, null_slack, result)
            ref = result.ref_times
            n = min(len(ref), len(times))
            ci = ratio_ci(ref[:n], times[:n])
            cycles = [y - x for x, y in zip(result.cpu_marks, result.cpu_marks[1:])]
            bursts_seen.clear()
            bv = bursts.burst_check(cand, clean, o, deadline, result, times, None, f)
            windows.append({
                "k": k, "sym": os.environ.get("KERNELSWARM_FLUSH_SYMMETRIC", "") or
                ("1" if (args.alt_sample or args.alt_null) and probe_on else ""), "cand_seat": "b" if cand is b else "a", "load0": l0, "load1": _load(), "n": len(times),
                "cand_med": wallclock.median(times), "ref_med": wallclock.median(ref),
                "ratio": wallclock.median(ref) / wallclock.median(times), "ci": list(ci),
                "paired_pos": sum(t > r for t, r in zip(times, ref)) / max(1, n),
                "slack_med": wallclock.median(slack), "ref_slack_med": wallclock.median(result.ref_slack),
                "null_slack_med": wallclock.median(null_slack),
                "cpu_cycle_med": wallclock.median(cycles) if cycles else None,
                "ref_cpu_med": wallclock.median(result.ref_cpu) if result.ref_cpu else None,
                "believed": claims.believed, "charge": claims.charge, "detail": claims.detail,
                "burst_charge": bv.charge if bv else None, "burst_believed": bv.believed if bv else None,
                "burst_detail": bv.detail if bv else None, "bursts": list(bursts_seen)})
            w = windows[-1]
            print(f"  w{k} seat={w['cand_seat']} sym={w['sym']} load={w['load0'][0]} cand/ref med {w['cand_med']:.4f}/{w['ref_med']:.4f} "
                  f"ratio {w['ratio']:.3f} ci [{ci[0]:.3f},{ci[1]:.3f}] charge {claims.charge:.3f} burst {w['burst_charge']}",
                  flush=True)
        bursts.burstvouch.view = orig_view
        timed_loop.ipsample.start, timed_loop.NULL_EVERY = start_sampler, null_every
        return {"copy": args.copy, "swap": args.swap, "threads": o.threads(), "alt_sym": args.alt_sym, "spec_both": args.spec_both, "full_sym": args.full_sym, "alt_sample": args.alt_sample, "alt_null": args.alt_null, "no_sample": args.no_sample,
                "no_sandbox": args.no_sandbox,
                "windows": windows}
    finally:
        for w in procs:
            w.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problem")
    ap.add_argument("--evals", type=int, default=1)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--copy", action="store_true")
    ap.add_argument("--swap", action="store_true")
    ap.add_argument("--alt-sym", action="store_true")
    ap.add_argument("--spec-both", action="store_true")
    ap.add_argument("--full-sym", action="store_true", help="with --alt-sym: SYMMETRIC switched with it")
    ap.add_argument("--alt-sample", action="store_true", help="no ipsample sampling in alternate pairs of windows")
    ap.add_argument("--alt-null", action="store_true", help="no empty calls after the first 3 in alternate pairs")
    ap.add_argument("--no-sample", action="store_true", help="no ipsample sampling in any window")
    ap.add_argument("--no-sandbox", action="store_true", help="with --copy: the candidate worker not sandboxed")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    for e in range(args.evals):
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burners)]
        try:
            l0 = _load()
            print(f"eval {e} copy={args.copy} swap={args.swap} load {l0}", flush=True)
            rec = one_eval(Path(args.problem), args)
        finally:
            for p in burners:
                p.kill()
                p.wait()
        rec.update(eval=e, burners=args.burners, load0=l0, load1=_load(), at=time.strftime("%H:%M:%S", time.gmtime()))
        with open(args.out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        ws = rec["windows"]
        print("  medians of ratio by seat b:", statistics.median([w["ratio"] for w in ws if w["cand_seat"] == "b"]), flush=True)


if __name__ == "__main__":
    main()
