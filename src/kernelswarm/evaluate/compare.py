"""Judging a candidate's output against a float64 result, under a precision policy.

The default policy (fp32) accepts what a faithful float32 implementation produces: its error
against float64 may not exceed a small multiple of the float32 reference's own error, plus a
floor. Reordering a sum passes; computing in TF32, bf16 or fp16 does not. Reduced-precision
policies are explicit (`--precision`) and use documented, scale-relative tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    factor: float  # allowed multiple of the fp32 reference's own error
    norm_floor: float  # normwise error floor, relative to ||ref||
    atol: float  # elementwise floor, relative to rms(ref)
    rtol: float  # elementwise floor, relative to |ref_i|


TOLERANCES = {
    "fp32": Tolerance(factor=16.0, norm_floor=1e-5, atol=1e-5, rtol=1e-5),
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


def compare(cand: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor | None, precision: str) -> Comparison:
    """`ref` is the reference in its own dtype (TF32 off); `ref64` the same computation in float64."""
    if cand.shape != ref.shape:
        return Comparison(False, f"shape {tuple(cand.shape)} != expected {tuple(ref.shape)}", float("inf"))
    if cand.dtype != ref.dtype:
        return Comparison(False, f"dtype {cand.dtype} != expected {ref.dtype}", float("inf"))
    if not ref.is_floating_point():
        bad = (cand != ref).sum().item()
        return Comparison(bad == 0, f"{bad} of {ref.numel()} elements differ" if bad else "exact", 0.0 if bad == 0 else 1.0)
    tol = TOLERANCES[precision]
    r = (ref64 if ref64 is not None else ref).to(torch.float64)
    q = ref.to(torch.float64)
    c = cand.to(torch.float64)
    finite = torch.isfinite(r)
    # Non-finite reference values must be matched by non-finite candidate values (same kind).
    if not bool(finite.all()):
        nf = ~finite
        same = (torch.isnan(c[nf]) & torch.isnan(r[nf])) | (c[nf] == r[nf])
        if not bool(same.all()):
            return Comparison(False, "non-finite reference values (NaN/inf) not reproduced", float("inf"))
    c, r, q = c[finite], r[finite], q[finite]
    if c.numel() == 0:
        return Comparison(True, "no finite elements", 0.0)
    if not bool(torch.isfinite(c).all()):
        idx = _flat_index(cand.shape, finite, ~torch.isfinite(c))
        n = int((~torch.isfinite(c)).sum())
        return Comparison(False, f"{n} of {c.numel()} elements are NaN/inf where the reference is finite (first at {idx})", float("inf"))
    ref_norm = float(r.norm())
    scale = float(r.pow(2).mean().sqrt())
    err = (c - r).abs()
    ref_err = (q - r).abs()
    floor = tol.norm_floor if ref64 is not None or precision != "fp32" else _NO_FP64_FLOOR
    rel = float(err.norm()) / ref_norm if ref_norm > 0 else float(err.norm())
    ref_rel = float(ref_err.norm()) / ref_norm if ref_norm > 0 else float(ref_err.norm())
    allowed_norm = tol.factor * ref_rel + floor
    bound = tol.factor * float(ref_err.max()) + tol.atol * scale + tol.rtol * r.abs()
    if ref64 is None and precision == "fp32":
        bound = bound + _NO_FP64_FLOOR * scale
    over = err > bound
    if bool(over.any()):
        worst = int(torch.argmax(err - bound))
        idx = _flat_index(cand.shape, finite, None, worst)
        n = int(over.sum())
        return Comparison(
            False,
            f"{n} of {c.numel()} elements out of tolerance; worst at {idx}: got {float(c[worst]):.6g}, "
            f"expected {float(r[worst]):.6g} (|error| {float(err[worst]):.3g} > bound {float(bound[worst]):.3g}); "
            f"normwise error {rel:.3g}",
            rel,
        )
    if rel > allowed_norm:
        return Comparison(False, f"normwise error {rel:.3g} exceeds {allowed_norm:.3g} "
                                 f"(the {precision} policy; the fp32 reference's own error is {ref_rel:.3g})", rel)
    return Comparison(True, f"normwise error {rel:.3g} (allowed {allowed_norm:.3g})", rel)


def _flat_index(shape: torch.Size, finite: torch.Tensor, mask: torch.Tensor | None, pos: int | None = None) -> tuple[int, ...]:
    """Map a position among the finite elements back to an index in the full tensor."""
    finite_positions = torch.nonzero(finite.reshape(-1)).reshape(-1)
    if pos is None:
        pos = int(torch.nonzero(mask)[0]) if mask is not None and bool(mask.any()) else 0
    flat = int(finite_positions[pos])
    idx = []
    for dim in reversed(list(shape) or [1]):
        idx.append(flat % dim)
        flat //= dim
    return tuple(reversed(idx))
