"""The supervisor with a fake evaluator: rounds, feedback, selection, budget, resume."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from kernelswarm import machine
from kernelswarm import supervisor as supervisor_mod
from kernelswarm.agents.base import Context
from kernelswarm.problems.load import Problem, load_problem
from kernelswarm.records import Candidate, Evaluation, Kind, ModelCall, Timing, Verdict
from kernelswarm.store import Store
from kernelswarm.supervisor import Event, OtherMachine, RunConfig, Supervisor

FIXTURES = Path(__file__).parent / "fixtures" / "swarm" / "problems"


def _t(ms: float) -> Timing:
    return Timing.from_samples([ms])


def fake_baselines(eager: float = 10.0, compiled: float | None = 8.0):
    def timer(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, **_):
        out = {"eager": _t(eager)}
        if compile_modes:
            if compiled is None:
                raise RuntimeError("inductor failed\nlong traceback")
            out["compile:default"] = _t(compiled)
        return out
    return timer


class FakeEvaluator:
    """Reads `ms=<float>` or `verdict=<name>` from the candidate source."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, problem: Problem, source: str, options) -> Evaluation:
        with self.lock:
            self.calls.append(source)
        assert options.reference is not None  # the measured eager time is reused, not re-timed
        m = re.search(r"verdict=(\w+)", source)
        if m:
            return Evaluation(problem.name, options.device, Verdict(m.group(1)), "fake failure")
        ms = float(re.search(r"ms=([\d.]+)", source).group(1))
        return Evaluation(problem.name, options.device, Verdict.ACCEPTED, "ok", kind=Kind.CUSTOM_KERNEL,
                          reference=options.reference, compiled=options.compiled, candidate=_t(ms),
                          versions={**machine.identity(options.device), "driver": "fake"})


class ScriptedAgent:
    """Proposes the sources scripted for each round and records the contexts it was shown."""

    def __init__(self, name: str, rounds: dict[int, list[str]], billable: bool = False, cost: float = 0.0) -> None:
        self.name, self.rounds, self.billable, self.cost = name, rounds, billable, cost
        self.contexts: list[Context] = []

    def propose(self, problem: Problem, context: Context) -> list[Candidate]:
        self.contexts.append(context)
        calls = [ModelCall(self.name, "p", "r", 10, 5, 0.1, self.cost)] if self.cost else []
        return [Candidate(s, self.name, calls=calls) for s in self.rounds.get(context.round, [])]


def _problems() -> list[Problem]:
    return [load_problem(FIXTURES / "tiny_linear.py", level=1), load_problem(FIXTURES / "tiny_conv.py", level=2)]


def _sup(tmp_path: Path, agents, rounds: int = 1, evaluator=None, baselines=None, **kw) -> tuple[Supervisor, list[Event]]:
    events: list[Event] = []
    cfg = RunConfig(device="cpu", rounds=rounds, **kw)
    sup = Supervisor(Store(tmp_path / "k.db"), cfg, agents, evaluator or FakeEvaluator(),
                     baselines or fake_baselines(), events.append)
    return sup, events


def test_selects_fastest_accepted_and_never_worse_than_baseline(tmp_path: Path) -> None:
    a = ScriptedAgent("a", {0: ["ms=9.0", "verdict=incorrect"]})  # beats eager, not compile
    b = ScriptedAgent("b", {0: ["ms=4.0"]})
    sup, events = _sup(tmp_path, [a, b])
    run = sup.run(_problems()[:1])
    [r] = sup.store.problem_results(run)
    assert r.best.agent == "b" and r.speedup_vs_eager == 2.5 and r.speedup_vs_best_baseline == 2.0
    sup2, _ = _sup(tmp_path / "2", [a])
    [r2] = sup2.store.problem_results(sup2.run(_problems()[:1]))
    assert r2.best is None and r2.result_ms == 8.0 and r2.speedup_vs_best_baseline == 1.0
    assert sup.store.run(run).status == "finished" and sup.store.run(run).versions["driver"] == "fake"
    assert [e.kind for e in events].count("done") == 1


