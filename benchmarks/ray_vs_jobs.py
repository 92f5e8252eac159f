"""Issue 18 on one device, compared fairly: a run through a local Ray against a plain --jobs run.

    python benchmarks/ray_vs_jobs.py --out OUT --device cuda --jobs 8 \\
        --problem reduce_mean --problem l2_norm --problem relu --problem conv2d_bias_relu \\
        --candidates benchmarks/candidates/scale --agents cudagraph --deadline 230
    python benchmarks/ray_vs_jobs.py --out OUT --device cpu --jobs 2 \\
        --problem tests/fixtures/swarm/problems/tiny_linear.py --problem ... --candidates benchmarks/candidates/scale

Session 10's comparison (scripts/gpu_ray.sh, benchmarks/scale_out.py) ran the plain half first,
on cold caches, and the Ray half second, each in its own process: the order, not the path, made
the difference. Here everything happens in one process, in this order:

1. Ray starts (a local cluster, one actor on the device with --jobs inside it); its start is
   reported apart, as a sweep pays it once.
2. Both paths are warmed with one tiny evaluation each (tests/fixtures/swarm: a linear layer and
   its hand-written candidate, into OUT/warm_<path>.db), not counted: the plain path's worker
   zygote and the actor's, CUDA's start in each.
3. The measured runs alternate A B B A: the plain path on the first half of the problems, Ray on
   the same half, Ray on the second half, the plain path on the second half. Each is a whole run
   (baselines and every candidate) into its own store, OUT/q<N>_<path>.db, so each half judges
   every candidate once, and neither half is always first or last.

The candidates are fixed: the files of --candidates (DIR/<problem name>.py) and the built-in
agents of --agents, whose proposals are templates of the problem's source (deterministic). A
quarter is started only when the time left before --deadline (seconds from this script's start)
holds the longest quarter so far; one that is not started is said so, never estimated.

Writes OUT/ray_vs_jobs.md and OUT/ray_vs_jobs.json after every quarter (so a command cut by a
timeout keeps what was measured): per half, the evaluations stored, wall seconds, evaluations per
device-minute (GPU-minute on a GPU); per candidate (problem, agent, source hash), its verdict/kind
in each half and whether they are equal. Runs from src/ with PYTHONPATH (needs no typer or
pydantic); needs Ray (on a machine with no package index: scripts/ray_slim.sh here,
scripts/ray_unpack.sh there).
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")  # multi-GPU hosts here keep NVLink multicast off

from kernelswarm.agents.registry import build_agents
from kernelswarm.problems.suite import resolve_problems
from kernelswarm.store import Store
from kernelswarm.supervisor import RunConfig, Supervisor

ROOT = Path(__file__).resolve().parents[1]
WARM_PROBLEM = ROOT / "tests/fixtures/swarm/problems/tiny_linear.py"
WARM_CANDIDATES = ROOT / "tests/fixtures/swarm/candidates"


@dataclass
class Quarter:
    """One measured run: a path over some of the problems, into its own store."""

    index: int
    path: str  # "jobs" | "ray"
    problems: list[str]
    db: str
    run_id: int | None = None
    wall_s: float = 0.0
    evaluations: int = 0
    others_s: float = 0.0  # of wall_s, seconds another program held the device's lock (LockWatch)
    finished: bool = False  # every problem's baselines and candidates done (not cut by --deadline)
    skipped: str = ""  # why it was not started


@dataclass
class Comparison:
    device: str
    jobs: int
    versions: dict
    ray_start_s: float = 0.0
    warm_s: dict[str, float] = field(default_factory=dict)
    quarters: list[Quarter] = field(default_factory=list)


def key(c) -> tuple[str, str, str]:
    return (c.problem, c.agent, hashlib.sha256(c.source.encode()).hexdigest()[:12])


def judged(db: str, run_id: int) -> list:
    """The run's candidates that were judged (a verdict stored), duplicates of a source left out."""
    store = Store(db, read_only=True)
    return [c for c in store.candidates(run_id) if c.verdict and not c.reason.startswith("same source as")]


