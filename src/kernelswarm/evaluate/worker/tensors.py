"""Tensor helpers shared by the candidate and reference workers: inputs, perturbation, poison, blobs
(what outputs are checked by without sending them: fingerprints.py).

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
to_blob, from_blob, to_device = rawblob.to_blob, rawblob.from_blob, rawblob.to_device

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
