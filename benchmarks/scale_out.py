"""Spreading a sweep: throughput and agreement of --jobs, --devices and --ray on the same problems.

    # issue 18, one GPU: Ray against --jobs on the same GPU (the same candidates: verdicts must agree)
    python benchmarks/scale_out.py --out OUT --modes jobs1,one,ray --jobs 8 --limit 3
    # the same, one process per mode, each cut at a limit (what scripts/gpu_ray.sh runs)
    python benchmarks/scale_out.py --out OUT --modes one --problem matvec ... --hard-limit 190
    python benchmarks/scale_out.py --out OUT --modes ray --append --problem matvec ... --hard-limit 190
    # issue 19, two or more GPUs: one GPU against every GPU of the host, and against Ray
    python benchmarks/scale_out.py --out OUT --modes one,devices,ray --jobs 8 --limit 6

Each mode runs the built-in agents over the same problems (`--limit` per level, spread over each
level's alphabetical list) into its own store, OUT/<mode>.db; it starts no new problem after
--time-budget seconds. Modes: `jobs1` (one GPU, one evaluation at a time), `one` (one GPU,
--jobs), `devices` (every visible GPU, --jobs each: what `run --devices all` does) and `ray` (a
local Ray, one actor per GPU, --jobs each: `run --ray local`). Writes OUT/scale_out.md and
OUT/scale_out.json: per mode the GPUs, problems finished, evaluations, wall time, evaluations per
GPU-minute, scaling against the first mode, and agreement with the first mode: the share of
(problem, agent, candidate) verdicts and kinds that are equal, and of problems whose results agree
(the same winner, or each result inside the other's p10-p90); then every candidate's verdict/kind
in each mode, side by side. A mode cut by --hard-limit counts what its store holds. Runs from
src/ with PYTHONPATH (needs no typer or pydantic); `ray` mode needs Ray installed (on a machine
with no package index: scripts/ray_slim.sh here, scripts/ray_unpack.sh there).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

# Multi-GPU hosts here keep NVLink multicast off; kernelswarm itself uses no collective.
os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")

from swarm_builtin import pick

from kernelswarm.agents.builtin import builtin_agents
from kernelswarm.store import Store
from kernelswarm.supervisor import RunConfig, Supervisor

MODES = ("jobs1", "one", "devices", "ray")


def run_mode(mode: str, problems: list, out: Path, jobs: int, budget_s: float, timeout_s: float,
             device: str = "cuda", agent_names: list[str] | None = None, compile_baseline: bool = True,
             hard_limit_s: float | None = None, on_hard_stop: Callable[[dict], None] | None = None) -> dict:
    """One mode over `problems` into OUT/<mode>.db; its row of figures. With `hard_limit_s`, once
    that many seconds have passed, what is stored so far is the row (marked partial), handed to
    `on_hard_stop`, and this process ends at once: a cut run's evaluations keep their verdicts."""
    from kernelswarm.scale.devices import resolve_devices
    from kernelswarm.scale.placement import gpu_slots, run_placed

    db = out / f"{mode}.db"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    store = Store(db)
    config = RunConfig(device=device, jobs=1 if mode == "jobs1" else jobs, timeout_s=timeout_s,
                       agents=agent_names, problems=[p.name for p in problems], compile_baseline=compile_baseline)
    agents = builtin_agents(agent_names)
    pool, startup_s, gpus = None, 0.0, 1
    if mode == "ray":  # the cluster's start is counted apart: a sweep pays it once
        from kernelswarm.scale.ray_pool import ActorPool, connect, ray_slots

        t0 = time.monotonic()
        connect("local")
        pool = ActorPool(device, jobs, cpu_threads=None if device == "cuda" else os.cpu_count(),
                         on_note=lambda m: print(f"[{mode}] {m}", flush=True))
        startup_s = time.monotonic() - t0
        gpus = len(pool.actors)
    elif mode == "devices":
        chosen = resolve_devices("all")
        gpus = len(chosen)
    sup = Supervisor(store, config, agents, on_event=_log(mode)) if mode in ("jobs1", "one") else None
    start = time.monotonic()
    stop = lambda: time.monotonic() - start > budget_s

    def figures(run_id: int, partial: bool) -> dict:
        return mode_row(mode, db, run_id, gpus, config.jobs, time.monotonic() - start, startup_s, partial)

    ending = threading.Lock()  # the run's own end or the hard stop, never both

    def hard_stop() -> None:
        # Every finished evaluation is stored; the ones under way are abandoned (their workers
        # killed: each in its own session, they would outlive this process).
        if not ending.acquire(blocking=False):
            return
        if sup is not None:
            sup.kill_workers()
        if pool is not None:
            pool.shutdown()
        runs = Store(db, read_only=True).list_runs()
        if runs and on_hard_stop is not None:
            on_hard_stop(figures(runs[-1].id, partial=True))
        if pool is not None:
            _ray_shutdown_within(20.0)
        os._exit(0)

    watchdog = threading.Timer(hard_limit_s, hard_stop) if hard_limit_s else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
    try:
        if sup is not None:
            run_id = sup.run(problems, should_stop=stop)
        elif mode == "devices":
            run_id = run_placed(store, config, agents, gpu_slots(chosen), problems, on_event=_log(mode),
                                should_stop=stop)
        else:
            try:
                run_id = run_placed(store, config, agents, ray_slots(pool), problems, on_event=_log(mode),
                                    should_stop=stop)
            finally:
                pool.shutdown()
    finally:
        ending.acquire()  # a hard stop under way ends this process before this returns
        if watchdog is not None:
            watchdog.cancel()
    return figures(run_id, partial=False)


