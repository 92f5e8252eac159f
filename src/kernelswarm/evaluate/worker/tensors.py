"""Tensor helpers shared by the candidate and reference workers: inputs, perturbation, poison, blobs.

Both workers build inputs with the same functions from the same seeds, so the reference worker
reproduces exactly the inputs the candidate saw without them ever crossing a pipe.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import torch

from kernelswarm.evaluate.worker import rawblob
from kernelswarm.evaluate.worker import structured as _structured

# Outputs to and from the clean worker (rawblob.py), named here: the workers call them through
# this module (a candidate that replaces them here is what cheat/blob_bomb tries).
to_blob, from_blob = rawblob.to_blob, rawblob.from_blob

# Timed calls shrink floating inputs by a per-call factor s in [1 - 2**-6, 1] and, elementwise, by a
# further random factor in [1 - 2**-9, 1]: every call sees different contents (defeating caches
# keyed on content or address), and signs and ranges are preserved. The common factor s moves
# the output's magnitude, so that a stale output from another call shows in its fingerprint.
_PERTURB = 2.0**-9
_SCALE = 2.0**-6


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)  # also seeds every CUDA device


def make_inputs(module: Any, seed: int, device: torch.device, scale: float = 1.0,
                mixed: list[float] | tuple[float, float, float] | None = None,
                graded: list[float] | tuple[float, float] | None = None, structured: bool = False) -> list[Any]:
    """The problem's get_inputs() under `seed`, floating tensors scaled, moved to `device`.

    `mixed` = (small, large, share): each floating element independently, from a generator seeded
    by `seed`, is scaled by `large` with probability `share`, by `small` with the same probability,
    and left as drawn otherwise. One element then says nothing about any other: a candidate that
    inspects a few elements to guess whether it is being stress-tested guesses wrong.

    `graded` = (small, large): each slice along the first dimension scaled by its own factor drawn
    log-uniformly between them, so that one trial meets every magnitude in between (a softmax
    wrong only where a row's max lies between 88 and 200 passed the x1, x100 and mixed trials:
    cheat/mid_scale_softmax).

    `structured`: constant slices, exact zeros and ties drawn from `seed` (structured.py)."""
    seed_all(seed)
    # Created on the device directly (torch.randn on a GPU is far faster than on the host for
    # large inputs); both workers do the same, so both draw identical values from the seed.
    with device:
        raw = module.get_inputs()
    out = []
    for i, x in enumerate(raw):
        if isinstance(x, torch.Tensor):
            if x.is_floating_point() and scale != 1.0:
                x = x * scale
            x = x.to(device)
            if x.is_floating_point() and mixed is not None:
                x = x * _mixed_factors(x, seed, i, mixed)
            if x.is_floating_point() and graded is not None and x.dim() > 0:
                x = x * _graded_factors(x, seed, i, graded)
            if structured:
                x = _structured.structure(x, seed, i)
        out.append(x)
    return out


def trial_inputs(module: Any, msg: dict, device: torch.device) -> list[Any]:
    """A correctness trial's inputs, as its message (`run`, `check`) describes them."""
    return make_inputs(module, msg["input_seed"], device, msg.get("scale", 1.0), msg.get("mixed"), msg.get("graded"),
                       bool(msg.get("structured")))


def _mixed_factors(x: torch.Tensor, seed: int, i: int, mixed: list[float] | tuple[float, float, float]) -> torch.Tensor:
    small, large, share = (float(v) for v in mixed)
    gen = torch.Generator(device=x.device)
    gen.manual_seed((seed * 7919 + 31 * i + 17) % (2**63))
    u = torch.rand(x.shape, generator=gen, device=x.device, dtype=torch.float32)
    ones = torch.ones((), dtype=x.dtype, device=x.device)
    f = torch.where(u < share, ones * large, ones)
    return torch.where(u > 1.0 - share, ones * small, f)


def _graded_factors(x: torch.Tensor, seed: int, i: int, graded: list[float] | tuple[float, float]) -> torch.Tensor:
    small, large = (float(v) for v in graded)
    gen = torch.Generator(device=x.device)
    gen.manual_seed((seed * 7907 + 37 * i + 23) % (2**63))
    u = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=gen, device=x.device, dtype=torch.float64)
    logs = math.log10(small) + u * (math.log10(large) - math.log10(small))
    return torch.pow(10.0, logs).to(x.dtype)


@contextlib.contextmanager
def one_thread(device: torch.device) -> Iterator[None]:
    """A worker's own work on a CPU's tensors (inputs, fingerprints, projections) on the calling
    thread alone, torch's count restored after: the timed call is what runs on the configured
    threads. On this 2-core CPU under load every operation on two threads waited for the second
    core: 2 M elements' float64 conversion took 16-27 ms on two, 1.2-4 on one (load 4, session 17;
    warm16's fingerprints the same). The same in both workers, around every kind of timed call."""
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


