"""What the structured trial (issue 14) adds to an evaluation, part by part, on bundled problems.

    PYTHONPATH=src python benchmarks/structured_cost.py [--device cpu] [--problems level1/softmax,...] [--repeats 3]

Per problem at the device's size preset: the trial's inputs drawn plainly and structured (both
workers draw them), the nudged copy (the clean worker's), and one forward of the reference (the
trial runs the candidate once and the reference three times: float32, float64, nudged). Times are
the best of `--repeats`, on one thread on a CPU (as the workers draw inputs). The extra trial costs
about 2 x structured + nudged + the calls; the other trials are unchanged. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "src" / "kernelswarm" / "problems" / "suite"
DEFAULT = "level1/softmax,level1/layer_norm,level1/argmax,level1/matmul_square,level1/conv2d,level3/transformer_encoder_block"


def _best(fn, repeats: int, sync) -> float:
    best = float("inf")
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--problems", default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from kernelswarm.evaluate.worker.structured import nudged
    from kernelswarm.evaluate.worker.tensors import make_inputs
    from kernelswarm.problems.load import exec_problem

    device = torch.device(a.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.set_grad_enabled(False)
    print("| problem | input MiB | plain inputs s | structured inputs s | nudged s | reference call s |")
    print("|---|---|---|---|---|---|")
    for name in a.problems.split(","):
        path = SUITE / f"{name}.py"
        problem = exec_problem(path.read_text(), str(path), device.type)
        with device:
            model = problem.Model(*problem.get_init_inputs())
        x = make_inputs(problem, 1, device, structured=True)
        mib = sum(t.numel() * t.element_size() for t in x if isinstance(t, torch.Tensor)) / 2**20
        plain = _best(lambda p=problem: make_inputs(p, 1, device), a.repeats, sync)
        structured = _best(lambda p=problem: make_inputs(p, 1, device, structured=True), a.repeats, sync)
        nudge = _best(lambda x=x: nudged(x, 1), a.repeats, sync)
        call = _best(lambda m=model, x=x: m(*x), a.repeats, sync)
        print(f"| {name} | {mib:.0f} | {plain:.3f} | {structured:.3f} | {nudge:.3f} | {call:.3f} |", flush=True)


if __name__ == "__main__":
    main()
