"""The structured trial's inputs and what it judges (issue 14): inputs with structure that random
draws never make, which real models feed (padded and masked rows, exact zeros, repeated values).

Every floating input, from a generator seeded by the trial's seed (both workers derive the same
inputs, the candidate learns the seed only with the trial), gets, in this order:
- single elements set to exactly zero, each with a probability drawn per trial;
- "tie" slices, each rounded to a grid of an eighth of its largest magnitude (repeated values,
  ties at the maximum, more zeros);
- constant slices, each one value: zero or a value taken from a random element of the input.
A slice is `x[j]` along the first dimension longer than one (a row of a matrix, a sample of a
batch): every reduction over another dimension then meets constant lines. Which slices, and the
shares (constant and tie slices between 1/32 and 1/8 each, zeros between 1/128 and 1/16 of the
elements), are drawn per trial; at least one constant slice is zero and one holds a drawn value
wherever the dimension has two slices.

What it judges (`judged`): floating outputs as every trial does, with two differences. The
float32 reference's own error, which sets the bounds, is also taken on the inputs nudged by an ulp
here and there (`nudged`), elementwise the larger: a constant row is ill-conditioned for a
normalisation (LayerNorm's output there is the mean's rounding divided by sqrt(eps)), and an honest
float32 kernel erred by 26 times the reference's bound on it where the reference's mean happened
to be exact (benchmarks/false_incorrect.py, honest/layer_norm_two_pass). And elements where the
reference's float32 or float64 result is not finite are not judged (a constant row divided by its
zero spread: honest kernels may give NaN, inf or a finite value there); integer and boolean outputs by shape
and dtype only (an argmax or a sort of tied values may honestly pick another index); in training
mode the call's outputs and not its gradients (subgradients at ties and at zero differ between
honest kernels: max pooling, relu at 0). The random trials judge all of these in full.
"""

from __future__ import annotations

import math
from typing import Any

import torch

CONST_SHARE = (1.0 / 32, 1.0 / 8)  # the share of slices made constant, drawn per trial in this range
TIE_SHARE = (1.0 / 32, 1.0 / 8)  # the share of slices rounded to a coarse grid (ties)
ZERO_SHARE = (1.0 / 128, 1.0 / 16)  # the share of single elements set to zero
TIE_STEPS = 8  # a tie slice's grid: its largest magnitude over TIE_STEPS


def structure(x: torch.Tensor, seed: int, i: int) -> torch.Tensor:
    """Input `i` of a structured trial under `seed` (a new tensor; `x` itself is not changed)."""
    if not x.is_floating_point() or x.dim() == 0 or x.numel() == 0:
        return x
    host = torch.Generator()
    host.manual_seed((seed * 7933 + 41 * i + 29) % (2**63))
    device = torch.Generator(device=x.device)
    device.manual_seed((seed * 7937 + 43 * i + 31) % (2**63))
    dim = next((d for d in range(x.dim()) if x.shape[d] > 1), 0)
    n = x.shape[dim]
    c_share, t_share, z_share = (lo + (hi - lo) * float(u) for (lo, hi), u in
                                 zip((CONST_SHARE, TIE_SHARE, ZERO_SHARE), torch.rand(3, generator=host, dtype=torch.float64)))
    kind = torch.rand(n, generator=host, dtype=torch.float64)
    const = kind < c_share
    tie = (kind >= c_share) & (kind < c_share + t_share)
    zero_value = torch.rand(n, generator=host) < 0.5
    if n >= 2:  # both kinds of constant slice, wherever there are two slices
        a, b = torch.randperm(n, generator=host)[:2].tolist()
        const[a], zero_value[a] = True, True
        const[b], zero_value[b] = True, False
        tie[a] = tie[b] = False
    source = torch.randint(0, x.numel(), (n,), generator=host)
    with torch.no_grad():
        y = x.detach().clone()
        # Two bytes a draw (the input may be 1 GiB on a GPU): a share's resolution of 2**-15.
        draws = torch.randint(0, 1 << 15, x.shape, generator=device, device=x.device, dtype=torch.int16)
        y.masked_fill_(draws < int(z_share * (1 << 15)), 0.0)
        del draws
        moved = y.movedim(dim, 0)  # a view: writes land in y
        if bool(tie.any()):
            at = torch.nonzero(tie).reshape(-1).to(x.device)
            t = moved.index_select(0, at)
            rest = tuple(range(1, t.dim()))
            step = (t.abs().amax(dim=rest, keepdim=True) if rest else t.abs()) / TIE_STEPS
            step = torch.where(step > 0, step, torch.ones_like(step))
            moved.index_copy_(0, at, torch.round(t / step) * step)
        at = torch.nonzero(const).reshape(-1)
        values = x.detach().reshape(-1)[source[at].to(x.device)].clone()
        values.masked_fill_(zero_value[at].to(x.device), 0.0)
        shape = (len(at),) + (1,) * (moved.dim() - 1)
        moved.index_copy_(0, at.to(x.device), values.view(shape).expand((len(at),) + tuple(moved.shape[1:])))
    return y.requires_grad_(x.requires_grad)


