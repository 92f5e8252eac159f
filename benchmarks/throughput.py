"""Evaluator throughput, the old start path beside the new one in one run (issue 16).

Old: every worker a new interpreter (KERNELSWARM_ZYGOTE=0). New: workers forked from the zygote
(src/kernelswarm/evaluate/worker/zygote.py).

    PYTHONPATH=src python benchmarks/throughput.py --out OUT                 # CPU: starts + main job
    PYTHONPATH=src python benchmarks/throughput.py --out OUT --device cuda --jobs 12 --sweep-budget 240

Measures, each path in turn:
- worker starts: a reference and a candidate worker started and initialised (the `init` request:
  torch, the device, the problem) as an evaluation starts them, `--starts` times; the first start
  of the new path includes the zygote's own import;
- CPU: the quick start's main job (`kernelswarm run` with its defaults, as `python3 quickstart.py
  run` runs it), each path with a fresh store and a fresh baseline cache, so that neither reuses
  the other's torch.compile timings;
- `--device cuda`: a warm level-1 evaluation's wall time (the second evaluation of a copy of the
  reference, after one that started everything), and the built-in sweep of
  benchmarks/swarm_builtin.py (level 1, `--sweep-budget` seconds each, `--jobs`): candidate
  evaluations per GPU-minute and the share of wall time the device spent in timing phases.
Writes OUT/throughput.json and prints one line per figure.
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
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = {"old": "0", "new": "1"}


def _env(path: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KERNELSWARM_ZYGOTE": PATHS[path], **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH", "")] if p)
    return env


def worker_starts(path: str, device: str, n: int) -> dict:
    """Start and initialise a reference and a candidate worker `n` times (one evaluation's pair)."""
    from kernelswarm.evaluate import EvalOptions
    from kernelswarm.evaluate.parent.procs import WorkerProcess, init_message
    from kernelswarm.problems import quick_subset

    os.environ["KERNELSWARM_ZYGOTE"] = PATHS[path]
    os.environ["KERNELSWARM_BENCH_TAG"] = uuid.uuid4().hex  # a zygote of its own: its first start counts
    problem = quick_subset(device)[0]
    options = EvalOptions.for_device(device)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ks-starts-") as tmp:
        for i in range(n):
            t = time.perf_counter()
            ref = WorkerProcess("reference", Path(tmp) / f"r{i}", device)
            cand = WorkerProcess("candidate", Path(tmp) / f"c{i}", device)
            init = init_message(problem, options)
            cand.send(init)
            ref.call(init, deadline=time.monotonic() + 600)
            cand.finish_call("init", deadline=time.monotonic() + 600)
            rows.append({"pair_s": time.perf_counter() - t, "started_by": [ref.started_by, cand.started_by]})
            for w in (cand, ref):
                w.kill()
    later = [r["pair_s"] for r in rows[1:]]
    return {"problem": problem.name, "first_s": rows[0]["pair_s"], "later_median_s": statistics.median(later) if later else None,
            "rows": rows}


def main_job(path: str, device: str, timeout_s: float, old_src: Path | None = None) -> dict:
    """`kernelswarm run` with its defaults, in a fresh folder, store and baseline cache. The old
    path: `old_src` (a checkout of the code before issue 16) where given, else this tree with the
    zygote off and one evaluation at a time (the defaults before compiling ahead)."""
    with tempfile.TemporaryDirectory(prefix=f"ks-mainjob-{path}-") as tmp:
        env = _env(path, KERNELSWARM_CACHE=str(Path(tmp) / "cache"))
        cmd = [sys.executable, "-m", "kernelswarm", "run", "--device", device, "--db", str(Path(tmp) / "ks.db")]
        if path == "old" and old_src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(old_src / "src"), *env["PYTHONPATH"].split(os.pathsep)[1:]])
        elif path == "old":
            cmd += ["--jobs", "1"]
        load = os.getloadavg()[0]
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout_s)
        wall = time.perf_counter() - t
        phases = _phases(Path(tmp) / "ks.db")
    device_line = next((x for x in done.stdout.splitlines() if x.startswith("device:")), "")
    return {"wall_s": wall, "rc": done.returncode, "load_before": load, "load_after": os.getloadavg()[0],
            "device_line": device_line, "phases": phases, "tail": (done.stdout + done.stderr)[-3000:]}


def _phases(db: Path) -> dict:
    """Per stored evaluation: problem, verdict, wall and its phases (seconds), from the run's store."""
    import sqlite3

    if not db.exists():
        return {}
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT data FROM evaluations ORDER BY candidate_id").fetchall()
    finally:
        con.close()
    evs = [json.loads(r[0]) for r in rows]
    total: dict[str, float] = {}
    for ev in evs:
        for k, v in (ev.get("phases_s") or {}).items():
            total[k] = round(total.get(k, 0.0) + float(v), 3)
    return {"evaluations": [{"problem": ev["problem"], "verdict": ev["verdict"], "wall_s": round(ev["wall_s"], 2),
                             "phases_s": ev.get("phases_s")} for ev in evs],
            "sum_s": total, "eval_wall_sum_s": round(sum(ev["wall_s"] for ev in evs), 2)}


