"""The whole model, end to end: the assembled model is a candidate for the whole-model problem and
goes through the evaluator like any other (fresh processes, float64 reference, timed outputs
checked, wall clock), with the user's weights and with redrawn ones. The result is the measured
fastest correct one of eager, torch.compile(model), the assembled model and
torch.compile(assembled); it is never slower than the faster of the first two.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from kernelswarm import intervals
from kernelswarm.intervals import CI
from kernelswarm.optimize.capture import Region, RegionCall
from kernelswarm.optimize.codegen import builder, module_stats
from kernelswarm.optimize.runtime import ks_structure
from kernelswarm.optimize.steps import StepsCheck
from kernelswarm.problems.load import Problem, load_problem
from kernelswarm.records import Evaluation, SpeedDecision, Timing

CHOICES = ("eager", "compile", "assembled", "compile(assembled)")
CANDIDATES = ("assembled", "compile(assembled)")
MIN_GAIN = 0.02  # as `run --min-gain`: an assembled model replaces the faster baseline only past 1 + this


@dataclass(frozen=True)
class Figure:
    """One implementation's figures, each from its own paired window (kernelswarm.intervals): its
    calls alternated with eager's (and, chained, eager's with torch.compile's) in one window."""

    ms: float  # median, in the window it was timed in
    vs_eager: float | None
    vs_eager_ci: CI | None
    vs_compile: float | None = None  # None where torch.compile was not measured
    vs_compile_ci: CI | None = None

    def vs_best(self) -> CI | None:
        """The interval against the faster baseline: the lower of each end (as the store's
        interval_vs_best); a point without an interval counts as one."""
        cis = [ci or ((pt, pt) if pt is not None else None) for pt, ci in
               ((self.vs_eager, self.vs_eager_ci), (self.vs_compile, self.vs_compile_ci))
               if pt is not None or ci is not None]
        if not cis or any(c is None for c in cis):
            return None
        return min(c[0] for c in cis), min(c[1] for c in cis)

    def point_vs_best(self) -> float:
        return min(x for x in (self.vs_eager, self.vs_compile, float("inf")) if x is not None)


@dataclass
class EndToEnd:
    """What the whole-model evaluations measured, and the choice made from them."""

    choice: str  # one of CHOICES
    eager_ms: float | None
    compile_ms: float | None
    assembled_ms: float | None = None
    compiled_assembled_ms: float | None = None
    correct: bool = True  # False when an assembled model was judged and failed
    evaluations: list[tuple[str, Evaluation]] = field(default_factory=list)  # (label, verdict)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)  # per choice, from paired windows
    min_gain: float = MIN_GAIN
    decision: SpeedDecision | None = None  # what the chosen assembled model's interval said (None: none judged)
    reason: str = ""  # one line: why this choice
    mode: str = "inference"  # train: figures are forward plus backward, and whole training steps were checked
    steps: StepsCheck | None = None  # training mode: the chosen assembled model's optimizer steps and their timing
    timings: tuple[Timing, Timing | None] | None = None  # eager's and torch.compile's timings (whole_baselines)
    window_s: float | None = None  # wall seconds of the call that timed them (what one whole-model evaluation costs)
    compile_missing: str = ""  # why torch.compile of the whole model has no figure ("" when it has one)

    @property
    def result_ms(self) -> float | None:
        return {"eager": self.eager_ms, "compile": self.compile_ms, "assembled": self.assembled_ms,
                "compile(assembled)": self.compiled_assembled_ms}[self.choice]

    @property
    def speedup_vs_eager(self) -> float | None:
        f = self.figures.get(self.choice)
        if f is not None:
            return f.vs_eager
        r = self.result_ms
        return self.eager_ms / r if r and self.eager_ms else None

    @property
    def speedup_vs_compile(self) -> float | None:
        f = self.figures.get(self.choice)
        if f is not None:
            return f.vs_compile
        r = self.result_ms
        return self.compile_ms / r if r and self.compile_ms else None

    @property
    def speedup_ci(self) -> CI | None:
        """The result's interval against eager, from its paired window."""
        f = self.figures.get(self.choice)
        return f.vs_eager_ci if f is not None else None

    @property
    def speedup_vs_compile_ci(self) -> CI | None:
        f = self.figures.get(self.choice)
        return f.vs_compile_ci if f is not None else None


