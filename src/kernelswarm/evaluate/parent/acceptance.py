"""What stands between outputs that match and an accepted verdict, and the figures it carries: the
speed-of-light and wall-clock checks of the candidate's times, its label (kind), torch.compile's
time in its window, the speedups' intervals, and what the wall clock vouches for of them."""

from __future__ import annotations

import dataclasses
import os

from kernelswarm import intervals
from kernelswarm.evaluate.parent import burstvouch, timing, wallclock
from kernelswarm.evaluate.parent.kind import label_of
from kernelswarm.evaluate.parent.state import State
from kernelswarm.records import Evaluation, Kind, Timing, Verdict


def plausible(st: State, ct: timing.CandidateTiming, spec: dict) -> None:
    cand = ct.timing
    floor = spec.get("floor_ms")
    if floor is not None:
        if cand.median_ms < floor:
            raise st.fail(Verdict.REJECTED, "speed-of-light", f"median {cand.median_ms:.4g} ms is below the physical floor {floor:.4g} ms")
        sol = spec.get("sol_ms") or floor
        st.ok("speed-of-light", f"median {cand.median_ms:.4g} ms >= floor {floor:.4g} ms; {sol / cand.median_ms:.0%} of speed of light ({sol:.4g} ms)")
    else:
        st.ok("speed-of-light", "floor not available: " + spec.get("floor_error", "unknown"))
    if not ct.wall_ok and ct.undecided:  # no lie shown, and no claim to stand on: judged again elsewhere
        v = st.fail(Verdict.TIMEOUT, "wall-clock", f"{ct.wall_detail}; the machine may be too busy to time it")
        v.noise_sensitive = True
        raise v
    if not ct.wall_ok:
        v = st.fail(Verdict.REJECTED, "wall-clock", ct.wall_detail)
        v.noise_sensitive = ct.noise_sensitive
        raise v
    if ct.unchecked:  # neither a lie nor a claim to stand on: the load (or a slow call) used the time
        v = st.fail(Verdict.TIMEOUT, "wall-clock", "no time was left to check the claimed times in bursts "
                    f"({ct.wall_detail}); the machine may be too busy for this time limit")
        v.noise_sensitive = True
        raise v
    st.ok("wall-clock", ct.wall_detail)


def label(st: State, ct: timing.CandidateTiming, source: str | None = None) -> Kind:
    kind, detail = label_of(ct, st.options.device, source)
    st.ok("kind", detail)
    return kind



def in_window(pair: tuple[Timing, Timing], reference: Timing) -> Timing:
    """torch.compile's time in the candidate's window: its ratio to eager (timed side by side in
    `pair`), times the eager median of this window."""
    eager, compiled = pair
    scale = reference.median_ms / eager.median_ms
    if compiled.samples:
        return Timing.from_samples([t * scale for t in compiled.samples])
    return dataclasses.replace(compiled, **{k: getattr(compiled, k) * scale
                                            for k in ("median_ms", "mean_ms", "min_ms", "p10_ms", "p90_ms")})


def speedup_intervals(ev: Evaluation, pair: tuple[Timing, Timing] | None) -> None:
    """The speedups' intervals, from the paired samples (kernelswarm.intervals)."""
    ref, cand = ev.reference, ev.candidate
    if not (ref and cand and ref.samples and len(ref.samples) == len(cand.samples)):
        return
    ev.speedup_ci = intervals.ratio_ci(ref.samples, cand.samples)
    if pair is not None and pair[0].samples and len(pair[0].samples) == len(pair[1].samples):
        eager, compiled = pair
        ev.speedup_vs_compile_ci = intervals.chained_ci([(ref.samples, cand.samples), (compiled.samples, eager.samples)])


# KERNELSWARM_VOUCH=0: the claims counted as charged, however little the wall clock resolved
# (the behaviour before session 14), for before-and-after measurements on other devices: on a GPU
# a short call's per-call clock may resolve less than its gain (see wallclock.vouch).
VOUCH = os.environ.get("KERNELSWARM_VOUCH", "1") != "0"
# KERNELSWARM_BURST_VOUCH=0: the per-call clock vouches alone (before session 15), for comparison.
BURST_VOUCH = os.environ.get("KERNELSWARM_BURST_VOUCH", "1") != "0"


def vouch(st: State, ev: Evaluation, ct: timing.CandidateTiming) -> None:
    """A speedup counted only as far as the wall clock can confirm it (wallclock.vouch): the
    interval's low end goes down to what it vouches for (the decision follows: undecided where
    the clock cannot resolve the claimed gain), and a claimed gain beyond that, and beyond 1, is
    not counted. After the speed-of-light check, which judges the claims themselves."""
    ref, cand = ev.reference, ev.candidate
    if not (ref and cand and cand.samples and ct.resolution) or not VOUCH:
        return
    bursts = burstvouch.merged(ct.bursts) if BURST_VOUCH else None
    v = wallclock.vouch(ref.median_ms, ct.claimed_ms, cand.median_ms, ct.resolution,
                        burstvouch.bound_ms(bursts), burstvouch.detail(bursts) if bursts else "")
    st.ok("resolution", v.detail)
    if ev.speedup_ci is not None:
        ev.speedup_ci = (min(ev.speedup_ci[0], v.vouched), ev.speedup_ci[1])
    if ev.speedup_vs_compile_ci is not None and ev.compiled is not None:
        low = v.vouched * ev.compiled.median_ms / ref.median_ms
        ev.speedup_vs_compile_ci = (min(ev.speedup_vs_compile_ci[0], low), ev.speedup_vs_compile_ci[1])
    if v.cap > 1.0:
        ev.candidate = Timing.from_samples([t * v.cap for t in cand.samples])

