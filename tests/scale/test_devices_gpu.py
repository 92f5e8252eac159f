"""`--devices` on real GPUs: every problem's baselines and candidates on one GPU, the GPUs shared."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

PROBLEMS = Path(__file__).parents[1] / "fixtures" / "swarm" / "problems"


def test_a_run_over_every_gpu_of_the_host(tmp_path: Path) -> None:
    from kernelswarm.agents.builtin import builtin_agents
    from kernelswarm.problems.load import load_problem
    from kernelswarm.scale.devices import resolve_devices
    from kernelswarm.scale.placement import gpu_slots, run_placed
    from kernelswarm.store import Store
    from kernelswarm.supervisor import RunConfig

    gpus = resolve_devices("all")
    problems = [load_problem(p) for p in sorted(PROBLEMS.glob("*.py"))]
    store = Store(tmp_path / "k.db")
    config = RunConfig(device="cuda", agents=["compile"], timeout_s=600)
    run_id = run_placed(store, config, builtin_agents(["compile"]), gpu_slots(gpus), problems)
    assert store.run(run_id).status == "finished"
    results = store.problem_results(run_id)
    assert all(r.eager_ms is not None for r in results), [r.baseline_error for r in results]
    rows = store.candidates(run_id)
    assert rows and all(r.verdict is not None for r in rows)
    names = {f"cuda:{g.physical_index}" for g in gpus}
    for r in results:
        mine = {c.timed_on.split()[-1] for c in rows if c.problem == r.name}
        assert len(mine) == 1 and mine <= names, mine  # one GPU per problem, one of those named
