"""Whole training steps of the assembled model against the original's (issue 17 item 5), as
PyTorch's own compiler benchmarks compare training runs (torch._dynamo's `same` with a float64
reference): a few optimizer steps with two optimizers, the losses and every parameter's update
after them within what float32 itself moves from float64; then whole steps (zero_grad, forward,
loss, backward, optimizer step) timed paired, their calls alternating in one window.

Each implementation runs in its own fresh process (optimize/steps_worker.py): the user's model in
one, the assembled model with the user's weights in another. Times are the parent's own clock
around each step's requests; nothing the candidate's process reports about time is used, and it
runs nothing between its requests (steps_proc.py: contained, confined, stopped). What it reports
about values is checked where it could not have forged it cheaply: the losses each timed step
replied and the parameters after the last, against the clean processes' replay of those steps.
"""

from __future__ import annotations

import inspect
import random
import shutil
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernelswarm import intervals
from kernelswarm.intervals import CI
from kernelswarm.optimize.steps_proc import StepsError, StepWorker

__all__ = ["LossError", "StepsCheck", "StepsError", "check_steps", "judge", "loss_file"]

OPTIMIZERS = (("sgd", 1e-2), ("adamw", 1e-3))  # momentum SGD sees a gradient's scale; AdamW does not
STEPS = 4  # optimizer steps per optimizer
MULTIPLIER = 2.0  # as torch._dynamo's `same` with a float64 reference: at most this times float32's own error
# ...plus this share of the float64 update's size: a gradient 1% off moves SGD's update 1% off.
FLOOR = {"fp32": 1e-3, "tf32": 1e-2, "bf16": 5e-2, "fp16": 5e-2}
TIMED_STEPS, MAX_TIMED_STEPS, MIN_TIMING_S = 20, 200, 1.0
WARMUP = 3  # untimed steps first (compilation), checked with the timed ones
# The medians' speedup may exceed the whole timed run's (every step and the final save, each
# side's) by this share (outliers of an honest run) before the candidate is charged the latter.
WHOLE_SLACK = 0.25
_LR = dict(OPTIMIZERS)


class LossError(ValueError):
    """A loss_fn that cannot be sent to the step processes; one line."""


@dataclass
class StepsCheck:
    """What the training-step check found: correctness of N steps per optimizer, and the paired
    timing of whole steps against the faster baseline."""

    against: str  # the baseline the steps were compared with: "eager" or "compile"
    passed: bool
    detail: str  # one line: the worst parameter or loss, or why it failed
    steps: int = STEPS
    optimizers: tuple[str, ...] = tuple(name for name, _ in OPTIMIZERS)
    baseline_ms: float | None = None  # median whole step, paired
    candidate_ms: float | None = None
    speedup: float | None = None  # baseline_ms / candidate_ms
    speedup_ci: CI | None = None
    n: int = 0  # timed pairs
    worst: dict[str, float] = field(default_factory=dict)  # per optimizer: the worst error over its bound
    sandbox: str = ""  # what confined the candidate's step process (sandbox.restrict_writes' line)


def loss_file(loss_fn: Callable | None, folder: Path) -> dict[str, str] | None:
    """The loss function as a file the step processes load: its own source (a `def` at any level,
    dedented), or nothing for the default loss."""
    if loss_fn is None:
        return None
    name = getattr(loss_fn, "__name__", "")
    if not callable(loss_fn) or name == "<lambda>" or not name.isidentifier():
        raise LossError("loss_fn must be a function defined with `def` (its source is run in the step processes)")
    try:
        src = textwrap.dedent(inspect.getsource(loss_fn))
    except (OSError, TypeError) as e:
        raise LossError(f"loss_fn's source cannot be read ({type(e).__name__}); define it in a file") from None
    path = folder / "loss.py"
    path.write_text("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n" + src)
    return {"path": str(path), "name": name}


def _rmse(a: Any, b: Any) -> float:
    return float(((a - b) ** 2).mean().sqrt()) if a.numel() else 0.0