def _ray_shutdown_within(seconds: float) -> None:
    """Stop the local Ray this process started (its raylet and GCS), but never wait on it long."""
    import ray

    t = threading.Thread(target=ray.shutdown, daemon=True)
    t.start()
    t.join(seconds)


def mode_row(mode: str, db: Path, run_id: int, gpus: int, jobs: int, wall: float, startup_s: float,
             partial: bool) -> dict:
    store = Store(db, read_only=True)
    judged = [c for c in store.candidates(run_id) if c.verdict and not c.reason.startswith("same source as")]
    done = {p["name"] for p in store.problem_rows(run_id) if p["done"]}
    return {"mode": mode, "db": str(db), "run": run_id, "gpus": gpus, "jobs": jobs, "wall_s": wall,
            "startup_s": startup_s, "partial": partial,
            "problems": len(done), "evaluations": len(judged),
            "per_gpu_minute": len(judged) / (wall / 60) / gpus if wall else None,
            "timed_on": sorted({c.timed_on for c in judged if c.timed_on}),
            "versions": store.run(run_id).versions}


def _log(mode: str):
    def show(e) -> None:
        if e.kind in ("problem", "done") or (e.kind == "note" and e.message):
            print(f"[{mode}] {e.kind} {e.problem} {e.message}", flush=True)
    return show


def verdicts(db: str, run_id: int) -> dict[tuple[str, str, str], str]:
    """Per (problem, agent, source hash): the verdict and its kind, e.g. "accepted/pytorch_rewrite"."""
    store = Store(db, read_only=True)
    return {(c.problem, c.agent, hashlib.sha256(c.source.encode()).hexdigest()[:16]): f"{c.verdict}/{c.kind or '-'}"
            for c in store.candidates(run_id) if c.verdict}


def results(db: str, run_id: int) -> dict[str, tuple[str, float, float]]:
    """Per finished problem: who stands (agent, or the baseline) and its p10-p90 in ms."""
    store = Store(db, read_only=True)
    rows = {p["name"]: p for p in store.problem_rows(run_id) if p["done"]}
    out = {}
    for r in store.problem_results(run_id):
        if r.name not in rows or r.eager_ms is None:
            continue
        if r.best is not None:
            ev = store.evaluation(r.best.id)
            t = ev.candidate if ev else None
            who = r.best.agent
        else:
            t = rows[r.name]["compiled"] if r.best_baseline == "compile" else rows[r.name]["eager"]
            who = f"baseline:{r.best_baseline}"
        if t is not None:
            out[r.name] = (who, t.p10_ms, t.p90_ms)
    return out


def agreement(first: dict, other: dict) -> dict:
    va, vb = verdicts(first["db"], first["run"]), verdicts(other["db"], other["run"])
    common = sorted(set(va) & set(vb))
    ra, rb = results(first["db"], first["run"]), results(other["db"], other["run"])
    both = sorted(set(ra) & set(rb))
    same = [p for p in both if ra[p][0] == rb[p][0]
            or (ra[p][1] <= rb[p][2] and rb[p][1] <= ra[p][2])]  # p10-p90 ranges overlap
    return {"verdicts_compared": len(common), "verdicts_equal": sum(va[k] == vb[k] for k in common),
            "verdicts_differ": [f"{k[0]}/{k[1]}: {va[k]} vs {vb[k]}" for k in common if va[k] != vb[k]][:20],
            "results_compared": len(both), "results_agree": len(same),
            "results_differ": [f"{p}: {ra[p][0]} vs {rb[p][0]}" for p in both if p not in same][:20]}


