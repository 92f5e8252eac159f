"""Why a timing stopped where it did: the timed calls' stop rule replayed on an evaluation's own
calls (issue 16: the same copy of layer_norm needed 110 timed calls on the H200 in one run and 290
in another).

    PYTHONPATH=src python benchmarks/call_wall.py --old OLD/src --device cuda --out call_wall.json
    PYTHONPATH=src python benchmarks/stop_rule.py call_wall.json

call_wall.py keeps, per timed loop, the calls' claims and unclaimed ms as the stop rule saw them
(`windows`) and every request's parent-side ms (`each`). This replays the rule of this tree
(timed_loop.done: wallclock.can_stop and the interval's `decided`, or `cannot_win`) on each
prefix the loop looked at (every CI_EVERY calls past the minimum) and prints, per window, the
first look at which each part held:

- claims: the claims against the empty calls settled (can_stop's first part);
- paired: the unclaimed time against the paired reference calls' settled (its second part),
  as `precise` (its error within WALL_PRECISION of the claims) or `clear` (the excess and its
  error within the fixed allowance);
- decided: the claims' paired interval no longer too wide; cannot_win: wholly below 1;
- stop: the rule as the loop applies it (its look at the window's last call is the loop's stop);
- paired offset, stop with offsets: a candidate rule replayed only (`offset_clear`), not the library's.

and, at the window's last call, the paired check's terms (ms): the median of the pairs'
differences, its error (PAIRED_Z standard errors), the fixed allowance, the claims' median, the
differences' spread (MAD), the judge's error with load's persistence counted, the differences'
medians over ten consecutive batches (alike in all ten: an offset of the two sides' requests, not
load) and the unclaimed time beyond the empty calls'; and
which requests' wall times spread the most (median absolute deviation, ms): what the paired
differences' spread, and so the count of calls, is made of. The bootstrap is random: a replayed
`decided` can differ from the loop's own look by a call's worth of luck. Exit 0.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from kernelswarm.evaluate.parent import timed_loop, wallclock
from kernelswarm.evaluate.parent.candidate_timing import NULL_EVERY
from kernelswarm.evaluate.parent.wallclock import (
    PAIRED_FLOOR_MS,
    PAIRED_REL,
    PAIRED_Z,
    WALL_PRECISION,
    _median_error,
    median,
)


def parts(w: dict, n: int) -> dict[str, bool]:
    """The stop rule's parts on the window's first `n` calls (the empty calls made by then)."""
    times, slack = w["times"][:n], w["slack"][:n]
    ref_times, ref_slack = w["ref_times"][:n], w["ref_slack"][:n]
    null_slack = w["null_slack"][:3 + n // NULL_EVERY]
    ref_ms = median(ref_times) if ref_times else 0.0
    both = wallclock.can_stop(times, slack, null_slack, ref_slack, ref_ms)
    claims = claims_settled(times, slack, null_slack, ref_slack)
    p = paired_terms(times, slack, ref_slack, ref_ms)
    precise = p["error"] <= WALL_PRECISION * p["claim"]
    clear = abs(p["excess"]) + p["error"] <= p["fixed"]
    decided = bool(ref_times) and timed_loop.decided(ref_times, times)
    cannot = bool(ref_times) and timed_loop.cannot_win(ref_times, times)
    # A candidate rule, replayed only (not the library's): an offset of the differences below the
    # fixed part that every batch shows alike counts as clear (see offset_clear).
    diffs = [c - r for c, r in zip(slack, ref_slack)]
    offset = offset_clear(diffs, p["error"], p["fixed"])
    alt_claims = claims or offset_clear(diffs, p["error"], claims_fixed(times, slack, null_slack))
    alt = (alt_claims and (precise or clear or offset) and decided) or cannot
    return {"claims": claims, "paired precise": precise, "paired clear": clear, "can_stop": both,
            "decided": decided, "cannot_win": cannot, "stop": (both and decided) or cannot,
            "paired offset": offset, "stop with offsets": alt}


def offset_clear(diffs: list[float], error: float, fixed: float) -> bool:
    """A candidate stop rule, for measurement: the paired differences' medians in each of ten
    consecutive batches, plus the whole window's error, within the fixed part. can_stop reads a
    median far below zero as load on one side, under which a lie hides, and waits for precision;
    an offset alike in every batch is the two sides' requests differing instead (the clean side's
    longer), which more calls do not move, and against which the judge's verdict (one-sided: no
    charge) is the same at any count. Its safety is not shown: the timing cheats' fixtures would
    have to keep their verdicts under it first."""
    batches = batch_medians(diffs)
    return len(batches) >= 4 and max(batches) + error <= fixed


def claims_fixed(times: list[float], slack: list[float], null_slack: list[float]) -> float:
    if len(null_slack) < 3 or not times:
        return 0.0
    return wallclock.allowance(times, slack, null_slack) - wallclock._statistical(slack, null_slack)


def claims_settled(times: list[float], slack: list[float], null_slack: list[float], ref_slack: list[float]) -> bool:
    """can_stop's first part: the claims against the empty calls, as it reads them."""
    if len(null_slack) < 3 or not times:
        return False
    stat = wallclock._statistical(slack, null_slack)
    error = max(stat, wallclock.WALL_Z * math.hypot(_median_error(slack), _median_error(null_slack)))
    fixed = wallclock.allowance(times, slack, null_slack) - stat
    diffs = [c - r for c, r in zip(slack, ref_slack)] if len(ref_slack) == len(slack) else []
    return (wallclock.precise_enough(times, slack, null_slack)
            or wallclock._settled(median(slack) - median(null_slack), error, fixed, median(times))
            or (bool(diffs) and abs(median(diffs)) + PAIRED_Z * _median_error(diffs) <= fixed))


