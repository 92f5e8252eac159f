"""kernelswarm: a swarm of agents that writes faster, verified kernels for PyTorch modules."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def optimize(model: Any, example_inputs: Any, device: str | None = None, agents: Any = None, models: Any = None,
             candidates: Any = None, rounds: int = 1, budget: float | None = None, db: str = "kernelswarm.db",
             jobs: int = 1, timeout: float | None = None, precision: str = "fp32", **kwargs: Any) -> Any:
    """Optimize a whole model: tasks cut from it, the swarm on each, a verified drop-in model back
    (`.model`, `.correct`, `.speedup_vs_eager`, `.speedup_vs_compile`, `.tasks`, `.save(dir)`)."""
    from kernelswarm.optimize.api import optimize as run

    return run(model, example_inputs, device=device, agents=agents, models=models, candidates=candidates,
               rounds=rounds, budget=budget, db=db, jobs=jobs, timeout=timeout, precision=precision, **kwargs)


def load(model: Any, folder: Any) -> Any:
    """Apply a folder written by `optimize(...).save(folder)` to a fresh instance of the same model."""
    from kernelswarm.optimize.manifest import load as run

    return run(model, folder)
