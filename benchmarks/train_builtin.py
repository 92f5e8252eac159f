"""Training problems with the built-in agents, and hand-written Triton kernels brought with
--candidates: the speedup of forward plus backward against eager and torch.compile (issue 17).

    PYTHONPATH=src python benchmarks/train_builtin.py --out OUT [--device cuda] [--level 1 ...]
        [--agents none] [--candidates benchmarks/train_candidates] [--jobs 4]
        [--budget 480] [--hard-limit BUDGET+40] [--db OUT/train_builtin.db]

Runs the bundled training suite (suite/train, judged in training mode: one call is forward plus
backward, every gradient checked) through the supervisor, with the named built-in agents and the
folder agent over --candidates (DIR/<problem name>.py). Problems with a hand-written candidate go
first, then the levels in turn. Writes OUT/train_builtin.md and OUT/train_builtin.json: per level,
the geometric mean of the result's speedup against eager, against torch.compile and against the
faster of the two; per problem the baselines, each candidate's time and verdict. The tables are
rewritten as each problem finishes, so a command killed at its limit still leaves them.

Budget: a problem is started only while the longest problem so far would still end within
--budget seconds; at --hard-limit the evaluations in flight are killed and what is finished is
written. Agents: by default none but the folder's hand-written kernels. The baselines already
time torch.compile (default mode, AOTAutograd in training mode) alternately with eager, so the
built-in `compile` agent, the same compilation again, cannot beat the faster baseline and only
costs an evaluation per problem; `--agents compile-max-autotune` (CUDA) is the built-in that
differs, at minutes of autotuning per problem.
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
from kernelswarm.agents.folder import FolderAgent
from kernelswarm.metrics import geomean
from kernelswarm.problems.suite import resolve_problems
from kernelswarm.store import Store
from kernelswarm.supervisor import Event, RunConfig, Supervisor

HERE = Path(__file__).resolve().parent


def pick(levels: list[int], first: set[str]) -> list:
    """The training suite: problems named in `first` (those with a hand-written candidate), then
    the levels in turn, so that a run stopped early still covers each level."""
    problems, errors = resolve_problems([], suite="train")
    for e in errors:
        print(f"skipping: {e}", file=sys.stderr)
    problems = [p for p in problems if p.level in levels]
    head = sorted((p for p in problems if p.name in first), key=lambda p: p.name)
    rest = [sorted((p for p in problems if p.level == lv and p.name not in first), key=lambda p: p.name) for lv in levels]
    return head + [p for turn in itertools.zip_longest(*rest) for p in turn if p is not None]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def analyse(store: Store, run_id: int, wall_s: float) -> dict:
    """Per problem and per level, from the store of one run."""
    done = {p["name"] for p in store.problem_rows(run_id) if p["done"]}
    by_problem: dict[str, list] = {}
    for c in store.candidates(run_id):
        by_problem.setdefault(c.problem, []).append(c)
    problems = []
    for r in store.problem_results(run_id):
        if r.eager_ms is None or r.name not in done:
            continue
        best_ms = r.best.candidate_ms if r.best else r.best_baseline_ms
        cands = [{"agent": c.agent, "verdict": c.verdict, "kind": c.kind, "ms": c.candidate_ms,
                  "vs_eager": _ratio(r.eager_ms, c.candidate_ms), "vs_compile": _ratio(r.compile_ms, c.candidate_ms),
                  "reason": (c.reason or "")[:200]} for c in by_problem.get(r.name, [])]
        problems.append({"name": r.name, "level": r.level, "eager_ms": r.eager_ms, "compile_ms": r.compile_ms,
                         "result": r.best.agent if r.best else f"baseline:{r.best_baseline}", "result_ms": best_ms,
                         "vs_eager": _ratio(r.eager_ms, best_ms), "vs_compile": _ratio(r.compile_ms, best_ms),
                         "vs_best_baseline": _ratio(r.best_baseline_ms, best_ms),
                         "compile_vs_eager": _ratio(r.eager_ms, r.compile_ms), "candidates": cands})
    levels = {}
    for lv in sorted({p["level"] for p in problems}):
        rows = [p for p in problems if p["level"] == lv]
        levels[lv] = {key: geomean([p[key] for p in rows if p[key]]) for key in
                      ("vs_eager", "vs_compile", "vs_best_baseline", "compile_vs_eager")}
        levels[lv]["n"] = len(rows)
    return {"run": run_id, "wall_s": round(wall_s, 1), "versions": store.run(run_id).versions,
            "levels": levels, "problems": problems}


def _f(x: float | None) -> str:
    return f"{x:.2f}x" if x else "-"


def markdown(d: dict) -> str:
    v = d["versions"]
    lines = [f"Training mode (forward + backward), {v.get('device_name', '?')}, torch {v.get('torch', '?')}, "
             f"triton {v.get('triton', '-')}; run {d['run']}, {d['wall_s']:.0f} s", "",
             "| level | problems | result vs eager | result vs torch.compile | result vs faster baseline "
             "| torch.compile vs eager |",
             "| --- | --- | --- | --- | --- | --- |"]
    for lv, g in d["levels"].items():
        lines.append(f"| {lv} | {g['n']} | {_f(g['vs_eager'])} | {_f(g['vs_compile'])} | {_f(g['vs_best_baseline'])} "
                     f"| {_f(g['compile_vs_eager'])} |")
    lines += ["", "| problem | eager ms | compile ms | candidate | verdict | ms | vs eager | vs compile |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in d["problems"]:
        for c in p["candidates"] or [{"agent": "-", "verdict": "-", "ms": None, "vs_eager": None, "vs_compile": None}]:
            ms = f"{c['ms']:.4g}" if c["ms"] else "-"
            comp = f"{p['compile_ms']:.4g}" if p["compile_ms"] else "-"
            lines.append(f"| {p['name']} | {p['eager_ms']:.4g} | {comp} | {c['agent']} | {c['verdict']} | {ms} "
                         f"| {_f(c['vs_eager'])} | {_f(c['vs_compile'])} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--level", type=int, action="append", help="repeatable; default 1, 2 and 3")
    ap.add_argument("--agents", default="none", help="comma list of built-in agents (default none: see above)")
    ap.add_argument("--candidates", type=Path, default=HERE / "train_candidates", help="DIR/<problem name>.py; 'none' for none")
    ap.add_argument("--jobs", type=int, default=4, help="evaluations at once (timings stay exclusive)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per evaluation")
    ap.add_argument("--budget", "--time-budget", type=float, default=480.0,
                    help="start a problem only while the longest so far would end within this many seconds")
    ap.add_argument("--hard-limit", type=float, default=None,
                    help="kill what is in flight, write what is finished and exit (default: budget + 40)")
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = Store(args.db or args.out / "train_builtin.db")
    folder = None if str(args.candidates) == "none" else args.candidates
    names = [n.strip() for n in args.agents.split(",") if n.strip() and n.strip() != "none"]
    agents = (builtin_agents(names) if names else []) + ([FolderAgent(folder)] if folder else [])
    first = {p.stem for p in folder.glob("*.py")} if folder else set()
    config = RunConfig(device=args.device, problems=["train"], suite="train", mode="train",
                       agents=names + (["folder"] if folder else []),
                       candidates=str(folder) if folder else None, jobs=args.jobs, timeout_s=args.timeout)
    problems = pick(args.level or [1, 2, 3], first)
    start = time.monotonic()
    started: dict[str, float] = {}
    longest = [0.0]  # the longest problem so far, start to done (seconds)
    writing = threading.Lock()

    def show(e: Event) -> None:
        if e.kind == "problem":
            started[e.problem] = time.monotonic()
        if e.kind in ("done", "note", "baselines") or (e.kind == "evaluated" and e.evaluation is not None):
            ev = e.evaluation
            what = f"{ev.verdict.value} {ev.candidate.median_ms if ev.candidate else '-'} ms" if ev else ""
            print(f"[{time.monotonic() - start:6.0f}s] {e.kind} {e.problem} {e.agent} {what} {e.message[:120]}", flush=True)
        if e.kind == "done":
            longest[0] = max(longest[0], time.monotonic() - started.get(e.problem, start))
            finish("running", quiet=True)

    sup = Supervisor(store, config, agents, on_event=show)

    def finish(state: str, quiet: bool = False) -> None:
        with writing:
            data = analyse(store, sup.run_id, time.monotonic() - start)
            data["state"] = state
            data["partial"] = state != "finished"
            write(args.out / "train_builtin.json", json.dumps(data, indent=1, default=str))
            text = markdown(data) + (f"\n({state}: {len(data['problems'])} of {len(problems)} problems finished)\n"
                                     if state != "finished" else "")
            write(args.out / "train_builtin.md", text)
        if not quiet:
            print(text, flush=True)

    def hard_stop() -> None:
        sup.kill_workers()
        finish("stopped by --hard-limit")
        os._exit(0)

    def should_stop() -> bool:
        return time.monotonic() - start + longest[0] > args.budget

    watchdog = threading.Timer(args.hard_limit or args.budget + 40, hard_stop)
    watchdog.daemon = True
    watchdog.start()
    sup.run(problems, None, should_stop=should_stop)
    watchdog.cancel()
    finish("finished" if all(p.name in started for p in problems) else "stopped by --budget")
    return 0


def write(path: Path, text: str) -> None:
    """Whole or not at all: a reader (or a kill) never sees half a table."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
