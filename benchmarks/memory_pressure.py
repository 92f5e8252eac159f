"""Does a baseline timed while other processes hold the device's memory come out slower?

    python benchmarks/memory_pressure.py [--out OUT] [--problems conv3d,resnet_basic_block,...]

For each problem the eager baseline (and with --compile the torch.compile one) is timed the way
the supervisor times it (`time_baselines`, a fresh clean worker each): with the device to itself,
and while a stand-in for other evaluations (a process of its own) holds all but `--leave` GiB of
device memory (default 2). Printed per problem and state: the medians, the share of device memory
free as the timing starts, and whether the supervisor would now time that baseline again alone.
The question it answers: the H100 sweep's conv baselines read 2.5-3x slower than the H200's
while its candidates did not (docs/benchmarks.md); PyTorch's cuDNN path falls back to a
smaller-workspace algorithm when memory is short, and keeps it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HOG = r"""
import sys, time, torch
leave = float(sys.argv[1]) * 2**30
free, total = torch.cuda.mem_get_info()
held = torch.empty(max(0, int(free - leave)), dtype=torch.uint8, device="cuda")
print(f"ready {held.numel() / 2**30:.1f}", flush=True)
sys.stdin.readline()
"""


def _time(problem, device: str, compile_too: bool) -> dict:
    """The baselines as the supervisor times them (the memory check itself is tested in
    tests/evaluate/test_gpu_memory.py), with the share of device memory free as they start."""
    from kernelswarm.evaluate.parent.baselines import time_baselines

    row: dict = {"free_share": _free_share(device)}
    t = time_baselines(problem, device, compile_modes=("default",) if compile_too else (), timeout_s=600)
    row.update(eager_ms=t["eager"].median_ms, compile_ms=t["compile:default"].median_ms if "compile:default" in t else None)
    return row


def _free_share(device: str) -> float:
    if device != "cuda":
        return 1.0
    import torch

    free, total = torch.cuda.mem_get_info()
    return free / total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--problems", default="conv3d,resnet_basic_block,conv2d_pointwise_batchnorm_silu")
    ap.add_argument("--leave", default="2", help="GiB left free by the stand-in, one state per value (comma list)")
    ap.add_argument("--compile", action="store_true", help="the torch.compile baselines too (slow: a compile per state)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: the 'alone' state only (a dry run)")
    args = ap.parse_args()
    import os
    import tempfile

    from kernelswarm.problems.suite import resolve_problems

    problems, errors = resolve_problems([n.strip() for n in args.problems.split(",")])
    if errors or not problems:
        print(f"problems: {errors or 'none'}", file=sys.stderr)
        return 2
    rows = []
    states = [None] + ([float(x) for x in args.leave.split(",")] if args.device == "cuda" else [])
    for leave in states:
        hog = None
        if leave is not None:
            hog = subprocess.Popen([sys.executable, "-c", HOG, str(leave)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            held = hog.stdout.readline().split()[-1]
        try:
            for p in problems:
                # Compile baselines are cached per problem: each state must build and time its own.
                os.environ["KERNELSWARM_CACHE"] = tempfile.mkdtemp(prefix="mp-cache-")
                row = {"problem": p.name, "state": "alone" if leave is None else f"{held} GiB held, {leave:g} GiB left"}
                try:
                    row.update(_time(p, args.device, args.compile))
                except Exception as e:  # out of memory with so little left, say: a row, not the end
                    row.update(free_share=_free_share(args.device), error=f"{e.__class__.__name__}: {e}"[:200])
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            if hog is not None:
                hog.stdin.write("\n")
                hog.stdin.flush()
                hog.wait(timeout=60)
    from kernelswarm.evaluate.parent.baselines import picks_by_workspace
    from kernelswarm.supervisor import MIN_FREE_SHARE

    by_name = {p.name: p for p in problems}
    lines = ["| problem | state | free at start | eager ms | compile ms | would be timed again alone | error |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        f = lambda v: f"{v:.3f}" if isinstance(v, float) else "-"  # noqa: E731
        again = picks_by_workspace(by_name[r["problem"]]) and r["free_share"] < MIN_FREE_SHARE
        lines.append(f"| {r['problem']} | {r['state']} | {r['free_share']:.0%} | {f(r.get('eager_ms'))} | "
                     f"{f(r.get('compile_ms'))} | {'yes' if again else 'no'} | {r.get('error', '')} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "memory_pressure.json").write_text(json.dumps(rows, indent=1))
        (args.out / "memory_pressure.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
