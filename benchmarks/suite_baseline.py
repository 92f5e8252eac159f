"""Baseline of the bundled suite: eager and torch.compile (default mode) time of every problem.

    python benchmarks/suite_baseline.py --out out/baseline [--device cuda] [--problems 'level1/*' ...]

Writes OUT/suite_baseline.json and OUT/suite_baseline.md. Compilation, not timing, is the cost of
a whole-suite run, so several worker processes compile problems at once, and each then waits for
the one GPU token before it times: timing is serial, one problem at a time on the device, while
other workers compile on the CPU. A compile that passes --compile-timeout is killed and recorded,
and the problem's eager time is still measured. A global --budget-s ends the run in time whatever
happens; problems it could not reach are recorded as skipped.

Timing follows the evaluator's CUDA protocol: TF32 off (the evaluator's reference runs without
it), an L2 flush before every call, CUDA events around each call with a whole-device synchronize,
and the median of many calls. Other workers' compilation briefly uses the GPU (a first call, a
Triton config benchmark); the median of at least MIN_CALLS calls absorbs such outliers. On a
CPU (--device cpu, for smoke tests) compiling workers share the cores with the timer: pass
--workers 1 for CPU times worth reading.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from multiprocessing.connection import wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

WARMUP_CALLS = 3
MIN_CALLS = 20
MAX_CALLS = 200
TIMING_BUDGET_S = 0.3  # per implementation, after the minimum number of calls


# ---------------------------------------------------------------- worker side (a child process)

def _build(path: str, device: str):
    import torch

    from kernelswarm.problems.load import exec_problem, load_problem
    from kernelswarm.problems.measure import instantiate

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    problem = load_problem(path)
    module = exec_problem(problem.source, str(problem.path), device)
    return instantiate(module, device, seed=0)


def _time(fn, backend) -> dict:
    from kernelswarm.records import Timing

    for _ in range(WARMUP_CALLS):
        fn()
    backend.synchronize()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < MAX_CALLS and (len(samples) < MIN_CALLS or time.perf_counter() - start < TIMING_BUDGET_S):
        backend.flush_cache()
        ms, _ = backend.time_call(fn)
        samples.append(ms)
    t = Timing.from_samples(samples)
    return {"median_ms": t.median_ms, "p10_ms": t.p10_ms, "p90_ms": t.p90_ms, "n": t.n}


def _problem_task(conn, path: str, device: str, compile_it: bool) -> dict:
    """Compile (outside the GPU token), then time eager and compiled forwards while holding it."""
    import torch

    from kernelswarm.backends import get_backend

    backend = get_backend(device)
    model, inputs = _build(path, device)
    out: dict = {}
    compiled = None
    with torch.no_grad():
        if compile_it:
            try:
                compiled = torch.compile(model)
                start = time.perf_counter()
                compiled(*inputs)
                backend.synchronize()
                out["compile_cold_s"] = time.perf_counter() - start
            except Exception as e:  # the compiler's failure is a finding; eager is still timed
                out["compile_error"] = _one_line(e)
                compiled = None
        conn.send("gpu?")  # wait for the device to ourselves
        if conn.recv() != "go":
            raise RuntimeError("no GPU token")
        out["eager"] = _time(lambda: model(*inputs), backend)
        if compiled is not None:
            out["compiled"] = _time(lambda: compiled(*inputs), backend)
    del model, inputs, compiled
    torch._dynamo.reset()  # drop compiled graphs, so that memory does not pile up in this worker
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def _one_line(e: BaseException) -> str:
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{e.__class__.__name__}: {first}"[:300]


def _worker(conn, device: str, compile_threads: int | None) -> None:
    if compile_threads:
        os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = str(compile_threads)
    import torch  # imported before "ready", so start-up is not charged to the first task

    import kernelswarm.problems.measure  # noqa: F401

    if device == "cuda":
        torch.cuda.init()
    conn.send("ready")
    while True:
        task = conn.recv()
        if task is None:
            return
        path, compile_it = task
        try:
            result = _problem_task(conn, path, device, compile_it)
        except Exception as e:  # a failing problem is a result to record
            result = {"error": _one_line(e)}
        conn.send(result)


# ---------------------------------------------------------------- parent side

class Pool:
    """Worker processes, one GPU token, and deadlines: a worker past one is killed and replaced.

    A worker is "compiling" from its task's start until it asks for the token, "waiting" until it
    gets it, and "timing" until it answers; compile_timeout_s applies to the first, timing_timeout_s
    to the last.
    """

    def __init__(self, size: int, device: str, compile_threads: int | None):
        self.ctx = mp.get_context("spawn")
        self.device, self.compile_threads = device, compile_threads
        self.workers = [self._start() for _ in range(size)]
        for w in self.workers:  # started together, so that their imports overlap
            self._await_ready(w)

    def _start(self) -> dict:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(child, self.device, self.compile_threads), daemon=True)
        proc.start()
        return {"proc": proc, "conn": parent, "task": None, "state": "idle", "since": 0.0}

    @staticmethod
    def _await_ready(w: dict) -> None:
        if not w["conn"].poll(300) or w["conn"].recv() != "ready":
            raise RuntimeError("a worker process did not start")

    def _replace(self, w: dict) -> None:
        w["proc"].kill()
        w["proc"].join()
        fresh = self._start()
        self._await_ready(fresh)
        w.update(proc=fresh["proc"], conn=fresh["conn"], task=None, state="idle")

    def run(self, paths: list[str], compile_timeout_s: float, timing_timeout_s: float,
            start_by: float, end_by: float) -> dict[str, dict]:
        """Results by path. No task starts after `start_by`; whatever still runs at `end_by` is killed."""
        pending = [(p, True) for p in paths]
        results: dict[str, dict] = {p: {} for p in paths}
        waiting: list[dict] = []
        holder: dict | None = None
        while True:
            now = time.monotonic()
            for w in self.workers:
                if w["state"] == "idle" and pending and now < start_by:
                    w["task"] = pending.pop(0)
                    w["state"], w["since"] = "compiling", now
                    w["conn"].send(w["task"])
            waiting = [w for w in waiting if w["state"] == "waiting"]  # a replaced worker no longer waits
            if holder is None and waiting:
                holder = waiting.pop(0)
                holder["state"], holder["since"] = "timing", now
                holder["conn"].send("go")
            busy = [w for w in self.workers if w["state"] != "idle"]
            if not busy or now >= end_by:
                break
            ready = wait([w["conn"] for w in busy], timeout=0.5)
            for w in busy:
                path = w["task"][0]
                if w["conn"] in ready:
                    try:
                        msg = w["conn"].recv()
                    except EOFError:  # the worker died: out of memory, a crash inside a library
                        msg = {"error": "worker died"}
                        self._replace(w)
                    if msg == "gpu?":
                        w["state"] = "waiting"
                        waiting.append(w)
                        continue
                    results[path].update(msg)
                    w["state"], w["task"] = "idle", None
                    if holder is w:
                        holder = None
                elif w["state"] == "compiling" and time.monotonic() - w["since"] > compile_timeout_s:
                    results[path]["compile_error"] = f"timeout after {compile_timeout_s:.0f} s"
                    self._replace(w)
                    pending.insert(0, (path, False))  # still time its eager forward
                elif w["state"] == "timing" and time.monotonic() - w["since"] > timing_timeout_s:
                    results[path]["error"] = f"timing took more than {timing_timeout_s:.0f} s"
                    self._replace(w)
                    holder = None
        for w in self.workers:
            if w["state"] != "idle":
                results[w["task"][0]].setdefault("error", "skipped: time budget spent while it ran")
                w["proc"].kill()
                w["state"] = "idle"
        for path, _ in pending:
            results[path].setdefault("error", "skipped: time budget spent")
        return results

    def close(self) -> None:
        for w in self.workers:
            try:
                w["conn"].send(None)
            except OSError:
                pass
        for w in self.workers:
            w["proc"].join(timeout=5)
            if w["proc"].is_alive():
                w["proc"].kill()


def _device_info(device: str) -> dict:
    import torch

    info = {"device": device, "torch": torch.__version__, "python": platform.python_version()}
    if device == "cuda":
        info["device_name"] = torch.cuda.get_device_name(0)
        info["cuda"] = str(torch.version.cuda)
        try:
            import triton

            info["triton"] = triton.__version__
        except Exception:
            pass
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _geomean(values: list[float]) -> float | None:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def _markdown(rows: list[dict], info: dict, wall_s: float) -> str:
    lines = [
        f"Suite baseline on {info.get('device_name')} ({info['device']}), torch {info['torch']}"
        + (f", CUDA {info['cuda']}" if "cuda" in info else "") + (f", triton {info['triton']}" if "triton" in info else "")
        + f"; fp32, TF32 off; median of >= {MIN_CALLS} calls with an L2 flush before each; {wall_s:.0f} s in all.",
        "",
        "| level | problem | eager ms | compile ms | compile speedup | cold compile s | note |",
        "| ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        eager, comp, cold = r.get("eager_ms"), r.get("compiled_ms"), r.get("compile_cold_s")
        lines.append(" | ".join([
            f"| {r['level']}", r["name"], _fmt(eager, ".3f"), _fmt(comp, ".3f"),
            f"{eager / comp:.2f}x" if eager and comp else "-", _fmt(cold, ".1f"), f"{r.get('note', '')} |",
        ]))
    lines.append("")
    lines.append("| level | problems | eager timed | compiled | geomean compile speedup |")
    lines.append("| ---: | ---: | ---: | ---: | ---: |")
    for level in sorted({r["level"] for r in rows}):
        lv = [r for r in rows if r["level"] == level]
        speedups = [r["eager_ms"] / r["compiled_ms"] for r in lv if r.get("eager_ms") and r.get("compiled_ms")]
        g = _geomean(speedups)
        lines.append(f"| {level} | {len(lv)} | {sum(1 for r in lv if r.get('eager_ms'))} | {len(speedups)} | "
                     f"{f'{g:.2f}x' if g else '-'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--problems", nargs="*", default=[], help="globs or paths (default: the bundled suite)")
    parser.add_argument("--workers", type=int, default=6, help="parallel compile workers")
    parser.add_argument("--compile-timeout", type=float, default=120.0, help="seconds per problem to compile")
    parser.add_argument("--budget-s", type=float, default=450.0, help="the whole run's time budget")
    args = parser.parse_args()

    from kernelswarm.problems.suite import error_parts, resolve_problems

    started = time.monotonic()
    problems, errors = resolve_problems(args.problems)
    for e in errors:
        print("skipping %s: %s" % error_parts(e), file=sys.stderr)
    if not problems:
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    paths = [str(p.path) for p in problems]

    pool = Pool(args.workers, args.device, compile_threads=max(1, (os.cpu_count() or 8) // (args.workers + 1)))
    try:
        results = pool.run(paths, args.compile_timeout, timing_timeout_s=120.0,
                           start_by=started + args.budget_s - 30, end_by=started + args.budget_s)
    finally:
        pool.close()

    rows = []
    for p in problems:
        r = results[str(p.path)]
        notes = [f"compile: {r['compile_error']}"] if r.get("compile_error") else []
        if r.get("error"):
            notes.append(r["error"])
        rows.append({
            "name": p.name, "level": p.level, "hash": p.hash,
            "eager_ms": (r.get("eager") or {}).get("median_ms"), "compiled_ms": (r.get("compiled") or {}).get("median_ms"),
            "eager": r.get("eager"), "compiled": r.get("compiled"), "compile_cold_s": r.get("compile_cold_s"),
            "note": "; ".join(notes),
        })
    wall = time.monotonic() - started
    info = _device_info(args.device)
    (args.out / "suite_baseline.json").write_text(json.dumps({"info": info, "wall_s": wall, "rows": rows}, indent=1))
    (args.out / "suite_baseline.md").write_text(_markdown(rows, info, wall))
    print(f"{len(rows)} problems in {wall:.0f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
