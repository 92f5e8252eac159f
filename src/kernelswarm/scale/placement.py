"""One run over several places to time: the GPUs of this host (`--devices`) or Ray actors (`--ray`).

A place is a `Slot`: an evaluator, a baseline timer and the problem screen that run there, with
the evaluator itself unchanged. Each slot gets its own Supervisor over the one store and run (so its own device lock,
its own `--jobs` evaluations and memory gate: one per GPU), and the slots share the run's problems
by claiming them in order: a problem's baselines and all its candidates are timed in the slot that
claimed it, and a slot that finishes early takes the next problem nobody has taken. The store is
written only from this process; Supervisor's own rules (resume, budget, selection, and screening
each problem as a plain run does, supervisor._real_screener) apply unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernelswarm.agents.base import Agent
    from kernelswarm.evaluate.parent.devicelock import DeviceLock
    from kernelswarm.problems.load import Problem
    from kernelswarm.records import Evaluation, Timing
    from kernelswarm.runconfig import Event, RunConfig
    from kernelswarm.scale.devices import Gpu
    from kernelswarm.store import Store

Evaluator = Callable[..., "Evaluation"]  # (problem, candidate_source, options) -> Evaluation
BaselineTimer = Callable[..., "dict[str, Timing]"]  # time_baselines' signature
Screener = Callable[["Problem", str], "list[str]"]  # (problem, device) -> the screen's findings
# Given the timing lock of the slot's supervisor, the screener of that slot (Supervisor.screener_for).
ScreenerFor = Callable[["DeviceLock"], Screener]


@dataclass(frozen=True)
class Slot:
    """One place that times: a GPU of this host, or a Ray actor."""

    label: str  # how progress lines name it: "cuda:1", "ray actor 2"
    evaluator: Evaluator
    baseline_timer: BaselineTimer
    # Screens a problem there, as a plain run does (its findings mark the problem and keep it out
    # of the headline). No default: a place that judges real problems must screen them.
    screener_for: ScreenerFor


class NowhereToTime(BaseException):
    """No place is left that can time (every Ray actor lost). Not an Exception on purpose: the
    supervisor records an Exception as the evaluation's or the baselines' failure and moves on,
    while this must stop the run as an interrupt does, with the work under way left undone (not
    failed), so that --resume does it."""


def gpu_slots(gpus: list[Gpu], evaluator: Evaluator | None = None,
              baseline_timer: BaselineTimer | None = None) -> list[Slot]:
    """A slot per GPU of this host: its workers and its problem screens see that GPU alone
    (EvalOptions.gpu), and each evaluation records the host and the GPU's number."""
    from kernelswarm import supervisor

    evaluate = evaluator or supervisor._real_evaluator()
    baselines = baseline_timer or supervisor._real_baseline_timer()
    host = socket.gethostname()
    return [Slot(g.label, _evaluator_on(g, host, evaluate), _baselines_on(g, baselines), _screener_on(g))
            for g in gpus]


def _screener_on(gpu: Gpu) -> ScreenerFor:
    def screener_for(lock: DeviceLock) -> Screener:
        from kernelswarm import supervisor

        return supervisor._real_screener(lock, gpu=gpu.visible)

    return screener_for


def _evaluator_on(gpu: Gpu, host: str, evaluate: Evaluator) -> Evaluator:
    def on_gpu(problem: Problem, source: str, options: Any) -> Evaluation:
        ev = evaluate(problem, source, dataclasses.replace(options, gpu=gpu.visible))
        ev.host, ev.device_index = host, gpu.physical_index
        return ev

    return on_gpu


def _baselines_on(gpu: Gpu, time_baselines: BaselineTimer) -> BaselineTimer:
    def on_gpu(problem: Problem, device: str, **kw: Any) -> dict[str, Timing]:
        from kernelswarm.evaluate.parent.options import EvalOptions

        options = EvalOptions.for_device(device, timeout_s=kw.get("timeout_s", 600.0), gpu=gpu.visible)
        return time_baselines(problem, device, options=options, **kw)

    return on_gpu


