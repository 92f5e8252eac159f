"""The whole model, end to end: the assembled model is a candidate for the whole-model problem and
goes through the evaluator like any other (fresh processes, float64 reference, timed outputs
checked, wall clock), with the user's weights and with redrawn ones. The result is the measured
fastest correct one of eager, torch.compile(model), the assembled model and
torch.compile(assembled); it is never slower than the faster of the first two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from kernelswarm.optimize.capture import Region, RegionCall
from kernelswarm.optimize.codegen import builder, module_stats
from kernelswarm.optimize.runtime import ks_structure
from kernelswarm.problems.load import Problem, load_problem
from kernelswarm.records import Evaluation

CHOICES = ("eager", "compile", "assembled", "compile(assembled)")


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

    @property
    def result_ms(self) -> float | None:
        return {"eager": self.eager_ms, "compile": self.compile_ms, "assembled": self.assembled_ms,
                "compile(assembled)": self.compiled_assembled_ms}[self.choice]

    @property
    def speedup_vs_eager(self) -> float | None:
        r = self.result_ms
        return self.eager_ms / r if r and self.eager_ms else None

    @property
    def speedup_vs_compile(self) -> float | None:
        r = self.result_ms
        return self.compile_ms / r if r and self.compile_ms else None


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


def whole_problems(model: nn.Module, example_inputs: tuple, folder: Path, name: str) -> tuple[Problem, Problem]:
    """(the whole model with redrawn weights, the same with the user's weights) as problem files."""
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
    source = problem_source(name, [region], type(model).__qualname__, build_src, imports)
    source = source.replace(f"kernelswarm task `{name}`", f"kernelswarm whole-model problem `{name}`", 1)
    folder.mkdir(parents=True, exist_ok=True)
    redrawn = folder / f"{name}.py"
    redrawn.write_text(source)
    weights = folder / f"{name}_weights.pt"
    state = {k: v.detach().cpu() for k, v in list(model.named_parameters(remove_duplicate=False))
             + list(model.named_buffers(remove_duplicate=False)) if v is not None}
    torch.save(state, weights)
    user_src = source.replace("        self.region = _build_region()\n",
                              "        self.region = _build_region()\n        _ks_user_weights(self.region)\n", 1)
    user_src = user_src.replace("\n\nclass Model(nn.Module):", _USER_WEIGHTS.format(path=str(weights.resolve())) + "\n\nclass Model(nn.Module):", 1)
    user = folder / f"{name}_user_weights.py"
    user.write_text(user_src)
    return load_problem(redrawn), load_problem(user)


def end_to_end(user: Problem, redrawn: Problem | None, assembled: str | None, compiled_assembled: str | None,
               device: str, timeout_s: float, precision: str, compile_baseline: bool = True) -> EndToEnd:
    """Judge the assembled model (user's weights, then redrawn ones) and its compiled form; time
    the baselines; choose. With nothing assembled, only the baselines are timed."""
    from kernelswarm.evaluate import EvalOptions, evaluate, time_baselines
    from kernelswarm.records import Precision

    opts = EvalOptions.for_device(device, timeout_s=timeout_s, precision=Precision(precision),
                                  baseline_compile=compile_baseline)
    modes = ("default",) if compile_baseline else ()
    if assembled is None:
        t = time_baselines(user, device, compile_modes=modes, timeout_s=timeout_s, options=opts)
        e2e = EndToEnd("eager", t["eager"].median_ms, t["compile:default"].median_ms if "compile:default" in t else None)
        return _choose(e2e)
    ev = evaluate(user, assembled, opts)
    e2e = EndToEnd("eager", ev.reference.median_ms if ev.reference else None,
                   ev.compiled.median_ms if ev.compiled else None, evaluations=[("assembled, user's weights", ev)])
    if e2e.eager_ms is None:  # the candidate failed before the baselines were timed
        t = time_baselines(user, device, compile_modes=modes, timeout_s=timeout_s, options=opts)
        e2e.eager_ms = t["eager"].median_ms
        e2e.compile_ms = t["compile:default"].median_ms if "compile:default" in t else None
    timed = replace(opts, reference=ev.reference, compiled=ev.compiled) if ev.reference else opts
    ok = ev.correct
    if ok and redrawn is not None:
        ev2 = evaluate(redrawn, assembled, replace(timed, baseline_compile=False))
        e2e.evaluations.append(("assembled, redrawn weights", ev2))
        ok = ev2.correct
    if ok:
        e2e.assembled_ms = ev.candidate.median_ms
        if compiled_assembled is not None:
            ev3 = evaluate(user, compiled_assembled, timed)
            e2e.evaluations.append(("torch.compile(assembled), user's weights", ev3))
            if ev3.correct:
                e2e.compiled_assembled_ms = ev3.candidate.median_ms
    else:
        e2e.correct = False
        bad = e2e.evaluations[-1]
        e2e.notes.append(f"the assembled model failed ({bad[0]}): {bad[1].verdict.value}: {bad[1].reason}")
    return _choose(e2e)


def _choose(e2e: EndToEnd) -> EndToEnd:
    options = {"eager": e2e.eager_ms, "compile": e2e.compile_ms, "assembled": e2e.assembled_ms,
               "compile(assembled)": e2e.compiled_assembled_ms}
    measured = {k: v for k, v in options.items() if v is not None}
    e2e.choice = min(measured, key=lambda k: (measured[k], CHOICES.index(k))) if measured else "eager"
    return e2e
