"""Whole-model baselines (eager and torch.compile, timed alternately in the clean worker) with the
compile done one kernel after another (the old path, KERNELSWARM_COMPILE_THREADS=1) and with the
clean worker's compile pool (the new path: up to 8 workers, shut down before any timed call),
side by side in one run, alternating old and new so that a drifting load hits both alike.

Per run: the wall time of `time_baselines`, and the eager and compile medians it timed (the pool
must leave nothing behind that slows the timed calls). Fresh caches every run (each clean worker
compiles into its own folder).

    PYTHONPATH=src python benchmarks/parallel_compile.py --device cpu --model resnet50 --size tiny
    PYTHONPATH=src python benchmarks/parallel_compile.py --device cuda --model resnet50 --rounds 1
--model: a whole model of benchmarks/optimize_models.py (transformers, random weights), or a
problem file (.py, KernelBench format).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def problem_for(model: str, size: str, folder: Path):
    from kernelswarm.problems.load import load_problem

    if model.endswith(".py"):
        return load_problem(Path(model))
    sys.path.insert(0, str(HERE))
    from optimize_models import build  # a sibling script

    from kernelswarm.optimize.verify import whole_problems

    module, inputs = build(model, size)
    return whole_problems(module.eval(), inputs, folder, f"whole_{model.replace('-', '_')}")[0]


def one(problem, device: str, threads: str, timeout_s: float) -> dict:
    from kernelswarm.evaluate import EvalOptions, time_baselines

    os.environ["KERNELSWARM_COMPILE_THREADS"] = threads
    opts = EvalOptions.for_device(device, timeout_s=timeout_s, baseline_compile=False)
    start = time.perf_counter()
    got = time_baselines(problem, device, compile_modes=("default",), timeout_s=timeout_s, options=opts)
    wall = time.perf_counter() - start
    row = {"path": "old (1 thread)" if threads == "1" else f"new (pool of {threads})", "wall_s": round(wall, 1),
           "eager_ms": round(got["eager"].median_ms, 3)}
    if "compile:default" in got:
        row["compile_ms"] = round(got["compile:default"].median_ms, 3)
    return row


def main() -> int:
    from kernelswarm.evaluate.worker.compilepool import MAX_THREADS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--size", default="full", choices=("tiny", "full"))
    ap.add_argument("--rounds", type=int, default=2, help="old-new pairs")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    pool = str(max(1, min(len(os.sched_getaffinity(0)), MAX_THREADS)))
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        problem = problem_for(args.model, args.size, Path(tmp))
        for i in range(args.rounds):
            order = ("1", pool) if i % 2 == 0 else (pool, "1")
            for threads in order:
                rows.append({"round": i, **one(problem, args.device, threads, args.timeout)})
                print(json.dumps(rows[-1]), flush=True)
    summary = {"model": args.model, "size": args.size, "device": args.device, "torch": torch.__version__,
               "cores": len(os.sched_getaffinity(0)), "load_avg_at_end": os.getloadavg()[0], "rows": rows}
    for label in ("old", "new"):
        mine = [r for r in rows if r["path"].startswith(label)]
        summary[f"{label}_wall_s_mean"] = round(sum(r["wall_s"] for r in mine) / len(mine), 1)
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