def test_feedback_reaches_the_agent_in_the_next_round(tmp_path: Path) -> None:
    a = ScriptedAgent("a", {0: ["verdict=incorrect"], 1: ["ms=5.0"]})
    other = ScriptedAgent("other", {0: ["ms=7.0"]})
    sup, _ = _sup(tmp_path, [a, other], rounds=2)
    run = sup.run(_problems()[:1])
    assert a.contexts[0].feedback == [] and a.contexts[0].round == 0
    [fb] = a.contexts[1].feedback  # only its own earlier candidate
    assert fb.verdict == "incorrect" and fb.source == "verdict=incorrect" and fb.reference_ms == 10.0
    rows = sup.store.candidates(run)
    assert [(c.agent, c.round, c.context["feedback"]) for c in rows] == [("a", 0, False), ("other", 0, False), ("a", 1, True)]
    assert sup.store.problem_results(run)[0].best.round == 1


def test_compile_baseline_failure_leaves_eager(tmp_path: Path) -> None:
    sup, events = _sup(tmp_path, [ScriptedAgent("a", {0: ["ms=9.0"]})], baselines=fake_baselines(compiled=None))
    [r] = sup.store.problem_results(sup.run(_problems()[:1]))
    assert r.compile_ms is None and r.best.agent == "a" and r.speedup_vs_best_baseline == pytest.approx(10 / 9)
    assert any("torch.compile baseline failed: RuntimeError: inductor failed" == e.message for e in events)


def test_agent_errors_and_duplicates(tmp_path: Path) -> None:
    class Broken:
        name, billable = "broken", False

        def propose(self, problem, context):
            raise RuntimeError("boom")

    ev = FakeEvaluator()
    sup, events = _sup(tmp_path, [Broken(), ScriptedAgent("a", {0: ["ms=3.0"], 1: ["ms=3.0"]})], rounds=2, evaluator=ev)
    run = sup.run(_problems()[:1])
    assert ev.calls == ["ms=3.0"]  # the resubmitted twin reused the verdict
    rows = sup.store.candidates(run)
    assert rows[-1].reason.startswith("same source as candidate") and rows[-1].verdict == "accepted"
    assert any(e.kind == "proposed" and "agent error: RuntimeError: boom" in e.message for e in events)


def test_budget_stops_billable_agents_only(tmp_path: Path) -> None:
    paid = ScriptedAgent("paid", {0: ["ms=9.0"], 1: ["ms=2.0"]}, billable=True, cost=1.0)
    free = ScriptedAgent("free", {0: ["ms=9.5"], 1: ["ms=8.5"]})
    sup, events = _sup(tmp_path, [paid, free], rounds=2, budget_usd=1.0)
    run = sup.run(_problems()[:1])
    assert [c.round for c in paid.contexts] == [0] and [c.round for c in free.contexts] == [0, 1]
    assert sup.store.run_cost(run) == 1.0
    assert any("budget" in e.message for e in events)


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


def test_resume_redoes_nothing_finished(tmp_path: Path) -> None:
    a = ScriptedAgent("a", {0: ["ms=9.0", "ms=6.0", "ms=5.0"]})
    ev = FakeEvaluator()

    def dying(problem, source, options):
        if len(ev.calls) == 2:
            raise Killed()
        return ev(problem, source, options)

    sup, _ = _sup(tmp_path, [a], evaluator=dying)
    with pytest.raises(Killed):
        sup.run(_problems())
    run = sup.store.latest_run_id(unfinished_only=True)
    assert run is not None and len(a.contexts) == 1
    done_before = list(ev.calls)
    sup2, _ = _sup(tmp_path, [a], evaluator=ev)
    sup2.resume(run)
    assert len(a.contexts) == 2  # asked again only for the second problem
    assert sorted(ev.calls[len(done_before):]) == ["ms=5.0", "ms=5.0", "ms=6.0", "ms=9.0"]
    results = sup2.store.problem_results(run)
    assert [r.name for r in results] == ["tiny_linear", "tiny_conv"]
    assert all(r.done and r.best.candidate_ms == 5.0 for r in results)
    assert sup2.store.run(run).status == "finished"


