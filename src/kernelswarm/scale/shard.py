"""`--shard K/N`: one of N deterministic, disjoint parts of a problem list (a Slurm array task).

The split depends only on the problems themselves (level, then name), not on the order a folder
or glob listed them in, so N invocations on N machines cover the list exactly once. Problems are
dealt in turn, so each shard gets a share of every level.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class _Named(Protocol):
    name: str
    level: int | None


P = TypeVar("P", bound=_Named)


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based: shard 1/4 is the first of four
    count: int

    @staticmethod
    def parse(text: str) -> Shard:
        """'K/N' with 1 <= K <= N; ValueError with a one-line reason otherwise."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not m:
            raise ValueError(f"--shard {text!r}: expected K/N, e.g. 1/4 (shards are numbered from 1)")
        k, n = int(m.group(1)), int(m.group(2))
        if n < 1 or not 1 <= k <= n:
            raise ValueError(f"--shard {text!r}: K must be between 1 and N (shards are numbered from 1)")
        return Shard(k, n)

    def take(self, problems: Sequence[P]) -> list[P]:
        """This shard's problems, in the split's order."""
        ordered = sorted(problems, key=lambda p: (p.level if p.level is not None else 0, p.name))
        return ordered[self.index - 1::self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
