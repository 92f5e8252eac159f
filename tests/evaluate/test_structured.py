"""The structured trial (issue 14): constant slices, exact zeros and ties drawn from the trial's
seed, and what it judges (structured.py)."""

import types

import torch

from kernelswarm.evaluate.worker import structured
from kernelswarm.evaluate.worker.compare import compare
from kernelswarm.evaluate.worker.tensors import make_inputs, trial_inputs

CPU = torch.device("cpu")


def _problem(*shapes):
    mod = types.SimpleNamespace()
    mod.get_inputs = lambda: [torch.randn(*s) for s in shapes] + [torch.arange(10)]
    return mod


def _constant_rows(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(x.shape[0], -1)
    return (flat == flat[:, :1]).all(1)


def test_both_workers_derive_the_same_inputs_and_each_seed_others():
    p = _problem((128, 256), (4, 8, 16))
    a = trial_inputs(p, {"input_seed": 5, "structured": True}, CPU)
    b = make_inputs(p, 5, CPU, structured=True)
    c = make_inputs(p, 6, CPU, structured=True)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert torch.equal(a[2], torch.arange(10))  # integer inputs untouched


def test_constant_slices_zeros_and_ties_are_drawn_per_trial():
    p = _problem((256, 128))
    rows, shares, zeros = set(), set(), []
    for seed in range(20):
        plain = make_inputs(p, seed, CPU)[0]
        x = make_inputs(p, seed, CPU, structured=True)[0]
        const = _constant_rows(x)
        values = x[const, 0]
        # Both kinds of constant row every time: zero and a value of the input's own.
        assert (values == 0).any() and (values != 0).any()
        assert all(bool((plain == v).any()) for v in values[values != 0])
        rows.add(tuple(torch.nonzero(const).reshape(-1).tolist()))
        shares.add(int(const.sum()))
        rest = x[~const]
        zeros.append(float((rest == 0).float().mean()))
        # Ties: some non-constant row has its maximum more than once.
        assert any(int((r == r.max()).sum()) > 1 for r in rest)
    assert len(rows) == 20 and len(shares) > 5  # which rows, and how many, change with the seed
    assert min(zeros) > 1 / 256 and max(zeros) < 1 / 8 and max(zeros) > 2 * min(zeros)


def test_the_slices_are_along_the_first_dimension_longer_than_one():
    x = make_inputs(_problem((1, 64, 32)), 3, CPU, structured=True)[0]
    assert _constant_rows(x[0]).any()  # rows of the one sample
    x = make_inputs(_problem((8, 3, 32)), 3, CPU, structured=True)[0]
    assert _constant_rows(x).sum() >= 2  # whole samples


def test_integer_outputs_are_judged_by_shape_and_dtype_only():
    ref = torch.tensor([0, 1, 2])
    assert structured.judged(torch.tensor([2, 1, 0]), ref, None, None) is None
    c, r, _ = structured.judged(torch.tensor([0, 1]), ref, None, None)  # a wrong shape still fails
    assert not compare(c, r, None, "fp32").ok


def test_non_finite_reference_elements_are_not_judged_and_the_rest_are():
    ref64 = torch.tensor([[float("nan")] * 4, [1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    ref = ref64.float()
    honest = torch.tensor([[0.3, -1.0, 5.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    assert compare(*structured.judged(honest, ref, ref64, ref), "fp32").ok
    wrong = honest.clone()
    wrong[1, 2] = 3.1
    assert not compare(*structured.judged(wrong, ref, ref64, ref), "fp32").ok
    nan_where_finite = honest.clone()
    nan_where_finite[1, 0] = float("nan")
    assert not compare(*structured.judged(nan_where_finite, ref, ref64, ref), "fp32").ok


def test_nudged_moves_an_ulp_at_most_and_keeps_zeros():
    x = torch.tensor([0.0, 1.0, -3.5, 1e-3] * 64)
    y = structured.nudged([x, torch.arange(3)], 9)
    assert torch.equal(y[1], torch.arange(3))
    assert (y[0][x == 0] == 0).all()
    moved = y[0] != x
    assert moved.any() and (~moved[x != 0]).any()
    ulp = torch.nextafter(x.abs(), torch.full_like(x, float("inf"))) - x.abs()
    assert ((y[0] - x).abs() <= ulp * 1.0001).all()


def test_a_layer_norm_of_a_constant_row_is_judged_by_its_conditioning():
    # The reference's float32 mean of a constant row is often exact, an honest two-pass one is not:
    # the nudged reference's error sets the bound there, and a wrong value still fails.
    torch.manual_seed(0)
    x = torch.randn(64, 1024) * 2 + 0.5
    x[::8] = x[::8, :1] * 1.37
    norm = torch.nn.LayerNorm(1024)
    torch.nn.init.normal_(norm.bias, 0.0, 0.2)
    with torch.no_grad():
        ref, ref64 = norm(x), norm.double()(x.double())
        nudge = norm.float()(structured.nudged([x], 1)[0])
        d = x - x.mean(-1, keepdim=True)
        honest = d * torch.rsqrt((d * d).mean(-1, keepdim=True) + norm.eps) * norm.weight + norm.bias
    assert compare(*structured.judged(honest, ref, ref64, nudge), "fp32").ok
    wrong = honest.clone()
    wrong[::8] = 0.0  # a constant row's output set to zero instead of the bias
    assert not compare(*structured.judged(wrong, ref, ref64, nudge), "fp32").ok


def test_the_structured_trial_runs_without_the_stress_trials():
    from fixtures import CANDIDATES, PROBLEMS

    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.problems import load_problem

    problem = load_problem(PROBLEMS / "softmax_rows.py")
    source = (CANDIDATES / "cheat" / "constant_row_softmax.py").read_text()
    ev = evaluate(problem, source, EvalOptions.for_device("cpu", stress=False, timed_calls=10, max_timed_calls=20,
                                                          min_timing_s=0.0, cpu_threads=1, timeout_s=240))
    assert ev.verdict.value == "incorrect" and ev.reason.startswith("correctness: structured"), ev.reason
