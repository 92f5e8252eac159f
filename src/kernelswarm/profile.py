"""Where the time goes: a profile of a reference or a candidate on its device.

The module runs in a fresh `kernelswarm.profile_worker` process (candidate code never enters the
caller's process). A Profile holds the kernels that ran with their time and share, the problem's
FLOPs and minimum bytes, the device's measured peaks, the speed-of-light time and the measured
median. With `ncu=True` and Nsight Compute on PATH, the top kernels get its key metrics too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from kernelswarm import redact
from kernelswarm.problems.load import Problem
from kernelswarm.sol import Peaks

NCU_METRICS = (
    "gpu__time_duration.sum",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
)
NCU_TOP = 5  # kernels reported with Nsight Compute metrics


class ProfileError(RuntimeError):
    """The module could not be profiled; the message is one line."""


@dataclass(frozen=True)
class KernelTime:
    """One kernel (CUDA) or operator (CPU) and its share of the device time of one call."""

    name: str
    ms: float  # total time per forward call, summed over its launches
    calls: int  # launches per forward call
    share: float  # of the summed kernel time of one call


@dataclass(frozen=True)
class NcuKernel:
    """Nsight Compute's view of one kernel, aggregated over its launches in one call."""

    name: str
    launches: int
    duration_ms: float  # gpu__time_duration.sum, summed over launches
    sm_pct: float | None  # SM throughput, % of peak (duration-weighted mean)
    dram_pct: float | None  # DRAM throughput, % of peak (duration-weighted mean)


@dataclass
class Profile:
    """Profile of one implementation of a problem on one device."""

    problem: str
    device: str
    subject: str  # "reference" or "candidate"
    median_ms: float  # measured per call: flush, full synchronize, median of the timed calls
    kernels: list[KernelTime]  # largest first
    flops: int  # of the reference (the problem's work, whoever does it)
    bytes: int  # minimum traffic: inputs, parameters, buffers read once; outputs written once
    sol_ms: float  # speed-of-light time at the measured peaks
    floor_ms: float  # the evaluator's plausibility floor (sol.MARGIN x sol_ms)
    bound: str  # "memory" or "compute": which speed-of-light term dominates
    peaks: Peaks
    versions: dict[str, str] = field(default_factory=dict)
    ncu: list[NcuKernel] = field(default_factory=list)
    ncu_note: str = ""  # why there are no Nsight Compute metrics, when there are none
    sandbox: str = ""  # what the candidate's process gave up before it ran (as the evaluator's check says)

    @property
    def fraction_of_sol(self) -> float:
        return self.sol_ms / self.median_ms if self.median_ms > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fraction_of_sol"] = self.fraction_of_sol
        return d


def _run_worker(request: dict[str, Any], timeout_s: float, prefix: Callable[[Path], list[str]] | None = None,
                after: Callable[[Path], Any] | None = None) -> tuple[dict, Any]:
    """Run the worker (optionally under a wrapper such as ncu) in a folder of its own; return its
    answer and what `after(folder)` made of the folder before it was removed.

    It runs candidate code, so it is started as the evaluator's candidate worker is (TRUST.md,
    issue 14.3 and 14.4): an allow-listed environment without secrets (environment.worker_env), every
    cache in its folder, its own PID and mount namespaces where they can be made (contain.py),
    and, before the candidate is imported, the same sandbox (sandbox.candidate_sandbox: no
    capabilities, no `setsid` or `ptrace`, writes only inside its folder). Every process it
    started is killed before this returns, and its folder removed."""
    from kernelswarm.evaluate.parent import shield
    from kernelswarm.evaluate.parent.own_files import read_head
    from kernelswarm.evaluate.parent.environment import worker_env
    from kernelswarm.evaluate.worker import contain

    contain.clean_stale()  # what a SIGKILLed profile or evaluation left
    folder = Path(tempfile.mkdtemp(prefix=contain.PREFIX + "profile-"))
    try:
        contain.claim_folder(folder)
        req_path, res_path, log_path = folder / "request.json", folder / "result.json", folder / "worker.log"
        if request.get("candidate_source") is not None:
            # A real file: Triton reads a kernel's source back through its defining file.
            cand_path = folder / "candidate.py"
            cand_path.write_text(request["candidate_source"])
            request = {**request, "candidate_path": str(cand_path)}
        req_path.write_text(json.dumps(request))
        shield.protect_self()  # before the worker exists: see shield.py
        env = worker_env(folder)
        argv = [sys.executable, "-m", "kernelswarm.profile_worker", str(req_path), str(res_path)]
        argv = (prefix(folder) if prefix else []) + argv
        report_r, report_w = os.pipe()  # for the launcher's containment report (not read: the worker says)
        if contain.available():
            argv = contain.launch_argv(argv, report_w, [str(folder), *contain.code_paths(env["PYTHONPATH"], env)])
        try:
            code = _wait_worker(argv, folder, env, log_path, report_w, timeout_s, request)
        finally:
            os.close(report_r)
        # The worker's folder is the candidate's: its answer only as a plain file, never through a
        # link it made there (to /dev/zero, a FIFO, a file of the user's: own_files.py).
        answer = read_head(res_path, _MAX_RESULT)
        if answer is None:
            tail = _tail(log_path)
            raise ProfileError(f"the profiling worker exited with status {code}: {tail}")
        try:
            if len(answer) > _MAX_RESULT:
                raise ValueError("too large")
            result = json.loads(answer.decode())
        except (OSError, ValueError) as e:
            raise ProfileError(f"the profiling worker's answer is unreadable ({e.__class__.__name__})") from None
        made = after(folder) if after is not None else None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not isinstance(result, dict):
        raise ProfileError("the profiling worker's answer is not an object")
    if "error" in result:
        raise ProfileError(redact.scrub(str(result["error"]).splitlines()[0] if str(result["error"]) else "error"))
    return result, made


