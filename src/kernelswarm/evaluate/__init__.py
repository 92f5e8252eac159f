"""The trusted evaluator. The public entry points are `evaluate` and `time_baselines`.

Nothing here imports candidate code: candidates run in a fresh worker process each, and the
reference runs in another clean one (see TRUST.md).
"""

from kernelswarm.evaluate.options import EvalOptions
from kernelswarm.evaluate.baselines import time_baselines  # the one definition: no wrapper to drift from it
from kernelswarm.evaluate.run import evaluate

__all__ = ["EvalOptions", "evaluate", "time_baselines"]