def test_resume_tries_again_the_problems_whose_baselines_failed(tmp_path: Path) -> None:
    """A finished run whose baselines failed on a problem (a timeout, a harness fault) measured
    nothing there: --resume finds it, times it again and evaluates it; measured problems stay."""
    a = ScriptedAgent("a", {0: ["ms=5.0"]})
    ev = FakeEvaluator()
    good = fake_baselines()

    def flaky(problem, device, **kw):
        if problem.name == "tiny_conv":
            raise TypeError("time_baselines() got an unexpected keyword argument 'min_free_share'")
        return good(problem, device, **kw)

    sup, _ = _sup(tmp_path, [a], evaluator=ev, baselines=flaky)
    sup.run(_problems())
    store = sup.store
    run = store.latest_run_id()
    assert store.run(run).status == "finished" and store.latest_run_id(unfinished_only=True) is None
    assert [r.best_baseline is None for r in store.problem_results(run)] == [False, True]
    assert store.resumable_run_id() == run and len(ev.calls) == 1

    sup2, events = _sup(tmp_path, [a], evaluator=ev)
    sup2.resume(run)
    assert ev.calls == ["ms=5.0", "ms=5.0"]  # tiny_linear is not evaluated again
    assert any(e.kind == "note" and e.problem == "tiny_conv" and "trying again" in e.message
               for e in events)
    results = store.problem_results(run)
    assert all(r.done and r.best.candidate_ms == 5.0 for r in results)
    assert store.run(run).status == "finished" and store.resumable_run_id() is None


def test_resume_on_another_machine_is_refused_before_any_work(tmp_path: Path) -> None:
    a = ScriptedAgent("a", {0: ["ms=9.0"]})
    ev = FakeEvaluator()

    def dying(problem, source, options):
        raise Killed()

    sup, _ = _sup(tmp_path, [a], evaluator=dying)
    with pytest.raises(Killed):
        sup.run(_problems())
    run = sup.store.latest_run_id(unfinished_only=True)
    # As if the run had started on another GPU model with another PyTorch.
    sup.store.update_versions(run, {"device_name": "NVIDIA H100 80GB HBM3", "torch": "2.11.0+cu130"})
    sup2, _ = _sup(tmp_path, [a], evaluator=ev)
    with pytest.raises(OtherMachine, match=r"device_name NVIDIA H100 80GB HBM3 there, .* here; torch 2\.11\.0\+cu130 there"):
        sup2.resume(run)
    assert ev.calls == [] and len(a.contexts) == 1


def test_machine_identity_matches_what_the_evaluator_records() -> None:
    here = machine.identity("cpu")
    assert here["torch"] and here["device_name"] and int(here["threads"]) >= 1
    assert machine.mismatch(dict(here), "cpu") == ""
    assert machine.mismatch({"driver": "other", "platform": "other"}, "cpu") == ""  # not part of the identity
    assert "threads 999 there" in machine.mismatch({**here, "threads": "999"}, "cpu")


def test_context_arms_profile_and_other_backend(tmp_path: Path, monkeypatch) -> None:
    import kernelswarm.profile

    monkeypatch.setattr(kernelswarm.profile, "summary_text", lambda problem, device: f"PROFILE {problem.name} {device}")
    store = Store(tmp_path / "k.db")
    # An earlier run on another device left an accepted kernel for the same problem.
    cuda = Supervisor(store, RunConfig(device="cuda"), [ScriptedAgent("a", {0: ["ms=1.0"]})], FakeEvaluator(), fake_baselines())
    cuda.run(_problems()[:1])
    agent = ScriptedAgent("b", {0: ["ms=9.0"]})
    cfg = RunConfig(device="cpu", context=["profile", "other-backend"])
    run = Supervisor(store, cfg, [agent], FakeEvaluator(), fake_baselines()).run(_problems()[:1])
    [ctx] = agent.contexts
    assert ctx.profile == "PROFILE tiny_linear cpu" and ctx.other_backend == "cuda"
    assert ctx.other_backend_kernel == "ms=1.0" and ctx.feedback == []
    [row] = store.candidates(run)
    assert row.context == {"feedback": False, "profile": True, "other_backend": True}


