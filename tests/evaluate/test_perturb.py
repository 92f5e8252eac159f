"""The per-call perturbation of timed inputs (tensors.perturb). On the host it draws 16 bits per
element from a quarter as many 64-bit draws (issue 16: one mt19937 draw per element made a timed
call's inputs cost 2.5x an argmax call); these tests hold what the perturbation is for: every
call's contents differ everywhere, keyed and reproducible, within the documented range, in the
input's own dtype, and with no structure a cache could key on."""

import torch

from kernelswarm.evaluate.worker.tensors import _PERTURB, _SCALE, perturb


def _ratio(key, shape=(64, 257), dtype=torch.float32):
    x = torch.rand(shape, dtype=torch.float64).add_(1.0).to(dtype)  # in [1, 2): exact ratios
    return (perturb([x], key)[0].double() / x.double()), x


def test_factors_are_keyed_reproducible_and_within_range():
    for key in (1, 2**40 + 7, 2**62 - 1):
        r, x = _ratio(key)
        assert torch.equal(perturb([x], key)[0], perturb([x], key)[0])
        s = 1.0 - _SCALE * ((key >> 7) % 4096) / 4096.0
        assert r.min() >= s * (1.0 - _PERTURB) - 1e-7 and r.max() <= s + 1e-7
        assert not torch.equal(perturb([x], key)[0], perturb([x], key + 1)[0])


def test_every_element_gets_its_own_factor():
    r, _ = _ratio(12345, shape=(512, 512))
    u = ((1.0 - r / r.max()) / _PERTURB).reshape(-1)
    # Close to uniform: the mean and spread of U[0, 1), and nearly every element its own level.
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.std()) - 12**-0.5) < 0.01
    assert r.unique().numel() > 0.6 * 2**16
    # No period: neighbours, rows and the four 16-bit lanes of one draw are uncorrelated.
    m = u.view(512, 512) - u.mean()
    for a, b in ((m[:, 1:], m[:, :-1]), (m[1:], m[:-1]), (m[:, 0::4], m[:, 1::4]), (m[:, 3::4], m[:, 2::4])):
        corr = float((a * b).mean() / (a.std() * b.std()))
        assert abs(corr) < 0.02, corr
    # Another key: unrelated factors, not a shifted or scaled copy.
    r2, _ = _ratio(12346, shape=(512, 512))
    u2 = ((1.0 - r2 / r2.max()) / _PERTURB).reshape(-1)
    assert abs(float(torch.corrcoef(torch.stack([u, u2]))[0, 1])) < 0.02


def test_dtypes_shapes_and_layouts_are_kept():
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        r, x = _ratio(99, shape=(3, 5, 7), dtype=dtype)
        y = perturb([x], 99)[0]
        assert y.dtype == dtype and y.shape == x.shape
        assert float(r.min()) > 0.98 and float(r.max()) <= 1.0
    cl = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
    assert perturb([cl], 5)[0].shape == cl.shape
    assert perturb([torch.randn(7, 5).t()], 5)[0].shape == (5, 7)
    assert perturb([torch.empty(0)], 5)[0].numel() == 0
    ints = torch.arange(10)
    out = perturb([ints, 3], 5)
    assert torch.equal(out[0], ints) and out[0].data_ptr() != ints.data_ptr() and out[1] == 3


def test_half_precision_factors_still_vary():
    """float16 factors are formed in float32 and rounded once: several levels, as before."""
    r, _ = _ratio(2**30 + 5, shape=(256, 256), dtype=torch.float16)
    assert r.unique().numel() >= 3


def test_device_factors_lie_in_the_range_and_are_keyed():
    """A device's factors (tensors._device_factors, one uniform_ pass), drawn here from a CPU
    generator: in [s (1 - _PERTURB), s), the input's dtype, reproducible from the key, every
    element its own level."""
    from kernelswarm.evaluate.worker.tensors import _device_factors

    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        x = torch.ones(256, 256, dtype=dtype)
        s = 1.0 - _SCALE * 1234 / 4096.0

        def draw(seed):
            gen = torch.Generator()
            gen.manual_seed(seed)
            return _device_factors(x, gen, s)

        f = draw(7)
        assert f.dtype == dtype and f.shape == x.shape and torch.equal(f, draw(7))
        assert dtype == torch.bfloat16 or not torch.equal(f, draw(8))  # (bfloat16: one or two levels)
        if dtype == torch.float16:
            assert f.unique().numel() >= 3
        lo, hi = s * (1.0 - _PERTURB), s
        slack = {torch.float32: 1e-7, torch.float64: 0.0}.get(dtype, 8e-3)  # rounded to the dtype once
        assert float(f.double().min()) >= lo - slack and float(f.double().max()) <= hi + slack
        if dtype in (torch.float32, torch.float64):
            u = (hi - f.double()) / (hi - lo)
            # (float32 holds about 32 K levels in that range: 65 K draws fill most of them)
            levels = 0.99 if dtype == torch.float64 else 0.4
            assert abs(float(u.mean()) - 0.5) < 0.01 and f.unique().numel() > levels * f.numel()


def test_the_product_taken_in_the_factors_buffer_is_the_same_numbers():
    """perturb multiplies into the factors' own buffer where the input is contiguous: x * f and
    f * x in place are the same numbers; other layouts keep x * f (the input's layout)."""
    x = torch.randn(64, 33)
    from kernelswarm.evaluate.worker import tensors

    f = tensors._factors(x, 99, 0)
    assert torch.equal(perturb([x], 99)[0], x * f)
    t = torch.randn(33, 64).t()
    assert torch.equal(perturb([t], 99)[0], t * tensors._factors(t, 99, 0))
    cl = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
    assert perturb([cl], 5)[0].is_contiguous(memory_format=torch.channels_last)


def test_a_cpu_perturbation_and_projection_run_on_one_thread_and_leave_the_count():
    """The worker's own work around a timed call (inputs, projections) runs on one thread of a
    CPU (tensors.one_thread), and the count the timed call runs on is back afterwards."""
    from kernelswarm.evaluate.worker import fingerprints

    seen = []
    real_mul, real_mm = torch.Tensor.mul_, torch.Tensor.__matmul__

    def mul(self, *a, **k):
        seen.append(torch.get_num_threads())
        return real_mul(self, *a, **k)

    def mm(self, *a, **k):
        seen.append(torch.get_num_threads())
        return real_mm(self, *a, **k)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.Tensor.mul_, torch.Tensor.__matmul__ = mul, mm
        try:
            y = perturb([torch.randn(300, 40)], 11)[0]
            fingerprints.projections([y], 5)
        finally:
            torch.Tensor.mul_, torch.Tensor.__matmul__ = real_mul, real_mm
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
