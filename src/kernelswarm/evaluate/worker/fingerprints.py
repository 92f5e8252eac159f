"""What the workers check outputs by without sending them whole: fingerprints (float64 sums of
the elements, of their magnitudes and of a strided sample) and random projections (issue 14.1).
The candidate's worker reports them for every timed call; the clean worker recomputes and
compares them (reference.py, compare.py)."""

from __future__ import annotations

import math
from typing import Any

import torch

from kernelswarm.evaluate.worker.tensors import one_thread


def fingerprint(tensors: list[Any]) -> list[float]:
    """Cheap content fingerprint: float64 sums of all elements, of their magnitudes, and of a strided sample.

    Sums taken on different devices differ in the last bits (summation order), so fingerprints are
    compared with a relative tolerance far below any real change of content.
    """
    parts = fingerprint_parts(tensors)
    if parts and len({p.device for p in parts}) == 1:
        return torch.stack(parts).tolist()  # one read back (a device's: one synchronize, not three)
    return [float(x) for x in parts]


def fingerprint_parts(tensors: list[Any]) -> list[torch.Tensor]:
    """`fingerprint`'s sums as 0-d tensors on the outputs' device, not yet waited for: calls
    fingerprinted back to back queue their sums behind them and are read once at the end."""
    parts: list[torch.Tensor] = []
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.numel() == 0:
            continue
        d = t.detach()
        if d.device.type == "cpu" and d.is_floating_point() and d.is_contiguous():
            parts.extend(_host_sums(d.reshape(-1)))
            continue
        if not (d.is_floating_point() or d.is_complex()):
            d = d.to(torch.float64)
        # Every 7th element in logical order, without copying a non-contiguous output (a
        # channels-last one, say) whole: the fingerprint is part of every timed call's overhead.
        sample = d.reshape(-1)[::7] if d.is_contiguous() else torch.take(d, torch.arange(0, d.numel(), 7, device=d.device))
        if d.is_floating_point() and d.dtype != torch.float64:
            # A reduction to float64 of a float32 tensor converts it whole first (sum's and
            # vector_norm's dtype=): converted once here, both sums read that copy, the same
            # numbers as two conversions (on the H200 a 1 GiB output's second conversion was 3
            # GiB of memory traffic in every timed request, issue 16).
            d, sample = d.to(torch.float64), sample.to(torch.float64)
        # Sums of magnitudes as 1-norms: the same float64 sums without a temporary copy of
        # |d| (on the H200 a 1 GiB output's copy was part of every timed request, issue 16).
        parts.extend([d.sum(dtype=torch.float64), _abs_sum(d), _abs_sum(sample)])
    return parts


# A CPU's float64 sums of float32 elements (sum or norm with dtype=float64) convert element by
# element, unvectorised. Converted in steps into one float64 buffer, then summed there, the same
# three sums of 4 M values took 9.6-13.7 ms instead of 26-29 on one thread, 33-55 instead of 66-131
# on two (load 5: fixed15's section of docs/benchmarks.md). The steps run on this thread alone
# (torch's threads set to one meanwhile): on two threads under load each operation waited for the
# second core (7 x 2^13: 112-742 ms). Steps were below torch's parallel grain for that (7 x 2^12):
# eight operations per 28 K elements, whose dispatch was most of the time; on one thread the steps
# can be larger, with the buffer still in cache: 4 M values 8.0-13.1 ms -> 3.6-4.1 (min), medians
# 16-19 -> 7-9 (load 6, session 16's warm16). A multiple of 7, so that every 7th element of the
# whole is every 7th of each step.
_HOST_STEP = 7 << 16


def _host_sums(flat: torch.Tensor) -> list[torch.Tensor]:
    """`fingerprint_parts`' three sums of a contiguous floating CPU tensor, `flat` (1-D)."""
    with one_thread(flat.device):
        n = flat.numel()
        buf = torch.empty(min(_HOST_STEP, n), dtype=torch.float64)
        acc = torch.zeros(3, dtype=torch.float64)
        for lo in range(0, n, _HOST_STEP):
            b = buf[:min(_HOST_STEP, n - lo)]
            b.copy_(flat[lo:lo + b.numel()])
            acc[0] += b.sum()
            acc[1] += b.abs_().sum()
            acc[2] += b[::7].sum()
        return list(acc.unbind())


