"""The trusted evaluator. The public entry points are `evaluate` and `time_baselines`.

Two sides, one per process, and what passes between them:
- parent/: the evaluator's own process: one evaluation's order (run.py; the candidate's phase
  candidate_run.py, the clean workers' checks judge.py, the verdict's figures acceptance.py), the
  timing protocol, baselines, worker processes, their environment and the zygote's control
  (procs.py, environment.py, forkserver.py), the device lock, the static screen;
- worker/: the worker processes: the reference and candidate workers over a shared base, tensors
  (inputs) and fingerprints (what outputs are checked by), comparison, sandbox and containment,
  labelling, and the zygote they are forked from;
- wire/: the channel's frames and sealed output files, which both sides read and write.

Nothing here imports candidate code: candidates run in a fresh worker process each, and the
reference runs in another clean one (see TRUST.md). Importing this package imports nothing of
either side: a worker process imports the worker side only (tests/evaluate/test_split.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernelswarm.evaluate.parent.baselines import time_baselines
    from kernelswarm.evaluate.parent.options import EvalOptions
    from kernelswarm.evaluate.parent.run import evaluate

__all__ = ["EvalOptions", "evaluate", "time_baselines"]


def __getattr__(name: str) -> Any:
    # The parent's entry points, imported when first asked for (never by a worker process).
    if name == "EvalOptions":
        from kernelswarm.evaluate.parent.options import EvalOptions

        return EvalOptions
    if name == "evaluate":
        from kernelswarm.evaluate.parent.run import evaluate

        return evaluate
    if name == "time_baselines":
        from kernelswarm.evaluate.parent.baselines import time_baselines  # the one definition

        return time_baselines
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
