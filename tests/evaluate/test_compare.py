"""The fp64 comparison: legitimate float32 reorderings pass, downcasts and small errors do not."""

import torch

from kernelswarm.evaluate.worker.compare import compare, compare_exact


def _refs(a, b):
    ref = a @ b
    ref64 = a.double() @ b.double()
    return ref, ref64


def test_reordered_float32_sum_passes():
    torch.manual_seed(0)
    a, b = torch.randn(64, 1024), torch.randn(1024, 32)
    ref, ref64 = _refs(a, b)
    chunked = sum(a[:, i:i + 100] @ b[i:i + 100] for i in range(0, 1024, 100))
    assert compare(chunked, ref, ref64, "fp32").ok


def test_bf16_fails_fp32_but_passes_bf16_policy():
    torch.manual_seed(1)
    a, b = torch.randn(64, 1024), torch.randn(1024, 32)
    ref, ref64 = _refs(a, b)
    low = (a.bfloat16() @ b.bfloat16()).float()
    assert not compare(low, ref, ref64, "fp32").ok
    assert compare(low, ref, ref64, "bf16").ok


def test_single_wrong_element_is_found_with_its_index():
    torch.manual_seed(2)
    x = torch.randn(32, 32)
    ref, ref64 = x.relu(), x.double().relu()
    bad = ref.clone()
    bad[3, 7] += 1e-3
    result = compare(bad, ref, ref64, "fp32")
    assert not result.ok and "(3, 7)" in result.detail


def test_nan_where_reference_is_finite_fails():
    x = torch.randn(8, 8)
    bad = x.clone()
    bad[0, 0] = float("nan")
    assert not compare(bad, x, x.double(), "fp32").ok


def test_shape_and_dtype_must_match():
    x = torch.randn(4, 6)
    assert "shape" in compare(x.t(), x, x.double(), "fp32").detail
    assert "dtype" in compare(x.double(), x, x.double(), "fp32").detail


def test_reference_nan_must_be_reproduced():
    x = torch.tensor([1.0, float("nan"), 2.0])
    assert compare(x.clone(), x, x.double(), "fp32").ok
    assert not compare(torch.tensor([1.0, 0.0, 2.0]), x, x.double(), "fp32").ok


def test_integer_outputs_compare_exactly():
    x = torch.tensor([1, 2, 3])
    assert compare(x.clone(), x, None, "fp32").ok
    assert not compare(torch.tensor([1, 2, 4]), x, None, "fp32").ok


def test_chunked_comparison_agrees_with_one_pass():
    """Small chunks (as a 1 GiB output is compared) give the same verdicts, errors and indices."""
    torch.manual_seed(3)
    a, b = torch.randn(64, 512), torch.randn(512, 48)
    ref, ref64 = _refs(a, b)
    ok = sum(a[:, i:i + 100] @ b[i:i + 100] for i in range(0, 512, 100))
    bad = ok.clone()
    bad[40, 5] += 1e-2
    bad[7, 1] += 1e-3
    holed = ok.clone()
    holed[63, 47] = float("inf")
    for cand in (ok, bad, holed, (a.bfloat16() @ b.bfloat16()).float()):
        whole, parts = compare(cand, ref, ref64, "fp32"), compare(cand, ref, ref64, "fp32", chunk=97)
        assert (whole.ok, whole.detail.split(";")[0]) == (parts.ok, parts.detail.split(";")[0])
        assert whole.rel_error == parts.rel_error or abs(whole.rel_error - parts.rel_error) <= 1e-9 * max(1.0, whole.rel_error)
    assert "(40, 5)" in compare(bad, ref, ref64, "fp32", chunk=97).detail  # the worst, found across chunks
    assert "(63, 47)" in compare(holed, ref, ref64, "fp32", chunk=97).detail
    ref_nan = ref.clone()
    ref_nan[10, 10] = float("nan")
    cand_nan = ok.clone()
    cand_nan[10, 10] = float("nan")
    ref64_nan = ref64.clone()
    ref64_nan[10, 10] = float("nan")
    assert compare(cand_nan, ref_nan, ref64_nan, "fp32", chunk=97).ok
    assert not compare(ok, ref_nan, ref64_nan, "fp32", chunk=97).ok