def judge(p0: dict, ref64: tuple, ref32: tuple, cand: tuple, floor: float) -> tuple[bool, str, float]:
    """(passed, the worst case in words, its error over its bound) for one optimizer's run.
    Each run is (losses, parameters after the steps); updates are judged, not parameters: a few
    steps move parameters little, and an error in that motion is what a broken backward makes."""
    import torch

    worst, what, ok = 0.0, "", True
    cases = [("the losses", torch.tensor(ref64[0]), torch.tensor(ref32[0]), torch.tensor(cand[0]), torch.tensor(ref64[0]))]
    cases += [(f"the update of {k}", ref64[1][k] - p0[k], ref32[1][k] - p0[k], cand[1][k] - p0[k], ref64[1][k] - p0[k])
              for k in ref64[1]]
    for name, want, f32, got, size in cases:
        if not bool(torch.isfinite(got).all()):
            return False, f"{name}: not finite", float("inf")
        scale = float(size.double().pow(2).mean().sqrt()) if size.numel() else 0.0
        bound = MULTIPLIER * _rmse(f32.double(), want.double()) + floor * scale + 1e-12
        ratio = _rmse(got.double(), want.double()) / bound
        if ratio > worst:
            worst, what = ratio, f"{name}: error {_rmse(got.double(), want.double()):.3g} against float64 (bound {bound:.3g})"
        ok = ok and ratio <= 1.0
    return ok, what, worst


def check_steps(user: Path, candidate: Path, device: str, root: str, against: str, precision: str = "fp32",
                loss: dict[str, str] | None = None, folder: Path | None = None, timed: bool = True,
                seed: int = 0) -> StepsCheck:
    """The candidate's (its source file) training steps against the user's model's; `against`
    ("eager" or "compile") is the baseline it is timed beside. `root`: where the user's model sits
    in the problem's Model ("region" in written problems, "" in the user's own file)."""
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="kernelswarm-steps-")) if own else folder
    folder.mkdir(parents=True, exist_ok=True)
    base = {"op": "init", "problem": str(user), "device": device, "seed": seed, "root": root, "loss": loss}
    workers: list[StepWorker] = []
    try:
        ref = _start(workers, "reference64", folder, device, {**base, "dtype": "float64"})
        ref32 = _start(workers, "reference", folder, device, base)
        cand = _start(workers, "candidate", folder, device, _own_copies(folder / "candidate", base, candidate), ())
        p0 = _user_weights(ref, (ref32, cand))
        worst: dict[str, float] = {}
        for name, lr in OPTIMIZERS:
            runs = [_run(w, name, lr, STEPS) for w in (ref, ref32, cand)]
            for w in (ref, ref32, cand):
                w.call({"op": "reset", "path": str(w.folder / "user_weights.pt")})
            if set(runs[2][1]) != set(runs[0][1]):
                return StepsCheck(against, False, "the assembled model's parameters are not the model's")
            ok, what, worst[name] = judge(p0, runs[0], runs[1], runs[2], FLOOR[precision])
            if not ok:
                return StepsCheck(against, False, f"{name}, {STEPS} steps: {what}", worst=worst)
        result = StepsCheck(against, True, f"{STEPS} steps with SGD and AdamW match: worst "
                            + ", ".join(f"{k} {v:.2f}" for k, v in worst.items()) + " of the bound", worst=worst,
                            sandbox=cand.sandbox)
        if timed:
            base_w = _start(workers, "baseline", folder, device, {**base, "compile": against == "compile"}, frozen=True)
            timed_run = _time(base_w, cand, result)
            base_w.kill()
            _check_timed(p0, ref, ref32, timed_run, FLOOR[precision], result)
        return result
    finally:
        for w in workers:
            w.kill()
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def _own_copies(own: Path, init: dict[str, Any], candidate: Path) -> dict[str, Any]:
    """The candidate's `init` with the files it runs (the problem, its own source, the loss) copied
    into its own folder, the only one of the host's its contained process sees: the folders they
    came from (a user's project, when the user gave the whole-model problem; the steps folder, with
    the clean processes' own) are not in its root (adv13)."""
    from kernelswarm.evaluate.parent.own_files import copy_into

    own.mkdir(parents=True, exist_ok=True)  # a kept folder may hold an earlier candidate's links
    out = {**init, "problem": str(own / "problem.py"), "candidate": str(own / "candidate.py")}
    copy_into(init["problem"], out["problem"])
    copy_into(candidate, out["candidate"])
    if init.get("loss"):
        out["loss"] = {**init["loss"], "path": str(own / "loss.py")}
        copy_into(init["loss"]["path"], out["loss"]["path"])
    return out


def _start(workers: list[StepWorker], role: str, folder: Path, device: str, init: dict[str, Any],
           readable: tuple[str, ...] | None = None, frozen: bool = False) -> StepWorker:
    """A step process; `readable` given: the candidate's, contained and stopped between requests."""
    w = StepWorker(role, folder, device, contained=readable is not None, readable=readable or (), frozen=frozen)
    workers.append(w)
    w.sandbox = str(w.call(init, {"sandbox": str})["sandbox"])[:400]
    return w