def paired_terms(times: list[float], slack: list[float], ref_slack: list[float], ref_ms: float) -> dict[str, float]:
    diffs = [c - r for c, r in zip(slack, ref_slack)]
    if not diffs:
        return {"excess": math.nan, "error": math.inf, "fixed": 0.0, "claim": median(times) if times else 0.0, "mad": math.nan}
    m = median(diffs)
    return {"excess": m, "error": PAIRED_Z * _median_error(diffs), "fixed": max(PAIRED_FLOOR_MS, PAIRED_REL * ref_ms),
            "claim": median(times), "mad": median([abs(d - m) for d in diffs])}


def first_looks(w: dict) -> tuple[dict[str, int | None], int]:
    """Per part, the first look (a call count) at which it held; and the looks' count."""
    first: dict[str, int | None] = {}
    looks = list(range(w["timed_calls"], len(w["times"]) + 1, timed_loop.CI_EVERY))
    looks = [n for n in looks if n % timed_loop.CI_EVERY == 0]
    for n in looks:
        for k, v in parts(w, n).items():
            if v and first.get(k) is None:
                first[k] = n
    return first, len(looks)


def batch_medians(diffs: list[float]) -> list[float]:
    """The paired differences' medians in wallclock.PERSIST_BATCHES consecutive batches: one
    offset in all of them is structural (the two sides' requests differ), not load."""
    b = len(diffs) // wallclock.PERSIST_BATCHES
    return [median(diffs[i * b:(i + 1) * b]) for i in range(wallclock.PERSIST_BATCHES)] if b >= 2 else []


def mad(xs: list[float]) -> float:
    m = median(xs)
    return median([abs(x - m) for x in xs])


def report(rows: dict[str, list[dict]]) -> str:
    keys = ["claims", "paired precise", "paired clear", "can_stop", "decided", "cannot_win", "stop", "paired offset",
            "stop with offsets"]
    out = ["| tree | problem | window | calls | " + " | ".join(f"first {k}" for k in keys)
           + " | diffs median | error | fixed | claim | diffs MAD | persistent error | batch medians | beyond empty calls |",
           "|---|---|---|---|" + "---|" * len(keys) + "---|---|---|---|---|---|---|---|"]
    spreads = ["| tree | problem | request | count | median ms | MAD ms |", "|---|---|---|---|---|---|"]
    for tree, rs in rows.items():
        for r in rs:
            for i, w in enumerate(r.get("windows") or []):
                if not w["times"]:
                    continue
                first, _ = first_looks(w)
                n = len(w["times"])
                ref_ms = median(w["ref_times"]) if w["ref_times"] else 0.0
                t = paired_terms(w["times"], w["slack"], w["ref_slack"], ref_ms)
                cells = " | ".join("-" if first.get(k) is None else str(first[k]) for k in keys)
                diffs = [c - r for c, r in zip(w["slack"], w["ref_slack"])]
                batches = batch_medians(diffs)
                spread = f"{min(batches):.2f}..{max(batches):.2f}" if batches else "-"
                persistent = PAIRED_Z * wallclock._persistent_error(diffs) if len(diffs) >= 3 else math.nan
                empty = median(w["slack"]) - median(w["null_slack"]) if w["null_slack"] else math.nan
                out.append(f"| {tree} | {r['problem']} | {i} | {n} | {cells} | {t['excess']:.3f} | {t['error']:.3f} | "
                           f"{t['fixed']:.3f} | {t['claim']:.3f} | {t['mad']:.3f} | {persistent:.3f} | {spread} | {empty:.3f} |")
            each = r.get("each") or {}
            for k in sorted(each, key=lambda k: -mad(each[k]) if each[k] else 0.0):
                xs = each[k]
                if len(xs) >= 10 and any(s in k for s in ("prepare", "time_call", "project", "flush", "settle")):
                    spreads.append(f"| {tree} | {r['problem']} | {k} | {len(xs)} | {median(xs):.3f} | {mad(xs):.3f} |")
    return "\n".join(out) + "\n\n" + "\n".join(spreads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("call_wall", type=Path, help="call_wall.py's --out file")
    a = ap.parse_args()
    rows = json.loads(a.call_wall.read_text())
    print("## the stop rule replayed per window (first look at which each part held)\n")
    print(report(rows))


if __name__ == "__main__":
    main()
