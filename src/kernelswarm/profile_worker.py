"""The profiling worker: `python -m kernelswarm.profile_worker REQUEST.json RESULT.json`.

Runs in a fresh process because it may import candidate code, which must never run inside the
caller (TRUST.md). Standard library and torch only. The request names the problem, the device,
the candidate source (or none, for the reference) and the mode: `profile` (time, count work, run
torch.profiler) or `ncu` (one call between cudaProfilerStart/Stop, for Nsight Compute to capture).
The answer is written to RESULT.json, never to stdout, which the candidate may print to.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import traceback
import types
from typing import Any

import torch

from kernelswarm.backends import get_backend
from kernelswarm.problems.load import exec_problem
from kernelswarm.sol import bound, cached_peaks, count_work, floor_ms, sol_ms

_PROFILED_CALLS = 5  # calls inside torch.profiler; kernel times are divided by this


def _to(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(x, device) for x in obj)
    return obj


def _build(req: dict[str, Any], device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module | None, list]:
    """The reference model, the candidate model (or None) and one set of inputs, all on the device."""
    problem = exec_problem(req["problem_source"], req["problem_path"], req["device"])
    init = problem.get_init_inputs()
    torch.manual_seed(0)
    reference = problem.Model(*init).to(device).eval()
    torch.manual_seed(1)
    inputs = _to(list(problem.get_inputs()), device)
    candidate = None
    if req.get("candidate_source") is not None:
        module = types.ModuleType("kernelswarm_candidate")
        module.__file__ = req.get("candidate_path", "<candidate>")
        sys.modules[module.__name__] = module  # triton looks up the module that defines a kernel
        exec(compile(req["candidate_source"], module.__file__, "exec"), module.__dict__)
        torch.manual_seed(0)
        candidate = module.ModelNew(*init).to(device).eval()
    return reference, candidate, inputs


def _sandbox(req: dict[str, Any], tcp: bool = False) -> str:
    """Before a candidate's code runs: what the evaluator's candidate worker gives up (no
    capabilities, no `setsid` or `ptrace`, writes only in this worker's folder: sandbox.py).
    Returns the line saying what holds; a kernel that offers Landlock and refuses it stops here."""
    if req.get("candidate_source") is None:
        return ""
    if os.environ.get("KERNELSWARM_NO_SANDBOX"):
        return "off (KERNELSWARM_NO_SANDBOX is set): the candidate could write anywhere its user may"
    from kernelswarm.evaluate.worker.sandbox import candidate_sandbox

    return candidate_sandbox(req["device"], tcp=tcp)


def _kernels(prof: Any, cuda: bool, calls: int) -> list[dict[str, Any]]:
    """Per kernel (CUDA) or per operator with its own time (CPU): total ms per call and calls."""
    rows = []
    for e in prof.key_averages():
        # Our own record_function range appears on both timelines; it spans the kernels, not one.
        if getattr(e, "is_user_annotation", False) or e.key == "kernelswarm.forward":
            continue
        if cuda:
            if str(getattr(e, "device_type", "")).rsplit(".", 1)[-1] != "CUDA":
                continue
            us = getattr(e, "self_device_time_total", None)
            if us is None:
                us = getattr(e, "self_cuda_time_total", 0.0)
        else:
            if e.key.startswith("ProfilerStep"):
                continue
            us = e.self_cpu_time_total
        if us > 0:
            rows.append({"name": e.key, "ms": us / 1e3 / calls, "calls": max(1, round(e.count / calls))})
    return sorted(rows, key=lambda r: -r["ms"])


def profile(req: dict[str, Any]) -> dict[str, Any]:
    # Peaks first: measured (and cached) before any candidate code runs, which could slow what they
    # time, and before the sandbox, which forbids writing the cache.
    peaks = cached_peaks(req["device"], quick=bool(req.get("quick_peaks", False)))
    sandboxed = _sandbox(req)
    backend = get_backend(req["device"])
    device = backend.device
    cuda = req["device"] == "cuda"
    with torch.no_grad():
        reference, candidate, inputs = _build(req, device)
        # Work is the problem's, counted on the reference: a candidate that does less still owes it.
        work = count_work(reference, inputs)
        model = candidate if candidate is not None else reference
        for _ in range(3):
            model(*inputs)
        backend.synchronize()
        samples = []
        for _ in range(int(req.get("timed_calls", 20))):
            backend.flush_cache()
            backend.synchronize()
            ms, _ = backend.time_call(lambda: model(*inputs))
            samples.append(ms)
        median = statistics.median(samples)

        from torch.profiler import ProfilerActivity, profile as torch_profile, record_function

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with torch_profile(activities=activities) as prof:
            for _ in range(_PROFILED_CALLS):
                with record_function("kernelswarm.forward"):
                    model(*inputs)
            backend.synchronize()
    kernels = _kernels(prof, cuda, _PROFILED_CALLS)
    if not cuda:
        # CPU code outside PyTorch operators (a C++ extension called through pybind) has no row of
        # its own; show its time rather than let the operator shares overstate themselves.
        outside = median - sum(k["ms"] for k in kernels)
        if outside > 0.05 * median:
            kernels.append({"name": "(outside PyTorch operators: Python, extensions)", "ms": outside, "calls": 1})
            kernels.sort(key=lambda r: -r["ms"])
    precision = req.get("precision", "fp32")
    return {
        "kernels": kernels,
        "flops": work.flops,
        "bytes": work.bytes,
        "input_bytes": work.input_bytes,
        "param_bytes": work.param_bytes,
        "output_bytes": work.output_bytes,
        "sol_ms": sol_ms(work, peaks, precision),
        "floor_ms": floor_ms(work, peaks, precision),
        "bound": bound(work, peaks),
        "peaks": peaks.to_dict(),
        "median_ms": median,
        "versions": backend.info(),
        "sandbox": sandboxed,
    }


def ncu_pass(req: dict[str, Any]) -> dict[str, Any]:
    """Warm up outside Nsight Compute's range, then run one call inside it."""
    _sandbox(req, tcp=True)  # Nsight Compute's injected library reports to its front end over TCP
    device = torch.device("cuda")
    with torch.no_grad():
        reference, candidate, inputs = _build(req, device)
        model = candidate if candidate is not None else reference
        for _ in range(3):
            model(*inputs)
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStart()
        model(*inputs)
        torch.cuda.synchronize()
        torch.cuda.cudart().cudaProfilerStop()
    return {}


def main(argv: list[str]) -> int:
    request_path, result_path = argv[1], argv[2]
    with open(request_path) as f:
        req = json.load(f)
    try:
        result = ncu_pass(req) if req.get("mode") == "ncu" else profile(req)
    except BaseException as e:  # any failure, including the candidate's, becomes a one-line error
        last = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
        where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
        result = {"error": f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}{where}"}
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