def nudged(inputs: list[Any], seed: int) -> list[Any]:
    """A copy of the inputs with each nonzero floating element moved one ulp up, one ulp down, or
    left, at random from `seed` (zeros stay zero): a float32 reference on these shows how far an
    honest rounding of the inputs moves the outputs."""
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel():
            gen = torch.Generator(device=x.device)
            gen.manual_seed((seed * 7949 + 47 * i + 37) % (2**63))
            # One byte a draw, two temporaries of the input's size (on a GPU's 1 GiB inputs, memory).
            way = torch.randint(0, 3, x.shape, generator=gen, device=x.device, dtype=torch.uint8)
            with torch.no_grad():
                d = x.detach()
                toward = torch.full_like(d, -math.inf).masked_fill_(way == 1, math.inf)
                y = torch.where((way == 0) | (d == 0), d, torch.nextafter(d, toward, out=toward))
            x = y.requires_grad_(x.requires_grad)
        out.append(x)
    return out


def judged(cand: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor | None,
           ref_nudged: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
    """The parts of one output the structured trial compares (see the module's docstring), as
    (candidate, float32 reference, float64 reference): None for an integer or boolean output (its
    shape and dtype are checked by the caller); for a floating one, the float32 reference
    elementwise the farther from the float64 of itself and `ref_nudged` (the reference on
    `nudged` inputs), every element where a reference is not finite set to zero in all three; a
    mismatch of shape or dtype as it is, for the comparison to report."""
    if cand.shape != ref.shape or cand.dtype != ref.dtype:
        return cand, ref, ref64  # the comparison says how they differ
    if not ref.is_floating_point():
        return None
    exact = ref64 if ref64 is not None else ref
    bad = ~torch.isfinite(ref) | ~torch.isfinite(exact)
    if ref_nudged is not None and ref_nudged.shape == ref.shape and ref_nudged.dtype == ref.dtype:
        bad |= ~torch.isfinite(ref_nudged)
        ref = _farther(ref, ref_nudged, exact)
    if not bool(bad.any()):
        return cand, ref, ref64
    return (cand.masked_fill(bad, 0.0), ref.masked_fill(bad, 0.0),
            ref64.masked_fill(bad, 0.0) if ref64 is not None else None)


def _farther(ref: torch.Tensor, other: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """Elementwise whichever of `ref` and `other` lies farther from `exact` (a new tensor), in steps
    of compare.CHUNK elements: its float64 temporaries stay bounded whatever the output's size."""
    from kernelswarm.evaluate.worker.compare import CHUNK
    out = ref.contiguous().clone()
    flat, o, e = out.view(-1), other.reshape(-1), exact.reshape(-1)
    for lo in range(0, flat.numel(), CHUNK):
        r, n, x = flat[lo:lo + CHUNK], o[lo:lo + CHUNK], e[lo:lo + CHUNK].to(torch.float64)
        far = (n.to(torch.float64) - x).abs_() > (r.to(torch.float64) - x).abs_()
        r.copy_(torch.where(far, n, r))
    return out.view(ref.shape)
