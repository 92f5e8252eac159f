"""The CUDA fixtures (side streams, stale device memory, L2 persistence, Triton and CUDA C++ controls)."""

from __future__ import annotations

import pytest

from fixtures import scenarios
from test_fixtures import run_scenario

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _params() -> list:
    return [pytest.param(s, id=s.id) for folder in ("correct", "wrong", "cheat") for s in scenarios(folder, "cuda")]


@pytest.mark.parametrize("scenario", _params())
def test_cuda_fixture(scenario) -> None:
    run_scenario(scenario)


def test_persisting_l2_reset_is_available() -> None:
    from kernelswarm.backends.cuda import CudaBackend

    backend = CudaBackend()
    backend.flush_cache()
    assert backend.persisting_reset_ok is True