class LockWatch:
    """Seconds during which a program other than this benchmark (and its Ray actor, and their
    children) held the device's machine-wide lock: on a shared machine the runs wait for them,
    which is neither path's doing. Sampled from /proc/locks every `every` s; 0 where nothing else
    runs (the GPU machine)."""

    def __init__(self, device: str, ours: set[int], every: float = 0.2) -> None:
        from kernelswarm.locks import device_lock

        self.path, self.ours, self.every = device_lock(device).path, ours, every
        self.others_s, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.others_s

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            if any(not self._ours(pid) for pid in holders(self.path)):
                self.others_s += self.every

    def _ours(self, pid: int) -> bool:
        for _ in range(64):  # up the parent chain
            if pid in self.ours:
                return True
            try:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return False
            if pid <= 1:
                return False
        return False


def holders(path: Path) -> list[int]:
    """The pids holding an flock on `path` (waiters left out), from /proc/locks."""
    try:
        inode = os.stat(path).st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        f = line.split()
        if len(f) >= 6 and f[1] == "FLOCK" and f[5].rsplit(":", 1)[-1] == str(inode):
            out.append(int(f[4]))
    return out


def one_run(path: str, store: Store, config: RunConfig, agents: list, problems: list,
            pool, should_stop: Callable[[], bool], log: Callable) -> tuple[int, bool]:
    """A whole run on one path; its id, and whether every problem was done."""
    from kernelswarm.scale.placement import run_placed
    from kernelswarm.scale.ray_pool import ray_slots

    if path == "jobs":
        sup = Supervisor(store, config, agents, on_event=log)
        run_id = sup.run(problems, should_stop=should_stop)
    else:
        run_id = run_placed(store, config, agents, ray_slots(pool), problems, on_event=log,
                            should_stop=should_stop)
    return run_id, store.run(run_id).status == "finished"


def _log(tag: str) -> Callable:
    def show(e) -> None:
        if e.kind in ("problem", "done") or (e.kind == "note" and e.message):
            print(f"[{tag}] {e.kind} {e.problem} {e.message}", flush=True)
        elif e.kind == "evaluated" and e.evaluation is not None:
            print(f"[{tag}] evaluated {e.problem}/{e.agent}: {e.evaluation.verdict}", flush=True)
    return show


def fresh_store(db: Path) -> Store:
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    return Store(db)


def halves(cmp: Comparison) -> list[dict]:
    """Per path: its finished quarters' figures together."""
    rows = []
    for path in ("jobs", "ray"):
        qs = [q for q in cmp.quarters if q.path == path and q.run_id is not None]
        wall = sum(q.wall_s for q in qs)
        evals = sum(q.evaluations for q in qs)
        others = sum(q.others_s for q in qs)
        rows.append({"path": path, "quarters": [q.index for q in qs],
                     "problems": sum(len(q.problems) for q in qs), "evaluations": evals, "wall_s": wall,
                     "others_s": others, "per_device_minute": evals / (wall / 60) if wall else None,
                     "per_device_minute_own": evals / ((wall - others) / 60) if wall > others else None,
                     "cut": any(not q.finished for q in qs)})
    return rows


