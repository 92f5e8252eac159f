"""A realistic run written through the store's own API, shared by the report tests."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kernelswarm.records import Candidate, Check, Evaluation, Kind, ModelCall, Timing, Verdict
from kernelswarm.store import Store

VERSIONS = {"device_name": "NVIDIA H100 80GB HBM3", "driver": "570.86.15", "torch": "2.13.0", "triton": "3.5.0",
            "cuda": "12.8"}
AGENTS = ("gpt", "claude", "compile-max-autotune", "cuda-graphs")
EVIL = "</script><script>document.title='pwned'</script><img src=x onerror=alert(1)>"


def _t(ms: float) -> Timing:
    return Timing.from_samples([ms * f for f in (0.98, 1.0, 1.03)])


def make_store(path: Path, problems: int = 14, seed: int = 0) -> int:
    """Write one finished run with problems on three levels; return its id."""
    rng = random.Random(seed)
    s = Store(path)
    run = s.create_run("cuda", {"rounds": 3}, VERSIONS)
    verdicts = [Verdict.ACCEPTED] * 5 + [Verdict.INCORRECT, Verdict.COMPILE_ERROR, Verdict.RUNTIME_ERROR,
                                         Verdict.REJECTED, Verdict.TIMEOUT]
    for i in range(problems):
        level = 1 + i % 3
        name = f"l{level}_problem_{i:02d}"
        pid = s.add_problem(run, i, name, level, f"h{i}", f"/suite/{name}.py", "class Model: ...", {})
        eager = rng.uniform(0.05, 20.0)
        compiled = eager * rng.uniform(0.5, 1.3) if i % 5 else None
        s.set_baselines(pid, _t(eager), _t(compiled) if compiled else None, None)
        hard = i % 7 == 6  # no agent solves these: they count against correct share and fast_p
        sol_ms = eager / rng.uniform(8.0, 60.0)
        for rnd in range(3):
            for agent in AGENTS:
                if agent.startswith(("compile", "cuda")) and rnd > 0:
                    continue
                language = {"gpt": "triton", "claude": "cuda"}.get(agent, "pytorch")
                context = {"feedback": rnd > 0, "profile": agent == "claude", "other_backend": False}
                source = f"# {agent} round {rnd}\nimport torch\n\nclass ModelNew(torch.nn.Module):\n    pass\n"
                if i == 0 and agent == "gpt":
                    source += f"# {EVIL}\n"
                calls = ([ModelCall(agent, "prompt", "reply", rng.randint(2000, 9000), rng.randint(500, 4000), 12.0,
                                    rng.uniform(0.01, 0.2))] if agent in ("gpt", "claude") else [])
                [cid] = s.add_proposals(run, pid, agent, rnd, [Candidate(source, agent, name, rnd, context=context,
                                                                         language=language, calls=calls)])
                v = rng.choice(verdicts[5:] if hard else verdicts)
                ms = eager / rng.lognormvariate(0.3 + 0.2 * rnd, 0.6) if v is Verdict.ACCEPTED else None
                reason = {Verdict.ACCEPTED: "accepted",
                          Verdict.REJECTED: "timed below the speed-of-light floor (0.8 us < 1.6 us)",
                          Verdict.INCORRECT: "max relative error 3.1e-02 > 1e-04 on trial 2"}.get(v, v.value)
                if i == 0 and agent == "gpt":
                    reason += EVIL
                ev = Evaluation(problem=name, device="cuda", verdict=v, reason=reason,
                                kind=Kind.CUSTOM_KERNEL if v is Verdict.ACCEPTED else None,
                                reference=_t(eager), compiled=_t(compiled) if compiled else None,
                                candidate=_t(ms) if ms else None, versions=VERSIONS,
                                checks=[Check("speed-of-light", True, f"median {ms:.4g} ms >= floor {sol_ms / 2:.4g} ms")]
                                if ms else [])
                s.add_evaluation(cid, ev)
        s.mark_problem_done(pid)
    s.set_run_status(run, "finished")
    s.close()
    return run


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "kernelswarm.db"
    make_store(path)
    return path
