"""Does a baseline timed while other processes hold the device's memory come out slower?

    python benchmarks/memory_pressure.py [--out OUT] [--problems conv3d,resnet_basic_block,...]

For each problem the eager and torch.compile baselines are timed the way the supervisor times
them (`time_baselines`, a fresh clean worker each), three ways: with the device to themselves,
and while a stand-in for other evaluations (a process of its own) holds all but `--leave` GiB of
device memory, for two values of `--leave`. Printed per problem and state: the medians, the
least share of device memory the worker saw free, and whether `MemoryPressure` (the supervisor's
cue to time them again alone) would have been raised. The question it answers: the H100 sweep's
conv baselines read 2.5-3x slower than the H200's while its candidates did not (docs/benchmarks.md);
PyTorch's cuDNN path falls back to a smaller-workspace algorithm when memory is short, and keeps it.
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


def _time(problem, device: str) -> dict:
    """The baselines as the supervisor times them beside other evaluations (the memory check on),
    and, where the check refuses them, timed again without it to see what they would have read."""
    from kernelswarm.evaluate.baselines import MemoryPressure, time_baselines
    from kernelswarm.supervisor import MIN_FREE_SHARE

    row: dict = {"pressure": ""}
    for share in (MIN_FREE_SHARE, 0.0):
        try:
            t = time_baselines(problem, device, compile_modes=("default",), timeout_s=600, min_free_share=share)
        except MemoryPressure as e:
            row["pressure"] = str(e)
            continue
        row.update(eager_ms=t["eager"].median_ms, compile_ms=t["compile:default"].median_ms if "compile:default" in t else None)
        return row
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--problems", default="conv3d,resnet_basic_block,conv2d_pointwise_batchnorm_silu")
    ap.add_argument("--leave", default="1,6", help="GiB left free by the stand-in, one state per value")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: the 'alone' state only (a dry run)")
    args = ap.parse_args()
    import os
    import tempfile

    from kernelswarm.problems.suite import resolve_problems

    # Compile baselines are cached per problem: each state must build and time its own.
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
                os.environ["KERNELSWARM_CACHE"] = tempfile.mkdtemp(prefix="mp-cache-")
                row = {"problem": p.name, "state": "alone" if leave is None else f"{held} GiB held, {leave:g} GiB left"}
                row.update(_time(p, args.device))
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            if hog is not None:
                hog.stdin.write("\n")
                hog.stdin.flush()
                hog.wait(timeout=60)
    lines = ["| problem | state | eager ms | compile ms | MemoryPressure raised |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        f = lambda v: f"{v:.3f}" if isinstance(v, float) else "-"  # noqa: E731
        lines.append(f"| {r['problem']} | {r['state']} | {f(r.get('eager_ms'))} | {f(r.get('compile_ms'))} | {'yes' if r['pressure'] else 'no'} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "memory_pressure.json").write_text(json.dumps(rows, indent=1))
        (args.out / "memory_pressure.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