_USER_WEIGHTS = '''

_KS_WEIGHTS = {path!r}


def _ks_user_weights(region):
    """The user's own weights (and buffers), saved when the model was captured."""
    saved = torch.load(_KS_WEIGHTS, map_location="cpu", weights_only=True)
    with torch.no_grad():
        for k, v in list(region.named_parameters(remove_duplicate=False)) + list(region.named_buffers(remove_duplicate=False)):
            if v is not None and k in saved:
                v.copy_(saved[k])
'''


def shared_copy(path: Path) -> Path:
    """`path`, copied (once per content) where every evaluation's processes can read it. A
    candidate's worker sees a private /tmp and empty homes (evaluate/worker/contain.py), so the
    user's weights in a store under /tmp or a home are not there for it: the copy goes to
    contain.shared_data(), which its workers see."""
    import hashlib
    import os
    import shutil

    from kernelswarm.evaluate.worker import contain

    cache = Path(contain.shared_data())
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    target = cache / f"{digest.hexdigest()[:24]}.pt"
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(path, partial)
        partial.replace(target)  # whole or not at all, whoever else writes it meanwhile
    return target


def whole_problems(model: nn.Module, example_inputs: tuple, folder: Path, name: str,
                   train: bool = False) -> tuple[Problem, Problem]:
    """(the whole model with redrawn weights, the same with the user's weights) as problem files;
    `train`: in training mode (KERNELSWARM_MODE = "train")."""
    from kernelswarm.optimize.tasks import problem_source

    tensors: list[torch.Tensor] = []
    inputs = ks_structure((list(example_inputs), {}), tensors)
    with torch.no_grad():
        out = model(*example_inputs)
    if isinstance(out, Mapping) and type(out) is not dict:  # HuggingFace's ModelOutput: its tensors by key
        out = {k: v for k, v in out.items() if v is not None}
    outs: list[torch.Tensor] = []
    outputs = ks_structure(out, outs)
    region = Region("", model, calls=1, call=RegionCall(inputs, [t.detach() for t in tensors], outputs, outs, model.training))
    build_src, imports = builder(model, module_stats([model]))
    source = problem_source(name, [region], type(model).__qualname__, build_src, imports, train)
    source = source.replace(f"kernelswarm task `{name}`", f"kernelswarm whole-model problem `{name}`", 1)
    folder.mkdir(parents=True, exist_ok=True)
    redrawn = folder / f"{name}.py"
    redrawn.write_text(source)
    weights = folder / f"{name}_weights.pt"
    state = {k: v.detach().cpu() for k, v in list(model.named_parameters(remove_duplicate=False))
             + list(model.named_buffers(remove_duplicate=False)) if v is not None}
    torch.save(state, weights)
    weights = shared_copy(weights)
    user_src = source.replace("        self.region = _build_region()\n",
                              "        self.region = _build_region()\n        _ks_user_weights(self.region)\n", 1)
    user_src = user_src.replace("\n\nclass Model(nn.Module):", _USER_WEIGHTS.format(path=str(weights.resolve())) + "\n\nclass Model(nn.Module):", 1)
    user = folder / f"{name}_user_weights.py"
    user.write_text(user_src)
    return load_problem(redrawn), load_problem(user)


