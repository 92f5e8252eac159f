"""Issue 16's GPU figures in one command of at most --budget seconds (default 560).

    PYTHONPATH=src python benchmarks/gpu_throughput.py --device cuda --jobs 12 --out OUT
    PYTHONPATH=src python benchmarks/gpu_throughput.py --device cpu --jobs 2 --budget 240 --out OUT  # a check

Two parts, each a process of its own:
1. warm level-1 evaluations: one process evaluates a copy of each of several level-1 references
   (ModelNew = Model: correct, about 1x), the first a warm-up that starts everything (zygote,
   torch, the device); each later one's own wall time (ev.wall_s) and phases are the warm figure;
2. a short built-in sweep of level 1 (benchmarks/swarm_builtin.py, every built-in agent, --jobs N)
   stopped after its share of the budget: candidate evaluations per device-minute, the share of
   the wall the candidates' timing phases took, and the share every hold of the device took
   (baselines' timings, screens and peak rates as well).
Writes OUT/gpu_throughput.json and OUT/gpu_throughput.md (the table, the targets beside it).
Locks live in a folder of this command's own: nothing else queues into the figures.
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

ROOT = Path(__file__).resolve().parents[1]
WARMUP = "level1/relu"
PROBLEMS = ("level1/softmax,level1/layer_norm,level1/matmul_square,level1/argmax,level1/conv2d,level1/gelu,"
            "level1/reduce_sum,level1/matmul_tall_skinny")
# An evaluation's phases in its order (parent/run.py, candidate_run.py); check.trials lies inside check.
PHASES = ("start", "import", "trials", "work_wait", "timing", "collect", "check.trials", "check", "label_wait", "baseline",
          "intervals")
TARGETS = {"warm_s": 5.0, "per_minute": 20.0, "timing_share": 0.5}

# Run in the child: evaluations one after another until the deadline; one JSON line each.
_CHILD = r"""
import json, re, sys, time
from pathlib import Path
import kernelswarm
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.problems.load import load_problem
suite = Path(kernelswarm.__file__).parent / "problems" / "suite"
device, names, stop_at = sys.argv[1], sys.argv[2].split(","), time.time() + float(sys.argv[3])
for i, name in enumerate(names):
    if i > 1 and time.time() > stop_at:  # the warm-up and at least one warm evaluation
        break
    path = suite / f"{name}.py"
    if not path.exists():
        continue
    problem = load_problem(path)
    source = re.sub(r"\bclass Model\(", "class ModelNew(", problem.source)
    ev = evaluate(problem, source, EvalOptions.for_device(device))
    print(json.dumps({"problem": name, "warm": i > 0, "verdict": ev.verdict.value, "reason": ev.reason[:200],
                      "wall_s": ev.wall_s, "phases_s": ev.phases_s, "calls": ev.candidate.n if ev.candidate else 0,
                      "versions": ev.versions}), flush=True)
"""


def warm_evaluations(device: str, problems: str, seconds: float, env: dict[str, str]) -> list[dict]:
    """The warm-up and then each problem's evaluation in one process, none started after `seconds`."""
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, device, problems, str(seconds)], env=env,
                              capture_output=True, text=True, timeout=seconds + 120, check=False)
        out, err = done.stdout, done.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = "timed out"
    rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    if not rows:
        print(f"warm evaluations: none finished ({err.strip().splitlines()[-1:]})", file=sys.stderr)
    return rows


def sweep(device: str, jobs: int, seconds: float, out: Path, env: dict[str, str]) -> dict:
    """The built-in level-1 sweep: problems started for `seconds` less a margin, stopped at `seconds`."""
    folder = out / "sweep"
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "benchmarks" / "swarm_builtin.py"), "--out", str(folder), "--device", device,
           "--level", "1", "--jobs", str(jobs), "--time-budget", str(max(30.0, seconds - 90.0)),
           "--hard-limit", str(seconds), "--timeout", "180"]
    try:
        subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    except subprocess.TimeoutExpired:
        pass
    path = folder / "swarm_builtin.json"
    return json.loads(path.read_text()) if path.exists() else {}


def summary(warm: list[dict], sw: dict) -> dict:
    warm_rows = [r for r in warm if r["warm"]]
    holds = sw.get("device_holds") or {}
    held = sum(h["total_s"] for h in holds.values())
    wall = sw.get("wall_s") or 0.0
    return {
        "warm_wall_s": [round(r["wall_s"], 2) for r in warm_rows],
        "warm_median_s": statistics.median(r["wall_s"] for r in warm_rows) if warm_rows else None,
        "warm_verdicts": sorted({r["verdict"] for r in warm_rows}),
        "warmup_s": warm[0]["wall_s"] if warm else None,
        "sweep_evaluations": sw.get("evaluations"), "sweep_wall_s": wall, "jobs": sw.get("jobs"),
        "per_minute": sw.get("per_gpu_minute"), "timing_share": sw.get("timing_share"),
        "held_share": held / wall if wall else None, "partial": sw.get("partial"),
        "eval_wall_s_mean": sw.get("eval_wall_s_mean"),
    }


