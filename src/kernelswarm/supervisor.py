"""The supervisor: per problem, time the baselines, ask the agents, evaluate, feed back, select.

It is the only writer to the store and never imports candidate code: candidates go to the
evaluator as text. Every finished step is stored at once, so a killed run resumes where it
stopped (`resume=True` skips baselines, proposals and evaluations already stored).
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Protocol

from kernelswarm import machine
from kernelswarm.agents.base import Agent, Context, Feedback
from kernelswarm.budget import Budget, run_budget
from kernelswarm.evaluate.parent.devicelock import DeviceLock
from kernelswarm.locks import LockTimeout, LockWait, device_lock
from kernelswarm.problems.load import Problem
from kernelswarm.records import Candidate, Check, Evaluation, Mode, Precision, Timing, Verdict
from kernelswarm.runconfig import CONTEXT_ARMS, Event, RunConfig, host_versions, problem_from_row
from kernelswarm.store import CandidateRow, ProblemResult, Store, StoreError, select

__all__ = ["CONTEXT_ARMS", "OUT_OF_SPACE", "Event", "OtherMachine", "RunConfig", "Supervisor", "host_versions", "problem_from_row"]


# Baselines timed beside other evaluations must have seen at least this share of device memory
# free, else they are timed again alone (see evaluate.baselines.MemoryPressure).
MIN_FREE_SHARE = 0.25


class OtherMachine(RuntimeError):
    """A stored run cannot be resumed here: it was timed on another device or library versions."""

class ProblemClaims(Protocol):
    """Which supervisor works on which problem, when several share a run (kernelswarm.scale)."""

    def take(self, problem_id: int) -> bool:
        """Whether the caller takes this problem (False: another supervisor has it)."""
        ...

    def release(self, problem_id: int) -> None:
        """The caller has finished with a problem it took."""
        ...


Evaluator = Callable[..., Evaluation]  # (problem, candidate_source, options) -> Evaluation
Screener = Callable[[Problem, str], list[str]]  # (problem, device) -> the screen's findings
BaselineTimer = Callable[..., dict[str, Timing]]  # time_baselines' signature


class Supervisor:
    def __init__(self, store: Store, config: RunConfig, agents: list[Agent],
                 evaluator: Evaluator | None = None, baseline_timer: BaselineTimer | None = None,
                 on_event: Callable[[Event], None] | None = None, screener: Screener | None = None,
                 screener_for: Callable[[DeviceLock], Screener] | None = None) -> None:
        self.store = store
        self.config = config
        self.agents = agents
        self._evaluate = evaluator or _real_evaluator()
        self._baselines = baseline_timer or _real_baseline_timer()
        self._emit = on_event or (lambda e: None)
        # One timing at a time across every evaluation and baseline of the run; the others' workers
        # are stopped while it lasts.
        self._device_lock = DeviceLock()
        # Problems are screened as `problems check` does; a fake evaluator judges fake problems,
        # which have nothing to screen unless a test passes its own screener. `screener_for`: the
        # screen of a place a spread run times on (scale.placement.Slot), given this run's lock.
        if screener is None and screener_for is not None:
            screener = screener_for(self._device_lock)
        self._screen = screener or (_real_screener(self._device_lock) if evaluator is None else _no_screen)
        self._baseline_futs: dict[int, Future | None] = {}  # problem id -> its baselines timed ahead (None: taken)
        self._screen_futs: dict[int, Future] = {}  # problem id -> its screen, started beside other work
        self._baseline_guard = threading.Lock()
        # Per problem, the compile caches its clean baseline worker filled (EvalOptions.compile_seed),
        # in a folder of this run's, removed when its work ends.
        self._seed_root: Path | None = None
        self._seed_guard = threading.Lock()
        self._eval_slots = threading.BoundedSemaphore(max(1, config.jobs))
        # Device memory: evaluations and baselines enter side by side; one that ran out of memory
        # beside them is retried alone, after the others have finished (a stopped process keeps its memory).
        self._memory_gate = _Gate()
        self._profiles: dict[str, str | None] = {}
        self._versions_learned = False
        self._budget_noted = False
        self._once_noted = False  # said once per run that built-in agents have nothing after round 0
        self._prefetched: dict[tuple[int, str], Future] = {}  # (problem id, agent) -> round-0 answer
        self.run_id: int | None = None
        # One of the supervisors of a run spread by kernelswarm.scale.placement: its evaluator (on a
        # GPU of its own, or in a Ray actor elsewhere) takes the device lock. Held here as well, it
        # would be the wrong device's, and a Ray actor on this host would wait for it forever.
        self.placed = False
        # A whole model's search within a time budget (optimize/clock.py): no evaluation or
        # baseline started here runs past this time.monotonic() instant, so that the assembled
        # model's judgement keeps the time reserved for it. None: each has its configured timeout.
        self.deadline: float | None = None

    # ---- the run ----

    def run(self, problems: list[Problem], run_id: int | None = None,
            should_stop: Callable[[], bool] | None = None) -> int:
        """Optimize every problem; returns the run id. With run_id, continue that stored run:
        problems it registered keep their stored source, so a resumed run judges the same code, and
        those whose baselines failed with nothing measured are tried again (Store.reopen_unmeasured).
        `should_stop` is asked before each problem; when it says yes the run stays resumable."""
        self.start(problems, run_id)
        if self.work(should_stop):
            self.store.set_run_status(self.run_id, "finished")
        return self.run_id

    def start(self, problems: list[Problem], run_id: int | None = None) -> int:
        """Create the run (or check that a stored one can continue here) and register its problems."""
        if run_id is None:
            run_id = self.store.create_run(self.config.device, self.config.to_dict(), host_versions(self.config.device))
        else:
            differs = machine.mismatch(self.store.run(run_id).versions, self.config.device)
            if differs:
                raise OtherMachine(f"run {run_id} was timed on another machine ({differs}): its timings and this "
                                   f"machine's cannot be compared; start a new run instead of resuming this one")
            self.store.claim_run(run_id)
            for name in self.store.reopen_unmeasured(run_id):
                self._emit(Event("note", name, message="its baselines failed before: trying again"))
        self.run_id = run_id
        # Register every problem before working on any, so a resumed run knows the whole list.
        for position, problem in enumerate(problems):
            self.store.add_problem(run_id, position, problem.name, problem.level, problem.hash,
                                   str(problem.path), problem.source, problem.sizes)
        return run_id

    def work(self, should_stop: Callable[[], bool] | None = None, claims: ProblemClaims | None = None) -> bool:
        """Work on the started run's problems in order; True when none was left undone by a stop.
        `claims`, when given, says which problems this supervisor takes: several supervisors (one
        per GPU or Ray actor, kernelswarm.scale) share one run's problems that way."""
        rows = self.store.problem_rows(self.run_id)
        stopped = threading.Event()

        def one(i: int, row: dict[str, Any]) -> None:
            if stopped.is_set() or (claims is not None and not claims.take(row["id"])):
                return
            try:
                claimed(i, row)
            finally:
                if claims is not None:
                    claims.release(row["id"])

        def claimed(i: int, row: dict[str, Any]) -> None:
            if should_stop is not None and not row["done"] and should_stop():
                stopped.set()
                self._emit(Event("note", row["name"], message="stopped before this problem; resume to continue"))
                return
            # Work ahead on the next problem only when it is surely this supervisor's.
            if claims is None and i + 1 < len(rows) and not rows[i + 1]["done"]:
                self._prefetch(rows[i + 1]["id"], problem_from_row(rows[i + 1]))
                self._prefetch_baselines(rows[i + 1])
            try:
                self.optimize(row["id"], problem_from_row(row))
            except BaseException:
                stopped.set()  # before the pool's thread can take the next problem
                raise

        try:
            with ThreadPoolExecutor(max_workers=4, thread_name_prefix="prefetch") as self._asking, \
                    ThreadPoolExecutor(max_workers=self.problems_in_flight, thread_name_prefix="problem") as problems_pool:
                # Problems start in order; with more than one in flight, the next one's evaluations
                # fill the device while the slowest candidates of the last one (long compiles) finish.
                futures = [problems_pool.submit(one, i, row) for i, row in enumerate(rows)]
                try:
                    for fut in futures:
                        fut.result()
                except BaseException:
                    stopped.set()
                    for fut in [*futures, *self._prefetched.values(), *self._baseline_futs.values()]:
                        if fut is not None:
                            fut.cancel()
                    raise
        finally:
            with self._seed_guard:
                if self._seed_root is not None:
                    shutil.rmtree(self._seed_root, ignore_errors=True)
                    self._seed_root = None
        return not stopped.is_set()

    def _seed(self, problem: Problem, make: bool = False) -> Path | None:
        """Where `problem`'s baseline keeps the compile caches its clean worker filled, for its
        candidates' workers to start from (baselines.keep_caches, EvalOptions.compile_seed); the
        run's folder of seeds is made only for a baseline to keep one (`make`). None where
        evaluations run in other processes or hosts (a spread or Ray run), or nothing was kept."""
        if self.placed or getattr(self.config, "devices", None) or getattr(self.config, "ray", None):
            return None
        with self._seed_guard:
            if self._seed_root is None and make:
                self._seed_root = Path(tempfile.mkdtemp(prefix="kernelswarm-seeds-"))
            return self._seed_root / problem.hash[:16] if self._seed_root is not None else None

    @property
    def device_holds(self) -> list[tuple[str, float, float]]:
        """(what, start, seconds) of every hold of the device lock so far: timings, solo retries."""
        return list(self._device_lock.holds)

    def kill_workers(self) -> None:
        """Kill the worker processes of every evaluation in flight (the run is being abandoned)."""
        self._device_lock.kill_workers()

    @property
    def problems_in_flight(self) -> int:
        """Where evaluations overlap (--jobs > 1), as many problems as jobs: a problem's baselines
        and its few candidates come one after the other, and --jobs still bounds how many
        evaluations (baselines included) run at once; else one."""
        if self.config.jobs < 2:
            return 1
        return self.config.jobs

    def _prefetch(self, pid: int, problem: Problem) -> None:
        """Ask the model agents for the next problem's first round now, so that their latency
        overlaps this problem's evaluations (round 0 needs no baselines and no feedback). Answers
        are stored as they arrive; built-in agents answer instantly and are not prefetched."""
        if self.config.rounds < 1:
            return
        asked = self.store.proposed(pid)
        for agent in self.agents:
            key = (pid, agent.name)
            if not getattr(agent, "billable", True) or (agent.name, 0) in asked or key in self._prefetched:
                continue
            ctx = self._context(problem, agent.name, 0, [], None, None)
            if self._may_ask(agent, problem, ctx, pid):
                self._prefetched[key] = self._asking.submit(self._ask_and_store, pid, problem, agent, ctx)

    def _prefetch_baselines(self, row: dict[str, Any]) -> None:
        """With --jobs > 1, time the next problem's baselines while this one's candidates are
        evaluated: its start and torch.compile overlap them, its timing holds the device
        exclusively (every other evaluation's processes stopped: on a CPU nothing else runs). Not
        with --jobs 1, where no candidate process is ever alive during a timing other than its own."""
        if self.config.jobs < 2 or row["baselines_done"]:
            return
        with self._baseline_guard:  # the next problem may already be starting in its own thread
            if row["id"] not in self._baseline_futs:
                self._baseline_futs[row["id"]] = self._asking.submit(self._time_baselines, problem_from_row(row))
        self._screen_ahead(row["id"], problem_from_row(row))

    def _screen_ahead(self, pid: int, problem: Problem) -> None:
        """With --jobs > 1, start screening `problem` now, beside its baselines and other problems'
        evaluations (its process stopped during every timing, as theirs are), instead of holding
        the device for it after the baselines: screened.screen_for_run(beside=True)."""
        if self.config.jobs < 2 or not _takes(self._screen, "beside") or self._row(pid).get("flags") is not None:
            return
        with self._baseline_guard:
            if pid not in self._screen_futs:
                self._screen_futs[pid] = self._asking.submit(self._screen_beside, problem)

    def _screen_beside(self, problem: Problem) -> list[str]:
        with self._memory_gate.shared():  # a retry alone (out of device memory) waits for it too
            return list(self._screen(problem, self.config.device, beside=True))

    def _ask_and_store(self, pid: int, problem: Problem, agent: Agent, ctx: Context):
        answer = _ask(agent, problem, ctx)
        return agent, ctx, answer, self._store_proposals(pid, problem, 0, agent, ctx, answer, emit=False)

    def resume(self, run_id: int) -> int:
        """Continue a stored run (killed, or stopped) without redoing anything it finished."""
        self.store.set_run_status(run_id, "running")
        return self.run([], run_id)

    def optimize(self, pid: int, problem: Problem) -> ProblemResult:
        """One problem: baselines, then every round, then the selection."""
        row = self._row(pid)
        if row["done"]:
            return self._finish(pid, problem, already=True)
        self._emit(Event("problem", problem.name, message=f"level {problem.level}" if problem.level else ""))
        self._screen_ahead(pid, problem)
        if not row["baselines_done"]:
            with self._baseline_guard:
                ahead = self._baseline_futs.get(pid)
                self._baseline_futs[pid] = None  # taken: nobody times these baselines ahead any more
            eager, compiled, error = ahead.result() if ahead is not None else self._time_baselines(problem)
            self.store.set_baselines(pid, eager, compiled, error)
            row = self._row(pid)
        eager, compiled = row["eager"], row["compiled"]
        self._emit(Event("baselines", problem.name, eager=eager, compiled=compiled,
                         message=row["baseline_error"] or ""))
        if row.get("flags") is None:
            self._flag(pid, problem, eager)
        if eager is not None:
            for r in range(self.config.rounds):
                self._round(pid, problem, r, eager, compiled)
        return self._finish(pid, problem)

    def _flag(self, pid: int, problem: Problem, eager: Timing | None) -> None:
        """Screen the problem (cached by its hash) and store what was found; the screen's timing
        part is applied to the eager baseline this run measured."""
        from kernelswarm.problems.screened import launch_bound

        with self._baseline_guard:
            ahead = self._screen_futs.pop(pid, None)
        try:
            flags = ahead.result() if ahead is not None else self._screen_held(problem)
        except LockTimeout as e:  # left unscreened (flags unset): a resumed run screens it
            self._emit(Event("note", problem.name, message=f"not screened by the deadline: {_one_line(e)}"))
            return
        slow = launch_bound(self.config.device, eager.median_ms if eager else None)
        flags += [slow] if slow else []
        self.store.set_problem_flags(pid, flags)
        if flags:
            more = f" (and {len(flags) - 1} more)" if len(flags) > 1 else ""
            self._emit(Event("note", problem.name, message=f"flagged by the screen: {flags[0]}{more}; "
                                                           "kept out of the headline figures"))

    def _screen_held(self, problem: Problem) -> list[str]:
        """The screen; with a deadline, under the run's hold on the device, so that its wait for the
        device (screened.screen_for_run holds it too) ends by then."""
        with self._device_claim(problem) if self.deadline is not None else contextlib.nullcontext():
            return list(self._screen(problem, self.config.device))

    def _finish(self, pid: int, problem: Problem, already: bool = False) -> ProblemResult:
        if not already:
            self.store.mark_problem_done(pid)
        result = select(self._row(pid), self.store.candidates_of_problem(pid), self.config.min_gain)
        self._emit(Event("done", problem.name, result=result, message="(resumed: already done)" if already else ""))
        return result

    def _row(self, pid: int) -> dict[str, Any]:
        return next(r for r in self.store.problem_rows(self.run_id) if r["id"] == pid)

    def _time_baselines(self, problem: Problem) -> tuple[Timing | None, Timing | None, str | None]:
        """Eager and torch.compile of the reference. A compile failure leaves only eager."""
        modes = ("default",) if self.config.compile_baseline else ()
        with self._eval_slots:  # a baseline is an evaluation of the reference: --jobs bounds it too
            return self._time_baselines_in_slot(problem, modes)

    def _time_baselines_in_slot(self, problem: Problem, modes: tuple[str, ...]) -> tuple[Timing | None, Timing | None, str | None]:
        try:
            t = self._baselines_gated(problem, modes)
            return t.get("eager"), t.get("compile:default"), None
        except LockTimeout as e:  # the deadline came first: eager alone would wait for the same lock
            return None, None, f"baselines not measured by the deadline: {_one_line(e)}"
        except Exception as e:
            _stop_if_out_of_space(e)
            first = _one_line(e)
        if modes:
            try:
                t = self._baselines_gated(problem, ())
                self._emit(Event("note", problem.name, message=f"torch.compile baseline failed: {first}"))
                return t.get("eager"), None, None
            except Exception as e:
                _stop_if_out_of_space(e)
                first = _one_line(e)
        return None, None, f"baselines failed: {first}"

    def _baselines_gated(self, problem: Problem, modes: tuple[str, ...]) -> dict[str, Timing]:
        """The baseline timer beside other evaluations; out of device memory there, or timed with
        less than MIN_FREE_SHARE of it free (see baselines.MemoryPressure), again alone."""
        # A timer that names the parameter keeps the caches (time_baselines); test doubles need not.
        seed = self._seed(problem, make=True) if modes and _takes(self._baselines, "keep_compiled") else None

        def timed(**kw: Any) -> dict[str, Timing]:
            if seed is not None:
                kw["keep_compiled"] = seed
            if self.placed or _takes(self._baselines, "on_lock_wait"):
                kw["on_lock_wait"] = lambda waited: self._baselines_waited(problem, waited)
            if _takes(self._baselines, "on_compile_missing"):
                kw["on_compile_missing"] = lambda cmode, why: self._emit(
                    Event("note", problem.name, message=f"torch.compile ({cmode}) baseline: {why}"))
            if self.deadline is not None and _takes(self._baselines, "end_by"):
                kw["end_by"] = self.deadline  # eager timed again alone, after a compile ran out, ends by then too
            with self._device_claim(problem) as waited:
                if waited.holder:
                    self._baselines_waited(problem, waited)
                return self._baselines(problem, self.config.device, compile_modes=modes,
                                       timeout_s=self._until_deadline(self.config.baseline_timeout_s),
                                       lock=self._device_lock,
                                       **({"mode": self.config.mode} if self.config.mode else {}), **kw)

        beside = self.config.jobs > 1
        try:
            with self._memory_gate.shared():
                return timed(min_free_share=MIN_FREE_SHARE) if beside and self.config.device != "cpu" else timed()
        except Exception as e:
            pressed = type(e).__name__ == "MemoryPressure"
            if not beside or not (pressed or "out of memory" in str(e).lower()):
                raise
            if pressed:
                self._emit(Event("note", problem.name, message=f"{_one_line(e)}; timing the baselines again alone"))
        with self._memory_gate.alone():
            return timed()

    def _baselines_waited(self, problem: Problem, waited: LockWait) -> None:
        from kernelswarm.records import lock_wait_text

        self._emit(Event("note", problem.name, message=f"baselines {lock_wait_text(waited.seconds, waited.holder)}"))

    # ---- one round: ask every agent at once, evaluate each answer as soon as it arrives ----

    def _round(self, pid: int, problem: Problem, rnd: int, eager: Timing, compiled: Timing | None) -> None:
        if rnd == 1 and not self._once_noted:
            once = [a.name for a in self.agents if getattr(a, "proposes_once", False)]
            self._once_noted = bool(once)
            if once:
                others = len(once) == len(self.agents)
                self._emit(Event("note", problem.name, message=(
                    f"{', '.join(once)}: built-in, they propose once (round 0) and have nothing more for rounds "
                    f"1-{self.config.rounds - 1}" + ("; no other agent is left to propose" if others else ""))))
        prefetched = {a.name: self._prefetched.pop((pid, a.name)) for a in self.agents
                      if rnd == 0 and (pid, a.name) in self._prefetched}
        asked = self.store.proposed(pid)
        to_ask = [a for a in self.agents if (a.name, rnd) not in asked and a.name not in prefetched]
        history = self.store.candidates_of_problem(pid)
        with ThreadPoolExecutor(max_workers=max(1, len(to_ask)), thread_name_prefix="agent") as asking, \
                ThreadPoolExecutor(max_workers=max(1, self.config.jobs), thread_name_prefix="eval") as judging:
            pending: dict[Future, tuple[str, Any]] = {fut: ("prefetched", None) for fut in prefetched.values()}
            for agent in to_ask:
                ctx = self._context(problem, agent.name, rnd, history, eager, compiled)
                if self._may_ask(agent, problem, ctx, pid):
                    pending[asking.submit(_ask, agent, problem, ctx)] = ("ask", (agent, ctx))
            # Candidates stored earlier but never judged (the run was killed mid-round).
            submitted: set[int] = set()  # a prefetched answer is both stored and returned: judge it once

            def judge(row: CandidateRow) -> None:
                if row.id not in submitted and not self._reuse(pid, problem, row):
                    submitted.add(row.id)
                    pending[judging.submit(self._judge, problem, row, eager, compiled)] = ("judge", row)

            for row in self._unjudged(pid, rnd):
                judge(row)
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        what, payload = pending.pop(fut)
                        if what in ("ask", "prefetched"):
                            if what == "ask":
                                new = self._store_proposals(pid, problem, rnd, *payload, fut.result())
                            else:  # stored by the prefetching thread already; announce it here
                                agent, ctx, answer, new = fut.result()
                                self._announce(problem, 0, agent, answer)
                            for row in new:
                                judge(row)
                        else:
                            self._store_evaluation(problem, payload, fut)
            except BaseException:
                # Interrupted: drop queued work (a resumed run does it) rather than finish it all.
                for fut in pending:
                    fut.cancel()
                raise

    @property
    def _budget(self) -> Budget:
        """The run's budget, shared with every supervisor of this run in this process."""
        return run_budget(self.store, self.run_id, self.config.budget_usd)

    def _may_ask(self, agent: Agent, problem: Problem, ctx: Context, pid: int) -> bool:
        """Whether the budget allows asking this agent now; a billable agent's worst cost is
        reserved until its answer is stored (see budget.Budget)."""
        if not getattr(agent, "billable", True):
            return True
        worst = getattr(agent, "worst_cost_usd", None)
        if self._budget.reserve((pid, agent.name, ctx.round), worst(problem, ctx) if worst else None):
            return True
        if not self._budget_noted:
            self._budget_noted = True
            self._emit(Event("note", problem.name, message=f"budget ${self._budget.limit_usd:.2f} reached: model agents stop"))
        return False

    def _store_proposals(self, pid: int, problem: Problem, rnd: int, agent: Agent, ctx: Context,
                         answer: tuple[list[Candidate], str], emit: bool = True) -> list[CandidateRow]:
        candidates, error = answer
        for c in candidates:
            c.agent, c.problem, c.round = agent.name, problem.name, rnd
            c.context = c.context or ctx.arms()  # which arms were shown, recorded per candidate
        self.store.add_proposals(self.run_id, pid, agent.name, rnd, candidates, note=error)
        self._budget.settle((pid, agent.name, rnd))  # its real cost is stored now
        if emit:
            self._announce(problem, rnd, agent, answer)
        ids = {c.id for c in candidates if c.source.strip()}
        return [r for r in self.store.candidates_of_problem(pid) if r.id in ids]

    def _announce(self, problem: Problem, rnd: int, agent: Agent, answer: tuple[list[Candidate], str]) -> None:
        candidates, error = answer
        with_code = [c for c in candidates if c.source.strip()]
        msg = error or f"{len(with_code)} candidate(s)" + (
            "" if len(with_code) == len(candidates) else f", {len(candidates) - len(with_code)} without code")
        if candidates or error:
            self._emit(Event("proposed", problem.name, agent.name, rnd, msg))

    def _reuse(self, pid: int, problem: Problem, row: CandidateRow) -> bool:
        """An exact copy of an already judged source gets that verdict instead of a new evaluation
        (models often resubmit the same code); the reason says so. A rejection that load could have
        caused (Evaluation.noise_sensitive) is never reused: the copy is judged again."""
        twin = next((c for c in self.store.candidates_of_problem(pid)
                     if c.id != row.id and c.verdict is not None and c.source == row.source
                     and not c.noise_sensitive), None)
        ev = self.store.evaluation(twin.id) if twin else None
        if ev is None:
            return False
        ev.reason = f"same source as candidate {twin.id}: {ev.reason}"
        self.store.add_evaluation(row.id, ev)
        self._emit(Event("evaluated", problem.name, row.agent, row.round, ev.reason, evaluation=ev))
        return True

    def _unjudged(self, pid: int, rnd: int) -> list[CandidateRow]:
        return [r for r in self.store.candidates_of_problem(pid)
                if r.round == rnd and r.verdict is None and r.source.strip()]

    # ---- evaluation ----

    def _options(self, eager: Timing, compiled: Timing | None, problem: Problem | None = None):
        """`eager` and `compiled`: this run's baselines, timed alternately; no speedup divides by
        them (each evaluation times the reference beside its candidate), but torch.compile's
        ratio to eager comes from them. `problem`'s compile seed, where its baseline kept one."""
        from kernelswarm.evaluate.parent.options import EvalOptions

        settings = dict(timeout_s=self._until_deadline(self.config.timeout_s), strict=self.config.strict,
                        precision=Precision(self.config.precision), reference=eager, compiled=compiled,
                        mode=Mode(self.config.mode) if self.config.mode else None)
        if hasattr(EvalOptions, "for_device"):  # the device's own defaults (fewer timed calls on CPU)
            opts = EvalOptions.for_device(self.config.device, **settings)
        else:
            opts = EvalOptions(device=self.config.device, **settings)
        # When the evaluator can take a lock around its timing phase alone, hand it ours, so that
        # several evaluations compile at once while only one times on the device.
        if hasattr(opts, "timing_lock"):
            opts.timing_lock = self._device_lock
        seed = self._seed(problem) if problem is not None else None
        if seed is not None and seed.is_dir() and hasattr(opts, "compile_seed"):
            opts.compile_seed = str(seed)
        return opts

    def _until_deadline(self, timeout_s: float) -> float:
        """An evaluation's time limit, cut to what is left before `deadline` (at least a second)."""
        if self.deadline is None:
            return timeout_s
        return min(timeout_s, max(1.0, self.deadline - time.monotonic()))

    def _judge(self, problem: Problem, row: CandidateRow, eager: Timing, compiled: Timing | None) -> Evaluation:
        """Evaluate and store at once, in the evaluating thread: a finished evaluation is durable
        before anything else happens (the store serialises writers)."""
        with self._eval_slots:  # --jobs bounds evaluations across every problem in flight
            ev = self._judge_once(problem, row, eager, compiled)
        self.store.add_evaluation(row.id, ev)
        return ev

    def _device_claim(self, problem: Problem) -> contextlib.AbstractContextManager[LockWait]:
        """The machine-wide hold on the device (locks.device_lock) for one evaluation or baseline:
        no other kernelswarm process judges on it meanwhile; waiting for one is a note. A run
        spread over GPUs or Ray actors leaves it to the evaluator, which knows its GPU."""
        if self.placed or getattr(self.config, "devices", None) or getattr(self.config, "ray", None):
            return contextlib.nullcontext(LockWait())

        def waiting(holder: str) -> None:
            self._emit(Event("note", problem.name, message=f"waiting for {self.config.device}: {holder} is using it"))

        # The wait counts against the run's deadline (optimize's time budget): the device not had by
        # then, nothing is started (LockTimeout), and a resumed run does it. Never a candidate's timing.
        return device_lock(self.config.device).hold(on_wait=waiting, until=self.deadline)

    def _judge_once(self, problem: Problem, row: CandidateRow, eager: Timing, compiled: Timing | None) -> Evaluation:
        with self._memory_gate.shared(), self._device_claim(problem) as waited:
            ev = self._evaluate(problem, row.source, self._options(eager, compiled, problem))
        ev.waited_for(waited.seconds, waited.holder)
        if self.config.jobs > 1 and _out_of_memory(ev):
            # Other evaluations held device memory too: judge this one again with the device to
            # itself, once they have finished (none starts meanwhile).
            before = (ev.lock_wait_s, ev.lock_holder)
            with self._memory_gate.alone(), self._device_lock.solo(), self._device_claim(problem) as waited:
                ev = self._evaluate(problem, row.source, self._options(eager, compiled, problem))
            ev.waited_for(*before)
            ev.waited_for(waited.seconds, waited.holder)
            ev.checks.insert(0, Check("retried alone", True, "ran out of device memory beside other evaluations; evaluated again alone"))
        if getattr(self.config, "shard", None) and not ev.host:
            # A shard's evaluations say where they were timed, as a spread run's do: the shards of
            # a sweep run on several nodes and are reported as one run (report --db A --db B).
            ev.host, ev.device_index = _this_place(self.config.device)
        return ev

    def _store_evaluation(self, problem: Problem, row: CandidateRow, fut: Future) -> None:
        try:
            ev: Evaluation = fut.result()
        except LockTimeout as e:  # never started: not the candidate's doing, nothing stored
            self._emit(Event("note", problem.name, row.agent, row.round,
                             f"not evaluated by the deadline: {_one_line(e)}; a resumed run evaluates it"))
            return
        except Exception as e:
            _stop_if_out_of_space(e)
            # The evaluator itself failed: not the candidate's fault, so nothing is stored and a
            # resumed run tries again.
            self._emit(Event("note", problem.name, row.agent, row.round, f"evaluator error: {_one_line(e)}"))
            return
        if not self._versions_learned and ev.versions:
            self._versions_learned = True
            self.store.update_versions(self.run_id, {k: str(v) for k, v in ev.versions.items()})
        self._emit(Event("evaluated", problem.name, row.agent, row.round, ev.reason, evaluation=ev))

    # ---- what an agent is shown ----

    def _context(self, problem: Problem, agent: str, rnd: int, history: list[CandidateRow],
                 eager: Timing | None, compiled: Timing | None) -> Context:
        arms = set(self.config.context)
        mode = Mode.resolve(self.config.mode, problem.mode)
        ctx = Context(device=self.config.device, round=rnd, device_facts=self._device_facts(), mode=mode.value)
        if "feedback" in arms:
            ctx.feedback = [_feedback(c, eager, compiled) for c in history if c.agent == agent and c.round < rnd]
        if "profile" in arms:
            ctx.profile = self._profile(problem)
        if "other-backend" in arms:
            other = self.store.best_on_other_device(problem.hash, self.config.device)
            if other is not None:
                ctx.other_backend_kernel, ctx.other_backend = other.source, other.device
        return ctx

    def _device_facts(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.store.run(self.run_id).versions.items()}

    def _profile(self, problem: Problem) -> str | None:
        if problem.hash not in self._profiles:
            try:
                from kernelswarm.profile import summary_text

                self._profiles[problem.hash] = summary_text(problem, self.config.device)
            except Exception as e:  # a missing or failing profiler costs the arm, not the run
                self._profiles[problem.hash] = None
                self._emit(Event("note", problem.name, message=f"no profile: {_one_line(e)}"))
        return self._profiles[problem.hash]


