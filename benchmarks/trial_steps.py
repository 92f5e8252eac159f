"""Where a correctness trial's time goes, step by step, on one device (issue 16: on the H200 the
trials of a copy with 0.5-1 GiB inputs and outputs took about 5 s, their checks 1.4-3 s).

    PYTHONPATH=src python benchmarks/trial_steps.py --device cuda --problem level1/layer_norm --trials 3

One process, no workers, no pipes: the steps of the candidate's worker's `run` (base.op_run) and of
the clean worker's `check` (reference.op_check), each with the library's own functions, for the
problem's reference standing in for the candidate. Each step is timed with the device synchronized
around it (ms, the median of `--trials`; the first trial warms the device up and is not counted).
What the process boundary adds (the parent's request, the sealed file handed on, the pipe) is not
here: call_wall.py has the requests' walls. Prints a markdown table. Exit 0.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import types
from collections import defaultdict
from pathlib import Path

import torch

import kernelswarm
from kernelswarm.evaluate.worker import compare as comparing
from kernelswarm.evaluate.worker import fingerprints, rawblob, tensors
from kernelswarm.problems.load import load_problem


def _module(name: str) -> types.ModuleType:
    problem = load_problem(Path(kernelswarm.__file__).parent / "problems" / "suite" / f"{name}.py")
    module = types.ModuleType("trial_steps_problem")
    exec(compile(problem.source, f"{name}.py", "exec"), module.__dict__)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--problem", default="level1/layer_norm")
    ap.add_argument("--trials", type=int, default=3)
    a = ap.parse_args()
    device = torch.device(a.device)
    module = _module(a.problem)
    steps: dict[str, list[float]] = defaultdict(list)

    def step(name: str, fn, keep: bool):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if keep:
            steps[name].append(1000.0 * (time.perf_counter() - t))
        return out

    torch.set_grad_enabled(False)  # as in the workers' calls
    for trial in range(a.trials + 1):
        keep, seed = trial > 0, 1000 + trial
        # The candidate's worker (base.op_run).
        tensors.seed_all(7)
        model = step("run: model built", lambda: module.Model(*module.get_init_inputs()).to(device), keep)
        inputs = step("run: inputs drawn", lambda: tensors.make_inputs(module, seed, device), keep)
        before = step("run: inputs fingerprinted", lambda: fingerprints.fingerprint(inputs), keep)
        given = step("run: inputs cloned", lambda: tensors.clone_inputs(inputs), keep)
        outputs = step("run: the call", lambda: tensors.as_outputs(model(*given)), keep)
        spec = tensors.spec_of(outputs)
        step("run: memory poisoned (before the call)", lambda: tensors.poison(spec, device, float("nan")), keep)
        step("run: outputs fingerprinted", lambda: fingerprints.fingerprint(outputs), keep)
        step("run: output_problems", lambda: tensors.output_problems(outputs, given, device), keep)
        step("run: inputs fingerprinted again", lambda: fingerprints.same_fingerprint(before, fingerprints.fingerprint(given), rel=0.0), keep)
        blob = step("run: outputs into the sealed file (to_blob)", lambda: rawblob.to_blob(outputs), keep)
        # The clean worker (reference.op_check).
        inputs = step("check: inputs drawn", lambda: tensors.make_inputs(module, seed, device), keep)
        cands = step("check: outputs read and moved to the device", lambda: [c.to(device) for c in rawblob.from_blob(blob)], keep)
        refs = step("check: the reference's call", lambda: tensors.as_outputs(model(*tensors.clone_inputs(inputs))), keep)

        def fp64():
            m64 = copy.deepcopy(model).double()
            x64 = [x.double() if isinstance(x, torch.Tensor) and x.is_floating_point() else x
                   for x in tensors.clone_inputs(inputs)]
            return tensors.as_outputs(m64(*x64))

        refs64 = step("check: the float64 reference (inputs cloned, converted)", fp64, keep)
        step("check: compare", lambda: [comparing.compare(c, r, r64, "fp32") for c, r, r64 in zip(cands, refs, refs64)], keep)
        step("check: outputs fingerprinted", lambda: fingerprints.fingerprint(cands), keep)
        if hasattr(blob, "close"):
            blob.close()
    size = sum(o["shape"] and torch.Size(o["shape"]).numel() * torch.empty((), dtype=getattr(torch, o["dtype"])).element_size()
               or 0 for o in spec)
    print(f"## one correctness trial's steps ({a.problem}, {a.device}, outputs {size / 2**20:.0f} MiB; "
          f"ms, median of {a.trials})\n")
    print("| step | ms |")
    print("|---|---|")
    total = 0.0
    for name, xs in steps.items():
        m = statistics.median(xs)
        total += m
        print(f"| {name} | {m:.1f} |")
    print(f"| all of them | {total:.1f} |")


if __name__ == "__main__":
    main()
