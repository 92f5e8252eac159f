"""Whole training steps of the assembled model against the original's (issue 17 item 5), as
PyTorch's own compiler benchmarks compare training runs (torch._dynamo's `same` with a float64
reference): a few optimizer steps with two optimizers, the losses and every parameter's update
after them within what float32 itself moves from float64; then whole steps (zero_grad, forward,
loss, backward, optimizer step) timed paired, their calls alternating in one window.

Each implementation runs in its own fresh process (optimize/steps_worker.py): the user's model in
one, the assembled model with the user's weights in another. Times are the parent's own clock
around each step's request; nothing the candidate's process reports about time is used.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kernelswarm import intervals
from kernelswarm.intervals import CI

OPTIMIZERS = (("sgd", 1e-2), ("adamw", 1e-3))  # momentum SGD sees a gradient's scale; AdamW does not
STEPS = 4  # optimizer steps per optimizer
MULTIPLIER = 2.0  # as torch._dynamo's `same` with a float64 reference: at most this times float32's own error
# ...plus this share of the float64 update's size: a gradient 1% off moves SGD's update 1% off.
FLOOR = {"fp32": 1e-3, "tf32": 1e-2, "bf16": 5e-2, "fp16": 5e-2}
TIMED_STEPS, MAX_TIMED_STEPS, MIN_TIMING_S = 20, 200, 1.0


class StepsError(RuntimeError):
    """A worker failed (the model raised, the process died); one line."""


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


class _Worker:
    def __init__(self, role: str, folder: Path, device: str) -> None:
        # Threads that wait for work sleep (as the evaluator's workers): one spinning after its step
        # must not take the cores from the other's.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), OMP_WAIT_POLICY="PASSIVE")
        # A folder of its own, where it writes everything (its caches too): the candidate's process
        # may write nowhere else (steps_worker sandboxes it), the references' files included.
        self.folder = folder / role
        self.folder.mkdir(parents=True, exist_ok=True)
        env.update({k: str(self.folder / v) for k, v in (("TORCHINDUCTOR_CACHE_DIR", "inductor"),
                                                          ("TRITON_CACHE_DIR", "triton"),
                                                          ("TORCH_EXTENSIONS_DIR", "extensions"))})
        self.role = role
        self.log = open(self.folder / "log.txt", "w")  # noqa: SIM115 (closed in kill)
        self.proc = subprocess.Popen([sys.executable, "-m", "kernelswarm.optimize.steps_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=self.folder)
        self.last_ms = 0.0
        self.sandbox = ""  # what the candidate's process applied (steps_worker), as it said

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        t = time.perf_counter()
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        self.last_ms = 1e3 * (time.perf_counter() - t)
        if not line:
            raise StepsError(f"the {self.role} step process died ({msg['op']}): {self._tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise StepsError(f"the {self.role} ({msg['op']}): {reply['error']}")
        return reply

    def _tail(self) -> str:
        self.log.flush()
        try:
            lines = Path(self.log.name).read_text().strip().splitlines()
        except OSError:
            lines = []
        return lines[-1][:300] if lines else "no output"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


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
    import torch

    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="kernelswarm-steps-")) if own else folder
    folder.mkdir(parents=True, exist_ok=True)
    base = {"op": "init", "problem": str(user), "device": device, "seed": seed, "root": root, "loss": loss}
    workers: list[_Worker] = []
    try:
        ref = _start(workers, "reference64", folder, device, {**base, "dtype": "float64"})
        ref32 = _start(workers, "reference", folder, device, base)
        cand = _start(workers, "candidate", folder, device, {**base, "candidate": str(candidate)})
        p0_path = ref.folder / "user_weights.pt"
        ref.call({"op": "save", "path": str(p0_path)})
        p0 = {k: v.double() for k, v in torch.load(p0_path, weights_only=True).items()}
        worst: dict[str, float] = {}
        for name, lr in OPTIMIZERS:
            runs = []
            for w in (ref, ref32, cand):
                out = w.folder / f"{name}.pt"
                out.unlink(missing_ok=True)  # only what this run writes is read back
                losses = w.call({"op": "run", "optimizer": name, "lr": lr, "steps": STEPS, "out": str(out)})["losses"]
                runs.append((losses, torch.load(out, weights_only=True)))
                w.call({"op": "reset", "path": str(p0_path)})
            if set(runs[2][1]) != set(runs[0][1]):
                return StepsCheck(against, False, "the assembled model's parameters are not the model's")
            ok, what, worst[name] = judge(p0, runs[0], runs[1], runs[2], FLOOR[precision])
            if not ok:
                return StepsCheck(against, False, f"{name}, {STEPS} steps: {what}", worst=worst)
        ref.kill()
        ref32.kill()
        result = StepsCheck(against, True, f"{STEPS} steps with SGD and AdamW match: worst "
                            + ", ".join(f"{k} {v:.2f}" for k, v in worst.items()) + " of the bound", worst=worst,
                            sandbox=cand.sandbox)
        if timed:
            base_w = _start(workers, "baseline", folder, device, {**base, "compile": against == "compile"})
            _time(base_w, cand, result)
        return result
    finally:
        for w in workers:
            w.kill()
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def _start(workers: list[_Worker], role: str, folder: Path, device: str, init: dict[str, Any]) -> _Worker:
    w = _Worker(role, folder, device)
    workers.append(w)
    w.sandbox = str(w.call(init).get("sandbox", ""))
    return w


def _time(base: _Worker, cand: _Worker, result: StepsCheck) -> None:
    """Whole steps, paired: the baseline's and the candidate's alternate (which goes first drawn
    per pair), each on fresh inputs prepared outside its time, warmed up first (compilation)."""
    for w in (base, cand):
        w.call({"op": "optimizer", "optimizer": "adamw", "lr": 1e-3})
        for i in range(3):
            w.call({"op": "prepare", "i": i})
            w.call({"op": "step"})
    rng = random.SystemRandom()
    a: list[float] = []
    b: list[float] = []
    start = time.monotonic()
    while len(a) < TIMED_STEPS or (time.monotonic() - start < MIN_TIMING_S and len(a) < MAX_TIMED_STEPS):
        pair = [(base, a), (cand, b)]
        rng.shuffle(pair)
        for w, out in pair:
            w.call({"op": "prepare", "i": 3 + len(out)})
            w.call({"op": "step"})
            out.append(w.last_ms)
    result.n = len(a)
    result.baseline_ms, result.candidate_ms = intervals.median(a), intervals.median(b)
    result.speedup = result.baseline_ms / result.candidate_ms
    result.speedup_ci = intervals.ratio_ci(a, b)
