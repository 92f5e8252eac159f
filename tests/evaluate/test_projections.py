"""Timed outputs are judged by random projections seeded after the call (issue 14.1): a stale
output rescaled to the new magnitudes, or a product in bf16 or TF32, cannot match them, while
honest float32 orders of work stay far inside the bound. The magnitude sums that used to check
those calls could not tell any of them apart."""

import torch

from kernelswarm.evaluate.worker.compare import compare, projection_allowance, projection_error
from kernelswarm.evaluate.worker import fingerprints
from kernelswarm.evaluate.worker.fingerprints import (
    expected_checks, fingerprint, frobenius, magnitudes, projections, same_fingerprint)
from kernelswarm.evaluate.worker.tensors import perturb


def _tf32(t):
    return ((t.contiguous().view(torch.int32) + 0x1000) & ~0x1FFF).view(torch.float32)


def _setup(seed=0, m=256, k=512, n=192):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    # What the trials allowed under the fp32 policy (the same inputs' kind, another draw).
    ref = compare(a @ b, a @ b, a.double() @ b.double(), "fp32")
    return a, b, projection_allowance(ref.allowed_norm, ref.ref_rel)


def _error(out, want, seed):
    return projection_error(projections([out], seed)[0], projections([want], seed)[0], frobenius([want])[0])


def test_projections_reject_stale_rescaled_and_low_precision_outputs_that_magnitudes_pass():
    a0, b0, bound = _setup()
    stale = a0 @ b0
    for key in (11, 12, 13):
        a, b = perturb([a0, b0], key)
        want = a @ b
        rescaled = stale * ((a.abs().sum() / a0.abs().sum()) * (b.abs().sum() / b0.abs().sum()))
        cheats = {"rescaled": rescaled, "tf32": _tf32(a) @ _tf32(b), "bf16": (a.bfloat16() @ b.bfloat16()).float()}
        for name, out in cheats.items():
            if name != "bf16":  # the old check: magnitude sums within the fp32 tolerance of 1e-4
                assert same_fingerprint(magnitudes(fingerprint([out])), magnitudes(fingerprint([want])), rel=1e-4), name
            for seed in range(20):
                assert _error(out, want, seed) > bound, (name, seed)


def test_honest_float32_orders_stay_far_inside_the_projection_bound():
    a0, b0, bound = _setup(1)
    a, b = perturb([a0, b0], 5)
    want = a @ b
    chunked = sum(a[:, i:i + 64] @ b[i:i + 64] for i in range(0, a.shape[1], 64))
    transposed = (b.t() @ a.t()).t().contiguous()
    for out in (chunked, transposed):
        for seed in range(50):
            assert _error(out, want, seed) < bound / 10


def test_projections_are_seeded_and_cover_every_element():
    y = torch.randn(37, 101)  # 3737 elements: not a square, so a tail beyond the matrix part
    assert projections([y], 3) == projections([y], 3) != projections([y], 4)
    for idx in ((0, 0), (36, 100), (20, 50)):
        z = y.clone()
        z[idx] += 1.0
        assert projections([z], 3) != projections([y], 3), idx


def test_non_finite_and_malformed_projections_do_not_match():
    assert projection_error([1.0, 2.0], [1.0], 1.0) == float("inf")
    assert projection_error([float("nan")], [1.0], 1.0) == float("inf")
    assert projection_error([float("nan")], [float("nan")], 1.0) == 0.0


def test_one_pass_gives_the_projections_norms_and_magnitudes_of_the_passes_apart(monkeypatch):
    """The clean worker's check takes each expected output's norm and fingerprint magnitudes from
    the projection's own float64 steps: several steps (each starting at another offset of the
    every-7th sample), a tail beyond the last full row, integer, bool, float16, float64, strided and
    empty outputs; a complex one's magnitudes are its moduli, as fingerprint gives them."""
    monkeypatch.setitem(fingerprints._PROJECT_CHUNK, "cpu", 1 << 10)  # many steps on a small output
    g = torch.Generator().manual_seed(3)
    outs = [torch.randn(97, 61, generator=g), torch.randn(1000, dtype=torch.float64, generator=g),
            torch.randint(-9, 9, (333,), generator=g), torch.randn(50, 3, generator=g).t(), torch.empty(0),
            torch.ones(1), torch.randn(41, 29, generator=g).half(), torch.randn(300, generator=g) > 0]
    for seed in (1, 2, 99):
        for group in (outs, outs + [torch.randn(40, 7, dtype=torch.complex64, generator=g)]):
            got, norms, mags = expected_checks(group, seed)
            assert got == projections(group, seed)
            for a, b in zip(norms + mags, frobenius(group) + magnitudes(fingerprint(group)), strict=True):
                assert abs(a - b) <= 1e-12 * abs(b), (a, b)
    assert expected_checks([], 5) == ([], [], [])