def whole_baselines(user: Problem, device: str, timeout_s: float, precision: str, compile_baseline: bool = True,
                    min_gain: float = MIN_GAIN, train: bool = False, compile_limit_s: float | None = None) -> EndToEnd:
    """Eager and torch.compile of the whole model, timed alternately in one window (nothing
    assembled yet): the figures every later evaluation chains through. Measured before the search,
    so that a run stopped early still has them, and never timed twice.

    `compile_limit_s`: the most this window may take while torch.compile of the whole model is in
    it (ResNet-50's took 290 s on the H200, the whole budget). Past it, eager is timed alone and
    torch.compile is reported "not measured in time": the run goes on against eager."""
    from kernelswarm.evaluate import EvalOptions, time_baselines
    from kernelswarm.records import Mode, Precision

    mode = Mode.TRAIN if train else Mode.INFERENCE

    def timed(modes: tuple[str, ...], limit: float) -> tuple[dict[str, Timing], float]:
        opts = EvalOptions.for_device(device, timeout_s=limit, precision=Precision(precision),
                                      baseline_compile=False, mode=mode)
        start = time.monotonic()
        t = time_baselines(user, device, compile_modes=modes, timeout_s=limit, options=opts, mode=mode.value,
                           on_compile_missing=lambda cmode, why: told.append(why))
        return t, time.monotonic() - start

    told: list[str] = []  # why torch.compile was left out, as time_baselines says

    modes = ("default",) if compile_baseline else ()
    limit = min(timeout_s, compile_limit_s) if modes and compile_limit_s else timeout_s
    missing, start = "", time.monotonic()
    try:
        t, window = timed(modes, limit)
    except Exception:
        # Out of time with torch.compile in the window (its limit, or the evaluation's own timeout
        # when that is shorter): eager is timed alone in a fresh window; a whole model whose eager
        # fails, or that failed before its time ran out, raises as it did.
        if not modes or time.monotonic() - start < 0.9 * limit:
            raise
        missing = f"not measured in time (its {limit:.0f} s limit ran out)"
        t, window = timed((), timeout_s)
    if modes and not missing and "compile:default" not in t:
        # Its worker killed at the limit, eager was timed alone in a fresh one (time_baselines).
        timed_out = told and told[0].startswith("not measured in time")
        missing = f"not measured in time (its {limit:.0f} s limit ran out)" if timed_out else "failed"
    e2e = baselines_from(t["eager"], t.get("compile:default"), min_gain, mode.value)
    e2e.window_s = window
    if missing:
        e2e.compile_missing = missing
        e2e.notes.append(f"torch.compile of the whole model: {missing}; judged against eager alone")
    return e2e


def baselines_from(eager: Timing, compiled: Timing | None, min_gain: float = MIN_GAIN,
                   mode: str = "inference") -> EndToEnd:
    """The whole model's baselines (and the choice between them) from their timings: measured now,
    or stored by a run that was stopped and is resumed."""
    e2e = EndToEnd("eager", eager.median_ms, compiled.median_ms if compiled else None, min_gain=min_gain,
                   mode=mode, timings=(eager, compiled))
    e2e.figures.update(baseline_figures(eager, compiled))
    return choose(e2e)