def markdown(rows: list[dict]) -> str:
    base = rows[0]
    v = base["versions"]
    lines = [(f"### Spreading a sweep ({v.get('device_name', '?')}; torch {v.get('torch', '?')}, "
             f"triton {v.get('triton', '-')}, driver {v.get('driver', '-')})"), "",
             ("| mode | GPUs | jobs | problems | evaluations | wall s (+ start) | eval / GPU-min | throughput vs "
             f"{base['mode']} | verdicts equal to {base['mode']} | results agree |"),
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        thr = (r["evaluations"] / r["wall_s"]) / (base["evaluations"] / base["wall_s"]) if base["evaluations"] else None
        a = r.get("agreement")
        eq = f"{a['verdicts_equal']}/{a['verdicts_compared']}" if a else "-"
        ra = f"{a['results_agree']}/{a['results_compared']}" if a else "-"
        lines.append(f"| {r['mode']} | {r['gpus']} | {r['jobs']} | {r['problems']} | {r['evaluations']} | "
                     f"{r['wall_s']:.0f}" + (f" (+{r['startup_s']:.0f})" if r.get("startup_s") else "")
                     + (" cut" if r.get("partial") else "")
                     + f" | {r['per_gpu_minute'] or 0:.2f} | "
                     f"{f'{thr:.2f}x' if thr else '-'} | {eq} | {ra} |")
    if any(r.get("partial") for r in rows):
        lines += ["", "(cut: stopped by --hard-limit in the middle of a problem; its figures are what was stored)"]
    return "\n".join(lines) + "\n"


def side_by_side(rows: list[dict]) -> str:
    """Every candidate's verdict/kind in each mode, one line per candidate (same source hash)."""
    per_mode = [verdicts(r["db"], r["run"]) for r in rows]
    keys = sorted(set().union(*per_mode))
    lines = ["| problem | agent | " + " | ".join(r["mode"] for r in rows) + " | equal |",
             "| --- | --- | " + " | ".join("---" for _ in rows) + " | --- |"]
    for k in keys:
        seen = [v.get(k) for v in per_mode]
        got = {x for x in seen if x is not None}
        equal = "-" if len(got) < 1 or None in seen else ("yes" if len(got) == 1 else "**no**")
        lines.append(f"| {k[0]} | {k[1]} | " + " | ".join(x or "(not reached)" for x in seen) + f" | {equal} |")
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict]) -> None:
    (out / "scale_out.json").write_text(json.dumps(rows, indent=2, default=str))
    text = markdown(rows) + "\nPer candidate (verdict/kind):\n\n" + side_by_side(rows)
    (out / "scale_out.md").write_text(text)
    print(text, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--modes", default="jobs1,one,ray", help=f"comma list of {', '.join(MODES)}; the first is the reference")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--level", type=int, action="append", help="levels (default 1 and 2)")
    ap.add_argument("--limit", type=int, default=3, help="problems per level")
    ap.add_argument("--problem", action="append",
                    help="problem files or bundled name globs, in place of --level/--limit (repeatable)")
    ap.add_argument("--time-budget", type=float, default=150.0, help="seconds per mode before no new problem starts")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per evaluation")
    ap.add_argument("--agents", help="comma list of built-in agents (default: all)")
    ap.add_argument("--no-compile-baseline", action="store_true", help="skip the torch.compile baseline (quicker)")
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to try the script (modes jobs1, one, ray)")
    ap.add_argument("--hard-limit", type=float,
                    help="seconds per mode after which its figures are what is stored, and the script ends")
    ap.add_argument("--append", action="store_true",
                    help="keep the rows of OUT/scale_out.json (one invocation per mode, each under its own limit)")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        sys.exit(f"unknown mode {bad[0]!r}: choose from {', '.join(MODES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.problem:
        from kernelswarm.problems.suite import resolve_problems

        problems, errors = resolve_problems(args.problem)
        if errors or not problems:
            sys.exit(f"--problem: {errors[0] if errors else 'no problem matched'}")
    else:
        problems = pick(args.level or [1, 2], args.limit)
    from kernelswarm.scale.devices import DeviceError
    from kernelswarm.scale.ray_pool import RayError

    saved = args.out / "scale_out.json"
    rows = json.loads(saved.read_text()) if args.append and saved.exists() else []

    def add(row: dict) -> None:
        if rows:
            row["agreement"] = agreement(rows[0], row)
        rows.append(row)
        write(args.out, rows)

    for mode in modes:
        print(f"== {mode}: {len(problems)} problems", flush=True)
        try:
            row = run_mode(mode, problems, args.out, args.jobs, args.time_budget, args.timeout, args.device,
                           args.agents.split(",") if args.agents else None, not args.no_compile_baseline,
                           args.hard_limit, on_hard_stop=add)
        except (RayError, DeviceError) as e:  # Ray not installed, no GPU: the other modes still run
            print(f"[{mode}] skipped: {e}", flush=True)
            skipped = (args.out / "skipped.txt")
            skipped.write_text((skipped.read_text() if skipped.exists() else "") + f"{mode}: {e}\n")
            continue
        add(row)

if __name__ == "__main__":
    main()
