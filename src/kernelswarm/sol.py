"""Speed of light: the device's measured peak rates, a problem's minimum work, and the floor.

Standard library and torch only: the evaluator's clean reference worker imports this module.

The peaks are measured on the device itself (a large device-to-device copy, a small cache-resident
copy, large matrix products per dtype) and cached per device name and torch version, never read
from a datasheet: the floor must describe the machine the candidate actually ran on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

# The evaluator rejects a candidate faster than MARGIN x the speed-of-light time. Measured peaks
# are what a good library kernel reaches, not the theoretical maximum, so an excellent hand-written
# kernel may come close to or slightly beat them; a factor of two keeps every honest candidate
# clear of the floor while still catching the timing cheats, which claim 10x-1000x.
MARGIN = 0.5


@dataclass
class Peaks:
    """Peak rates of one device, measured on it."""

    device: str  # backend name: cpu, cuda
    device_name: str  # e.g. "NVIDIA H100 80GB HBM3"; part of the cache key
    bandwidth_gbs: float  # main-memory bandwidth, GB/s, bytes read + written by a large copy
    fp32_tflops: float  # dense fp32 matmul, CUDA cores (TF32 off)
    tf32_tflops: float  # dense fp32 matmul with TF32 allowed (same as fp32 on cpu)
    bf16_tflops: float  # dense bf16 matmul
    fp16_tflops: float  # dense fp16 matmul
    measured_at: str  # UTC timestamp of the measurement
    torch_version: str  # part of the cache key: a new torch may bring faster kernels
    cache_bytes: int = 0  # size of the cache whose bandwidth is below (GPU L2; CPU L2 x threads)
    cache_bandwidth_gbs: float = 0.0  # bandwidth of a copy that stays in that cache
    quick: bool = False  # measured with small sizes (tests)
    busy: float = 0.0  # CPU: load average per core while measuring; a busy machine reads low peaks

    @property
    def fastest_tflops(self) -> float:
        """The fastest arithmetic unit measured, whatever its precision."""
        return max(self.fp32_tflops, self.tf32_tflops, self.bf16_tflops, self.fp16_tflops)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Peaks":
        names = {f.name for f in dataclasses.fields(Peaks)}
        return Peaks(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Work:
    """The least work any implementation of a problem must do, counted on the reference."""

    flops: int  # floating-point operations PyTorch's FLOP counter sees (matmul, conv, attention)
    bytes: int  # inputs, parameters and buffers read once plus outputs written once
    input_bytes: int = 0  # of which: the forward's tensor arguments
    param_bytes: int = 0  # of which: parameters and buffers
    output_bytes: int = 0  # of which: the outputs

    @property
    def intensity(self) -> float:
        """FLOPs per byte; above the device's ridge point a problem is compute-bound."""
        return self.flops / self.bytes if self.bytes else float("inf")


# ---------------------------------------------------------------- measurement


def _best_ms(run: Callable[[], float], repeats: int, budget_s: float) -> float:
    """Fastest of `repeats` calls of `run()` (which returns milliseconds), cut short by a budget.

    The fastest, not the median: other processes sharing the machine only ever slow a sample
    down, so the minimum is the best estimate of the peak, and an overestimated peak errs on the
    safe side for a floor (it can only lower it).
    """
    run()  # warm up: allocator, library heuristics, clocks
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < repeats and (len(samples) < 3 or time.perf_counter() < deadline):
        samples.append(run())
    return min(samples)


def _timer(device: str) -> Callable[[Callable[[], Any]], float]:
    """Return a function that times a callable on `device` in milliseconds."""
    if device == "cuda":

        def cuda_time(fn: Callable[[], Any]) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end)

        return cuda_time

    def cpu_time(fn: Callable[[], Any]) -> float:
        t0 = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - t0) / 1e6

    return cpu_time