class _Claims:
    """Which slot took which problem: the first to ask gets it, except that a slot already
    working on more problems than another waits a moment (YIELD_S) for that one to take it, so
    that the first slot to start does not take all of a short run's problems."""

    YIELD_S = 2.0

    def __init__(self, slots: int) -> None:
        self._owner: dict[int, int] = {}
        self._active = [0] * slots
        self._cond = threading.Condition()

    def take(self, slot: int, problem_id: int) -> bool:
        with self._cond:
            deadline = time.monotonic() + self.YIELD_S
            while (problem_id not in self._owner and self._active[slot] > min(self._active)
                   and time.monotonic() < deadline):
                self._cond.wait(0.05)
            if problem_id in self._owner:
                return False
            self._owner[problem_id] = slot
            self._active[slot] += 1
            self._cond.notify_all()
            return True

    def release(self, slot: int, problem_id: int) -> None:
        with self._cond:
            self._active[slot] -= 1
            self._cond.notify_all()

    def of(self, slot: int) -> _SlotClaims:
        return _SlotClaims(self, slot)


@dataclass(frozen=True)
class _SlotClaims:
    """One slot's side of the claims (supervisor.ProblemClaims)."""

    claims: _Claims
    slot: int

    def take(self, problem_id: int) -> bool:
        return self.claims.take(self.slot, problem_id)

    def release(self, problem_id: int) -> None:
        self.claims.release(self.slot, problem_id)


@contextmanager
def place(config: RunConfig, note: Callable[[str], None] | None = None) -> Iterator[list[Slot] | None]:
    """The slots of a run spread over this host's GPUs (config.devices) or Ray actors (config.ray);
    None for a run on one device. Ray's actors are stopped when the run ends. Raises
    scale.devices.DeviceError or scale.ray_pool.RayError, one line each, when that cannot be had."""
    if config.devices:
        from kernelswarm.scale.devices import resolve_devices

        yield gpu_slots(resolve_devices(",".join(config.devices)))
        return
    if not config.ray:
        yield None
        return
    from kernelswarm.scale.ray_pool import ActorPool, connect, ray_slots

    say = note or (lambda message: None)
    threads = int(os.environ.get("KERNELSWARM_CPU_THREADS", "0")) or 1
    connect(config.ray)
    pool = ActorPool(config.device, config.jobs, cpu_threads=threads if config.device == "cpu" else None, on_note=say)
    for i in range(len(pool.actors)):
        say(f"{pool.label(i)} ready")
    try:
        yield ray_slots(pool)
    finally:
        pool.shutdown()


def run_placed(store: Store, config: RunConfig, agents: list[Agent], slots: list[Slot],
               problems: list[Problem], run_id: int | None = None,
               on_event: Callable[[Event], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> int:
    """Optimize `problems` (or continue run `run_id`) over `slots`; returns the run id. The run is
    marked finished only when every slot finished every problem it took."""
    from kernelswarm.supervisor import Supervisor

    if not slots:
        raise ValueError("no slot to run on")
    emit = on_event or (lambda e: None)
    sups = [Supervisor(store, config, agents, evaluator=s.evaluator, baseline_timer=s.baseline_timer,
                       screener_for=s.screener_for, on_event=_tagged(emit, s.label)) for s in slots]
    for sup in sups:
        sup.placed = True
    run_id = sups[0].start(problems, run_id)
    for sup in sups[1:]:
        sup.run_id = run_id
    claims, abort = _Claims(len(sups)), threading.Event()

    def stop() -> bool:
        return abort.is_set() or (should_stop is not None and should_stop())

    with ThreadPoolExecutor(max_workers=len(sups), thread_name_prefix="slot") as pool:
        futures = [pool.submit(sup.work, stop, claims.of(k)) for k, sup in enumerate(sups)]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                abort.set()
            finished = [f.result() for f in futures]  # the first failure, if any, is raised here
        except BaseException:
            abort.set()  # the other slots start no new problem; the ones under way finish
            raise
    if all(finished):
        store.set_run_status(run_id, "finished")
    return run_id


def _tagged(emit: Callable[[Event], None], label: str) -> Callable[[Event], None]:
    """Progress events of one slot; a problem's first line says where it runs."""
    def tagged(e: Event) -> None:
        if e.kind == "problem":
            e = dataclasses.replace(e, message=f"{e.message}, on {label}" if e.message else f"on {label}")
        emit(e)

    return tagged
