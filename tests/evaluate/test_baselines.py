"""The compile-baseline cache: a timing is reused only under the protocol and threads it was taken with."""

from fixtures import PROBLEMS

from kernelswarm.evaluate import baselines
from kernelswarm.evaluate.options import EvalOptions
from kernelswarm.problems.load import load_problem

VERSIONS = {"device_name": "x86_64", "torch": "2.13.0+cpu"}


def test_cache_key_changes_with_the_protocol_and_the_cpu_threads(monkeypatch):
    problem = load_problem(PROBLEMS / "relu_linear.py")
    two = EvalOptions.for_device("cpu", cpu_threads=2)
    key = baselines._cache_key(problem, two, VERSIONS, "default")
    assert key.startswith(f"p{baselines.PROTOCOL}|") and "threads=2" in key
    assert baselines._cache_key(problem, EvalOptions.for_device("cpu", cpu_threads=1), VERSIONS, "default") != key
    monkeypatch.setattr(baselines, "PROTOCOL", baselines.PROTOCOL + 1)
    assert baselines._cache_key(problem, two, VERSIONS, "default") != key  # older timings are measured again
    cuda = baselines._cache_key(problem, EvalOptions.for_device("cuda"), {"device_name": "H100"}, "default")
    assert "threads" not in cuda  # a GPU timing does not depend on the host's thread count