def markdown(s: dict, warm: list[dict], device: str, versions: dict, sw: dict) -> str:
    def f(x: float | None, fmt: str) -> str:
        return "n/a" if x is None else fmt.format(x)

    def met(x: float | None, target: float, below: bool = False) -> str:
        return "n/a" if x is None else ("yes" if (x < target if below else x >= target) else "no")

    lines = [f"Device: {versions.get('device_name', device)}; torch {versions.get('torch', '?')}.", "",
             "| figure | measured | target | met |", "|---|---|---|---|",
             (f"| warm level-1 evaluation, median wall (s) | {f(s['warm_median_s'], '{:.1f}')} | < 5 | "
             f"{met(s['warm_median_s'], TARGETS['warm_s'], below=True)} |"),
             (f"| candidate evaluations per device-minute (--jobs {s['jobs']}, {s['sweep_evaluations']} in "
             f"{f(s['sweep_wall_s'], '{:.0f}')} s) | {f(s['per_minute'], '{:.1f}')} | >= 20 | "
             f"{met(s['per_minute'], TARGETS['per_minute'])} |"),
             (f"| candidates' timing phases, share of the sweep's wall | {f(s['timing_share'], '{:.0%}')} | >= 50% | "
             f"{met(s['timing_share'], TARGETS['timing_share'])} |"),
             f"| every hold of the device (baselines, screens too), share of the wall | {f(s['held_share'], '{:.0%}')} | | |",
             "", "| warm evaluation | verdict | wall s | " + " | ".join(PHASES) + " | rest | timed calls |",
             "|---|---|---|" + "---|" * (len(PHASES) + 2)]
    for r in warm:
        p = r["phases_s"]
        # check.trials is part of check; the rest is what no phase names (the screen, the workers' ends)
        rest = r["wall_s"] - sum(p.get(k, 0.0) for k in PHASES if k != "check.trials")
        lines.append(f"| {r['problem']}{'' if r['warm'] else ' (warm-up)'} | {r['verdict']} | {r['wall_s']:.1f} | "
                     + " | ".join(f"{p.get(k, 0.0):.1f}" for k in PHASES) + f" | {rest:.1f} | {r['calls']} |")
    for r in sw.get("evaluation_phases") or []:
        if r.get("reason"):
            lines.append(f"\n- sweep: {r['problem']} {r['verdict']}: {r['reason']}")
    if s.get("partial"):
        lines.append("\n(the sweep was stopped by its limit in the middle of a problem: evaluations finished by then count)")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--jobs", type=int, default=12, help="sweep: evaluations at once")
    ap.add_argument("--budget", type=float, default=560.0, help="seconds for both parts together")
    ap.add_argument("--warm-share", type=float, default=0.25, help="share of the budget for the warm evaluations")
    ap.add_argument("--problems", default=PROBLEMS, help="comma list of bundled level-1 problems (after the warm-up)")
    ap.add_argument("--warmup", default=WARMUP, help="the bundled problem evaluated first, to start everything")
    ap.add_argument("--src", type=Path, default=ROOT / "src",
                    help="the kernelswarm tree to measure (another tree's src beside this one: old against new)")
    args = ap.parse_args()
    if args.budget < 60 or not 0.05 <= args.warm_share <= 0.9:
        print("--budget: at least 60 s; --warm-share: between 0.05 and 0.9", file=sys.stderr)
        sys.exit(2)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ks-gpu-throughput-") as locks:
        env = {**os.environ, "KERNELSWARM_LOCK_DIR": locks, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(args.src.resolve()), os.environ.get("PYTHONPATH", "")] if p)
        warm_s = args.budget * args.warm_share
        # The warm-up's own time is not the later evaluations': none is started after warm_s less one.
        warm = warm_evaluations(args.device, f"{args.warmup},{args.problems}", warm_s - 40.0, env)
        for r in warm:
            print(f"{r['problem']}{'' if r['warm'] else ' (warm-up)'}: {r['verdict']}, {r['wall_s']:.1f} s", flush=True)
        left = args.budget - (time.monotonic() - started) - 30.0  # the sweep's own start and its tables
        sw = sweep(args.device, args.jobs, left, args.out, env) if left > 60 else {}
    s = summary(warm, sw)
    versions = warm[0].get("versions", {}) if warm else {}
    text = markdown(s, warm, args.device, versions, sw)
    (args.out / "gpu_throughput.json").write_text(json.dumps({"summary": s, "warm": warm, "sweep": sw,
                                                              "wall_s": time.monotonic() - started}, indent=1, default=str))
    (args.out / "gpu_throughput.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
