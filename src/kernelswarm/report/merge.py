"""Several stores reported as one run: the shards of one sweep (`kernelswarm run --shard K/N`),
each written to its own store, joined problem by problem."""

from __future__ import annotations

import dataclasses

from kernelswarm.machine import SAME_MACHINE_KEYS
from kernelswarm.report.data import ReportData


class MergeError(ValueError):
    """The stores cannot form one run: other devices or libraries, or a problem in two of them."""


def merge_reports(parts: list[ReportData], labels: list[str]) -> ReportData:
    """One ReportData over `parts` (one per store; `labels` name them, e.g. 'a.db run 3').

    Speedups are only comparable when every part was timed on the same kind of device with the
    same libraries, so parts that differ in any of machine.SAME_MACHINE_KEYS are refused; so is a
    problem present in two parts (which of its results would stand?)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    seen: dict[str, str] = {}
    for part, label in zip(parts, labels):
        if part.device != first.device:
            raise MergeError(f"{label} ran on {part.device}, {labels[0]} on {first.device}: not one run")
        for key in SAME_MACHINE_KEYS:
            a, b = first.versions.get(key), part.versions.get(key)
            if a and b and a != b:
                raise MergeError(f"{label} has {key} {b}, {labels[0]} has {a}: their timings cannot be compared")
        for p in part.problems:
            if p.name in seen:
                raise MergeError(f"problem {p.name} is in both {seen[p.name]} and {label}")
            seen[p.name] = label
    costs: dict[str, tuple[int, int, float]] = {}
    for part in parts:
        for agent, (tin, tout, usd) in part.costs.items():
            a, b, c = costs.get(agent, (0, 0, 0.0))
            costs[agent] = (a + tin, b + tout, c + usd)
    versions = {k: v for part in reversed(parts) for k, v in part.versions.items()}  # the first part wins
    # Every shard's evaluations and timing seconds (the device line), not the first shard's alone.
    timing = (sum(part.timing[0] for part in parts), sum(part.timing[1] for part in parts))
    waits = (sum(part.lock_waits[0] for part in parts), sum(part.lock_waits[1] for part in parts))
    finished = all(p.status == "finished" for p in parts)
    return dataclasses.replace(
        first,
        title=f"kernelswarm: {len(parts)} stores as one run ({', '.join(labels)})",
        versions=versions,
        problems=sorted((p for part in parts for p in part.problems),
                        key=lambda p: (p.level if p.level is not None else 0, p.name)),
        run_id=None,
        status="finished" if finished else next(p.status for p in parts if p.status != "finished"),
        started_at=min(p.started_at for p in parts),
        finished_at=max(p.finished_at or "" for p in parts) if finished else None,
        costs=costs,
        timing=timing,
        lock_waits=waits,
    )
