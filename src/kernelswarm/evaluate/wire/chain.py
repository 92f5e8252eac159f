"""The keys of a burst's calls, each chained to the call before it. Standard library only.

A burst (timing.burst_check) times many calls in one request by the parent's wall clock, and the
worker sees the whole request at once: with every call's inputs known up front, a hostile worker
could compute them all together (one batched launch, or threads of its own) and make its bursts
fast where each call alone is not, and the bursts' time would then vouch for a speed no single
call has. So each call's key (which draws its inputs, tensors.perturb) is the request's key for it
mixed with the fingerprint the previous call returned: no call's inputs exist before the previous
call's outputs do. Both sides derive the keys alike, the parent from the fingerprints the burst
returned, so a burst call chosen for the fingerprint check is checked on its chained inputs, and
a call computed from any other key fails it."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def chain_key(key: int, previous: Any) -> int:
    """The key of a burst call whose request key is `key`, after a call that returned the
    fingerprint `previous` (as sent over the channel: a JSON value), as a 62-bit integer."""
    data = json.dumps([int(key), previous], allow_nan=True).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 2


def chained_keys(keys: list[int], fingerprints: list[Any]) -> list[int]:
    """Every call's key in a burst of requests `keys` that returned `fingerprints` (the first
    call's is its own)."""
    return [k if n == 0 else chain_key(k, fingerprints[n - 1]) for n, k in enumerate(keys)]