def end_to_end(user: Problem, redrawn: Problem | None, assembled: str | None, compiled_assembled: str | None,
               device: str, timeout_s: float, precision: str, compile_baseline: bool = True,
               min_gain: float = MIN_GAIN, train: TrainSpec | None = None, base: EndToEnd | None = None,
               jobs: int = 1) -> EndToEnd:
    """Judge the assembled model (user's weights, then redrawn ones) and its compiled form, each
    timed call by call beside eager in its own evaluation; eager and torch.compile are timed
    alternately in one window first (`base`, from whole_baselines, when already measured), and
    that pair is what every evaluation's figure against torch.compile chains through. With
    nothing assembled, only the baselines are timed. `jobs` > 1: the three evaluations run at once
    (their timings one at a time, every other evaluation's processes stopped meanwhile, as the
    supervisor's --jobs); each is still read only when the one before it passed.

    `train`: training mode. Every figure is forward plus backward (the evaluator's training mode:
    every parameter's gradient checked against float64), and an assembled model that wins is kept
    only once its optimizer steps match the original's and its whole steps, timed paired against
    the faster baseline, clear the same bar (optimize/steps.py)."""
    from kernelswarm.evaluate import EvalOptions
    from kernelswarm.records import Mode, Precision

    mode = Mode.TRAIN if train is not None else Mode.INFERENCE
    opts = EvalOptions.for_device(device, timeout_s=timeout_s, precision=Precision(precision), baseline_compile=False,
                                  mode=mode)
    if base is None or base.timings is None or base.mode != mode.value:
        base = whole_baselines(user, device, timeout_s, precision, compile_baseline, min_gain, train is not None)
    eager, compiled = base.timings
    e2e = EndToEnd("eager", eager.median_ms, compiled.median_ms if compiled else None, min_gain=min_gain,
                   mode=mode.value, timings=(eager, compiled), notes=list(base.notes), window_s=base.window_s,
                   compile_missing=base.compile_missing)
    e2e.figures.update(baseline_figures(eager, compiled))
    if assembled is None:
        return choose(e2e)
    timed = replace(opts, reference=eager, compiled=compiled) if compiled is not None else opts
    runs = [(user, assembled, timed), (redrawn, assembled, opts), (user, compiled_assembled, timed)]
    get, finish = _evaluations([r if r[0] is not None and r[1] is not None else None for r in runs], jobs)
    try:
        ev = get(0)
        e2e.evaluations.append(("assembled, user's weights", ev))
        ok = ev.correct
        if ok and redrawn is not None:
            ev2 = get(1)
            e2e.evaluations.append(("assembled, redrawn weights", ev2))
            ok = ev2.correct
        if ok:
            e2e.assembled_ms = ev.candidate.median_ms
            e2e.figures["assembled"] = evaluation_figure(ev)
            if compiled_assembled is not None:
                ev3 = get(2)
                e2e.evaluations.append(("torch.compile(assembled), user's weights", ev3))
                if ev3.correct:
                    e2e.compiled_assembled_ms = ev3.candidate.median_ms
                    e2e.figures["compile(assembled)"] = evaluation_figure(ev3)
        else:
            e2e.correct = False
            bad = e2e.evaluations[-1]
            e2e.notes.append(f"the assembled model failed ({bad[0]}): {bad[1].verdict.value}: {bad[1].reason}")
    finally:
        finish()  # nothing of this judgement outlives it
    choose(e2e)
    if train is not None and e2e.choice in CANDIDATES:
        source = assembled if e2e.choice == "assembled" else compiled_assembled
        train_steps(e2e, user, source, device, precision, train)
    return e2e


def _evaluations(runs: list, jobs: int) -> tuple[Callable[[int], Evaluation], Callable[[], None]]:
    """(get, finish): get(i) is the evaluation of runs[i] = (problem, source, options); finish()
    waits for any still running. Serial (jobs < 2): each runs when first asked, so one never asked
    for never runs. Overlapped: every run starts now, sharing one timing lock, so that only their
    timing phases exclude each other (every other evaluation's processes stopped meanwhile)."""
    from kernelswarm.evaluate import evaluate

    if jobs < 2:
        return (lambda i: evaluate(*runs[i])), (lambda: None)
    from concurrent.futures import ThreadPoolExecutor

    from kernelswarm.evaluate.parent.devicelock import DeviceLock

    lock = DeviceLock()
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(runs)), thread_name_prefix="whole-model")
    futures = [pool.submit(evaluate, r[0], r[1], replace(r[2], timing_lock=lock)) if r else None for r in runs]
    return (lambda i: futures[i].result()), (lambda: pool.shutdown(wait=True))


@dataclass(frozen=True)
class TrainSpec:
    """How whole training steps are run: where the user's model sits in the problem's Model, and
    the loss (None: steps_worker.default_loss)."""

    root: str
    loss: dict[str, str] | None = None  # {"path", "name"} of the loss function's file (steps.loss_file)
    folder: Path | None = None  # where the step processes write (kept for inspection)


