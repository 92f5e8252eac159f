"""The hand-written Triton training kernels of benchmarks/train_candidates on their bundled
problems, at GPU sizes: accepted (forward and every gradient match float64) as custom kernels.
Run on a GPU machine: pytest -m gpu tests/evaluate/test_gpu_train.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.problems.suite import resolve_problems
from kernelswarm.records import Mode

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CANDIDATES = Path(__file__).parents[2] / "benchmarks" / "train_candidates"


@pytest.mark.parametrize("path", sorted(CANDIDATES.glob("*.py")), ids=lambda p: p.stem)
def test_triton_training_kernel_is_accepted_as_custom_kernel(path: Path) -> None:
    (problem,), _ = resolve_problems([f"train/{path.stem}"])
    ev = evaluate(problem, path.read_text(), EvalOptions.for_device("cuda", timeout_s=300, baseline_compile=True))
    assert ev.mode is Mode.TRAIN
    assert ev.verdict.value == "accepted", ev.reason
    assert ev.kind is not None and ev.kind.value == "custom-kernel", ev.checks
