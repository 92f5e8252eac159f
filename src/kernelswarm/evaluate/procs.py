"""Starting, talking to and killing worker processes. Standard library only."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernelswarm.evaluate.devicelock import signal_group
from kernelswarm.evaluate.protocol import Channel, ChannelClosed, ChannelTimeout, ProtocolError

# Environment variables that look like credentials never reach a worker.
_SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.I)

if TYPE_CHECKING:
    from kernelswarm.evaluate.devicelock import DeviceLock, NoLock
    from kernelswarm.evaluate.options import EvalOptions
    from kernelswarm.problems.load import Problem


class WorkerFailed(Exception):
    """The worker reported an exception, died, or did not answer in time."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind  # compile_error | runtime_error | timeout | protocol
        self.message = message
        self.detail = detail  # traceback or log tail


class WorkerProcess:
    """One fresh worker in its own session (process group), temp dir and compile caches."""

    def __init__(self, role: str, workdir: Path, device: str, memory_limit: int | None = None,
                 lock: "DeviceLock | NoLock | None" = None, gpu: str | None = None) -> None:
        from kernelswarm.evaluate.devicelock import NO_LOCK

        self.role = role
        # The device lock stops this worker while another evaluation times; time spent stopped is
        # added to every deadline of a call in flight.
        self.lock = lock or NO_LOCK
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{role}.log"
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = {k: v for k, v in os.environ.items() if not _SECRET.search(k)}
        env.update(
            TORCH_EXTENSIONS_DIR=str(workdir / "torch_extensions"),
            TRITON_CACHE_DIR=str(workdir / "triton_cache"),
            TORCHINDUCTOR_CACHE_DIR=str(workdir / "inductor_cache"),
            TMPDIR=str(workdir / "tmp"),
            # Caches that default to the home folder, kept in the worker's own folder: the candidate's
            # worker may write nowhere else (sandbox.py), and no candidate sees another's.
            CUDA_CACHE_PATH=str(workdir / "nv_cache"),
            PYTORCH_KERNEL_CACHE_PATH=str(workdir / "torch_kernels"),
            PYTHONHASHSEED=str(int.from_bytes(os.urandom(4), "little")),
            PYTHONUNBUFFERED="1",
            # Fixed allocator thresholds: glibc otherwise adapts them to each process's history, so
            # that one worker's fresh tensors page-fault on every call and another's do not, and
            # per-call overheads of the candidate and the clean worker would differ by milliseconds.
            MALLOC_MMAP_THRESHOLD_=str(32 << 20),
            MALLOC_TRIM_THRESHOLD_=str(1 << 30),
            # OpenMP threads sleep as soon as a parallel region ends instead of spinning on the
            # cores, where they slowed the other worker's calls (3 to 5 ms per call on 2 cores here).
            OMP_WAIT_POLICY="PASSIVE",
            PYTHONPATH=os.pathsep.join(p for p in [_package_root(), env.get("PYTHONPATH", "")] if p),
        )
        if gpu is not None:  # this evaluation's GPU (EvalOptions.gpu): the worker sees it alone, as cuda:0
            env["CUDA_VISIBLE_DEVICES"] = gpu
        (workdir / "tmp").mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")

        def limits() -> None:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if memory_limit:
                resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernelswarm.evaluate.worker", role, str(to_child_r), str(from_child_w)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=workdir, env=env, pass_fds=(to_child_r, from_child_w),
            start_new_session=True, preexec_fn=limits,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.owner = threading.get_ident()  # the evaluation's thread: its lock accounts are kept per thread
        self.lock.register(self.proc.pid)  # its own session: the group id is its pid
        self.chan = Channel(from_child_r, to_child_w, peer_pid=self.proc.pid)
        self.last_wall_s = 0.0  # wall time of the last call, measured here
        self.op_seconds: dict[str, float] = {}  # worker-reported compute time per op, for phase reports

    def call(self, msg: dict[str, Any], blob: bytes = b"", deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
        start = time.perf_counter()
        try:
            self.chan.send(msg, blob)
        except BrokenPipeError:
            raise WorkerFailed("runtime_error", self._death_message(msg.get("op")), self.log_tail()) from None
        reply, out = self.finish_call(msg.get("op"), deadline)
        self.last_wall_s = time.perf_counter() - start
        return reply, out

    def finish_call(self, op: Any, deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
        """Receive the reply to a request already sent (see `call`)."""
        msg = {"op": op}
        limit: Any = deadline
        if deadline is not None:
            paused_before = self.lock.paused_s(self.owner)
            limit = lambda: deadline + (self.lock.paused_s(self.owner) - paused_before)  # noqa: E731
        try:
            reply, out = self.chan.recv(limit)
        except ChannelTimeout:
            self.kill()
            raise WorkerFailed("timeout", f"no answer to '{msg.get('op')}' before the time limit") from None
        except (ChannelClosed, BrokenPipeError):
            raise WorkerFailed("runtime_error", self._death_message(msg.get("op")), self.log_tail()) from None
        except ProtocolError as e:
            self.kill()
            raise WorkerFailed("runtime_error", f"the worker's channel was corrupted ({e})", self.log_tail()) from None
        if isinstance(reply.get("op_s"), (int, float)):
            self.op_seconds[str(op)] = self.op_seconds.get(str(op), 0.0) + float(reply["op_s"])
        if not reply.get("ok"):
            kind = reply.get("kind", "runtime_error")
            raise WorkerFailed(kind if kind in ("compile_error", "runtime_error") else "runtime_error",
                               str(reply.get("error", "unknown error")), str(reply.get("traceback", "")))
        return reply, out

    def _death_message(self, op: Any) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"the worker closed its channel during '{op}'"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return f"the candidate process died with {name} during '{op}'"
        return f"the candidate process exited early with code {code} during '{op}'"

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """The worker's whole process group stopped (SIGSTOP) meanwhile: not one of its threads runs."""
        signal_group(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            signal_group(self.proc.pid, signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_bytes()[-20000:].decode(errors="replace")
        except OSError:
            return ""
        text = "\n".join(line for line in text.splitlines() if not line.startswith("USDT:"))
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """Kill the worker and everything it started in its process group."""
        signal_group(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.lock.unregister(self.proc.pid)
        self.chan.close()
        if not self._log.closed:
            self._log.close()


def init_message(problem: "Problem", options: "EvalOptions") -> dict[str, Any]:
    """A worker's first request: the device, the problem's source, on a CPU the thread count, and
    the mode (train: every model call is forward plus backward, see evaluate/train.py)."""
    return {"op": "init", "device": options.device, "problem_source": problem.source, "problem_path": str(problem.path),
            "cpu_threads": options.threads(), "mode": options.mode_for(problem).value}


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])