def _abs_sum(d: torch.Tensor) -> torch.Tensor:
    """The float64 sum of |d|, in one pass (complex: of the moduli, as abs() gives them)."""
    if d.is_complex():
        return d.abs().sum(dtype=torch.float64)
    return torch.linalg.vector_norm(d, 1, dtype=torch.float64)


# Random projections of a timed output (issue 14.1): for each output, PROJECTIONS values
# u_k^T Y w_k, with Y the output's elements laid out as a near-square matrix (in rows of a keyed
# prime width: projection_width) and u_k, w_k Gaussian
# vectors drawn from a seed the candidate learns only after the call returned. Each has mean
# square ||Y||^2, so a wrong output Y' differs by about ||Y' - Y||: a stale output, rescaled or
# not, or one computed in lower precision, cannot match without the right values, yet the cost
# is one pass over the output and a few hundred random numbers.
PROJECTIONS = 6
# Elements converted to float64 at a time: 4 MiB of float64 on a CPU (in cache, session 17);
# 256 MiB on a GPU, where the chunks' kernel launches were the cost (a 1 GiB output's `project`
# took 7.7 ms in 64 chunks on the H200, issue 16). The candidate's worker and the clean one
# project alike on one device.
_PROJECT_CHUNK = {"cpu": 1 << 19}
_PROJECT_CHUNK_DEVICE = 1 << 25


