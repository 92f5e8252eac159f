"""Stress inputs scale each element on its own (issue 14.7): one element says nothing of the others."""

import types

import torch

from kernelswarm.evaluate.parent import candidate_run
from kernelswarm.evaluate.worker.tensors import make_inputs


def _problem():
    mod = types.SimpleNamespace()
    mod.get_inputs = lambda: [torch.randn(256, 512), torch.arange(10)]
    return mod


def test_mixed_inputs_are_reproducible_from_the_seed_and_leave_integers_alone():
    cpu = torch.device("cpu")
    a = make_inputs(_problem(), 7, cpu, 1.0, [1e-2, 1e2, 1 / 32])
    b = make_inputs(_problem(), 7, cpu, 1.0, [1e-2, 1e2, 1 / 32])
    c = make_inputs(_problem(), 8, cpu, 1.0, [1e-2, 1e2, 1 / 32])
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert torch.equal(a[1], torch.arange(10))


def test_every_element_is_scaled_on_its_own():
    cpu = torch.device("cpu")
    plain = make_inputs(_problem(), 11, cpu)[0]
    mixed = make_inputs(_problem(), 11, cpu, 1.0, [1e-2, 1e2, candidate_run.MIXED_SHARE])[0]
    ratio = mixed / plain
    large, small = (ratio > 50).float().mean().item(), (ratio < 0.02).float().mean().item()
    assert abs(large - candidate_run.MIXED_SHARE) < 0.01 and abs(small - candidate_run.MIXED_SHARE) < 0.01
    assert torch.isclose(ratio[(ratio > 0.5) & (ratio < 2)], torch.tensor(1.0)).all()
    # Large elements in nearly every row, and no row or column scaled as a block.
    rows_with_large = ((ratio > 50).sum(1) > 0).float().mean().item()
    assert rows_with_large > 0.99
    assert (ratio > 50).float().mean(0).max().item() < 0.2