_MAX_RESULT = 16 << 20  # characters of the worker's answer read: a profile is a few kilobytes


def _wait_worker(argv: list[str], folder: Path, env: dict[str, str], log_path: Path, report_w: int,
                 timeout_s: float, request: dict[str, Any]) -> int:
    """Start the worker in its own session, wait for it, and kill everything of its session
    (what a candidate left behind where no namespace could be made). Returns its exit status."""
    from kernelswarm.evaluate.worker import contain

    def limits() -> None:
        import resource

        contain.set_parent_death_signal()  # a SIGKILLed caller takes the worker with it
        resource.setrlimit(resource.RLIMIT_CORE, contain.NO_CORE)

    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, pass_fds=(report_w,), start_new_session=True,
                                    preexec_fn=limits)
        finally:
            os.close(report_w)
        contain.note_session(folder, proc.pid)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ProfileError(f"profiling {request['problem_path']} took longer than {timeout_s:.0f} s") from None
        finally:
            contain.kill_session(proc.pid)
            proc.kill()
            proc.wait()


def _tail(log_path: Path) -> str:
    """The last line of the worker's output, scrubbed of secrets (the candidate prints to it)."""
    from kernelswarm.evaluate.parent.own_files import read_tail

    lines = read_tail(log_path, 4000).decode(errors="replace").strip().splitlines()
    lines = [line for line in lines if not line.startswith("USDT:")]
    return redact.scrub(lines[-1] if lines else "no output")


