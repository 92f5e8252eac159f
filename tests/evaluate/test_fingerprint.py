"""Fingerprints on a CPU (fingerprints._host_sums): the same three float64 sums as the general path,
in steps through a float64 buffer instead of an unvectorised conversion per element."""

from __future__ import annotations

import math

import pytest
import torch

from kernelswarm.evaluate.worker import fingerprints


def _general(t: torch.Tensor) -> list[float]:
    """The general path's sums (a device's, and a CPU's before fixed15)."""
    d = t.detach()
    sample = d.reshape(-1)[::7]
    return [float(d.sum(dtype=torch.float64)), float(torch.linalg.vector_norm(d, 1, dtype=torch.float64)),
            float(torch.linalg.vector_norm(sample, 1, dtype=torch.float64))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("n", [1, 34, 35, 36, 1000])
def test_the_steps_give_the_general_sums(monkeypatch, dtype, n):
    monkeypatch.setattr(fingerprints, "_HOST_STEP", 35)  # several steps, and a short last one
    torch.manual_seed(n)
    t = torch.randn(n, dtype=dtype)
    got = fingerprints.fingerprint([t])
    assert fingerprints.same_fingerprint(got, _general(t), rel=1e-12)


def test_non_finite_values_and_other_layouts(monkeypatch):
    monkeypatch.setattr(fingerprints, "_HOST_STEP", 14)
    t = torch.randn(100)
    t[50] = float("nan")
    assert all(math.isnan(x) for x in fingerprints.fingerprint([t])[:2])
    t[50] = float("inf")
    assert fingerprints.fingerprint([t])[1] == math.inf
    # non-contiguous and integer outputs take the general path, as before
    for x in (torch.randn(20, 30).t(), torch.arange(100)):
        assert fingerprints.same_fingerprint(fingerprints.fingerprint([x]), _general(x.to(torch.float64)), rel=1e-12)


def test_one_element_changed_shows(monkeypatch):
    monkeypatch.setattr(fingerprints, "_HOST_STEP", 21)
    t = torch.randn(200)
    before = fingerprints.fingerprint([t])
    t[140] += 1e-3  # an element of the 7-strided sample, in a later step
    assert not fingerprints.same_fingerprint(before, fingerprints.fingerprint([t]), rel=1e-9)


def test_the_sums_run_on_one_thread_and_leave_the_count_as_it_was(monkeypatch):
    """On a CPU the steps run on the calling thread alone (torch's threads set to one meanwhile),
    and the worker's count is back afterwards: the next timed call runs on as many threads as before."""
    seen = []
    real = torch.Tensor.copy_

    def copy(self, src, *a, **k):
        seen.append(torch.get_num_threads())
        return real(self, src, *a, **k)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(fingerprints, "_HOST_STEP", 70)
        monkeypatch.setattr(torch.Tensor, "copy_", copy)
        fp = fingerprints.fingerprint([torch.arange(300, dtype=torch.float32)])
        monkeypatch.undo()
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
        assert fp == [44850.0, 44850.0, float(sum(range(0, 300, 7)))]
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_one_float64_copy_gives_the_numbers_of_two(dtype):
    """The general path (a device's; a CPU's other layouts) converts a floating output to float64
    once and reads both sums from that copy: the same numbers as each reduction's own conversion."""
    torch.manual_seed(3)
    for t in (torch.randn(40, 70, dtype=dtype).t(), torch.randn(2, 3, 9, 9, dtype=dtype).to(memory_format=torch.channels_last)):
        assert not t.is_contiguous()
        d = t.detach()
        sample = torch.take(d, torch.arange(0, d.numel(), 7))
        want = [float(d.sum(dtype=torch.float64)), float(torch.linalg.vector_norm(d, 1, dtype=torch.float64)),
                float(torch.linalg.vector_norm(sample, 1, dtype=torch.float64))]
        assert fingerprints.fingerprint([t]) == want
