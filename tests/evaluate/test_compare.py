"""The fp64 comparison: legitimate float32 reorderings pass, downcasts and small errors do not."""

import torch

from kernelswarm.evaluate.compare import compare


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