def warm_level1(path: str, device: str) -> dict:
    """Two evaluations of a copy of a level-1 reference; the second's wall time is the warm one."""
    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.problems.suite import resolve_problems

    os.environ["KERNELSWARM_ZYGOTE"] = PATHS[path]
    problems, _ = resolve_problems([], level=1)
    problem = sorted(problems, key=lambda p: p.name)[0]
    copy = problem.source.replace("class Model(", "class ModelNew(")
    walls = []
    for _ in range(2):
        ev = evaluate(problem, copy, EvalOptions.for_device(device))
        walls.append({"wall_s": ev.wall_s, "verdict": ev.verdict.value, "phases_s": ev.phases_s})
    return {"problem": problem.name, "cold": walls[0], "warm": walls[1]}


def sweep(path: str, out: Path, jobs: int, budget: float, limit: int) -> dict:
    folder = out / f"sweep_{path}"
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "benchmarks" / "swarm_builtin.py"), "--out", str(folder), "--device", "cuda",
           "--level", "1", "--limit", str(limit), "--jobs", str(jobs), "--time-budget", str(budget),
           "--hard-limit", str(budget + 60)]
    done = subprocess.run(cmd, env=_env(path), capture_output=True, text=True, timeout=budget + 180)
    data = json.loads((folder / "swarm_builtin.json").read_text()) if (folder / "swarm_builtin.json").exists() else {}
    keep = ("per_gpu_minute", "timing_share", "timing_trials_share", "eval_wall_s_mean", "evaluations", "wall_s", "versions")
    return {**{k: data.get(k) for k in keep}, "rc": done.returncode, "tail": (done.stdout + done.stderr)[-2000:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--starts", type=int, default=4, help="worker pairs started per path")
    ap.add_argument("--skip-main-job", action="store_true", help="CPU: only the worker starts")
    ap.add_argument("--main-job-timeout", type=float, default=1800.0)
    ap.add_argument("--jobs", type=int, default=12, help="cuda sweep: evaluations at once")
    ap.add_argument("--sweep-budget", type=float, default=240.0, help="cuda sweep: seconds per path")
    ap.add_argument("--sweep-limit", type=int, default=40, help="cuda sweep: level-1 problems at most")
    ap.add_argument("--paths", default="old,new", help="which start paths, in this order (one per command: "
                    "--paths old, then --paths new, each --out its own folder)")
    ap.add_argument("--skip-sweep", action="store_true", help="cuda: starts and warm evaluations only")
    ap.add_argument("--old-src", type=Path, default=None, help="CPU main job: the old path's checkout (e.g. a "
                    "git worktree of the commit before compiling ahead); default: this tree, zygote off, --jobs 1")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    report: dict = {"device": args.device, "torch": torch.__version__, "cpus": os.cpu_count(), "paths": {}}
    paths = [p for p in args.paths.split(",") if p]
    if not paths or any(p not in PATHS for p in paths):
        ap.error(f"--paths: a comma list of {', '.join(PATHS)}")
    for path in paths:
        res: dict = {"starts": worker_starts(path, args.device, args.starts)}
        s = res["starts"]
        print(f"{path}: worker pair start+init first {s['first_s']:.2f} s, later median {s['later_median_s']:.2f} s "
              f"({s['rows'][-1]['started_by']})", flush=True)
        if args.device == "cuda":
            res["warm_level1"] = w = warm_level1(path, args.device)
            print(f"{path}: level-1 evaluation ({w['problem']}) cold {w['cold']['wall_s']:.1f} s, warm {w['warm']['wall_s']:.1f} s",
                  flush=True)
        report["paths"][path] = res
    for path in paths:  # the long parts after the short ones, in the same order
        res = report["paths"][path]
        if args.device == "cpu" and not args.skip_main_job:
            res["main_job"] = m = main_job(path, args.device, args.main_job_timeout, args.old_src)
            print(f"{path}: main job {m['wall_s']:.1f} s (rc {m['rc']}, load {m['load_before']:.1f} -> {m['load_after']:.1f}); "
                  f"{m['device_line']}", flush=True)
        if args.device == "cuda" and not args.skip_sweep:
            res["sweep"] = sw = sweep(path, args.out, args.jobs, args.sweep_budget, args.sweep_limit)
            print(f"{path}: sweep {sw['evaluations']} evaluations, {sw['per_gpu_minute']} per GPU-minute, "
                  f"timing share {sw['timing_share']} (rc {sw['rc']})", flush=True)
    (args.out / "throughput.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