def test_the_finite_path_gives_the_exact_paths_verdict_error_and_margin():
    """`compare`'s pass over the reference then the candidate (issue 16: a 256 MiB output took
    38 s in two passes of float64 copies on a CPU) against `compare_exact`, on honest, wrong,
    borderline and non-finite outputs, float64 reference or not, in chunks and whole."""
    g = torch.Generator().manual_seed(16)
    a, b = torch.randn(96, 256, generator=g), torch.randn(256, 40, generator=g)
    ref, ref64 = _refs(a, b)
    honest = sum(a[:, i:i + 50] @ b[i:i + 50] for i in range(0, 256, 50))
    one_off = honest.clone()
    one_off[3, 4] += 1e-2
    spread = honest + 3e-4 * torch.randn(honest.shape, generator=g) * ref.abs()  # normwise, not per element
    scale = float(ref64.pow(2).mean().sqrt())
    near = (ref64 + 0.8 * (3e-5 * ref64.abs() + 1e-5 * scale)).float()  # each element inside, the norm not
    zeros_ref = torch.zeros(8, 8)
    cases = [(near, ref, ref64), (honest, ref, ref64), (one_off, ref, ref64), (spread, ref, ref64), (honest, ref, None),
             ((a.bfloat16() @ b.bfloat16()).float(), ref, ref64), (zeros_ref.clone(), zeros_ref, zeros_ref.double()),
             (zeros_ref + 1e-30, zeros_ref, zeros_ref.double()), (ref.clone(), ref, ref64)]
    nan = honest.clone()
    nan[5, 5] = float("nan")
    cases.append((nan, ref, ref64))
    inf_ref64 = ref64.clone()
    inf_ref64[1, 1] = float("inf")
    cases.append((honest, ref, inf_ref64))
    for precision in ("fp32", "bf16"):
        for i, (cand, r, r64) in enumerate(cases):
            for chunk in (None, 97, 1 << 24):
                fast, exact = compare(cand, r, r64, precision, chunk=chunk), compare_exact(cand, r, r64, precision)
                assert (fast.ok, fast.detail) == (exact.ok, exact.detail), (precision, i, chunk, fast, exact)
                for x, y in ((fast.rel_error, exact.rel_error), (fast.margin, exact.margin), (fast.ref_rel, exact.ref_rel)):
                    assert x == y or abs(x - y) <= 1e-9 * max(1.0, abs(y)), (precision, i, chunk, fast, exact)
    assert not compare(one_off, ref, ref64, "fp32").ok and "(3, 4)" in compare(one_off, ref, ref64, "fp32").detail
    assert not compare(nan, ref, ref64, "fp32").ok
    assert "normwise error" in compare(near, ref, ref64, "fp32").detail and not compare(near, ref, ref64, "fp32").ok


# Margins of the fp32 policy (issue 13, "correctness by chance"): honest float32 orders of
# work use a small share of their bound on every seed; the precision cheats many times it.
# benchmarks/false_incorrect.py measures the same over hundreds of seeds (docs/benchmarks.md).
def _matmul_cases(seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(128, 512, generator=g), torch.randn(512, 96, generator=g)
    ref, ref64 = _refs(a, b)
    honest = {
        "chunked": sum(a[:, i:i + 64] @ b[i:i + 64] for i in range(0, 512, 64)),
        "transposed": (b.t() @ a.t()).t().contiguous(),
        "sequential": _sequential_matmul(a, b),
    }
    cheats = {
        "bf16": (a.bfloat16() @ b.bfloat16()).float(),
        "fp16": (a.half() @ b.half()).float(),
        "tf32": _tf32(a) @ _tf32(b),
    }
    return ref, ref64, honest, cheats


def _sequential_matmul(a, b):
    out = torch.zeros(a.shape[0], b.shape[1])
    for k in range(a.shape[1]):  # one float32 rounding per term: the least accurate faithful order
        out += a[:, k:k + 1] * b[k:k + 1]
    return out


def _tf32(t):
    return ((t.contiguous().view(torch.int32) + 0x1000) & ~0x1FFF).view(torch.float32)


def test_honest_float32_orders_stay_far_inside_the_bound_and_cheats_far_outside():
    for seed in range(4):
        ref, ref64, honest, cheats = _matmul_cases(seed)
        for name, out in honest.items():
            r = compare(out, ref, ref64, "fp32")
            assert r.ok and r.margin < 0.5, (name, seed, r.detail, r.margin)
        for name, out in cheats.items():
            r = compare(out, ref, ref64, "fp32")
            assert not r.ok and r.margin > 4.0, (name, seed, r.detail, r.margin)


def test_honest_softmax_at_the_suites_cpu_size_stays_inside_the_bound():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(512, 4096, generator=g)
    ref, ref64 = torch.softmax(x, -1), torch.softmax(x.double(), -1)
    e = (x - x.amax(dim=1, keepdim=True)).exp()
    acc = torch.zeros(512, 1)
    for j in range(4096):  # a plain sequential sum, as a simple C++ loop would do: 0.2 of a 1e-5 rtol
        acc += e[:, j:j + 1]
    for out in (e / e.sum(dim=1, keepdim=True), e / acc):
        r = compare(out, ref, ref64, "fp32")
        assert r.ok and r.margin < 0.15, (r.detail, r.margin)