def per_candidate(cmp: Comparison) -> dict[tuple[str, str, str], dict[str, str]]:
    """Every judged candidate's verdict/kind on each path, and where it was timed."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    for q in cmp.quarters:
        if q.run_id is None:
            continue
        for c in judged(q.db, q.run_id):
            row = out.setdefault(key(c), {})
            row[q.path] = f"{c.verdict}/{c.kind or '-'}"
            if c.timed_on:
                row[f"{q.path}_on"] = c.timed_on
    return out


def markdown(cmp: Comparison) -> str:
    v = cmp.versions
    unit = "GPU-min" if cmp.device == "cuda" else "device-min"
    lines = [(f"### --ray local against --jobs {cmp.jobs} on one {cmp.device} ({v.get('device_name', '?')}; "
              f"torch {v.get('torch', '?')}, triton {v.get('triton', '-')})"), "",
             f"Ray's start {cmp.ray_start_s:.1f} s (apart); warm-up, one tiny evaluation each, not counted: "
             + ", ".join(f"{p} {s:.1f} s" for p, s in cmp.warm_s.items()) + ".", "",
             "| quarter | path | problems | evaluations | wall s | others held the lock s | finished |",
             "| ---: | --- | --- | ---: | ---: | ---: | --- |"]
    for q in cmp.quarters:
        if q.skipped or q.run_id is None:
            why = f"not started: {q.skipped}" if q.skipped else "not run (the command ended first)"
            lines.append(f"| {q.index} | {q.path} | {', '.join(q.problems)} | - | - | - | {why} |")
        else:
            lines.append(f"| {q.index} | {q.path} | {', '.join(q.problems)} | {q.evaluations} | {q.wall_s:.1f} | "
                         f"{q.others_s:.1f} | {'yes' if q.finished else 'cut at --deadline'} |")
    table = per_candidate(cmp)
    both = [k for k, r in table.items() if "jobs" in r and "ray" in r]
    equal = sum(table[k]["jobs"] == table[k]["ray"] for k in both)
    lines += ["", (f"| half | quarters | problems | evaluations | wall s | eval / {unit} | vs jobs | "
                   f"eval / {unit}, others' lock time off | vs jobs |"),
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = halves(cmp)

    def rate(r: dict, k: str) -> str:
        x, base = r[k], rows[0][k]
        return f"{x:.2f} | {f'{x / base:.2f}x' if base else '-'}" if x else "- | -"

    for r in rows:
        lines.append(f"| {r['path']}{' (cut)' if r['cut'] else ''} | {' '.join(map(str, r['quarters'])) or '-'} | "
                     f"{r['problems']} | {r['evaluations']} | {r['wall_s']:.1f} | {rate(r, 'per_device_minute')} | "
                     f"{rate(r, 'per_device_minute_own')} |")
    lines += ["", f"**Verdicts equal between the halves: {equal}/{len(both)} candidates judged by both**"
              + (f"; judged by one half only: {len(table) - len(both)}" if len(table) > len(both) else "") + ".",
              "", "| problem | agent | source | jobs | ray | equal | ray timed on |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for k in sorted(table):
        r = table[k]
        same = "-" if k not in both else ("yes" if r["jobs"] == r["ray"] else "**no**")
        lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {r.get('jobs', '(not judged)')} | "
                     f"{r.get('ray', '(not judged)')} | {same} | {r.get('ray_on', '')} |")
    return "\n".join(lines) + "\n"


def write(out: Path, cmp: Comparison) -> None:
    table = per_candidate(cmp)
    data = {**asdict(cmp), "halves": halves(cmp),
            "candidates": [{"problem": k[0], "agent": k[1], "source": k[2], **r} for k, r in sorted(table.items())]}
    (out / "ray_vs_jobs.json").write_text(json.dumps(data, indent=2, default=str))
    text = markdown(cmp)
    (out / "ray_vs_jobs.md").write_text(text)
    print(text, flush=True)


def warm_up(cmp: Comparison, pool, out: Path, timeout_s: float) -> None:
    """One tiny evaluation on each path, into OUT/warm_<path>.db; its seconds, not counted."""
    warm, _ = resolve_problems([str(WARM_PROBLEM)])
    agents = build_agents(["folder"], None, WARM_CANDIDATES)
    config = RunConfig(device=cmp.device, jobs=cmp.jobs, timeout_s=timeout_s, agents=["folder"],
                       problems=[WARM_PROBLEM.name], compile_baseline=False, candidates=str(WARM_CANDIDATES),
                       context=[])
    for path in ("jobs", "ray"):
        s = time.monotonic()
        one_run(path, fresh_store(out / f"warm_{path}.db"), config, agents, warm, pool, lambda: False,
                _log(f"warm {path}"))
        cmp.warm_s[path] = time.monotonic() - s


def measure(cmp: Comparison, problems: list, config: RunConfig, agents: list, pool, out: Path,
            ends_at: float) -> None:
    """The quarters of plan(), in order, each a whole run; one is started only when the time left
    before `ends_at` (time.monotonic()) holds the longest so far. OUT/ray_vs_jobs.* after each."""
    by_name = {p.name: p for p in problems}
    ours = {os.getpid(), pool.places[0]["pid"]}
    cmp.quarters = plan([p.name for p in problems], out)
    write(out, cmp)  # the warm-ups' seconds and the plan, even if a timeout ends the command soon
    longest = 0.0
    for q in cmp.quarters:
        left = ends_at - time.monotonic()
        if left < longest:
            q.skipped = f"{left:.0f} s left before --deadline, the longest quarter took {longest:.0f} s"
            write(out, cmp)
            continue
        s = time.monotonic()
        watch = LockWatch(cmp.device, ours)
        watch.start()
        try:
            q.run_id, q.finished = one_run(q.path, fresh_store(Path(q.db)), config, agents,
                                           [by_name[n] for n in q.problems], pool,
                                           lambda: time.monotonic() > ends_at, _log(f"q{q.index} {q.path}"))
        finally:
            q.others_s = watch.stop()
        q.wall_s = time.monotonic() - s
        q.evaluations = len(judged(q.db, q.run_id))
        cmp.versions = {**cmp.versions, **Store(q.db, read_only=True).run(q.run_id).versions}  # the device's name
        longest = max(longest, q.wall_s)
        write(out, cmp)


def plan(names: list[str], out: Path) -> list[Quarter]:
    """A B B A over the problems' two halves: jobs and ray on the first, ray and jobs on the second."""
    first, second = names[: (len(names) + 1) // 2], names[(len(names) + 1) // 2:]
    order = [("jobs", first), ("ray", first), ("ray", second), ("jobs", second)]
    return [Quarter(i + 1, path, part, str(out / f"q{i + 1}_{path}.db"))
            for i, (path, part) in enumerate(order) if part]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--jobs", type=int, default=8, help="evaluations at once, in each path")
    ap.add_argument("--problem", action="append", required=True, help="problem files or bundled names (repeatable)")
    ap.add_argument("--candidates", type=Path, help="folder of fixed candidates: DIR/<problem name>.py")
    ap.add_argument("--agents", help="comma list of built-in agents besides the folder (default: none)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per evaluation")
    ap.add_argument("--compile-baseline", action="store_true",
                    help="also time torch.compile of each reference (slower; its compile cache is warm for the second path)")
    ap.add_argument("--deadline", type=float, default=1e9,
                    help="seconds from the start: no quarter starts that the longest one so far would carry past it")
    args = ap.parse_args()
    t0 = time.monotonic()
    problems, errors = resolve_problems(args.problem)
    if errors or not problems:
        sys.exit(f"--problem: {errors[0] if errors else 'no problem matched'}")
    if args.candidates is None and not args.agents:
        sys.exit("give --candidates DIR, --agents, or both: the fixed candidates both paths judge")
    args.out.mkdir(parents=True, exist_ok=True)
    # The folder agent comes with a folder whatever the names; no models file: no model agent.
    agents = build_agents(args.agents.split(",") if args.agents else ["folder"], None, args.candidates)
    config = RunConfig(device=args.device, jobs=args.jobs, timeout_s=args.timeout,
                       agents=[a.name for a in agents], problems=[p.name for p in problems],
                       candidates=str(args.candidates) if args.candidates else None,
                       compile_baseline=args.compile_baseline, context=[])

    from kernelswarm.runconfig import host_versions
    from kernelswarm.scale.ray_pool import ActorPool, connect

    cmp = Comparison(args.device, args.jobs, host_versions(args.device))
    start = time.monotonic()
    connect("local")
    threads = os.cpu_count() if args.device == "cpu" else None  # one CPU actor with every core, as a plain run
    pool = ActorPool(args.device, args.jobs, cpu_threads=threads, count=1,
                     on_note=lambda m: print(f"[ray] {m}", flush=True))
    cmp.ray_start_s = time.monotonic() - start
    print(f"ray started in {cmp.ray_start_s:.1f} s: {pool.label(0)}", flush=True)
    try:
        warm_up(cmp, pool, args.out, args.timeout)
        measure(cmp, problems, config, agents, pool, args.out, t0 + args.deadline)
    finally:
        pool.shutdown()
        from scale_out import _ray_shutdown_within

        _ray_shutdown_within(20.0)


if __name__ == "__main__":
    main()
