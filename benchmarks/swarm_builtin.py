"""Built-in agents over the bundled suite: what the tool delivers with no API key, and how fast
the harness turns candidates around.

    python benchmarks/swarm_builtin.py --out OUT [--device cuda] [--level 1 --level 2] [--limit 6]
        [--time-budget 420] [--hard-limit 520] [--jobs N] [--db OUT/swarm_builtin.db] [--resume]
    python benchmarks/swarm_builtin.py --out OUT --db DB [--db DB2 ...] --aggregate   # tables over every run
    CUDA_VISIBLE_DEVICES=K python benchmarks/swarm_builtin.py ... --shard K/N   # one of N GPUs' share

Writes OUT/swarm_builtin.md (tables for docs/benchmarks.md) and OUT/swarm_builtin.json:
- per level: geometric-mean speedup of the result against eager, against torch.compile and
  against the faster of the two, and the worst problem against the faster one (the floor: >= 1.0);
- per built-in variant: accepted share, problems won, geomean of its own candidate against the
  faster baseline, and what it adds (the level geomean with every variant, over the same without it);
- the harness: candidates evaluated per GPU-minute, and the share of wall time the GPU spent in
  the timing phase (and in timing plus correctness trials).
It stops starting new problems after --time-budget seconds, and writes what is finished and exits
after --hard-limit seconds even mid-problem; the run stays resumable (--resume, same --db).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path

from kernelswarm.agents.builtin import builtin_agents
from kernelswarm.machine import SAME_MACHINE_KEYS
from kernelswarm.metrics import geomean
from kernelswarm.problems.suite import resolve_problems
from kernelswarm.store import CandidateRow, ProblemResult, Store, select
from kernelswarm.supervisor import Event, OtherMachine, RunConfig, Supervisor


def pick(levels: list[int], limit: int | None, shard: tuple[int, int] = (0, 1)) -> list:
    """`limit` problems of each level, spread evenly over its alphabetical list, taken in turn from
    each level, so that a run stopped early still covers every level. `shard` (k, n): every n-th
    of those from the k-th on, so that n invocations (one per GPU) share the suite."""
    per_level = []
    for level in levels:
        problems, errors = resolve_problems([], level=level)
        for e in errors:
            print(f"skipping: {e}", file=sys.stderr)
        problems.sort(key=lambda p: p.name)
        if limit and len(problems) > limit:
            step = len(problems) / limit
            problems = [problems[int(i * step)] for i in range(limit)]
        per_level.append(problems)
    ordered = [p for turn in itertools.zip_longest(*per_level) for p in turn if p is not None]
    k, n = shard
    return ordered[k::n]


def _vs_compile(r: ProblemResult) -> float | None:
    base = r.compile_ms if r.compile_ms is not None else r.eager_ms
    return base / r.result_ms if base and r.result_ms else None


def analyse(runs: list[tuple[Store, int]], wall_s: float, evals: list) -> dict:
    """Figures over one or more runs, of one store or several (one per GPU shard). `evals`: the
    evaluations behind `wall_s` (a resumed run's earlier evaluations took other wall time)."""
    rows: dict[tuple[int, str], dict] = {}
    results: list[tuple[int, ProblemResult]] = []
    by_problem: dict[tuple[int, str], list[CandidateRow]] = {}
    for key, (store, run_id) in enumerate(runs):
        for p in store.problem_rows(run_id):
            rows[(key, p["name"])] = p
        # Finished problems only: one cut off mid-way may not have all its candidates judged yet.
        done = {p["name"] for p in store.problem_rows(run_id) if p["done"]}
        results += [(key, r) for r in store.problem_results(run_id) if r.eager_ms is not None and r.name in done]
        for c in store.candidates(run_id):
            by_problem.setdefault((key, c.problem), []).append(c)
    levels = sorted({r.level for _, r in results}, key=lambda x: x or 0)
    agents = sorted({c.agent for cs in by_problem.values() for c in cs})

    def level_geo(level, exclude: str | None = None) -> float | None:
        xs = []
        for key, r in ((k, r) for k, r in results if r.level == level):
            mine = [c for c in by_problem.get((key, r.name), []) if c.agent != exclude]
            xs.append(select(rows[(key, r.name)], mine).speedup_vs_best_baseline)
        return geomean(xs)

    per_level = []
    for lv in levels:
        rs = [r for _, r in results if r.level == lv]
        per_level.append({
            "level": lv, "n": len(rs),
            "geomean_vs_eager": geomean(r.speedup_vs_eager for r in rs),
            "geomean_vs_compile": geomean(_vs_compile(r) for r in rs),
            "geomean_vs_best": geomean(r.speedup_vs_best_baseline for r in rs),
            "compile_vs_eager": geomean(r.eager_ms / r.compile_ms for r in rs if r.compile_ms),
            "worst_vs_best": min((r.speedup_vs_best_baseline for r in rs), default=None),
            "beat_baseline": sum(r.best is not None for r in rs),
            "adds": {a: _ratio(level_geo(lv), level_geo(lv, exclude=a)) for a in agents},
        })
    per_agent = []
    for a in agents:
        mine, own, won = [], [], 0
        for key, r in results:
            cs = [c for c in by_problem.get((key, r.name), []) if c.agent == a and c.verdict is not None]
            mine += cs
            own += [r.best_baseline_ms / c.candidate_ms for c in cs if c.verdict == "accepted" and r.best_baseline_ms]
            won += r.best is not None and r.best.agent == a
        per_agent.append({
            "agent": a, "evaluated": len(mine), "accepted": sum(c.verdict == "accepted" for c in mine),
            "won": won, "geomean_own_vs_best": geomean(own),
            "failures": sorted({f"{c.verdict}: {c.reason[:80]}" for c in mine if c.verdict != "accepted"})[:5],
        })
    timing_s = sum(e.phases_s.get("timing", 0.0) for e in evals)
    trials_s = sum(e.phases_s.get("trials", 0.0) for e in evals)
    info = runs[-1][0].run(runs[-1][1])
    return {
        "run": ", ".join(str(run_id) for _, run_id in runs), "device": info.device, "jobs": info.config.get("jobs"),
        "versions": info.versions, "problems": len(results), "wall_s": wall_s, "evaluations": len(evals),
        "per_gpu_minute": len(evals) / (wall_s / 60) if wall_s else None,
        "timing_share": timing_s / wall_s if wall_s else None,
        "timing_trials_share": (timing_s + trials_s) / wall_s if wall_s else None,
        "eval_wall_s_mean": sum(e.wall_s for e in evals) / len(evals) if evals else None,
        "levels": per_level, "agents": per_agent,
        "results": [{"run": runs[key][1], "problem": r.name, "level": r.level, "eager_ms": r.eager_ms,
                     "compile_ms": r.compile_ms, "result": r.best.agent if r.best else f"baseline:{r.best_baseline}",
                     "result_ms": r.result_ms, "vs_eager": r.speedup_vs_eager, "vs_best": r.speedup_vs_best_baseline}
                    for key, r in results],
    }


def aggregate(store_paths: list[Path]) -> dict:
    """Every run in the stores together (separate invocations, one per level or per GPU shard).
    Wall time: the sum over the invocations that wrote them (kept beside each store; a run resumed
    in several invocations has gaps between them; shards on separate GPUs add up to GPU time),
    else per run from its start to its last evaluation."""
    runs: list[tuple[Store, int]] = []
    labels: list[str] = []
    evals, wall, invocations = [], 0.0, 0
    machines: dict[tuple, str] = {}
    seen: dict[str, str] = {}
    twice: list[str] = []
    for path in store_paths:
        store, sessions = Store(path, read_only=True), _sessions(path)
        ids = sorted(r.id for r in store.list_runs())
        for rid in ids:
            info, label = store.run(rid), f"{path.name} run {rid}"
            machines.setdefault((info.device,) + tuple(info.versions.get(k) for k in SAME_MACHINE_KEYS), label)
            for row in store.problem_rows(rid):
                if row["name"] in seen:  # one problem counted twice would weigh twice in every mean
                    twice.append(f"{row['name']} is in {seen[row['name']]} and {label}")
                seen[row["name"]] = label
        # Invocations whose store copy never came back are marked "lost" in the sessions file.
        sessions = [s for s in sessions if s.get("run") in ids and not s.get("lost")]
        for rid in ids:
            judged = [c for c in store.candidates(rid) if c.verdict and not c.reason.startswith("same source as")]
            told = sum(s.get("evaluations", 0) for s in sessions if s["run"] == rid)
            if told > len(judged):
                raise SystemExit(f"{path}: run {rid}'s invocations reported {told} evaluations but the store holds "
                                 f"{len(judged)}: a stale copy? (mark the invocation whose work is missing \"lost\")")
            evals += [e for c in judged for e in [store.evaluation(c.id)] if e]
        runs += [(store, rid) for rid in ids]
        labels += [f"{path.stem} run {rid}" if len(store_paths) > 1 else str(rid) for rid in ids]
        wall += sum(s["wall_s"] for s in sessions) if sessions else sum(store.run_span_s(rid) for rid in ids)
        invocations += len(sessions)
    if len(machines) > 1:  # speedups from different machines do not average into one figure
        raise SystemExit("the stores' runs were timed on different machines: " + "; ".join(
            f"{label}: {key[0]} {', '.join(str(v) for v in key[1:] if v)}" for key, label in machines.items()))
    if twice:
        raise SystemExit("; ".join(twice) + ": aggregate one run per problem")
    data = analyse(runs, wall, evals)
    data["run"] = ", ".join(labels)
    data["invocations"] = invocations or None
    data["stores"] = [str(p) for p in store_paths]
    return data


def _sessions_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.stem + ".sessions.json")