def projection_parts(tensors: list[Any], seed: int, sums: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Per output, its PROJECTIONS projections (float64, on the outputs' device, not waited for).
    With `sums`, each output's float64 [sum of squares, sum of magnitudes, sum of magnitudes of
    every 7th element] is appended to it, from the same float64 steps (what the clean worker's
    check needs beside the projections: its norm and fingerprint_parts' magnitudes)."""
    device = next((t.device for t in tensors if isinstance(t, torch.Tensor)), torch.device("cpu"))
    with one_thread(device):
        return _projection_parts(tensors, seed, sums)


def _projection_parts(tensors: list[Any], seed: int, sums: list[torch.Tensor] | None) -> list[torch.Tensor]:
    parts = []
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor) or t.numel() == 0:
            continue
        d = t.detach()
        d = torch.view_as_real(d) if d.is_complex() else d
        flat = d.reshape(-1)
        n = flat.numel()
        cols = projection_width(tuple(d.shape), seed * 1000003 + i)
        rows = n // cols
        gen = torch.Generator(device=d.device)
        gen.manual_seed((seed * 1000003 + i) % (2**63))
        kw: dict[str, Any] = {"generator": gen, "device": d.device, "dtype": torch.float64}
        w, u = torch.randn(cols, PROJECTIONS, **kw), torch.randn(rows, PROJECTIONS, **kw)
        # The same values laid out by column: the product with six columns then takes a kernel of
        # the other operand order (one thread, 455 x 1151 float64 steps: 0.72 -> 0.47 ms a step).
        w = w.t().contiguous().t()
        tail = torch.randn(n - rows * cols, PROJECTIONS, **kw)
        body = flat[:rows * cols].view(rows, cols)
        rest = flat[rows * cols:].to(torch.float64)
        acc = rest @ tail
        total = torch.zeros(3, dtype=torch.float64, device=d.device) if sums is not None else None
        if total is not None:
            _add_sums(total, rest, rows * cols)
        step = max(1, _PROJECT_CHUNK.get(d.device.type, _PROJECT_CHUNK_DEVICE) // cols)
        # On a CPU each step is converted into one reused float64 buffer (a fresh one was a
        # page-faulted block each time, and .to() the unvectorised conversion: 2 M elements' pass
        # took 17 ms at least on two threads under load, session 17), on one thread (one_thread).
        buf = torch.empty(min(step, rows) * cols, dtype=torch.float64) if d.device.type == "cpu" and rows else None
        for lo in range(0, rows, step):
            if buf is None:
                chunk = body[lo:lo + step].to(torch.float64)
            else:
                src = body[lo:lo + step]
                chunk = buf[:src.numel()].view(src.shape).copy_(src)
            acc = acc + (u[lo:lo + step] * (chunk @ w)).sum(0)
            if total is not None:
                _add_sums(total, chunk.view(-1), lo * cols)
        parts.append(acc)
        if sums is not None:
            sums.append(total)
    return parts


def _add_sums(total: torch.Tensor, values: torch.Tensor, start: int) -> None:
    """`values` (float64, 1-D) are the elements from `start` on: their squares, magnitudes, and the
    magnitudes of those whose index is a multiple of 7 (fingerprint_parts' sample) added to `total`."""
    total[0] += values.dot(values)
    total[1] += torch.linalg.vector_norm(values, 1)
    total[2] += torch.linalg.vector_norm(values[(-start) % 7::7], 1)


def projection_width(shape: tuple[int, ...], seed: int) -> int:
    """The row length the output's elements are laid out in for its projections: a prime near the
    square root of their count, drawn from `seed`, that divides no trailing block of the shape.

    Laid out in rows of the output's own row length, u^T Y w was a bilinear form of the output's
    rows and columns: for Y = A B it is (u^T A)(B w), which a candidate computes from the inputs
    without the product, and so answers every projection of a stale or skipped output rightly
    (cheat/projection_forge). In rows of a prime width that no trailing dimension product is a
    multiple of, each of the output's rows starts at another offset of the pattern, the weights
    on Y have full rank, and nothing cheaper than Y itself gives the projection."""
    n = math.prod(shape)
    root = math.isqrt(n)
    if root < 2:
        return 1
    inner = [math.prod(shape[k:]) for k in range(1, len(shape))]
    p = max(2, root - int(seed) % (root // 4 + 1))
    while not _prime(p) or any(m % p == 0 for m in inner):
        p += 1
    return p


def _prime(p: int) -> bool:
    return p >= 2 and all(p % q for q in range(2, math.isqrt(p) + 1))


def projections(tensors: list[Any], seed: int) -> list[list[float]]:
    return [p.tolist() for p in projection_parts(tensors, seed)]


def expected_checks(tensors: list[Any], seed: int) -> tuple[list[list[float]], list[float], list[float]]:
    """What the clean worker checks a timed call's expected outputs by, in one float64 pass over
    them: their projections, each output's Frobenius norm, and `magnitudes(fingerprint(tensors))`
    (a complex output's magnitudes are its elements' moduli: those from fingerprint itself)."""
    sums: list[torch.Tensor] = []
    parts = projection_parts(tensors, seed, sums)
    values = torch.stack(sums).tolist() if sums else []
    if any(isinstance(t, torch.Tensor) and t.is_complex() for t in tensors):
        mags = magnitudes(fingerprint(tensors))
    else:
        mags = [m for v in values for m in v[1:]]
    return [p.tolist() for p in parts], [math.sqrt(max(0.0, v[0])) for v in values], mags


def frobenius(tensors: list[Any]) -> list[float]:
    """Each output's Frobenius norm (the scale its projections are judged on)."""
    out = []
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.numel():
            d = t.detach()
            d = torch.view_as_real(d) if d.is_complex() else d
            out.append(float(torch.linalg.vector_norm(d.reshape(-1).to(torch.float64))))
    return out


def magnitudes(fp: list[float]) -> list[float]:
    """The entries of a fingerprint that honest rounding barely moves (sums of magnitudes)."""
    return [x for i, x in enumerate(fp) if i % 3]


def same_fingerprint(a: list[float], b: list[float], rel: float = 1e-6) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
            if not (x == y or (math.isnan(x) and math.isnan(y))):
                return False
        elif abs(x - y) > rel * (abs(x) + abs(y)) + 1e-30:
            return False
    return True
