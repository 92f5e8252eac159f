"""Starting, talking to and killing worker processes (what a worker's environment holds:
environment.py). Standard library only."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kernelswarm.evaluate.worker import contain
from kernelswarm.evaluate.parent import forkserver, guard, members, replies, shield
from kernelswarm.evaluate.parent.devicelock import signal_group
from kernelswarm.evaluate.parent.environment import copy_seed, own_environment, zygote_environment
from kernelswarm.evaluate.wire.protocol import Channel, ChannelClosed, ChannelTimeout, ProtocolError

T = TypeVar("T")


def thread_delay_s() -> float:
    """Seconds the calling thread has spent runnable but not running (the kernel's run_delay,
    /proc/thread-self/schedstat); 0 where the kernel does not keep it.

    On a busy machine most of a request's wall time beyond the worker's own work is the parent's:
    on this 2-core CPU at load 13 a copy's timed request took 15 ms beyond its claim end to end
    while the worker's own thread waited 0.02-0.09 ms for a core (each worker is its own session,
    so its own autogroup; the parent shares one with whatever started it). Only the wait after
    the request was sent is read: by then the worker's inputs are its own to work on, and what
    the parent waits meanwhile is its own scheduling, not the candidate's work (a candidate that
    spins to delay the parent after its reply only delays its own next request's wall)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


if TYPE_CHECKING:
    from kernelswarm.evaluate.parent.devicelock import DeviceLock, NoLock
    from kernelswarm.evaluate.parent.options import EvalOptions
    from kernelswarm.problems.load import Problem


