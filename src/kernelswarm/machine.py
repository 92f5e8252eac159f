"""Which machine a run's timings come from.

A speedup divides two timings; both must come from the same device and libraries. A run resumed on
another machine (another GPU model, another PyTorch or Triton) would divide a baseline timed there
by a candidate timed here, so a resumed run must find the machine it started on.
"""

from __future__ import annotations

import os
import platform
import subprocess

# What must agree between a run's start and its resumption (where both are known).
SAME_MACHINE_KEYS = ("device_name", "torch", "triton", "cuda", "threads")


def identity(device: str) -> dict[str, str]:
    """This machine's values for SAME_MACHINE_KEYS, without touching the device (no CUDA context)."""
    from kernelswarm.runconfig import host_versions

    out = {k: v for k, v in host_versions(device).items() if k in SAME_MACHINE_KEYS}
    if device == "cuda":
        name = _gpu_name()
        if name:
            out["device_name"] = name
    elif device == "cpu":
        from kernelswarm.evaluate.parent.options import EvalOptions

        out["device_name"] = platform.processor() or platform.machine()
        out["threads"] = str(EvalOptions(device="cpu").threads())
    return out


def mismatch(recorded: dict[str, str], device: str) -> str:
    """'' when this machine matches what a run recorded; else what differs, in one line."""
    here = identity(device)
    diffs = [f"{k} {recorded[k]} there, {here[k]} here" for k in SAME_MACHINE_KEYS
             if recorded.get(k) and here.get(k) and str(recorded[k]) != here[k]]
    return "; ".join(diffs)


def _gpu_name() -> str:
    """The first visible GPU's name from nvidia-smi (the name the evaluator records from CUDA)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    cmd = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"] + (["-i", visible] if visible else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = out.stdout.strip().splitlines() if out.returncode == 0 else []
    return lines[0].strip() if lines else ""


# What one evaluation's processes may take at once on a CPU: three workers forked from the zygote
# (the reference, the candidate, the flusher), one of them compiling (inductor, a C++ build).
EVALUATION_MEMORY = 2 << 30
MOST_JOBS_AHEAD = 8  # past this the quick start's few candidates gain nothing; memory still bounds it


def jobs_ahead(cores: int | None = None, available: int | None = None) -> int:
    """Evaluations a CPU run overlaps by default: one per core, as memory allows (at least one).
    Their starts, builds and correctness trials run side by side; each timing still has the
    machine to itself, the others' processes stopped (evaluate.parent.devicelock)."""
    cores = cores if cores is not None else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    available = available if available is not None else _available_memory()
    by_memory = available // EVALUATION_MEMORY if available else cores
    return max(1, min(cores, by_memory, MOST_JOBS_AHEAD))


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes; None where there is none (not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
