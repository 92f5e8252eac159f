"""`--ray ADDRESS`: the evaluator, unchanged, in Ray actors: one per GPU of the cluster (or, with
`--device cpu`, one per CPU slot). The supervisor stays in this process, the only writer of the
store and the only holder of model keys: an actor is sent a problem, a candidate's source and the
evaluation's settings, and returns the Evaluation (or the problem's screening findings, screened on
its node as a plain run screens); its environment is an allow-list
(scale.environment). An actor lost in the middle of an evaluation (killed, or its node gone) has
that evaluation sent to another live actor, and the lost actor's later work goes there too; its
own answer never arrives, so nothing is stored twice.

Ray is an optional extra; `import ray` happens only in the functions here that need it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

INSTALL_HINT = "--ray needs Ray, an optional extra: pip install 'kernelswarm[ray]'"
LOCAL_START_ATTEMPTS = 3


class RayError(RuntimeError):
    """Ray is missing, cannot start or connect, or has no place for an actor; one line."""


ADDRESS_HELP = "local, auto, or a Ray cluster's head as host:port (ray://host:port for Ray Client)"
REACH_TIMEOUT_S = 5.0


def parse_address(address: str) -> tuple[str, str, int | None]:
    """A --ray value as (the value stripped, host, port): host "" and port None for `local` and
    `auto`. Raises RayError for anything else that is not host:port or ray://host:port."""
    text = address.strip()
    if text in ("local", "auto"):
        return text, "", None
    if not text:
        raise RayError(f"--ray needs an address: {ADDRESS_HELP}")
    rest = text.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not host or "/" in rest or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayError(f"--ray {text!r} is not an address: {ADDRESS_HELP}")
    return text, host, int(port)


def check_reachable(address: str) -> None:
    """A cluster's head must answer on its port within REACH_TIMEOUT_S: a wrong address is one
    line at once, not Ray's minute of retries on the terminal. Raises RayError."""
    text, host, port = parse_address(address)
    if port is None:
        return
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or e.__class__.__name__)
        raise RayError(f"--ray {text}: no Ray cluster answers there ({why}); start one with `ray start --head`, "
                       "or use --ray local") from None


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayError(INSTALL_HINT) from None
    return ray