def train_steps(e2e: EndToEnd, user: Problem, source: str, device: str, precision: str, spec: TrainSpec) -> None:
    """The chosen assembled model's optimizer steps against the original's; it stays the choice
    only if they match and its whole steps' interval against the faster baseline clears the bar."""
    from kernelswarm.optimize.steps import StepsError, check_steps

    base = "compile" if e2e.compile_ms is not None and e2e.compile_ms < (e2e.eager_ms or float("inf")) else "eager"
    folder = spec.folder or user.path.parent / "steps"
    folder.mkdir(parents=True, exist_ok=True)
    cand = folder / "candidate.py"
    cand.write_text(source)
    chosen = e2e.choice
    try:
        e2e.steps = check_steps(user.path, cand, device, spec.root, base, precision, spec.loss, folder)
    except StepsError as ex:
        e2e.steps = StepsCheck(base, False, str(ex))
    s = e2e.steps
    if not s.passed:
        e2e.correct = False
        e2e.choice, e2e.decision = base, None
        e2e.notes.append(f"{chosen}'s training steps differ from the original's: {s.detail}")
        e2e.reason = f"{_BASE_NAME[base]} stands: {chosen}'s training steps failed ({s.detail})"
        return
    decision = intervals.decide(s.speedup_ci, e2e.min_gain)
    steps_text = f"whole training steps {s.speedup:.3f}x ({_ci_text(s.speedup_ci)}) against {_BASE_NAME[base]}"
    if decision is not SpeedDecision.FASTER:
        e2e.choice, e2e.decision = base, decision
        e2e.reason = f"{_BASE_NAME[base]} stands: {chosen}'s {steps_text} does not clear {1 + e2e.min_gain:.2f}x"
        return
    e2e.reason += f"; {steps_text}"


def baseline_figures(eager: Timing, compiled: Timing | None) -> dict[str, Figure]:
    """Eager and torch.compile against each other, from their alternating calls in one window."""
    if compiled is None:
        return {"eager": Figure(eager.median_ms, 1.0, (1.0, 1.0))}
    paired = bool(eager.samples) and len(eager.samples) == len(compiled.samples)
    c_over_e = intervals.ratio_ci(compiled.samples, eager.samples) if paired else None
    e_over_c = intervals.ratio_ci(eager.samples, compiled.samples) if paired else None
    return {"eager": Figure(eager.median_ms, 1.0, (1.0, 1.0), compiled.median_ms / eager.median_ms, c_over_e),
            "compile": Figure(compiled.median_ms, eager.median_ms / compiled.median_ms, e_over_c, 1.0, (1.0, 1.0))}


def evaluation_figure(ev: Evaluation) -> Figure:
    """An accepted evaluation's figures: its paired speedups and their intervals."""
    return Figure(ev.candidate.median_ms, ev.speedup, ev.speedup_ci, ev.speedup_vs_compile, ev.speedup_vs_compile_ci)


def choose(e2e: EndToEnd) -> EndToEnd:
    """The faster baseline (eager or torch.compile, by their paired medians), replaced by an
    assembled model only when its interval against that baseline clears 1 + min_gain; of those
    that do, the one faster against it. Otherwise the baseline stands and `reason` says why."""
    base = "compile" if e2e.compile_ms is not None and e2e.compile_ms < (e2e.eager_ms or float("inf")) else "eager"
    judged = {k: e2e.figures[k] for k in CANDIDATES if k in e2e.figures}
    decisions = {k: intervals.decide(f.vs_best(), e2e.min_gain) for k, f in judged.items()}
    won = [k for k, d in decisions.items() if d is SpeedDecision.FASTER]
    bar = f"{1 + e2e.min_gain:.2f}x"
    if won:
        e2e.choice = max(won, key=lambda k: (judged[k].point_vs_best(), -CHOICES.index(k)))
        e2e.decision = SpeedDecision.FASTER
        e2e.reason = f"{e2e.choice} won: {_ci_text(judged[e2e.choice].vs_best())} over the faster baseline clears {bar}"
        return e2e
    e2e.choice = base
    if not judged:
        e2e.reason = f"{_BASE_NAME[base]} stands: no assembled model was judged correct" if e2e.evaluations else \
            f"{_BASE_NAME[base]} stands: nothing was assembled"
        return e2e
    best = max(judged, key=lambda k: judged[k].point_vs_best())
    e2e.decision = decisions[best]
    why = "undecided: the machine is too noisy" if e2e.decision is SpeedDecision.UNDECIDED else f"does not clear {bar}"
    e2e.reason = (f"{_BASE_NAME[base]} stands: {best} at {_ci_text(judged[best].vs_best())} over the faster "
                  f"baseline {why}")
    return e2e


_BASE_NAME = {"eager": "eager", "compile": "torch.compile"}


def _ci_text(ci: CI | None) -> str:
    return f"interval {ci[0]:.3f}-{ci[1]:.3f}x" if ci else "no interval"