def _sessions(store_path: Path) -> list[dict]:
    path = _sessions_path(store_path)
    return json.loads(path.read_text()) if path.exists() else []


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _f(x: float | None, fmt: str = "{:.2f}x") -> str:
    return fmt.format(x) if x is not None else "-"


def markdown(d: dict) -> str:
    v = d["versions"]
    lines = [
        f"### Built-in agents on {d['device']}, {d['jobs']} evaluation(s) at once ({v.get('device_name', '?')}; torch {v.get('torch', '?')}, "
        f"triton {v.get('triton', '-')}, driver {v.get('driver', '-')}), run {d['run']}",
        "",
        "| level | problems | vs eager | vs torch.compile | vs faster baseline | torch.compile vs eager | worst vs faster baseline | beat the baseline |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lv in d["levels"]:
        lines.append(f"| {lv['level']} | {lv['n']} | {_f(lv['geomean_vs_eager'])} | {_f(lv['geomean_vs_compile'])} | "
                     f"{_f(lv['geomean_vs_best'])} | {_f(lv['compile_vs_eager'])} | {_f(lv['worst_vs_best'])} | "
                     f"{lv['beat_baseline']}/{lv['n']} |")
    lines += ["", "What each variant adds: level geomean vs the faster baseline with every variant, over the same without it.", "",
              "| variant | evaluated | accepted | won | own geomean vs faster baseline | " +
              " | ".join(f"adds, level {lv['level']}" for lv in d["levels"]) + " |",
              "| --- " * (5 + len(d["levels"])) + "|"]
    for a in d["agents"]:
        adds = " | ".join(_f(lv["adds"].get(a["agent"]), "{:.3f}x") for lv in d["levels"])
        lines.append(f"| {a['agent']} | {a['evaluated']} | {a['accepted']} | {a['won']} | {_f(a['geomean_own_vs_best'])} | {adds} |")
    unit = "GPU" if d["device"] == "cuda" else d["device"].upper()
    lines += ["", f"Harness: {d['evaluations']} evaluations in {d['wall_s'] / 60:.1f} min of wall time (baselines included): "
              f"{_f(d['per_gpu_minute'], '{:.1f}')} candidates per {unit}-minute; {unit} in candidates' timing phases "
              f"{_f(d['timing_share'], '{:.0%}')} of wall time ({_f(d['timing_trials_share'], '{:.0%}')} with correctness trials); "
              f"mean evaluation {_f(d['eval_wall_s_mean'], '{:.1f}')} s.", ""]
    if d.get("device_holds"):
        lines += ["Device held (others' workers stopped): " + "; ".join(
            f"{w} {h['n']}x, {h['total_s']:.0f} s in all, longest {h['max_s']:.1f} s" for w, h in d["device_holds"].items()) + ".", ""]
    failures = [(a["agent"], f) for a in d["agents"] for f in a["failures"]]
    if failures:
        lines += ["Rejections and failures (first few per variant):", ""]
        lines += [f"- {a}: {f}" for a, f in failures]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--level", type=int, action="append", help="repeatable; default 1, 2 and 3")
    ap.add_argument("--limit", type=int, default=None, help="problems per level")
    ap.add_argument("--agents", default=None, help="comma list of built-in agents (default: all)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="evaluations at once (default 1, as kernelswarm run; on cuda, N > 1 overlaps all but timing)")
    ap.add_argument("--time-budget", type=float, default=420.0, help="stop starting problems after this many seconds")
    ap.add_argument("--hard-limit", type=float, default=520.0,
                    help="write what is finished and exit after this many seconds, even mid-problem")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per evaluation")
    ap.add_argument("--db", type=Path, action="append", default=None,
                    help="default OUT/swarm_builtin.db; with --aggregate, repeat it to add up several stores")
    ap.add_argument("--resume", action="store_true", help="continue the latest unfinished run in --db (problems whose baselines failed are tried again); if the latest run is finished with all its baselines, do nothing")
    ap.add_argument("--shard", default="0/1", help="K/N: only every N-th problem from the K-th on (one invocation per GPU)")
    ap.add_argument("--aggregate", action="store_true", help="run nothing: tables over every run in every --db")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 0 <= k < n:
            raise ValueError
    except ValueError:
        ap.error(f"--shard {args.shard}: expected K/N with 0 <= K < N")
    if args.aggregate:
        data = aggregate(args.db or [args.out / "swarm_builtin.db"])
        (args.out / "swarm_builtin_all.json").write_text(json.dumps(data, indent=1, default=str))
        text = markdown(data)
        (args.out / "swarm_builtin_all.md").write_text(text)
        print(text)
        return 0
    if args.db and len(args.db) > 1:
        ap.error("one --db per run (several only with --aggregate)")
    store_path = args.db[0] if args.db else args.out / "swarm_builtin.db"
    store = Store(store_path)
    names = [n.strip() for n in args.agents.split(",")] if args.agents else None
    run_id = store.resumable_run_id() if args.resume else None
    if args.resume and run_id is None and store.latest_run_id() is not None:
        # A shard finished by an earlier invocation: nothing to do, and no second run of it.
        if store_path.resolve() != (args.out / "swarm_builtin.db").resolve():
            store.copy_to(args.out / "swarm_builtin.db")
            _sessions_path(args.out / "swarm_builtin.db").write_text(json.dumps(_sessions(store_path), indent=1))
        print(f"{store_path}: run {store.latest_run_id()} is finished; nothing to resume", flush=True)
        return 0
    if run_id is not None:
        config = RunConfig.from_dict(store.run(run_id).config)
        if args.jobs:  # the stored run's job count, unless this invocation asks for another
            config.jobs = args.jobs
        problems = []
    else:
        from kernelswarm.cli.run_cmd import _default_jobs

        config = RunConfig(device=args.device, problems=["bundled"], agents=names, jobs=args.jobs or _default_jobs(args.device),
                           timeout_s=args.timeout, level=None)
        problems = pick(args.level or [1, 2, 3], args.limit, (k, n))
    start = time.monotonic()

    evals = []

    def show(e: Event) -> None:
        if e.kind == "evaluated" and e.evaluation is not None and not e.evaluation.reason.startswith("same source as"):
            evals.append(e.evaluation)
        if e.kind in ("done", "note") or (e.kind == "evaluated" and e.evaluation and not e.evaluation.correct):
            extra = ""
            if e.result is not None:
                r = e.result
                extra = f"{r.best.agent if r.best else 'baseline:' + str(r.best_baseline)} {_f(r.speedup_vs_best_baseline)}"
            print(f"[{time.monotonic() - start:6.0f}s] {e.kind} {e.problem} {e.agent} {e.message[:100]} {extra}", flush=True)

    sup = Supervisor(store, config, builtin_agents(config.agents), on_event=show)

    def finish(partial: bool) -> None:
        data = analyse([(store, sup.run_id)], time.monotonic() - start, list(evals))
        data["partial"] = partial  # stopped by --hard-limit in the middle of a problem
        # Per evaluation, where its time went (device_wait: waiting for the device lock).
        data["evaluation_phases"] = [{"problem": e.problem, "verdict": e.verdict.value, "wall_s": round(e.wall_s, 2),
                                      **({} if e.verdict.value == "accepted" else {"reason": e.reason[:300]}),
                                      **{k: v for k, v in e.phases_s.items() if "." not in k}} for e in list(evals)]
        sessions = _sessions(store_path) + [{"run": sup.run_id, "wall_s": data["wall_s"], "evaluations": len(evals),
                                             "partial": partial, "jobs": config.jobs}]
        _sessions_path(store_path).write_text(json.dumps(sessions, indent=1))
        holds: dict[str, list[float]] = {}
        for what, _, secs in sup.device_holds:
            holds.setdefault(what, []).append(secs)
        data["device_holds"] = {w: {"n": len(v), "total_s": round(sum(v), 1), "max_s": round(max(v), 1)} for w, v in holds.items()}
        if store_path.resolve() != (args.out / "swarm_builtin.db").resolve():
            store.copy_to(args.out / "swarm_builtin.db")
            _sessions_path(args.out / "swarm_builtin.db").write_text(json.dumps(sessions, indent=1))
        (args.out / "swarm_builtin.json").write_text(json.dumps(data, indent=1, default=str))
        text = markdown(data) + ("\n(partial: stopped by --hard-limit; the run is resumable)\n" if partial else "")
        (args.out / "swarm_builtin.md").write_text(text)
        print(text, flush=True)

    def hard_stop() -> None:
        # Every finished evaluation is already stored: write what exists and leave at once, killing
        # the workers still running (each in its own session, they would outlive this process).
        sup.kill_workers()
        finish(partial=True)
        os._exit(0)

    watchdog = threading.Timer(args.hard_limit, hard_stop)
    watchdog.daemon = True
    watchdog.start()
    try:
        sup.run(problems, run_id, should_stop=lambda: time.monotonic() - start > args.time_budget)
    except OtherMachine as e:  # a store begun on another GPU model (or library versions)
        watchdog.cancel()
        print(f"{store_path}: {e}", file=sys.stderr)
        return 2
    watchdog.cancel()
    finish(partial=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