def _user_weights(ref: StepWorker, others: tuple[StepWorker, ...]) -> dict[str, Any]:
    """The user's weights, saved by the clean float64 process; a copy in every process's own folder
    (a contained candidate sees no other folder), which `reset` goes back to."""
    import torch

    path = ref.folder / "user_weights.pt"
    ref.call({"op": "save", "path": str(path)})
    from kernelswarm.evaluate.parent.own_files import copy_into

    for w in others:  # into the candidate's folder too: never through a link it made there
        copy_into(path, w.folder / "user_weights.pt")
    return {k: v.double() for k, v in torch.load(path, weights_only=True).items()}


def _run(w: StepWorker, optimizer: str, lr: float, steps: int) -> tuple[list[float], dict[str, Any]]:
    """`steps` optimizer steps in one process: its losses and parameters after them."""
    out = w.folder / f"{optimizer}.pt"
    out.unlink(missing_ok=True)  # only what this run writes is read back
    losses = w.call({"op": "run", "optimizer": optimizer, "lr": lr, "steps": steps, "out": str(out)}, {"losses": list})["losses"]
    if len(losses) != steps:
        raise StepsError(f"the {w.role} reported {len(losses)} losses for {steps} steps")
    return losses, w.load(out)


def _check_timed(p0: dict[str, Any], ref: StepWorker, ref32: StepWorker, cand: tuple[list[float], dict[str, Any]],
                 floor: float, result: StepsCheck) -> None:
    """The timed steps are checked too (a candidate that is honest while checked and skips work
    while timed, issue 14): the candidate's losses, as each timed step reported them, and its
    parameters after the last, against the clean processes' replay of the same steps."""
    steps = len(cand[0])
    runs = [_run(w, "adamw", _LR["adamw"], steps) for w in (ref, ref32)]
    if set(cand[1]) != set(runs[0][1]):
        result.passed, result.detail = False, "the timed steps: the assembled model's parameters are not the model's"
        return
    ok, what, worst = judge(p0, runs[0], runs[1], cand, floor)
    result.worst["timed adamw"] = worst
    if not ok:
        result.passed, result.detail = False, f"the {steps} timed adamw steps: {what}"


def _time(base: StepWorker, cand: StepWorker, result: StepsCheck) -> tuple[list[float], dict[str, Any]]:
    """Whole steps, paired: the baseline's and the candidate's alternate (which goes first drawn
    per pair), each on fresh inputs prepared just before it, warmed up first (compilation). A step
    is charged both requests, the preparing and the step: the candidate's process runs nothing
    between its requests (steps_proc), so no work of its step can fall outside what is charged.
    Returns the candidate's losses, as its steps reported them, and its parameters after them."""
    losses: list[float] = []
    for w in (base, cand):
        w.call({"op": "optimizer", "optimizer": "adamw", "lr": _LR["adamw"]})
        for i in range(WARMUP):
            _step(w, i, losses if w is cand else [])
    rng = random.SystemRandom()
    a: list[float] = []
    b: list[float] = []
    start = time.monotonic()
    while len(a) < TIMED_STEPS or (time.monotonic() - start < MIN_TIMING_S and len(a) < MAX_TIMED_STEPS):
        pair = [(base, a), (cand, b)]
        rng.shuffle(pair)
        for w, out in pair:
            out.append(_step(w, WARMUP + len(out), losses if w is cand else []))
    # The parameters after the last step, written in a request timed like the steps: one that
    # replays the honest steps there (to forge them) pays for them in the whole run's time.
    saves = {}
    for w in (base, cand):
        w.call({"op": "save", "path": str(w.folder / "timed.pt")})
        saves[w.role] = w.last_ms
        state = w.load(w.folder / "timed.pt")
    result.n = len(a)
    result.baseline_ms, result.candidate_ms = intervals.median(a), intervals.median(b)
    result.speedup = result.baseline_ms / result.candidate_ms
    result.speedup_ci = intervals.ratio_ci(a, b)
    whole = (sum(a) + saves["baseline"]) / (sum(b) + saves["candidate"])
    if result.speedup > whole * (1 + WHOLE_SLACK):
        # Charged what the whole run took: the medians claim more than the wall time allows.
        scale = whole / result.speedup
        result.speedup, result.candidate_ms = whole, result.candidate_ms / scale
        result.speedup_ci = (result.speedup_ci[0] * scale, result.speedup_ci[1] * scale)
        result.detail += f"; charged the whole timed run's {whole:.3f}x (its medians claimed more)"
    return losses, state


def _step(w: StepWorker, i: int, losses: list[float]) -> float:
    """One step on inputs i; the wall time of both requests, in ms."""
    w.call({"op": "prepare", "i": i})
    ms = w.last_ms
    losses.append(float(w.call({"op": "step"}, {"loss": float})["loss"]))
    return ms + w.last_ms