def profile_problem(problem: Problem, device: str, candidate_source: str | None = None, ncu: bool = False,
                    timeout_s: float = 600.0, precision: str = "fp32", quick_peaks: bool = False) -> Profile:
    """Profile the reference (or `candidate_source`) of `problem` on `device`, in a fresh process."""
    request = {
        "mode": "profile", "device": device, "problem_path": str(problem.path), "problem_source": problem.source,
        "candidate_source": candidate_source, "precision": str(getattr(precision, "value", precision)),
        "quick_peaks": quick_peaks,
    }
    r, _ = _run_worker(request, timeout_s)
    try:
        total = sum(float(k["ms"]) for k in r["kernels"]) or 1.0
        prof = Profile(
            problem=problem.name, device=device, subject="candidate" if candidate_source is not None else "reference",
            median_ms=float(r["median_ms"]),
            # Names are the candidate's to choose (a profiler range): scrubbed, as all it can influence.
            kernels=[KernelTime(redact.scrub(str(k["name"])), float(k["ms"]), int(k["calls"]), float(k["ms"]) / total)
                     for k in r["kernels"]],
            flops=int(r["flops"]), bytes=int(r["bytes"]), sol_ms=float(r["sol_ms"]), floor_ms=float(r["floor_ms"]),
            bound=str(r["bound"]), peaks=Peaks.from_dict(r["peaks"]), versions=dict(r.get("versions", {})),
            sandbox=redact.scrub(str(r.get("sandbox", ""))),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ProfileError(f"the profiling worker's answer is malformed ({e.__class__.__name__}: {e})") from None
    if ncu:
        prof.ncu, prof.ncu_note = _ncu(request, device, timeout_s)
    return prof


def _ncu(request: dict[str, Any], device: str, timeout_s: float) -> tuple[list[NcuKernel], str]:
    exe = shutil.which("ncu")
    if device != "cuda":
        return [], f"Nsight Compute profiles CUDA kernels only; the device is {device}"
    if exe is None:
        return [], "Nsight Compute (ncu) is not on PATH"
    # The report is written in the worker's own folder (the only one its private /tmp shows and
    # its sandbox lets it write) and read from there before the folder goes.
    def prefix(folder: Path) -> list[str]:
        return [exe, "--export", str(folder / "profile"), "--force-overwrite", "--profile-from-start", "off",
                "--metrics", ",".join(NCU_METRICS), "--launch-count", "500", "--target-processes", "all"]

    def read_report(folder: Path) -> subprocess.CompletedProcess:
        import stat

        # The candidate's folder: ncu opens the report by name, so not a link it made there.
        if not stat.S_ISREG(os.lstat(folder / "profile.ncu-rep").st_mode):
            raise OSError("the report is not a plain file of the worker's folder")
        return subprocess.run([exe, "--import", str(folder / "profile.ncu-rep"), "--csv", "--print-units", "base",
                               "--page", "details"], capture_output=True, text=True, timeout=120)

    try:
        _, out = _run_worker({**request, "mode": "ncu"}, timeout_s, prefix=prefix, after=read_report)
    except (ProfileError, subprocess.TimeoutExpired, OSError) as e:
        return [], f"ncu failed: {str(e).splitlines()[0] if str(e) else e.__class__.__name__}"
    if out.returncode != 0:
        return [], f"ncu failed: {(out.stderr.strip().splitlines() or ['status %d' % out.returncode])[-1]}"
    kernels = parse_ncu_csv(out.stdout)[:NCU_TOP]
    return kernels, "" if kernels else "ncu captured no kernels (permission to GPU counters may be missing)"


_TIME_SCALE_MS = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0,
                  "second": 1e3, "s": 1e3}


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def parse_ncu_csv(text: str) -> list[NcuKernel]:
    """Aggregate ncu's `--csv --page details` output per kernel name, longest total first."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        return []
    launches: dict[str, dict[str, dict[str, float]]] = {}  # kernel -> launch id -> metric -> value
    for row in csv.DictReader(io.StringIO("\n".join(lines[start:]))):
        name, metric = row.get("Kernel Name", ""), row.get("Metric Name", "")
        value = _number(row.get("Metric Value", ""))
        if not name or value is None:
            continue
        if metric == "gpu__time_duration.sum":
            value *= _TIME_SCALE_MS.get(row.get("Metric Unit", "nsecond").strip(), 1e-6)
        launches.setdefault(name, {}).setdefault(row.get("ID", ""), {})[metric] = value

    def weighted(runs: list[dict[str, float]], metric: str) -> float | None:
        pairs = [(r[metric], r.get("gpu__time_duration.sum", 0.0)) for r in runs if metric in r]
        weight = sum(w for _, w in pairs)
        if not pairs:
            return None
        return sum(v * w for v, w in pairs) / weight if weight > 0 else sum(v for v, _ in pairs) / len(pairs)

    out = []
    for name, by_id in launches.items():
        runs = list(by_id.values())
        out.append(NcuKernel(
            name=name, launches=len(runs),
            duration_ms=sum(r.get("gpu__time_duration.sum", 0.0) for r in runs),
            sm_pct=weighted(runs, "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
            dram_pct=weighted(runs, "dram__throughput.avg.pct_of_peak_sustained_elapsed"),
        ))
    return sorted(out, key=lambda k: -k.duration_ms)


# ---------------------------------------------------------------- text for people and prompts


def _si(x: float, unit: str) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _time(ms: float) -> str:
    return f"{ms:.4g} ms" if ms >= 0.1 else f"{ms * 1e3:.4g} us"


def format_profile(p: Profile, top: int = 8) -> str:
    """A compact plain-text profile; the first lines are the ones an agent needs most."""
    peak = p.peaks
    lines = [
        f"{p.subject} of {p.problem} on {p.device} ({peak.device_name}): {_time(p.median_ms)} per call",
        f"work: {_si(p.flops, 'FLOP')}, at least {_si(p.bytes, 'B')} moved "
        f"({_si(p.flops / p.bytes if p.bytes else 0, 'FLOP/B')}); {p.bound}-bound",
        f"speed of light: {_time(p.sol_ms)} at the measured peaks ({peak.bandwidth_gbs:.0f} GB/s, "
        f"{peak.fastest_tflops:.3g} TFLOP/s); this implementation runs at {100 * p.fraction_of_sol:.3g}% of it",
        f"{'kernels' if p.device == 'cuda' else 'operators'} per call (share of device time):",
    ]
    for k in p.kernels[:top]:
        name = k.name if len(k.name) <= 90 else k.name[:87] + "..."
        lines.append(f"  {100 * k.share:5.1f}%  {_time(k.ms)}  x{k.calls}  {name}")
    if len(p.kernels) > top:
        rest = sum(k.share for k in p.kernels[top:])
        lines.append(f"  {100 * rest:5.1f}%  ({len(p.kernels) - top} more)")
    if p.ncu:
        lines.append("Nsight Compute (top kernels: SM and DRAM throughput, % of peak):")
        for k in p.ncu:
            sm = f"{k.sm_pct:.0f}%" if k.sm_pct is not None else "?"
            dram = f"{k.dram_pct:.0f}%" if k.dram_pct is not None else "?"
            lines.append(f"  {_time(k.duration_ms)} x{k.launches}  SM {sm}  DRAM {dram}  {k.name[:80]}")
    elif p.ncu_note:
        lines.append(f"Nsight Compute: {p.ncu_note}")
    if p.sandbox:
        lines.append(f"the candidate ran sandboxed: {p.sandbox}")
    return "\n".join(lines)


_SUMMARIES: dict[tuple[str, str], str] = {}  # (problem hash, device) -> text; a reference's profile is stable


def summary_text(problem: Problem, device: str) -> str:
    """A compact summary of the reference's profile, for LLM prompts (profiled once per process)."""
    key = (problem.hash, device)
    if key not in _SUMMARIES:
        _SUMMARIES[key] = format_profile(profile_problem(problem, device), top=6)
    return _SUMMARIES[key]