class WorkerFailed(Exception):
    """The worker reported an exception, died, or did not answer in time."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind  # compile_error | runtime_error | timeout | protocol (a malformed reply) | resources
        self.message = message
        self.detail = detail  # traceback or log tail


class WorkerProcess:
    """One fresh worker in its own session (process group), temp dir and compile caches."""

    def __init__(self, role: str, workdir: Path, device: str, memory_limit: int | None = None,
                 lock: "DeviceLock | NoLock | None" = None, gpu: str | None = None,
                 seed: str | None = None) -> None:
        """`seed`: a folder of compile caches (EvalOptions.compile_seed) copied into this worker's
        own cache folders before it starts."""
        from kernelswarm.evaluate.parent.devicelock import NO_LOCK

        self.role = role
        # The device lock stops this worker while another evaluation times; time spent stopped is
        # added to every deadline of a call in flight.
        self.lock = lock or NO_LOCK
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        copy_seed(seed, workdir)
        self.log_path = workdir / f"{role}.log"
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        shield.protect_self()  # before any worker exists: see shield.py
        zygote_env = zygote_environment(gpu)
        env = {**zygote_env, **own_environment(workdir)}
        (workdir / "tmp").mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")
        contained = role == "candidate" and contain.available()
        private = [str(workdir), *contain.code_paths(env["PYTHONPATH"], env), *contain.shared_paths()]
        self.zygote_why = ""  # why it was not forked, if it was not
        self.started_by = "exec"  # or "zygote": forked from a clean pre-started worker (zygote.py)
        self.proc: "subprocess.Popen[bytes] | forkserver.ForkedProc"
        try:
            if not forkserver.enabled():
                raise forkserver.Unavailable(f"{forkserver.ENV_SWITCH} is off or this system cannot fork workers")
            settings = forkserver.Settings(role, env, str(workdir), memory_limit, contained, private)
            self.proc = forkserver.spawn(settings, zygote_env, (to_child_r, from_child_w, self._log.fileno()))
            self.started_by = "zygote"
        except forkserver.Unavailable as e:
            self.zygote_why = str(e)
            self.proc = _exec(role, workdir, env, memory_limit, contained, private, self._log, (to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self.owner = threading.get_ident()  # the evaluation's thread: its lock accounts are kept per thread
        self.lock.register(self.proc.pid)  # its own session: the group id is its pid
        self.chan = Channel(from_child_r, to_child_w, peer_pid=self.proc.pid)
        self.containment = "session"  # how what the candidate starts is kept (contain.py)
        self._pidfd = -1  # the contained worker (its namespace's first process), to kill it
        self.members_why = "not in a PID namespace"  # why stops scan /proc (members.py), if they do
        self._keepers: list[int] = []  # see _await_launcher
        self.survivors: list[int] = []  # processes of its session still alive after kill() gave up
        # What the candidate's processes may write and hold in all (guard.py): past a bound, they
        # are killed, and `exceeded` says why.
        self.exceeded = ""
        self._guard: guard.Guard | None = None
        if contained:
            self._await_launcher()
        elif role == "reference":  # a clean worker: stops find its processes in its own tree
            self.members_why = members.register_clean(self.proc.pid)
        if role == "candidate":
            self._guard = guard.Guard(workdir, self._exceed, sid=self.proc.pid, memory=memory_limit)
        self._request_id: int | None = None  # the request awaiting its reply
        self.last_wall_s = 0.0  # wall time of the last call, measured here
        # Of it, how long this (the parent's) thread was runnable but waiting for a core once the
        # request was sent: the reply's wake-up latency on a busy machine (thread_delay_s).
        self.last_wait_s = 0.0
        self.op_seconds: dict[str, float] = {}  # worker-reported compute time per op, for phase reports
        self.stops = 0  # how many times it was stopped and continued (cputime.stop_cost_ms)

    def _await_launcher(self) -> None:
        """The launcher's first frame: how the worker is contained and its process id."""
        try:
            header, _ = self.chan.recv(time.monotonic() + 120.0)
            pid = header.get("pid")
            if header.get("op") != "contain" or not isinstance(pid, int) or isinstance(pid, bool):
                raise ProtocolError("the launcher's first frame is not a containment report")
        except (ChannelTimeout, ChannelClosed, ProtocolError) as e:
            self.kill()
            raise WorkerFailed("runtime_error", f"the candidate's worker could not be contained ({e})", self.log_tail()) from None
        self.containment = str(header.get("contain")) + (f": {header['why']}" if header.get("why") else "")
        self.chan.peer_pid = pid  # sealed output files are opened from the worker itself
        init = header.get("init")
        # The containment's own processes (its launcher, its namespace's init): the evaluator's code,
        # never the candidate's, waking on every stop and continue of their child (cpu_ms).
        self._keepers = [p for p in (self.proc.pid, init) if isinstance(p, int) and not isinstance(p, bool) and p != pid]
        if isinstance(init, int) and not isinstance(init, bool) and init != self.proc.pid:
            try:  # the namespace's first process: killing it kills everything in the namespace
                self._pidfd = os.pidfd_open(init)
            except (OSError, AttributeError):
                self._pidfd = -1
            # Stops and continues find the worker's processes in its namespace's own /proc, not
            # in a scan of the machine's; where that cannot be read, `members_why` says why.
            self.members_why = members.register(self.proc.pid, init)

    def _exceed(self, reason: str) -> None:
        """From the disk guard's thread: kill every process of the worker (the evaluation's thread,
        waiting on a reply, sees the channel close and raises `resources`)."""
        self.exceeded = reason
        if self._pidfd >= 0:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        signal_group(self.proc.pid, signal.SIGKILL)

    def _failed(self, op: Any) -> WorkerFailed:
        if self.exceeded:
            return WorkerFailed("resources", f"the candidate's processes were killed during '{op}': {self.exceeded}",
                                self.log_tail())
        return WorkerFailed("runtime_error", self._death_message(op), self.log_tail())

    def send(self, msg: dict[str, Any], blob: Any = b"") -> None:
        """Send a request under a fresh id, which the reply must echo (replies.py)."""
        self._request_id = int.from_bytes(os.urandom(6), "little")
        try:
            self.chan.send({**msg, "id": self._request_id}, blob)
        except BrokenPipeError:
            raise self._failed(msg.get("op")) from None

    def call(self, msg: dict[str, Any], blob: Any = b"", deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
        start = time.perf_counter()
        self.send(msg, blob)
        sent_delay = thread_delay_s()
        reply, out = self.finish_call(msg.get("op"), deadline)
        self.last_wait_s = max(0.0, thread_delay_s() - sent_delay)
        self.last_wall_s = time.perf_counter() - start
        return reply, out

    def call_when_continued(self, msg: dict[str, Any], while_stopped: Callable[[], T], deadline: float | None = None
                            ) -> tuple[T, dict[str, Any]]:
        """`while_stopped()` with this worker stopped (as `stopped`), then the request `msg` written
        while it still is, and the request's wall clock started right before it is continued: all
        it does once it runs again is inside that request's wall time. A request sent after the
        continue left the worker the parent's own delay in between, milliseconds under load, to
        work on inputs it already had untimed (cheat/sigcont_head_start: a SIGCONT handler computed
        the prepared call there, 8-9.5x at load 10 on a 2-core CPU). Only for small requests: one
        larger than the pipe's buffer would wait for a reader that is stopped."""
        started = [0.0, 0.0]
        self.stops += 1

        def clock() -> None:
            started[0], started[1] = time.perf_counter(), thread_delay_s()

        signal_group(self.proc.pid, signal.SIGSTOP)
        try:
            before = while_stopped()
            self.send(msg)
        finally:
            signal_group(self.proc.pid, signal.SIGCONT, before_continue=clock)
        reply, _ = self.finish_call(msg.get("op"), deadline)
        self.last_wait_s = max(0.0, thread_delay_s() - started[1])
        self.last_wall_s = time.perf_counter() - started[0]
        return before, reply

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
            raise self._failed(msg.get("op")) from None
        except ProtocolError as e:
            self.kill()
            raise WorkerFailed("protocol", f"the worker's channel was corrupted ({e})", self.log_tail()) from None
        try:
            replies.check_reply(op, self._request_id, reply, bool(out))
        except replies.MalformedReply as e:
            self.kill()
            raise WorkerFailed("protocol", f"malformed reply from the worker: {e}", self.log_tail()) from None
        if "op_s" in reply:
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
        """The worker stopped (SIGSTOP) meanwhile, with every process of its session: not one of
        their threads runs, including a candidate's child that left the worker's process group
        (issue 14.4: one that burned the cores only while the worker was stopped slowed the
        reference and the empty calls, and an honest copy was accepted at 1.76x)."""
        self.stops += 1
        signal_group(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            signal_group(self.proc.pid, signal.SIGCONT)

    def cpu_ms(self) -> float:
        """CPU ms used so far by the worker and every live process it started (cputime.tree_cpu_ns:
        everything in a contained worker's namespace, orphans included), less the containment's own
        processes (they run no candidate code; each wakes on every stop and continue of the worker,
        which charged an honest copy of relu_linear 0.26-0.41 ms a call); -1 once it is gone."""
        from kernelswarm.evaluate.parent.cputime import process_cpu_ns, tree_cpu_ns

        used = tree_cpu_ns(self.proc.pid)
        if used < 0:
            return -1.0
        return (used - sum(max(0, process_cpu_ns(p)) for p in self._keepers)) / 1e6

    def delay_ms(self) -> float:
        """Run delay (ms) so far of every live thread of the worker and the processes it started,
        the containment's own left out as in `cpu_ms`: time they were runnable and waited for a
        core (cputime.tree_delay_ns); -1 once it is gone."""
        from kernelswarm.evaluate.parent.cputime import tree_delay_ns

        used = tree_delay_ns(self.proc.pid, tuple(self._keepers))
        return used / 1e6 if used >= 0 else -1.0

    def log_tail(self, lines: int = 40) -> str:
        from kernelswarm.evaluate.parent.own_files import read_tail

        # In the candidate's folder: not through a link it made there (own_files.py).
        text = read_tail(self.log_path, 20000).decode(errors="replace")
        text = "\n".join(line for line in text.splitlines() if not line.startswith("USDT:"))
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """Kill the worker and everything it started: its PID namespace when it has one (the
        kernel kills every process in it once its first process dies), its session in any case
        (no candidate process can leave it: confine.py). Returns once none of them is alive."""
        if self._guard is not None:
            self._guard.stop()
        if self._pidfd >= 0:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            import select

            # Readable once it has exited, which its namespace's first process does only after
            # every other process in the namespace is gone.
            select.select([self._pidfd], [], [], 10.0)
            os.close(self._pidfd)
            self._pidfd = -1
        signal_group(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.survivors = contain.kill_session(self.proc.pid)
        self.lock.unregister(self.proc.pid)
        members.unregister(self.proc.pid)
        self.chan.close()
        if not self._log.closed:
            self._log.close()


def _exec(role: str, workdir: Path, env: dict[str, str], memory_limit: int | None, contained: bool,
          private: list[str], log: Any, fds: tuple[int, int]) -> "subprocess.Popen[bytes]":
    """The plain start: a new interpreter (where no zygote can fork the worker)."""
    def limits() -> None:
        import resource

        contain.set_parent_death_signal()  # a SIGKILLed evaluator takes its workers with it
        resource.setrlimit(resource.RLIMIT_CORE, contain.NO_CORE)
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    argv = [sys.executable, "-m", "kernelswarm.evaluate.worker", role, str(fds[0]), str(fds[1])]
    if contained:  # the candidate's worker in its own PID namespace (contain.py)
        argv = contain.launch_argv(argv, fds[1], private)
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        cwd=workdir, env=env, pass_fds=fds, start_new_session=True, preexec_fn=limits,
    )


def init_message(problem: "Problem", options: "EvalOptions") -> dict[str, Any]:
    """A worker's first request: the device, the problem's source, on a CPU the thread count, and
    the mode (train: every model call is forward plus backward, see evaluate/worker/train.py)."""
    return {"op": "init", "device": options.device, "problem_source": problem.source, "problem_path": str(problem.path),
            "cpu_threads": options.threads(), "mode": options.mode_for(problem).value}


