"""The supervisor with a fake evaluator: rounds, feedback, selection, budget, resume."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from kernelswarm.agents.base import Context
from kernelswarm.problems.load import Problem, load_problem
from kernelswarm.records import Candidate, Evaluation, Kind, ModelCall, Timing, Verdict
from kernelswarm.store import Store
from kernelswarm.supervisor import Event, RunConfig, Supervisor

FIXTURES = Path(__file__).parent / "fixtures" / "swarm" / "problems"


def _t(ms: float) -> Timing:
    return Timing.from_samples([ms])


def fake_baselines(eager: float = 10.0, compiled: float | None = 8.0):
    def timer(problem, device, compile_modes=("default",), timeout_s=600.0):
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
                          versions={"device_name": "fake"})


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
    assert sup.store.run(run).status == "finished" and sup.store.run(run).versions["device_name"] == "fake"
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