def perturb(inputs: list[Any], key: int) -> list[Any]:
    """A fresh copy of `inputs` whose floating tensors are shrunk elementwise by a keyed random factor."""
    out = []
    device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), torch.device("cpu"))
    with one_thread(device):
        for i, x in enumerate(inputs):
            if isinstance(x, torch.Tensor):
                if x.is_floating_point():
                    f = _factors(x, key, i)
                    # The factors' own buffer takes the product where it has the input's layout
                    # (one allocation fewer: each is a page-faulted fresh block on a CPU, a pass
                    # of the device's memory on a GPU); x * f and f * x are the same numbers.
                    x = f.mul_(x) if x.is_contiguous() and f.dtype == x.dtype and f.shape == x.shape else x * f
                else:
                    x = x.clone()
            out.append(x)
    return out


def _factors(x: torch.Tensor, key: int, i: int) -> torch.Tensor:
    """`perturb`'s elementwise factors s * (1 - _PERTURB * u), u uniform in [0, 1) from `key`."""
    gen = torch.Generator(device=x.device)
    gen.manual_seed((key * 1000003 + i) % (2**63))
    s = 1.0 - _SCALE * ((key >> 7) % 4096) / 4096.0
    if x.device.type != "cpu":  # the device's generator (Philox) is fast
        return _device_factors(x, gen, s)
    # The host's generator (mt19937) is serial, one draw per element: it made each timed call's
    # inputs cost 2.5x the call itself (argmax, 4M elements). Here u = (v + 2**15) / 2**16 for v
    # 16 of a full-range draw's 64 bits: a quarter of the draws, and the factor's steps (2**-25)
    # still below a float32 factor's resolution near 1 (2**-24), so no float32 factor is lost.
    n = x.numel()
    v = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), None, generator=gen)
    v = v.view(torch.int16)[:n].view(x.shape)
    # Half-precision factors are formed in float32 and rounded once, as torch.rand's were.
    dtype = x.dtype if x.element_size() >= 4 else torch.float32
    f = torch.add(torch.tensor(s * (1.0 - 0.5 * _PERTURB), dtype=dtype), v, alpha=-s * _PERTURB / 65536.0)
    return f if f.dtype == x.dtype else f.to(x.dtype)


def _device_factors(x: torch.Tensor, gen: torch.Generator, s: float) -> torch.Tensor:
    """A device's factors, uniform in [s (1 - _PERTURB), s), drawn in one pass (uniform_ forms
    from + (to - from) u in float32 and rounds once): s * (1 - _PERTURB * u) from torch.rand took
    three passes over the input's size and two temporaries (on the H200 a 1 GiB input's `prepare`
    wrote 4 GiB to draw its factors, issue 16). Half-precision factors are drawn in float32 and
    rounded once, as the host's are (bfloat16's spacing near 1 is the range's width)."""
    f = torch.empty(x.shape, dtype=x.dtype if x.element_size() >= 4 else torch.float32, device=x.device)
    f.uniform_(s * (1.0 - _PERTURB), s, generator=gen)
    return f if f.dtype == x.dtype else f.to(x.dtype)


def clone_inputs(inputs: list[Any]) -> list[Any]:
    return [x.clone() if isinstance(x, torch.Tensor) else x for x in inputs]


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


def poison(specs: list[dict], device: torch.device, value: float) -> None:
    """Fill and free blocks the size of the outputs so that an unwritten output holds `value`."""
    blocks = [torch.full(tuple(s["shape"]), value, dtype=getattr(torch, s["dtype"]), device=device)
              for s in specs if s["dtype"] in _FLOAT_DTYPES]
    del blocks


def poison_free_memory(device: torch.device, value: float = float("nan")) -> None:
    """On CUDA, fill a large part of free memory with `value` through the caching allocator."""
    if device.type != "cuda":
        return
    # Kept small: the block stays in this process's allocator cache (later allocations are carved
    # from it), and several evaluations may share the device.
    free, _ = torch.cuda.mem_get_info(device)
    n = int(min(free * 0.1, 1024**3)) // 4
    if n > 0:
        block = torch.empty(n, dtype=torch.float32, device=device)
        block.fill_(value)
        del block


_FLOAT_DTYPES = {"float32", "float64", "float16", "bfloat16"}


def as_outputs(result: Any) -> list[Any]:
    """Normalize a forward's result to a list (a single tensor or a tuple/list of them)."""
    if isinstance(result, (tuple, list)):
        return list(result)
    return [result]


def output_problems(outputs: list[Any], inputs: list[Any], device: torch.device) -> str:
    """Why these outputs are unacceptable as plain results, or '' when they are fine."""
    input_ptrs = {x.untyped_storage().data_ptr() for x in inputs if isinstance(x, torch.Tensor) and x.numel()}
    for i, out in enumerate(outputs):
        if type(out) is not torch.Tensor:
            return f"output {i} is a {type(out).__module__}.{type(out).__qualname__}, not a plain torch.Tensor"
        if out.layout is not torch.strided or out.is_meta:
            return f"output {i} has no real storage ({out.layout}, meta={out.is_meta})"
        if out.device.type != device.type:
            return f"output {i} is on {out.device}, expected {device.type}"
        if out.numel() and out.untyped_storage().data_ptr() in input_ptrs:
            return f"output {i} aliases an input's storage"
    return ""


def spec_of(outputs: list[Any]) -> list[dict]:
    return [{"shape": list(o.shape), "dtype": str(o.dtype).removeprefix("torch.")} for o in outputs
            if isinstance(o, torch.Tensor)]