def _ask(agent: Agent, problem: Problem, ctx: Context) -> tuple[list[Candidate], str]:
    """Ask one agent; an agent that raises is recorded as having answered with nothing."""
    try:
        return list(agent.propose(problem, ctx)), ""
    except Exception as e:
        return [], f"agent error: {_one_line(e)}"


def _feedback(c: CandidateRow, eager: Timing | None, compiled: Timing | None) -> Feedback:
    verdict = c.verdict or ("no-code" if not c.source.strip() else "not-evaluated")
    return Feedback(candidate_id=c.id, round=c.round, verdict=verdict, reason=c.reason or c.note,
                    candidate_ms=c.candidate_ms, reference_ms=eager.median_ms if eager else None,
                    compiled_ms=compiled.median_ms if compiled else None,
                    source=c.source)


# A full disk (or quota, or file size limit) stops the run: every later step would fail the same way.
OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _stop_if_out_of_space(e: Exception) -> None:
    if isinstance(e, StoreError) or (isinstance(e, OSError) and e.errno in OUT_OF_SPACE):
        raise e


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0] if text else ''}"[:300]


class _Gate:
    """Many inside at once (`shared`), or one alone (`alone`); while one waits to be alone, no new
    one comes in. A thread inside alone passes its own `shared`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inside = 0
        self._alone: int | None = None
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        nested = self._alone == threading.get_ident()
        if not nested:
            with self._cond:
                while self._alone is not None or self._waiting:
                    self._cond.wait()
                self._inside += 1
        try:
            yield
        finally:
            if not nested:
                with self._cond:
                    self._inside -= 1
                    self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                while self._alone is not None or self._inside:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._alone = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._alone = None
                self._cond.notify_all()


def _out_of_memory(ev: Evaluation) -> bool:
    return ev.verdict is Verdict.RUNTIME_ERROR and "out of memory" in (ev.reason + ev.log_tail).lower()


def _no_screen(problem: Problem, device: str) -> list[str]:
    return []


def _real_screener(lock: DeviceLock, gpu: str | None = None) -> Screener:
    """The screen runs the reference about 15 times in a child process: uncached, it holds the
    device as a timing does, so that it never runs beside another evaluation's timing. A run spread
    over GPUs screens each problem on its slot's GPU (`gpu`) the same way (scale.placement)."""

    def screen(problem: Problem, device: str, beside: bool = False) -> list[str]:
        from kernelswarm.problems import screened

        return screened.screen_for_run(problem, device, lock, gpu, beside=beside)

    return screen


def _this_place(device: str) -> tuple[str, int | None]:
    """This machine's name, and the physical number of the GPU `device` names here (None on a CPU,
    or for a GPU named by UUID)."""
    import socket

    from kernelswarm.locks import device_key

    index = device_key(device).partition(":")[2]
    return socket.gethostname(), int(index) if index.isdigit() else None


def _real_evaluator() -> Evaluator:
    from kernelswarm.evaluate import evaluate

    return evaluate


def _takes(fn: Callable[..., Any], name: str) -> bool:
    """Whether `fn` names the parameter `name` itself (not through **kwargs)."""
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _real_baseline_timer() -> BaselineTimer:
    from kernelswarm.evaluate import time_baselines

    return time_baselines