def test_missing_profiler_costs_the_arm_not_the_run(tmp_path: Path, monkeypatch) -> None:
    import kernelswarm.profile

    def broken(problem, device):
        raise RuntimeError("no profiler here")

    monkeypatch.setattr(kernelswarm.profile, "summary_text", broken)
    agent = ScriptedAgent("a", {0: ["ms=5.0"]})
    sup, events = _sup(tmp_path, [agent], context=["feedback", "profile"])
    [r] = sup.store.problem_results(sup.run(_problems()[:1]))
    assert agent.contexts[0].profile is None and r.best is not None
    assert any("no profile: RuntimeError: no profiler here" in e.message for e in events)


def test_model_agents_are_asked_for_the_next_problem_while_this_one_is_evaluated(tmp_path: Path) -> None:
    log: list[str] = []

    class Slow(ScriptedAgent):
        def propose(self, problem, context):
            log.append(f"ask {problem.name} r{context.round}")
            return super().propose(problem, context)

    ev = FakeEvaluator()

    def slow_eval(problem, source, options):
        log.append(f"eval {problem.name}")
        return ev(problem, source, options)

    agent = Slow("model", {0: ["ms=5.0"], 1: ["ms=4.0"]}, billable=True)
    sup, events = _sup(tmp_path, [agent], rounds=2, evaluator=slow_eval)
    run = sup.run(_problems())
    # The second problem's first question went out before the first problem's evaluations ended.
    assert log.index("ask tiny_conv r0") < log.index("eval tiny_linear"), log
    assert sorted(log) == sorted(["ask tiny_linear r0", "ask tiny_linear r1", "ask tiny_conv r0", "ask tiny_conv r1"]
                                 + ["eval tiny_linear"] * 2 + ["eval tiny_conv"] * 2), log
    assert [e.problem for e in events if e.kind == "proposed"] == ["tiny_linear"] * 2 + ["tiny_conv"] * 2
    assert all(r.best.candidate_ms == 4.0 for r in sup.store.problem_results(run))


def test_out_of_memory_beside_other_evaluations_is_retried_alone(tmp_path: Path) -> None:
    import time

    class MemoryHungry(FakeEvaluator):
        active, retry_beside = 0, []

        def __call__(self, problem, source, options):
            first = source not in self.calls
            with self.lock:
                if "oom" in source and not first:
                    self.retry_beside.append(self.active)  # others still running at the retry
                self.active += 1
            time.sleep(0.05 if "oom" in source else 0.4)  # the other one outlasts the failure
            with self.lock:
                self.active -= 1
            ev = super().__call__(problem, source, options)
            if "oom" in source and first:
                return Evaluation(problem.name, options.device, Verdict.RUNTIME_ERROR, "CUDA out of memory. Tried to allocate 2.00 GiB")
            return ev

    ev = MemoryHungry()
    a = ScriptedAgent("a", {0: ["ms=5.0 oom", "ms=6.0"]})
    sup, _ = _sup(tmp_path, [a], evaluator=ev, jobs=2)
    run = sup.run(_problems()[:1])
    assert ev.calls.count("ms=5.0 oom") == 2 and ev.calls.count("ms=6.0") == 1
    assert ev.retry_beside == [0]  # retried once the other evaluation had finished, not beside it
    rows = {c.source: c for c in sup.store.candidates(run)}
    assert rows["ms=5.0 oom"].verdict == "accepted"
    assert sup.store.evaluation(rows["ms=5.0 oom"].id).checks[0].name == "retried alone"
    sup1, _ = _sup(tmp_path / "1", [ScriptedAgent("a", {0: ["ms=5.0 oom"]})], evaluator=MemoryHungry(), jobs=1)
    [c] = sup1.store.candidates(sup1.run(_problems()[:1]))
    assert c.verdict == "runtime_error"  # alone already: the verdict stands