@contextmanager
def _environment_only(env: dict[str, str]) -> Iterator[None]:
    """This process's environment is `env` meanwhile (what a local Ray's processes inherit)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _native_stderr_aside() -> Iterator[None]:
    """Meanwhile, what Ray's native code writes to this process's stderr goes to a file that is
    then dropped: a cluster it cannot join prints a warning a second for half a minute, and the
    failure is said in one line (RayError) instead."""
    import sys
    import tempfile

    with tempfile.TemporaryFile() as aside:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(aside.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def connect(address: str, num_cpus: int | None = None, temp_dir: str | None = None) -> None:
    """Start Ray here (`local`) or join a cluster. A local Ray starts from the allow-listed
    environment, so that its processes never hold this shell's keys."""
    from kernelswarm.scale.environment import actor_environment

    ray = import_ray()
    if ray.is_initialized():
        return
    # A local Ray keeps token authentication on by default and logs a warning saying so on every
    # start, onto the run's progress lines; it stays on, and unsaid.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    try:
        if address == "local":
            with _environment_only(actor_environment(os.environ)):
                for attempt in range(LOCAL_START_ATTEMPTS):
                    try:
                        ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir,
                                 log_to_driver=False, configure_logging=False)
                        break
                    except Exception as e:
                        # Ray gives a starting node a fixed 30 s; a busy machine can need more.
                        if "timed out during startup" not in str(e) or attempt + 1 == LOCAL_START_ATTEMPTS:
                            raise
                        ray.shutdown()
        else:
            # Nodes get this package as it is here; they need its evaluator's libraries (torch).
            package = str(Path(__file__).resolve().parents[1])
            with _native_stderr_aside():
                ray.init(address=address, runtime_env={"py_modules": [package]}, log_to_driver=False,
                         configure_logging=False)
    except Exception as e:  # ConnectionError, a missing cluster, a bad address: all one line
        raise RayError(f"--ray {address}: cannot start or reach Ray ({e.__class__.__name__}: "
                       f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None


class EvaluatorActor:
    """One place that times, in its own process on some node: `evaluate` and `time_baselines` as
    the local ones, with this actor's own device lock. At most `jobs` of its calls run at once (a
    lost neighbour's work may be sent here besides its own), so --jobs 1 keeps timings exclusive.
    `run`: the supervisor that started it ('pid N on host'), how the device lock files it writes
    name it to another kernelswarm process kept waiting."""

    def __init__(self, device: str, jobs: int, cpu_threads: int | None, run: str = "") -> None:
        from kernelswarm.evaluate.parent.devicelock import DeviceLock
        from kernelswarm.scale.environment import actor_environment

        self.environment_at_start = sorted(os.environ)
        kept = actor_environment(os.environ)
        os.environ.clear()
        os.environ.update(kept)
        self.device, self.jobs, self.cpu_threads = device, jobs, cpu_threads
        self.lock = DeviceLock()
        self.slots = threading.BoundedSemaphore(max(1, jobs))
        self.busy: dict[str, int] = {}  # method -> calls under way
        self.host = socket.gethostname()
        from kernelswarm.locks import name_holder

        # What another kernelswarm process kept waiting for this actor's device is told.
        name_holder(f"a kernelswarm Ray actor of {run}" if run else "a kernelswarm Ray actor")
        self.gpu_index: int | None = None
        if device == "cuda":
            import ray

            ids = ray.get_gpu_ids()
            self.gpu_index = int(ids[0]) if ids and str(ids[0]).isdigit() else None

    def describe(self) -> dict[str, Any]:
        """Where this actor is: host, GPU index, GPU model, pid, and the names of its environment."""
        from kernelswarm.scale.devices import host_gpus

        gpus = host_gpus() if self.device == "cuda" else []
        return {"host": self.host, "device_index": self.gpu_index, "pid": os.getpid(),
                "gpu_name": gpus[0].name if gpus else "", "environment": sorted(os.environ),
                "environment_at_start": self.environment_at_start}

    def in_flight(self, method: str = "evaluate") -> int:
        return self.busy.get(method, 0)

    def evaluate(self, problem: Any, source: str, options: Any) -> Any:
        from kernelswarm.evaluate import evaluate

        options = dataclasses.replace(options, timing_lock=self.lock,
                                      cpu_threads=self.cpu_threads or options.cpu_threads)
        with self._slot("evaluate"):
            ev = evaluate(problem, source, options)
        ev.host, ev.device_index = self.host, self.gpu_index
        return ev

    def screen(self, problem: Any, device: str) -> list[str]:
        """The problem's screening findings, as a plain run gets them, on this actor's device."""
        from kernelswarm.problems.screened import screen_for_run

        with self._slot("screen"):
            return screen_for_run(problem, device, self.lock, None)

    def time_baselines(self, problem: Any, device: str, **kw: Any) -> tuple[Any, Any]:
        """The baselines' timings, and what waiting for another process's hold on the device cost
        them (locks.LockWait; the supervisor, not here, says so)."""
        from kernelswarm.evaluate import time_baselines
        from kernelswarm.evaluate.parent.options import EvalOptions
        from kernelswarm.locks import LockWait

        kw["lock"] = self.lock
        if self.cpu_threads and "options" not in kw:
            kw["options"] = EvalOptions.for_device(device, timeout_s=kw.get("timeout_s", 600.0),
                                                   cpu_threads=self.cpu_threads)
        waits: list[LockWait] = []
        kw["on_lock_wait"] = waits.append
        with self._slot("time_baselines"):
            timings = time_baselines(problem, device, **kw)
        return timings, (waits[0] if waits else LockWait())

    @contextmanager
    def _slot(self, method: str) -> Iterator[None]:
        with self.slots:
            self.busy[method] = self.busy.get(method, 0) + 1
            try:
                yield
            finally:
                self.busy[method] -= 1


class ActorPool:
    """The actors of a run, and the rule for a lost one: its work goes to the next live actor."""

    def __init__(self, device: str, jobs: int, cpu_threads: int | None = None,
                 on_note: Callable[[str], None] | None = None, count: int | None = None) -> None:
        ray = import_ray()
        self._ray = ray
        self.device = device
        self._note = on_note or (lambda message: None)
        resources = ray.cluster_resources()
        if device == "cuda":
            n = int(resources.get("GPU", 0))
            if n < 1:
                raise RayError("the Ray cluster has no GPU; run with --device cpu, or add GPU nodes")
            shape: dict[str, Any] = {"num_gpus": 1, "num_cpus": 0}
        else:
            cpu_threads = cpu_threads or 1
            n = int(resources.get("CPU", 0)) // cpu_threads
            if n < 1:
                raise RayError(f"the Ray cluster has fewer than {cpu_threads} CPU(s) for one evaluation")
            shape = {"num_cpus": cpu_threads}
        n = min(n, count) if count else n
        remote = ray.remote(max_restarts=0, max_concurrency=4 * max(1, jobs) + 4, **shape)(EvaluatorActor)
        run = f"pid {os.getpid()} on {socket.gethostname()}"  # the supervisor, as lock files name holders
        self.actors = [remote.remote(device, jobs, cpu_threads, run) for _ in range(n)]
        self.lost: list[int] = []  # indices of actors lost so far, in order
        self._guard = threading.Lock()
        self.places = [self._describe(i) for i in range(n)]
        models = sorted({p["gpu_name"] for p in self.places if p and p["gpu_name"]})
        if len(models) > 1:
            raise RayError(f"the Ray cluster's GPUs are of several models ({', '.join(models)}): one run times on "
                           "one GPU model; give each model its own cluster or --db")

    def _describe(self, i: int) -> dict[str, Any]:
        try:
            return self._ray.get(self.actors[i].describe.remote(), timeout=600)
        except Exception as e:
            raise RayError(f"Ray actor {i} did not start ({e.__class__.__name__}: "
                           f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})") from None

    def label(self, i: int) -> str:
        p = self.places[i]
        gpu = f" cuda:{p['device_index']}" if p.get("device_index") is not None else ""
        return f"ray actor {i} ({p['host']}{gpu})"

    def call(self, i: int, method: str, *args: Any, **kw: Any) -> Any:
        """Actor i's `method`, or, once actor i is lost, the next live one's. An exception raised
        by the evaluator itself is raised here as it was raised there; any failure of Ray's own
        (the actor died or is unreachable, its result object lost) counts the actor as lost, since
        the supervisor would record it as a failed evaluation that --resume does not redo."""
        ray = self._ray
        while True:
            target = self._live(i)
            try:
                return ray.get(getattr(self.actors[target], method).remote(*args, **kw))
            except ray.exceptions.RayTaskError as e:
                raise e.cause if isinstance(e.cause, BaseException) else e from None
            except ray.exceptions.RayError as e:
                self._lose(target, e)

    def _live(self, i: int) -> int:
        with self._guard:
            live = [j for j in range(len(self.actors)) if j not in self.lost]
            if not live:
                from kernelswarm.scale.placement import NowhereToTime

                raise NowhereToTime("every Ray actor was lost")
            return i if i in live else min(live, key=lambda j: (j - i) % len(self.actors))

    def _lose(self, i: int, e: BaseException) -> None:
        with self._guard:
            if i in self.lost:
                return
            self.lost.append(i)
        try:
            self._ray.kill(self.actors[i], no_restart=True)  # unreachable, maybe still running: stop it
        except Exception:
            pass
        self._note(f"{self.label(i)} was lost ({e.__class__.__name__}); its evaluations go to another actor")

    def shutdown(self) -> None:
        for actor in self.actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:
                pass


