"""Spreading a sweep: throughput and agreement of --jobs, --devices and --ray on the same problems.

    # issue 18, one GPU: Ray against --jobs on the same GPU (the same candidates: verdicts must agree)
    python benchmarks/scale_out.py --out OUT --modes jobs1,one,ray --jobs 8 --limit 3
    # issue 19, two or more GPUs: one GPU against every GPU of the host, and against Ray
    python benchmarks/scale_out.py --out OUT --modes one,devices,ray --jobs 8 --limit 6

Each mode runs the built-in agents over the same problems (`--limit` per level, spread over each
level's alphabetical list) into its own store, OUT/<mode>.db; it starts no new problem after
--time-budget seconds. Modes: `jobs1` (one GPU, one evaluation at a time), `one` (one GPU,
--jobs), `devices` (every visible GPU, --jobs each: what `run --devices all` does) and `ray` (a
local Ray, one actor per GPU, --jobs each: `run --ray local`). Writes OUT/scale_out.md and
OUT/scale_out.json: per mode the GPUs, problems finished, evaluations, wall time, evaluations per
GPU-minute, scaling against the first mode, and agreement with the first mode: the share of
(problem, agent, candidate) verdicts that are equal, and of problems whose results agree (the
same winner, or each result inside the other's p10-p90). Runs from src/ with PYTHONPATH (needs no
typer or pydantic); `ray` mode needs Ray installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

# Multi-GPU hosts here keep NVLink multicast off; kernelswarm itself uses no collective.
os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")

from swarm_builtin import pick  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from kernelswarm.agents.builtin import builtin_agents  # noqa: E402
from kernelswarm.store import Store  # noqa: E402
from kernelswarm.supervisor import RunConfig, Supervisor  # noqa: E402

MODES = ("jobs1", "one", "devices", "ray")


def run_mode(mode: str, problems: list, out: Path, jobs: int, budget_s: float, timeout_s: float,
             device: str = "cuda", agent_names: list[str] | None = None, compile_baseline: bool = True) -> dict:
    from kernelswarm.scale.devices import resolve_devices
    from kernelswarm.scale.placement import gpu_slots, run_placed

    db = out / f"{mode}.db"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    store = Store(db)
    config = RunConfig(device=device, jobs=1 if mode == "jobs1" else jobs, timeout_s=timeout_s,
                       agents=agent_names, problems=[p.name for p in problems], compile_baseline=compile_baseline)
    agents = builtin_agents(agent_names)
    pool, startup_s = None, 0.0
    if mode == "ray":  # the cluster's start is counted apart: a sweep pays it once
        from kernelswarm.scale.ray_pool import ActorPool, connect, ray_slots

        t0 = time.monotonic()
        connect("local")
        pool = ActorPool(device, jobs, cpu_threads=None if device == "cuda" else os.cpu_count(),
                         on_note=lambda m: print(f"[{mode}] {m}", flush=True))
        startup_s = time.monotonic() - t0
    start = time.monotonic()
    stop = lambda: time.monotonic() - start > budget_s  # noqa: E731
    if mode in ("jobs1", "one"):
        gpus = 1
        run_id = Supervisor(store, config, agents, on_event=_log(mode)).run(problems, should_stop=stop)
    elif mode == "devices":
        chosen = resolve_devices("all")
        gpus = len(chosen)
        run_id = run_placed(store, config, agents, gpu_slots(chosen), problems, on_event=_log(mode), should_stop=stop)
    else:
        gpus = len(pool.actors)
        try:
            run_id = run_placed(store, config, agents, ray_slots(pool), problems, on_event=_log(mode), should_stop=stop)
        finally:
            pool.shutdown()
    wall = time.monotonic() - start
    judged = [c for c in store.candidates(run_id) if c.verdict and not c.reason.startswith("same source as")]
    done = {p["name"] for p in store.problem_rows(run_id) if p["done"]}
    return {"mode": mode, "db": str(db), "run": run_id, "gpus": gpus, "jobs": config.jobs, "wall_s": wall,
            "startup_s": startup_s,
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
    store = Store(db, read_only=True)
    return {(c.problem, c.agent, hashlib.sha256(c.source.encode()).hexdigest()[:16]): c.verdict
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
    lines = [f"### Spreading a sweep ({v.get('device_name', '?')}; torch {v.get('torch', '?')}, "
             f"triton {v.get('triton', '-')}, driver {v.get('driver', '-')})", "",
             "| mode | GPUs | jobs | problems | evaluations | wall s (+ start) | eval / GPU-min | throughput vs "
             f"{base['mode']} | verdicts equal to {base['mode']} | results agree |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        thr = (r["evaluations"] / r["wall_s"]) / (base["evaluations"] / base["wall_s"]) if base["evaluations"] else None
        a = r.get("agreement")
        eq = f"{a['verdicts_equal']}/{a['verdicts_compared']}" if a else "-"
        ra = f"{a['results_agree']}/{a['results_compared']}" if a else "-"
        lines.append(f"| {r['mode']} | {r['gpus']} | {r['jobs']} | {r['problems']} | {r['evaluations']} | "
                     f"{r['wall_s']:.0f}" + (f" (+{r['startup_s']:.0f})" if r.get("startup_s") else "")
                     + f" | {r['per_gpu_minute'] or 0:.2f} | "
                     f"{f'{thr:.2f}x' if thr else '-'} | {eq} | {ra} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--modes", default="jobs1,one,ray", help=f"comma list of {', '.join(MODES)}; the first is the reference")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--level", type=int, action="append", help="levels (default 1 and 2)")
    ap.add_argument("--limit", type=int, default=3, help="problems per level")
    ap.add_argument("--time-budget", type=float, default=150.0, help="seconds per mode before no new problem starts")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per evaluation")
    ap.add_argument("--agents", help="comma list of built-in agents (default: all)")
    ap.add_argument("--no-compile-baseline", action="store_true", help="skip the torch.compile baseline (quicker)")
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to try the script (modes jobs1, one, ray)")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        sys.exit(f"unknown mode {bad[0]!r}: choose from {', '.join(MODES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    problems = pick(args.level or [1, 2], args.limit)
    from kernelswarm.scale.devices import DeviceError
    from kernelswarm.scale.ray_pool import RayError

    rows = []
    for mode in modes:
        print(f"== {mode}: {len(problems)} problems", flush=True)
        try:
            rows.append(run_mode(mode, problems, args.out, args.jobs, args.time_budget, args.timeout, args.device,
                                 args.agents.split(",") if args.agents else None, not args.no_compile_baseline))
        except (RayError, DeviceError) as e:  # Ray not installed, no GPU: the other modes still run
            print(f"[{mode}] skipped: {e}", flush=True)
            skipped = (args.out / "skipped.txt")
            skipped.write_text((skipped.read_text() if skipped.exists() else "") + f"{mode}: {e}\n")
            continue
        if len(rows) > 1:
            rows[-1]["agreement"] = agreement(rows[0], rows[-1])
        (args.out / "scale_out.json").write_text(json.dumps(rows, indent=2, default=str))
        (args.out / "scale_out.md").write_text(markdown(rows))
        print(markdown(rows), flush=True)


if __name__ == "__main__":
    main()