def test_runs_with_jobs_time_the_next_problems_baselines_ahead(tmp_path: Path) -> None:
    import time

    base = fake_baselines()

    def run_on(device: str, jobs: int = 1) -> list[bool]:
        timed: list[str] = []
        seen: list[bool] = []  # per evaluation: had the next problem's baselines started?

        def timer(problem, dev, compile_modes=("default",), timeout_s=600.0, lock=None, **_):
            assert lock is not None  # baselines time under the run's device lock
            timed.append(problem.name)
            return base(problem, dev, compile_modes, timeout_s)

        class Watching(FakeEvaluator):
            def __call__(self, problem, source, options):
                end = time.monotonic() + (2.0 if jobs > 1 else 0.2)
                while len(timed) < 2 and time.monotonic() < end:
                    time.sleep(0.01)
                seen.append(len(timed) == 2)
                return super().__call__(problem, source, options)

        sup = Supervisor(Store(tmp_path / f"{device}{jobs}.db"), RunConfig(device=device, jobs=jobs),
                         [ScriptedAgent("a", {0: ["ms=5.0"]})], Watching(), timer, None)
        assert len(sup.store.problem_results(sup.run(_problems()))) == 2
        assert sorted(timed) == sorted(p.name for p in _problems())
        return seen

    assert run_on("cuda", jobs=2)[0]  # the second problem's baselines ran during the first one's evaluation
    assert run_on("cuda", jobs=1) == [False, True]  # one at a time: no candidate alive during a baseline
    # On a CPU too: every timing stops the other evaluations' processes, so builds overlap safely.
    assert run_on("cpu", jobs=2)[0]
    assert run_on("cpu", jobs=1) == [False, True]


def test_gpu_runs_with_jobs_overlap_two_problems_within_the_job_bound(tmp_path: Path) -> None:
    import time

    active: dict[str, int] = {}
    peak = {"total": 0, "both": False}
    guard = threading.Lock()

    class Slow(FakeEvaluator):
        def __call__(self, problem, source, options):
            with guard:
                active[problem.name] = active.get(problem.name, 0) + 1
                peak["total"] = max(peak["total"], sum(active.values()))
                peak["both"] |= len([n for n, k in active.items() if k]) == 2
            time.sleep(0.3 if "slow" in source else 0.05)
            with guard:
                active[problem.name] -= 1
            return super().__call__(problem, source, options)

    agent = ScriptedAgent("a", {0: ["ms=5.0 slow", "ms=6.0", "ms=7.0"]})
    sup = Supervisor(Store(tmp_path / "k.db"), RunConfig(device="cuda", jobs=2), [agent], Slow(), fake_baselines(), None)
    run = sup.run(_problems())
    assert sup.problems_in_flight == 2 and peak["both"]  # the second problem started beside the first's straggler
    assert peak["total"] <= 2  # never more evaluations at once than --jobs
    assert sup.store.run(run).status == "finished" and len(sup.store.problem_results(run)) == 2


def test_a_baseline_out_of_memory_beside_others_is_timed_again_alone(tmp_path: Path) -> None:
    calls: list[tuple[str, ...]] = []
    inner = fake_baselines()

    def timer(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, **_):
        calls.append(tuple(compile_modes))
        if len(calls) == 1:
            raise RuntimeError("torch.compile baseline ran out of device memory: CUDA out of memory")
        return inner(problem, device, compile_modes, timeout_s, lock)

    sup, events = _sup(tmp_path, [ScriptedAgent("a", {0: ["ms=5.0"]})], baselines=timer, jobs=2)
    [result] = sup.store.problem_results(sup.run(_problems()[:1]))
    assert calls == [("default",), ("default",)]  # the same baselines again, not eager alone
    assert result.compile_ms == 8.0 and not [e for e in events if "baseline failed" in e.message]


def test_a_baseline_timed_short_of_device_memory_is_timed_again_alone(tmp_path: Path) -> None:
    """Beside other evaluations on a GPU, a baseline that saw too little device memory free (a
    library may then have kept a slower algorithm) is not stored: it is timed again alone."""
    from kernelswarm.evaluate.parent.baselines import MemoryPressure

    asked: list[float | None] = []

    def timer(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, min_free_share=None):
        asked.append(min_free_share)
        if min_free_share:  # beside the others: what a squeezed reference would report
            raise MemoryPressure("eager baseline: only 9% of device memory was free while the reference ran")
        return {"eager": _t(4.0), "compile:default": _t(5.0)}

    events: list[Event] = []
    sup = Supervisor(Store(tmp_path / "k.db"), RunConfig(device="cuda", jobs=2), [ScriptedAgent("a", {0: ["ms=3.0"]})],
                     FakeEvaluator(), timer, events.append)
    [result] = sup.store.problem_results(sup.run(_problems()[:1]))
    assert asked == [supervisor_mod.MIN_FREE_SHARE, None]  # beside others with the check, then alone
    assert result.eager_ms == 4.0 and result.compile_ms == 5.0
    assert any("9% of device memory" in e.message and "again alone" in e.message for e in events)