def ray_slots(pool: ActorPool) -> list:
    """A placement.Slot per actor of the pool. What is sent holds no lock (the actor has its own)."""
    from kernelswarm.scale.placement import Slot

    def evaluator(i: int) -> Callable[..., Any]:
        def evaluate(problem: Any, source: str, options: Any) -> Any:
            return pool.call(i, "evaluate", problem, source, dataclasses.replace(options, timing_lock=None))

        return evaluate

    def baseline_timer(i: int) -> Callable[..., Any]:
        def time_baselines(problem: Any, device: str, **kw: Any) -> Any:
            kw.pop("lock", None)
            told = kw.pop("on_lock_wait", None)  # a callback stays here: it is told after the actor answers
            timings, waited = pool.call(i, "time_baselines", problem, device, **kw)
            if waited.holder and told is not None:
                told(waited)
            return timings

        return time_baselines

    def screener_for(i: int) -> Callable[..., Any]:
        def on_actor(lock: Any) -> Callable[..., Any]:
            del lock  # the actor screens under its own lock, as it times

            def screen(problem: Any, device: str) -> list[str]:
                return pool.call(i, "screen", problem, device)

            return screen

        return on_actor

    return [Slot(pool.label(i), evaluator(i), baseline_timer(i), screener_for(i)) for i in range(len(pool.actors))]
