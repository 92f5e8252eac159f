"""At their GPU sizes, bundled problems screen clean on CUDA: not launch-bound, not too large,
well-conditioned in float32 at the evaluator's stress scales. Run on a GPU machine: pytest -m gpu."""

import pytest
import torch

from kernelswarm.problems.screen import screen
from kernelswarm.problems.suite import resolve_problems

pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

BUNDLED, _ = resolve_problems([])
TRAIN, _ = resolve_problems([], suite="train")  # their gradients are screened too (issue 17)


@pytest.mark.parametrize("problem", BUNDLED + TRAIN, ids=[f"level{p.level}/{p.name}" for p in BUNDLED + TRAIN])
def test_bundled_problem_screens_clean_at_gpu_sizes(problem):
    result = screen(problem, "cuda")
    torch.cuda.empty_cache()
    assert result.ok, f"{problem.name}: " + "; ".join(result.reasons)
    assert result.eager_ms is not None and result.eager_ms <= 100.0, f"{problem.name}: eager {result.eager_ms} ms"