def test_one_evaluation_at_a_time_asks_no_memory_check(tmp_path: Path) -> None:
    asked: list[dict] = []

    def timer(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, **kw):
        asked.append(kw)
        return {"eager": _t(4.0)}

    sup = Supervisor(Store(tmp_path / "k.db"), RunConfig(device="cuda", jobs=1), [ScriptedAgent("a", {0: ["ms=3.0"]})],
                     FakeEvaluator(), timer, None)
    sup.run(_problems()[:1])
    assert asked == [{}]  # alone on the device already: nothing else holds its memory


def test_training_mode_reaches_baselines_evaluations_and_agents(tmp_path: Path) -> None:
    """--mode train (issue 17): the baselines and every evaluation are timed and judged forward plus
    backward, and agents are told to write the backward too; a plain run passes no mode at all."""
    from kernelswarm.records import Mode

    modes: dict[str, list] = {"baselines": [], "evaluations": []}
    inner = fake_baselines()

    def timer(problem, device, **kw):
        modes["baselines"].append(kw.pop("mode", None))
        return inner(problem, device, **kw)

    fake = FakeEvaluator()

    def evaluator(problem, source, options):
        modes["evaluations"].append(options.mode)
        return fake(problem, source, options)

    a = ScriptedAgent("a", {0: ["ms=4.0"]})
    sup, _ = _sup(tmp_path, [a], evaluator=evaluator, baselines=timer, mode="train")
    sup.run(_problems()[:1])
    assert modes == {"baselines": ["train"], "evaluations": [Mode.TRAIN]}
    assert [c.mode for c in a.contexts] == ["train"]
    modes["baselines"].clear()
    plain = ScriptedAgent("p", {0: ["ms=4.0"]})
    sup2, _ = _sup(tmp_path / "2", [plain], baselines=timer)
    sup2.run(_problems()[:1])
    assert modes["baselines"] == [None] and [c.mode for c in plain.contexts] == ["inference"]


