"""What a candidate's timing records: its timed calls (each checked by its projections, a uniform
sample of them in full), the pooled inputs' seeds, and what each clock found (timing.py)."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from kernelswarm.evaluate.parent import burstvouch, wallclock
from kernelswarm.records import Timing

POOL_SIZE = 3  # distinct base input sets; every call still gets its own perturbed contents
NULL_EVERY = 2  # one calibration call in the clean worker after every NULL_EVERY timed calls
# Outputs collected and fully checked: this share of the minimum count of timed calls, drawn
# uniformly from all of them (reservoir_slot)...
SAMPLED_SHARE = 0.25
MIN_SAMPLED, MAX_SAMPLED = 4, 24  # ...within these bounds; every call is checked by its projections
SAMPLED_BYTES = 512 * 1024 * 1024  # and, beyond the minimum, at most this many output bytes copied back


def fresh_seed() -> int:
    return secrets.randbits(62)


@dataclass
class CheckedCall:
    """A timed or burst call whose output the clean worker recomputes and checks (judge.timed_calls)."""

    pool_index: int
    key: int
    fingerprint: list[float]  # the magnitude sums the worker reported right on return
    label: str
    project_seed: int = 0  # seed of the projection vectors, sent only after the call returned
    projections: list[list[float]] | None = None  # per output, as the worker reported them

    def as_message(self) -> dict[str, Any]:
        return {"pool_index": self.pool_index, "key": self.key, "fingerprint": self.fingerprint, "label": self.label,
                "project_seed": self.project_seed, "projections": self.projections}


def as_projections(value: Any) -> list[list[float]]:
    """A worker's projections, parsed here: anything but lists of numbers is none at all (the
    reference check then fails the call)."""
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        return []
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for v in value for x in v):
        return []
    return [[float(x) for x in v] for v in value]


def reservoir_slot(i: int, k: int, rng: random.Random) -> int | None:
    """Where call `i` goes in a uniform sample of `k` among all calls so far (None: not kept), so
    that every timed call, the last included, may be checked in full, decided after it returned."""
    if i < k:
        return i
    j = rng.randrange(i + 1)
    return j if j < k else None


@dataclass
class CandidateTiming:
    timing: Timing
    pending: list[tuple[str, dict[str, Any], bytes]] = field(default_factory=list)  # sampled outputs to check
    kept: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # sampled, still in the worker
    custom_share: float = 0.0  # share of profiled work in the candidate's own kernels
    profile_skipped: str = ""  # why its worker was not asked for a profiled call (the label): nothing to find
    ip_samples: Any = None  # ipsample.Samples of its timed calls, taken by the parent (CPU only)
    ip_own_share: float | None = None  # their share in code from its own folder (None: not sampled)
    ip_note: str = ""  # why its timed calls were not sampled
    ip_blocked: bool = False  # the clean worker could be sampled and the candidate's could not
    timed_ext_share: float | None = None  # share of timed calls that called its extension (CPU only)
    timed_ext_time_share: float | None = None  # share of the timed calls' time inside its extension (CPU only)
    ran: list[str] = field(default_factory=list)  # what the profiler saw, most time first
    defined: list[str] = field(default_factory=list)  # kernels the source defines
    wall_ok: bool = True  # claimed times agree with the parent's wall clock
    wall_detail: str = ""
    charged: float = 1.0  # factor applied to the claimed times where the wall clock showed more
    threads_left: bool = False  # a timed call returned with Python threads still running
    pool_seeds: list[int] = field(default_factory=list)
    weight_seed: int = 0
    calls: list[CheckedCall] = field(default_factory=list)  # every timed call, and sampled burst calls
    settled_ms: float = 0.0  # waited before timing for other processes' queued device work to drain
    # Unclaimed ms inside the worker per call (its reported op time less the claimed time), for
    # the report only: the candidate's figure is its own claim, the clean worker's is trusted.
    inside: list[float] = field(default_factory=list)
    null_inside: list[float] = field(default_factory=list)
    flush_ms: list[float] = field(default_factory=list)  # the clean worker's flushes before timed calls
    reference: Timing | None = None  # the reference, timed call by call beside the candidate
    ref_times: list[float] = field(default_factory=list)  # its calls, in order: ref_times[i] beside call i
    ref_slack: list[float] = field(default_factory=list)  # their unclaimed wall ms, as `slack` is the candidate's
    # A rejection by the clocks that load could have caused (claims against wall time, bursts), as
    # opposed to a structural one (a claim longer than its call's wall time, missing fingerprints).
    noise_sensitive: bool = False
    # No time was left for the bursts (BURST_TIME_LEFT): the claims were not checked in bursts, so
    # they cannot stand (acceptance.plausible: a timeout, judged again where the machine has more time).
    unchecked: bool = False
    remeasured: int = 0  # how many times a clock's verdict of a lie was measured again
    # The per-call clock saw unclaimed time its CPU time shows was a wait, in the window that stood:
    # neither a lie nor claims to stand on (acceptance.plausible: undecided, never accepted).
    undecided: bool = False
    # The per-call wall clock's view of the window that stood: what the speedup's confirmation
    # allows for (wallclock.vouch). None: not timed.
    resolution: wallclock.Resolution | None = None
    claimed_ms: float = 0.0  # the claimed median of that window, before any charge
    bursts: list[burstvouch.BurstView] = field(default_factory=list)  # each burst check's view of it
    # On a CPU (cputime.py): the threads each worker may use (0: no CPU-time check), the
    # candidate's processes' CPU ms read while stopped before each timed call of this window, and
    # the clean worker's CPU ms over each paired reference call's prepare and call.
    cpu_threads: int = 0
    cpu_marks: list[float] = field(default_factory=list)
    ref_cpu: list[float] = field(default_factory=list)
    ref_stops: list[int] = field(default_factory=list)  # the clean worker's stops within each ref_cpu
    stop_marks: list[int] = field(default_factory=list)  # the candidate's stops so far, at each mark
    stop_ms: float = 0.0  # CPU ms a stop and continue costs the clean worker (cputime.stop_cost_ms)
    # Beside each of cpu_marks, the candidate's threads' run delay so far (ms waiting for a core),
    # and the clean worker's CPU ms over each empty call's prepare and call, with its stops there
    # (what the requests themselves cost in CPU): cputime.waited's readings.
    delay_marks: list[float] = field(default_factory=list)
    null_cpu: list[float] = field(default_factory=list)
    null_stops: list[int] = field(default_factory=list)
