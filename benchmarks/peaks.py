"""Measure this machine's peak rates and profile a few bundled problems; print tables.

    python benchmarks/peaks.py [--device cuda] [--ncu] [--json OUT.json] [PROBLEM ...]

Peaks are measured fresh (not read from the cache) and then written to the cache, so the
evaluator's speed-of-light floor uses them afterwards. For each problem the reference is profiled
in a fresh worker process; the last column checks that the honest reference sits above the
evaluator's plausibility floor, which it always must.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kernelswarm import sol  # noqa: E402
from kernelswarm.problems.load import load_problem  # noqa: E402
from kernelswarm.profile import ProfileError, format_profile, profile_problem  # noqa: E402

SUITE = ROOT / "src" / "kernelswarm" / "problems" / "suite"
DEFAULT_PROBLEMS = ["level1/matmul_square.py", "level1/relu.py", "level1/softmax.py", "level1/conv2d.py",
                    "level2/linear_relu.py", "level3/mlp.py"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("problems", nargs="*", help=f"problem files (default: {', '.join(DEFAULT_PROBLEMS)})")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    ap.add_argument("--ncu", action="store_true", help="add Nsight Compute metrics for the top kernels")
    ap.add_argument("--json", type=Path, default=None, help="also write everything measured to this file")
    args = ap.parse_args()

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    peaks = sol.measure_peaks(device)
    took = time.perf_counter() - t0
    print(f"peaks of {peaks.device_name} ({device}), torch {peaks.torch_version}, measured in {took:.1f} s")
    rows = [("main-memory bandwidth (copy, read+write)", f"{peaks.bandwidth_gbs:,.0f} GB/s"),
            (f"cache bandwidth ({peaks.cache_bytes / 2**20:.0f} MiB cache)", f"{peaks.cache_bandwidth_gbs:,.0f} GB/s"),
            ("fp32 matmul", f"{peaks.fp32_tflops:,.1f} TFLOP/s"), ("tf32 matmul", f"{peaks.tf32_tflops:,.1f} TFLOP/s"),
            ("bf16 matmul", f"{peaks.bf16_tflops:,.1f} TFLOP/s"), ("fp16 matmul", f"{peaks.fp16_tflops:,.1f} TFLOP/s")]
    for name, value in rows:
        print(f"  {name:<44} {value:>16}")
    # Store them where cached_peaks looks, so that the evaluator and the profiles below use them.
    path = sol.peaks_path(device)
    sol.save_peaks(peaks, path)
    print(f"  cached in {path}" + (f" (measured on a busy machine: load {peaks.busy:.1f} per core)" if peaks.busy > sol.BUSY else ""))

    results = {"peaks": peaks.to_dict(), "problems": []}
    print()
    header = f"{'problem':<28} {'median':>10} {'sol':>10} {'floor':>10} {'of sol':>8} {'bound':>8}  above floor  top kernel"
    print(header)
    print("-" * len(header))
    profiles = []
    for rel in args.problems or DEFAULT_PROBLEMS:
        path = Path(rel) if Path(rel).exists() else SUITE / rel
        problem = load_problem(path)
        try:
            p = profile_problem(problem, device, ncu=args.ncu)
        except ProfileError as e:
            print(f"{problem.name:<28} failed: {e}")
            continue
        profiles.append(p)
        top = p.kernels[0].name[:60] if p.kernels else "(no kernels recorded)"
        ok = "yes" if p.median_ms >= p.floor_ms else "NO (bug)"
        print(f"{problem.name:<28} {p.median_ms:>8.4g}ms {p.sol_ms:>8.3g}ms {p.floor_ms:>8.3g}ms "
              f"{100 * p.fraction_of_sol:>7.3g}% {p.bound:>8}  {ok:<11}  {top}")
        results["problems"].append(p.to_dict())
    for p in profiles:
        print()
        print(format_profile(p))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