def test_flagged_problem_is_stored_marked_and_kept_out_of_the_headline(tmp_path: Path) -> None:
    """Issue 13.5: `run` screens each problem as `problems check` does and marks flagged ones."""
    from kernelswarm.metrics import summarize

    screened: list[str] = []

    def screener(problem: Problem, device: str) -> list[str]:
        screened.append(problem.name)
        return ["output is tiny: zeros would pass"] if problem.name == "tiny_conv" else []

    events: list[Event] = []
    sup = Supervisor(Store(tmp_path / "k.db"), RunConfig(device="cpu"), [ScriptedAgent("a", {0: ["ms=2.0"]})],
                     FakeEvaluator(), fake_baselines(), events.append, screener=screener)
    run = sup.run(_problems())
    results = {r.name: r for r in sup.store.problem_results(run)}
    assert results["tiny_conv"].flags == ("output is tiny: zeros would pass",) and results["tiny_linear"].flags == ()
    assert any(e.kind == "note" and "flagged by the screen" in e.message for e in events)
    s = summarize([r.score() for r in results.values()])
    assert s.n == 1 and s.n_flagged == 1 and s.flagged_geomean_vs_best == pytest.approx(4.0)
    # A resumed run does not screen again: the finding is stored with the run.
    Supervisor(sup.store, RunConfig(device="cpu"), [ScriptedAgent("a", {})], FakeEvaluator(), fake_baselines(),
               screener=screener).run(_problems(), run)
    assert sorted(screened) == ["tiny_conv", "tiny_linear"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_screen_runs_beside_the_baselines_only_with_jobs(tmp_path: Path, jobs: int) -> None:
    """Issue 16: with --jobs > 1 a problem's screen starts when the problem does (or when its
    baselines are timed ahead) and runs beside them (screen_for_run(beside=True): its process is
    stopped during timings), instead of after them; with --jobs 1 it stays after, holding the device."""
    calls: list[tuple[str, bool]] = []
    seen = threading.Condition()
    during: dict[str, bool] = {}

    def screener(problem: Problem, device: str, beside: bool = False) -> list[str]:
        with seen:
            calls.append((problem.name, beside))
            seen.notify_all()
        return ["output is tiny: zeros would pass"] if problem.name == "tiny_conv" else []

    def timer(problem, device, compile_modes=("default",), **kw):
        with seen:  # was the screen started while the baselines were still being timed?
            during[problem.name] = seen.wait_for(lambda: any(n == problem.name for n, _ in calls), timeout=5.0 if jobs > 1 else 0.2)
        return fake_baselines()(problem, device, compile_modes, **kw)

    events: list[Event] = []
    sup = Supervisor(Store(tmp_path / "k.db"), RunConfig(device="cpu", jobs=jobs), [ScriptedAgent("a", {0: ["ms=2.0"]})],
                     FakeEvaluator(), timer, events.append, screener=screener)
    run = sup.run(_problems())
    results = {r.name: r for r in sup.store.problem_results(run)}
    assert results["tiny_conv"].flags == ("output is tiny: zeros would pass",) and results["tiny_linear"].flags == ()
    assert sorted(calls) == [("tiny_conv", jobs > 1), ("tiny_linear", jobs > 1)]  # each screened once
    assert during == {"tiny_conv": jobs > 1, "tiny_linear": jobs > 1}


def test_launch_bound_flag_comes_from_the_measured_eager_time(tmp_path: Path) -> None:
    sup = Supervisor(Store(tmp_path / "k.db"), RunConfig(device="cpu"), [ScriptedAgent("a", {0: ["ms=0.001"]})],
                     FakeEvaluator(), fake_baselines(eager=0.005, compiled=0.004), screener=lambda p, d: [])
    [r] = sup.store.problem_results(sup.run(_problems()[:1]))
    assert r.flags and r.flags[0].startswith("launch-bound on cpu: eager 0.005 ms")


def test_builtin_agents_say_they_have_nothing_after_round_0(tmp_path: Path) -> None:
    from kernelswarm.agents.builtin import builtin_agents

    sup, events = _sup(tmp_path, builtin_agents(["compile"]), rounds=3)
    sup.run(_problems())
    notes = [e.message for e in events if e.kind == "note" and "propose once" in e.message]
    assert notes == ["compile: built-in, they propose once (round 0) and have nothing more for rounds 1-2; "
                     "no other agent is left to propose"]


class NoisyEvaluator(FakeEvaluator):
    """`reject=noise` sources are rejected by a clock (noise-sensitive) the first time, accepted
    after; `reject=lie` ones are rejected structurally every time."""

    def __call__(self, problem: Problem, source: str, options) -> Evaluation:
        with self.lock:
            self.calls.append(source)
            first = self.calls.count(source) == 1
        if "reject=lie" in source or first:
            return Evaluation(problem.name, options.device, Verdict.REJECTED, "wall-clock: disagrees",
                              noise_sensitive="reject=noise" in source)
        return Evaluation(problem.name, options.device, Verdict.ACCEPTED, "ok", kind=Kind.CUSTOM_KERNEL,
                          reference=options.reference, compiled=options.compiled, candidate=_t(4.0))


def test_a_noise_sensitive_rejection_is_judged_again_for_an_identical_proposal(tmp_path: Path) -> None:
    ev = NoisyEvaluator()
    agent = ScriptedAgent("a", {0: ["reject=noise", "reject=lie"], 1: ["reject=noise", "reject=lie"]})
    sup, _ = _sup(tmp_path, [agent], rounds=2, evaluator=ev)
    run = sup.run(_problems()[:1])
    assert sorted(ev.calls) == ["reject=lie", "reject=noise", "reject=noise"]  # the lie's twin reused its verdict
    rows = sup.store.candidates(run)
    noise = [r for r in rows if r.source == "reject=noise"]
    assert [r.verdict for r in noise] == ["rejected", "accepted"] and noise[0].noise_sensitive
    lie = [r for r in rows if r.source == "reject=lie"]
    assert lie[1].reason.startswith("same source as candidate") and not lie[0].noise_sensitive


def test_min_gain_decides_whether_a_small_win_replaces_the_baseline(tmp_path: Path) -> None:
    """7.6 ms against torch.compile's 8.0 ms is 5% faster: a win at --min-gain 0.02, not at 0.1."""
    for gain, won in ((0.02, True), (0.1, False)):
        sup, events = _sup(tmp_path / str(gain), [ScriptedAgent("a", {0: ["ms=7.6"]})], min_gain=gain)
        [r] = sup.store.problem_results(sup.run(_problems()[:1]))
        assert (r.best is not None) is won and r.min_gain == gain
        assert r.selection.value == ("win" if won else "not-faster")
        [done] = [e for e in events if e.kind == "done"]
        assert done.result.selection is r.selection


def test_cpu_runs_overlap_as_many_evaluations_as_cores_and_memory_allow() -> None:
    from kernelswarm.cli.run_cmd import _default_jobs
    from kernelswarm.machine import EVALUATION_MEMORY, MOST_JOBS_AHEAD, jobs_ahead

    assert jobs_ahead(cores=2, available=64 * EVALUATION_MEMORY) == 2  # bounded by cores
    assert jobs_ahead(cores=16, available=3 * EVALUATION_MEMORY + 1) == 3  # by memory
    assert jobs_ahead(cores=1, available=64 * EVALUATION_MEMORY) == 1
    assert jobs_ahead(cores=8, available=EVALUATION_MEMORY // 2) == 1  # never none
    assert jobs_ahead(cores=128, available=1 << 50) == MOST_JOBS_AHEAD
    assert _default_jobs("cpu") == jobs_ahead() and _default_jobs("cuda") == 1


def test_candidates_get_their_problems_compile_seed_and_the_seeds_go_with_the_run(tmp_path: Path) -> None:
    kept: dict[str, Path] = {}
    seen: dict[str, str | None] = {}

    def timer(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None, keep_compiled=None, **_):
        if keep_compiled is not None:  # what baselines.keep_caches leaves: the clean worker's caches
            (keep_compiled / "inductor_cache").mkdir(parents=True)
            kept[problem.name] = keep_compiled
        return fake_baselines()(problem, device, compile_modes, timeout_s)

    class Seeing(FakeEvaluator):
        def __call__(self, problem, source, options):
            seen[problem.name] = options.compile_seed
            assert options.compile_seed is None or (Path(options.compile_seed) / "inductor_cache").is_dir()
            return super().__call__(problem, source, options)

    sup, _ = _sup(tmp_path, [ScriptedAgent("a", {0: ["ms=5.0"]})], evaluator=Seeing(), baselines=timer)
    sup.run(_problems())
    assert set(kept) == {p.name for p in _problems()} and len(set(kept.values())) == 2  # one seed per problem
    assert seen == {name: str(path) for name, path in kept.items()}
    assert not any(path.exists() for path in kept.values())  # removed with the run's folder of seeds
    assert not kept[_problems()[0].name].parent.exists()

    sup, _ = _sup(tmp_path / "plain", [ScriptedAgent("a", {0: ["ms=5.0"]})], evaluator=Seeing())
    seen.clear()
    sup.run(_problems())  # a timer that keeps nothing: no seed, no folder made
    assert seen == {p.name: None for p in _problems()} and sup._seed_root is None


def test_a_compile_baseline_left_out_is_a_note_and_eager_alone_ends_by_the_deadline(tmp_path: Path) -> None:
    """The baseline timer says why torch.compile was left out (its worker killed at the time limit:
    baselines.time_baselines times eager alone in a fresh worker); the run says so, and hands the
    timer its deadline for that second window."""
    seen: list[float | None] = []

    def timer(problem, device, compile_modes=("default",), timeout_s=600.0, lock=None,
              on_compile_missing=None, end_by=None):
        seen.append(end_by)
        for mode in compile_modes:
            on_compile_missing(mode, "not measured in time (the 5 s limit ran out)")
        return {"eager": _t(10.0)}

    sup, events = _sup(tmp_path, [ScriptedAgent("a", {0: []})], baselines=timer)
    sup.deadline = time.monotonic() + 600.0
    sup.run(_problems()[:1])
    assert seen == [sup.deadline]
    notes = [e.message for e in events if e.kind == "note"]
    assert "torch.compile (default) baseline: not measured in time (the 5 s limit ran out)" in notes, notes