def _copy_gbs(device: str, nbytes: int, inner: int, repeats: int, budget_s: float) -> float:
    """Bandwidth of copying `nbytes` (counted once read, once written) `inner` times per sample."""
    numel = max(1, nbytes // 4)
    src = torch.ones(numel, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    timer = _timer(device)

    def run() -> float:
        def body() -> None:
            for _ in range(inner):
                dst.copy_(src)

        return timer(body)

    ms = _best_ms(run, repeats, budget_s)
    return 2 * numel * 4 * inner / (ms * 1e-3) / 1e9


def _matmul_tflops(device: str, n: int, dtype: torch.dtype, tf32: bool, repeats: int, budget_s: float) -> float:
    """Rate of an n x n x n matrix product in `dtype`; 0.0 when the device does not support it."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        if device == "cpu" and n > 256:
            # A CPU without native support for a dtype can be a thousand times slower at it: size
            # the product from a small probe so that one call takes at most about 0.2 s.
            probe = _matmul_tflops(device, 256, dtype, tf32, 3, budget_s)
            n = min(n, max(256, int((0.2 * probe * 1e12 / 2) ** (1 / 3))))
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        c = torch.empty(n, n, device=device, dtype=dtype)
        timer = _timer(device)
        ms = _best_ms(lambda: timer(lambda: torch.matmul(a, b, out=c)), repeats, budget_s)
        return 2 * n**3 / (ms * 1e-3) / 1e12
    except RuntimeError:  # e.g. a dtype with no matmul kernel on this CPU
        return 0.0
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def device_name(device: str) -> str:
    """A name that identifies the hardware well enough to key the peaks cache."""
    if device == "cuda":
        return torch.cuda.get_device_name(torch.cuda.current_device())
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # The thread count is part of the name: the same CPU with fewer threads has lower peaks.
    return f"{model} x{torch.get_num_threads()} threads"


def _cpu_cache_bytes() -> int:
    """Private L2 per core times the threads in use; 1 MiB per thread when sysfs is absent."""
    size = 1 << 20
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "level").read_text().strip() == "2":
                m = re.fullmatch(r"(\d+)([KMG]?)", (index / "size").read_text().strip())
                if m:
                    size = int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]
        except OSError:
            pass
    return size * torch.get_num_threads()


def measure_peaks(device: str, quick: bool = False) -> Peaks:
    """Measure the device's peak bandwidth and matmul rates (seconds on a GPU, ~10 s on a CPU).

    `quick` uses small sizes, for tests: the numbers are then only indicative.
    """
    if device == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        cache = int(getattr(props, "L2_cache_size", 0) or 50 << 20)
        big, n, repeats, budget = (64 << 20, 2048, 5, 1.0) if quick else (1 << 30, 8192, 20, 5.0)
        dtypes = [("fp32", torch.float32, False), ("tf32", torch.float32, True),
                  ("bf16", torch.bfloat16, False), ("fp16", torch.float16, False)]
    elif device == "cpu":
        cache = _cpu_cache_bytes()
        big, n, repeats, budget = (16 << 20, 256, 3, 0.3) if quick else (256 << 20, 2048, 7, 3.0)
        dtypes = [("fp32", torch.float32, False), ("bf16", torch.bfloat16, False), ("fp16", torch.float16, False)]
    else:
        raise ValueError(f"cannot measure peaks on device {device!r}")
    busy = _load_per_core() if device == "cpu" else 0.0
    bandwidth = _copy_gbs(device, big, 1, repeats, budget)
    # Source and destination together fill half the cache; many copies per sample so that the
    # launch overhead does not hide the cache's bandwidth.
    cache_bw = _copy_gbs(device, cache // 4, 20, repeats, budget)
    rates = {name: _matmul_tflops(device, n, dt, tf32, repeats, budget) for name, dt, tf32 in dtypes}
    rates.setdefault("tf32", rates["fp32"])  # a CPU has no TF32 unit
    return Peaks(
        device=device,
        device_name=device_name(device),
        bandwidth_gbs=bandwidth,
        fp32_tflops=rates["fp32"],
        tf32_tflops=rates["tf32"],
        bf16_tflops=rates["bf16"],
        fp16_tflops=rates["fp16"],
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        torch_version=torch.__version__,
        cache_bytes=cache,
        cache_bandwidth_gbs=max(cache_bw, bandwidth),
        quick=quick,
        busy=busy,
    )


def _load_per_core() -> float:
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


# Above this load per core, other processes share the cores a CPU measurement ran on.
BUSY = 0.5


def cache_dir_default() -> Path:
    return Path(os.environ.get("KERNELSWARM_CACHE") or Path.home() / ".cache" / "kernelswarm")


def peaks_path(device: str, cache_dir: Path | None = None, quick: bool = False) -> Path:
    """Where the peaks of this device and torch version are cached."""
    key = re.sub(r"[^A-Za-z0-9.]+", "-", f"{device}-{device_name(device)}-torch{torch.__version__}").strip("-")
    return (cache_dir or cache_dir_default()) / f"peaks-{key}{'-quick' if quick else ''}.json"


def save_peaks(peaks: Peaks, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(peaks.to_dict(), indent=2))
        os.replace(tmp, path)  # atomic: concurrent workers never read half a file
    except OSError:
        pass  # a read-only home still gets correct (if uncached) peaks


def peaks_if_cached(device: str) -> Peaks | None:
    """The cached peaks of this device, or None where they were never measured."""
    try:
        return Peaks.from_dict(json.loads(peaks_path(device).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def cached_peaks(device: str, cache_dir: Path | None = None, quick: bool = False) -> Peaks:
    """The device's peaks, measured once per device name and torch version and kept as JSON.

    A CPU measurement taken while other processes shared the cores reads low, and a low peak
    raises the floor; it is kept only until the machine is next quiet, then measured again.
    """
    path = peaks_path(device, cache_dir, quick)
    try:
        cached = Peaks.from_dict(json.loads(path.read_text()))
        if cached.busy <= BUSY or _load_per_core() > BUSY:
            return cached
    except (OSError, ValueError, TypeError):
        pass  # absent or unreadable: measure again
    peaks = measure_peaks(device, quick=quick)
    save_peaks(peaks, path)
    return peaks


# ---------------------------------------------------------------- work and floor


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for x in obj for t in _tensors(x)]
    if isinstance(obj, dict):
        return [t for x in obj.values() for t in _tensors(x)]
    return []


def _nbytes(tensors: list[torch.Tensor], seen: set[tuple[int, int]]) -> int:
    """Bytes of distinct tensors; a tensor passed twice (or a tied weight) counts once."""
    total = 0
    for t in tensors:
        key = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.device.type != "meta" else (id(t), 0)
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
    return total


def _flops_and_outputs(model: torch.nn.Module, inputs: list[Any]) -> tuple[int, Any]:
    """One forward call's FLOPs by torch's own formulas (torch.utils.flop_counter's registry), and
    its outputs. FlopCounterMode's first use in a process imports torch._dynamo (and with it sympy
    and torch._inductor): 1.2 s on an idle 2-core CPU, 4-6 s of a clean worker on the H200 host,
    in every evaluation of a problem not yet counted (its `reference.work`). The same formulas
    through a dispatch mode that asks nothing of dynamo cost milliseconds. A higher-order operator
    (or anything else that mode cannot take) is counted by FlopCounterMode, as before."""
    from torch.utils.flop_counter import FlopCounterMode, flop_registry
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Flops(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:  # (torch wraps a mode's dispatch in dynamo.disable)
            return False

        def __init__(self) -> None:
            super().__init__()
            self.total = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += int(formula(*args, **kwargs, out_val=out))
            return out

    try:
        with torch.no_grad(), _Flops() as mode:
            outputs = model(*inputs)
        return mode.total, outputs
    except Exception:  # noqa: BLE001 - counted again the slow way, which says what failed
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            outputs = model(*inputs)
        return int(counter.get_total_flops()), outputs


def count_work(model: torch.nn.Module, inputs: list[Any]) -> Work:
    """FLOPs and minimum bytes of one forward call of `model` on `inputs` (runs it once)."""
    flops, outputs = _flops_and_outputs(model, inputs)
    seen: set[tuple[int, int]] = set()
    input_bytes = _nbytes(_tensors(list(inputs)), seen)
    param_bytes = _nbytes(list(model.parameters()) + list(model.buffers()), seen)
    output_bytes = _nbytes(_tensors(outputs), set())  # an output aliasing an input is still written
    return Work(
        flops=flops,
        bytes=input_bytes + param_bytes + output_bytes,
        input_bytes=input_bytes,
        param_bytes=param_bytes,
        output_bytes=output_bytes,
    )


# Bytes per parameter element a candidate may store under each precision policy: under bf16 or
# fp16 it may keep its own weights in half precision, so only half their fp32 bytes are certain.
_PARAM_SCALE = {"fp32": 1.0, "tf32": 1.0, "bf16": 0.5, "fp16": 0.5}


def sol_ms(work: Work, peaks: Peaks, precision: str = "fp32") -> float:
    """Speed-of-light time: the slower of compute at the fastest unit and traffic at full bandwidth.

    The compute term uses the fastest arithmetic unit measured (bf16/fp16 tensor cores) under every
    precision policy, not the unit the policy implies. The floor must never reject an honest
    candidate: a correct fp32 kernel may split operands across tensor cores (3xTF32, bf16x3) or find
    cheaper arithmetic, so any slower unit would be an unsafe bound. This is a plausibility bound,
    not a target. Limits: the FLOP term assumes the candidate does the reference's arithmetic; an
    algebraic rewrite that removes work (allowed by TRUST.md) can legitimately beat it, which is why
    the evaluator rejects only below MARGIN x this (see floor_ms) and re-verifies large speedups.

    The memory term lets the bytes that fit in the measured cache move at cache bandwidth, since
    small inputs may still be cache-resident when the timed call starts.
    """
    precision = getattr(precision, "value", precision)
    nbytes = work.bytes - work.param_bytes * (1.0 - _PARAM_SCALE.get(str(precision), 0.5))
    cached = min(nbytes, peaks.cache_bytes)
    memory_s = cached / (peaks.cache_bandwidth_gbs or peaks.bandwidth_gbs) / 1e9
    memory_s += (nbytes - cached) / peaks.bandwidth_gbs / 1e9
    compute_s = work.flops / (peaks.fastest_tflops * 1e12) if peaks.fastest_tflops > 0 else 0.0
    return 1e3 * max(memory_s, compute_s)


def bound(work: Work, peaks: Peaks) -> str:
    """'compute' or 'memory': which term of the speed-of-light time is larger."""
    memory_s = work.bytes / (peaks.bandwidth_gbs * 1e9)
    compute_s = work.flops / (peaks.fastest_tflops * 1e12) if peaks.fastest_tflops > 0 else 0.0
    return "compute" if compute_s > memory_s else "memory"


def floor_ms(work: Work, peaks: Peaks, precision: str = "fp32") -> float:
    """The evaluator's plausibility floor: a candidate timed below this is rejected.

    MARGIN x sol_ms, so that an honest kernel running at (or a little past) the measured peaks is
    never rejected; only timings that no hardware could produce are. Peaks measured while other
    processes shared the cores (a CPU's `busy`: load per core) read low by up to one share per
    runnable process, and a low peak raises the floor: the floor is lowered by that much too. On
    this 2-core box at load 13-19, peaks measured at 6-16 GFLOP/s against about 47 idle rejected
    honest candidates (correct/ext_fallback, a full-speed 192x384x192 matmul) as faster than light.
    """
    return MARGIN * sol_ms(work, peaks, precision) / (1.0 + max(0.0, peaks.busy))


def fraction_of_sol(sol_ms: float, measured_ms: float) -> float:
    """Speed-of-light time over measured time: 1.0 means running at the measured peak rates.

    Pass `sol_ms(...)`, not `floor_ms(...)` (which includes the rejection margin).
    """
    return sol_ms / measured_ms if measured_ms > 0 else 0.0
