"""Judging a candidate's output against a float64 result, under a precision policy.

The default policy (fp32) accepts what a faithful float32 implementation produces: its error
against float64 may not exceed a small multiple of the float32 reference's own error, plus a
floor. Reordering a sum passes; computing in TF32, bf16 or fp16 does not. Reduced-precision
policies are explicit (`--precision`) and use documented, scale-relative tolerances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    factor: float  # allowed multiple of the fp32 reference's own error
    norm_floor: float  # normwise error floor, relative to ||ref||
    atol: float  # elementwise floor, relative to rms(ref)
    rtol: float  # elementwise floor, relative to |ref_i|


# fp32's rtol: a faithful float32 reduction summed in plain order drifts by about eps*sqrt(n/3)
# of its result, far more than PyTorch's blocked sums that set the reference's own error: a
# softmax over 4096 columns with a sequential row sum used 0.2 of a 1e-5 bound (issue 13, an
# honest softmax judged incorrect once in 12), and the drift grows with sqrt(n). At 3e-5 that
# softmax uses 0.09, and TF32, fp16 and bf16 products still exceed the bound many times over
# (benchmarks/false_incorrect.py, tests/evaluate/test_compare.py).
TOLERANCES = {
    "fp32": Tolerance(factor=16.0, norm_floor=1e-5, atol=1e-5, rtol=3e-5),
    "tf32": Tolerance(factor=16.0, norm_floor=5e-3, atol=2e-2, rtol=2e-2),
    "fp16": Tolerance(factor=16.0, norm_floor=5e-3, atol=2e-2, rtol=1e-2),
    "bf16": Tolerance(factor=16.0, norm_floor=2e-2, atol=6e-2, rtol=4e-2),
}
# When no float64 reference can be computed, the fp32 reference stands in with a wider floor.
_NO_FP64_FLOOR = 1e-4


@dataclass(frozen=True)
class Comparison:
    ok: bool
    detail: str  # where and how large the mismatch is, or a summary when ok
    rel_error: float  # normwise relative error against the float64 result
    # The worst share of its bound any error used (elementwise and normwise): above 1 fails. How
    # close honest candidates come to the bound, measured (benchmarks/false_incorrect.py).
    margin: float = 0.0
    ref_rel: float = 0.0  # the float32 reference's own normwise error against float64
    allowed_norm: float = 0.0  # the normwise error this policy allowed here


# Elements per step: the float64 temporaries of one step stay near a hundred MiB whatever the
# output's size (a 1 GiB float32 output compared at once needed about 20 GiB of device memory).
CHUNK = 1 << 24


# On a CPU, steps of 32 MiB of float64: under load each operation's threads wait for cores, and
# on the busy 2-core development machine (load 15) 2^24 elements took 9.5 s in steps of 2^18,
# 6.4-7.7 s of 2^20, 2.0-2.3 s of 2^22 and 1.9-2.5 s of 2^24 (the two-pass compare: 7.2-8.5 s).
_CPU_CHUNK = 1 << 22


def compare(cand: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor | None, precision: str,
            chunk: int | None = None) -> Comparison:
    """`ref` is the reference in its own dtype (TF32 off); `ref64` the same computation in float64.

    The usual case, every value finite and every element within its bound, takes one pass over
    the reference alone (its norm and its own error, which set the bounds) and one over the
    candidate (its error, each element's share of its bound); any other goes through
    `compare_exact`, whose verdict and detail it gives."""
    if cand.shape != ref.shape:
        return Comparison(False, f"shape {tuple(cand.shape)} != expected {tuple(ref.shape)}", float("inf"), float("inf"))
    if cand.dtype != ref.dtype:
        return Comparison(False, f"dtype {cand.dtype} != expected {ref.dtype}", float("inf"), float("inf"))
    if not ref.is_floating_point():
        bad = (cand != ref).sum().item()
        return Comparison(bad == 0, f"{bad} of {ref.numel()} elements differ" if bad else "exact", 0.0 if bad == 0 else 1.0)
    if chunk is None:
        chunk = _CPU_CHUNK if ref.device.type == "cpu" else CHUNK
    fast = _compare_finite(cand, ref, ref64, precision, chunk)
    return fast if fast is not None else compare_exact(cand, ref, ref64, precision, chunk)


def _compare_finite(cand: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor | None, precision: str,
                    chunk: int) -> Comparison | None:
    """`compare` where every value is finite and no element is out of its bound; None otherwise.
    The same sums and bounds as `compare_exact`, in fewer float64 temporaries, reused."""
    n = ref.numel()
    if n == 0:
        return None
    tol = TOLERANCES[precision]
    c_flat, q_flat = cand.reshape(-1), ref.reshape(-1)
    r_flat = (ref64 if ref64 is not None else ref).reshape(-1)
    f64 = {"dtype": torch.float64, "device": ref.device}
    a, b = torch.empty(min(chunk, n), **f64), torch.empty(min(chunk, n), **f64)
    # The reference alone: its norm, and its own error (float32 against float64), as sums.
    sums = torch.zeros(3, **f64)  # ref_sq, ref_err_sq, ref_err_max
    for lo in range(0, n, chunk):
        k = min(chunk, n - lo)
        r = _as64(r_flat[lo:lo + k], b[:k])
        e = torch.sub(_as64(q_flat[lo:lo + k], a[:k]), r, out=a[:k])
        sums[0] += torch.dot(r, r)
        sums[1] += torch.dot(e, e)
        sums[2] = torch.maximum(sums[2], e.abs_().max())
    ref_sq, ref_err_sq, ref_err_max = sums.tolist()
    if not all(map(math.isfinite, (ref_sq, ref_err_sq, ref_err_max))):
        return None  # a non-finite reference value (or a square that overflows): the exact path
    ref_norm = ref_sq ** 0.5
    scale = (ref_sq / n) ** 0.5
    floor = tol.norm_floor if ref64 is not None or precision != "fp32" else _NO_FP64_FLOOR
    ref_rel = ref_err_sq ** 0.5 / ref_norm if ref_norm > 0 else ref_err_sq ** 0.5
    allowed_norm = tol.factor * ref_rel + floor
    base = tol.factor * ref_err_max + tol.atol * scale + (_NO_FP64_FLOOR * scale if ref64 is None and precision == "fp32" else 0.0)
    # The candidate: its error's sum of squares, and each element's error over its bound.
    sums = torch.zeros(2, **f64)  # err_sq, the largest share of a bound
    for lo in range(0, n, chunk):
        k = min(chunk, n - lo)
        r = _as64(r_flat[lo:lo + k], b[:k])
        d = torch.sub(_as64(c_flat[lo:lo + k], a[:k]), r, out=a[:k])
        sums[0] += torch.dot(d, d)
        bound = torch.abs(r, out=b[:k]).mul_(tol.rtol).add_(base).clamp_min_(1e-300)
        sums[1] = torch.maximum(sums[1], d.abs_().div_(bound).max())
    err_sq, worst_share = sums.tolist()
    # A share of 1 or more may be an element out of its bound (the division rounds): the exact
    # path finds it and says where. A non-finite candidate value makes both sums non-finite.
    if not (math.isfinite(err_sq) and math.isfinite(worst_share)) or worst_share >= 1.0:
        return None
    rel = err_sq ** 0.5 / ref_norm if ref_norm > 0 else err_sq ** 0.5
    margin = max(rel / allowed_norm if allowed_norm > 0 else 0.0, worst_share)
    if rel > allowed_norm:
        return Comparison(False, f"normwise error {rel:.3g} exceeds {allowed_norm:.3g} "
                                 f"(the {precision} policy; the fp32 reference's own error is {ref_rel:.3g})",
                          rel, margin, ref_rel, allowed_norm)
    return Comparison(True, f"normwise error {rel:.3g} (allowed {allowed_norm:.3g})", rel, margin, ref_rel, allowed_norm)


def _as64(t: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """`t` as float64: itself when it is already, else converted into `buf`."""
    return t if t.dtype == torch.float64 else buf.copy_(t)


def compare_exact(cand: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor | None, precision: str,
                  chunk: int = CHUNK) -> Comparison:
    """`compare` for any values: two passes over the elements, `chunk` at a time, the first
    gathering the norms and the fp32 reference's worst error, the second checking every element
    against its bound and finding the worst; non-finite values counted and placed."""
    tol = TOLERANCES[precision]
    flat = (cand.reshape(-1), ref.reshape(-1), (ref64 if ref64 is not None else ref).reshape(-1))

    def steps():
        """Per chunk: (offset, positions of the finite reference elements or None when all are,
        candidate, fp32 ref, fp64 ref there, whether the non-finite reference values are matched)."""
        for lo in range(0, flat[0].numel(), chunk):
            c, q, r = (t[lo:lo + chunk].to(torch.float64) for t in flat)
            finite = torch.isfinite(r)
            if bool(finite.all()):
                yield lo, None, c, q, r, True
            else:
                # Non-finite reference values must be matched by non-finite candidate values (same kind).
                nf = ~finite
                matched = bool(((torch.isnan(c[nf]) & torch.isnan(r[nf])) | (c[nf] == r[nf])).all())
                yield lo, torch.nonzero(finite).reshape(-1), c[finite], q[finite], r[finite], matched

    # Pass 1: non-finite values, norms, the fp32 reference's own error.
    n_finite = n_bad = 0
    first_bad = None
    ref_sq = err_sq = ref_err_sq = ref_err_max = 0.0
    for lo, where, c, q, r, matched in steps():
        if not matched:
            return Comparison(False, "non-finite reference values (NaN/inf) not reproduced", float("inf"), float("inf"))
        n_finite += r.numel()
        bad = ~torch.isfinite(c)
        if bool(bad.any()):
            n_bad += int(bad.sum())
            if first_bad is None:
                k = int(torch.nonzero(bad)[0])
                first_bad = lo + (int(where[k]) if where is not None else k)
            continue
        ref_sq += float(r.pow(2).sum())
        err_sq += float((c - r).pow(2).sum())
        ref_err = (q - r).abs()
        ref_err_sq += float(ref_err.pow(2).sum())
        ref_err_max = max(ref_err_max, float(ref_err.max()) if ref_err.numel() else 0.0)
    if n_finite == 0:
        return Comparison(True, "no finite elements", 0.0)
    if n_bad:
        idx = _unravel(first_bad, cand.shape)
        return Comparison(False, f"{n_bad} of {n_finite} elements are NaN/inf where the reference is finite (first at {idx})", float("inf"), float("inf"))
    ref_norm = ref_sq ** 0.5
    scale = (ref_sq / n_finite) ** 0.5
    floor = tol.norm_floor if ref64 is not None or precision != "fp32" else _NO_FP64_FLOOR
    rel = err_sq ** 0.5 / ref_norm if ref_norm > 0 else err_sq ** 0.5
    ref_rel = ref_err_sq ** 0.5 / ref_norm if ref_norm > 0 else ref_err_sq ** 0.5
    allowed_norm = tol.factor * ref_rel + floor
    base = tol.factor * ref_err_max + tol.atol * scale + (_NO_FP64_FLOOR * scale if ref64 is None and precision == "fp32" else 0.0)
    # Pass 2: every element within its bound; the worst one is reported.
    n_over, worst = 0, None
    margin = rel / allowed_norm if allowed_norm > 0 else 0.0
    for lo, where, c, _, r, _ in steps():
        err = (c - r).abs()
        bound = base + tol.rtol * r.abs()
        if err.numel():
            margin = max(margin, float((err / bound.clamp_min(1e-300)).max()))
        over = err > bound
        if bool(over.any()):
            n_over += int(over.sum())
            k = int(torch.argmax(err - bound))
            excess = float(err[k] - bound[k])
            if worst is None or excess > worst[0]:
                worst = (excess, lo + (int(where[k]) if where is not None else k), float(c[k]), float(r[k]), float(err[k]), float(bound[k]))
    if worst is not None:
        _, at, got, want, e, b = worst
        return Comparison(
            False,
            f"{n_over} of {n_finite} elements out of tolerance; worst at {_unravel(at, cand.shape)}: got {got:.6g}, "
            f"expected {want:.6g} (|error| {e:.3g} > bound {b:.3g}); normwise error {rel:.3g}",
            rel, margin,
        )
    if rel > allowed_norm:
        return Comparison(False, f"normwise error {rel:.3g} exceeds {allowed_norm:.3g} "
                                 f"(the {precision} policy; the fp32 reference's own error is {ref_rel:.3g})",
                          rel, margin, ref_rel, allowed_norm)
    return Comparison(True, f"normwise error {rel:.3g} (allowed {allowed_norm:.3g})", rel, margin, ref_rel, allowed_norm)


# A timed output's projections (fingerprints.projection_parts) estimate its normwise distance from the
# float32 reference's; the estimate of K=6 projections exceeds the true distance 4-fold with
# probability below 1e-4 (worst case: an error of rank one) and falls under a tenth of it below
# 1e-3. So the bound is PROJECTION_SLACK times what the policy allowed on the correctness trials,
# plus the float32 reference's own error (it is the reference here): honest outputs, measured at
# under a tenth of that allowance, stay far inside; bf16 (some 300 times it) and TF32 (some 35
# times) fall far outside.
PROJECTION_SLACK = 4.0


def projection_error(got: list[float], want: list[float], norm: float) -> float:
    """The normwise distance the projections show, relative to the reference output's norm
    (inf where they cannot be compared: a different count, or non-finite values that differ)."""
    if len(got) != len(want):
        return math.inf
    if not all(math.isfinite(w) for w in want):  # the reference is not finite: only identity passes
        same = all((math.isnan(g) and math.isnan(w)) or g == w for g, w in zip(got, want))
        return 0.0 if same else math.inf
    if not all(math.isfinite(g) for g in got):
        return math.inf
    d = math.sqrt(sum((g - w) ** 2 for g, w in zip(got, want)) / max(1, len(want)))
    return d / norm if norm > 0 else (0.0 if d == 0 else math.inf)


def projection_allowance(allowed_norm: float, ref_rel: float) -> float:
    """What a timed output's projection error may reach, from the trials' normwise allowance."""
    return PROJECTION_SLACK * allowed_norm + ref_rel


def _unravel(flat: int, shape: torch.Size) -> tuple[int, ...]:
    """The index in a tensor of `shape` of its `flat`-th element."""
    idx = []
    for dim in reversed(list(shape) or [1]):
        idx.append(flat % dim)
        flat //= dim
    return tuple(reversed(idx))
