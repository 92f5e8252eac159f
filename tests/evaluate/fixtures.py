"""Reading the adversarial fixtures: each candidate file states the verdicts it must get.

A line `# kernelswarm-test: problem=NAME verdict=V [check=C] [kind=K] [precision=P] [timeout=S]
[static=off] [strict] [slow] [forks] [sandbox] [device=cuda]
[max_speedup=X] [calls=N] [min_timing=S]` is one scenario; a file may have several. `calls` raises
the cap on timed calls (the evaluator times short calls on a noisy machine until a timing lie
would stand out); `min_timing` asks for at least S seconds of timed calls, so that the timing runs
to that cap (a cheat that waits for the calls after the minimum count is then reached).
`sandbox`: the verdict relies on the write sandbox (skipped where the kernel has no Landlock).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
CANDIDATES = HERE / "candidates"
PROBLEMS = HERE / "problems"


@dataclass(frozen=True)
class Scenario:
    path: Path
    problem: str
    verdicts: tuple[str, ...]
    check: str | None
    kind: str | None
    precision: str
    timeout: float
    static: bool
    strict: bool
    slow: bool
    forks: bool
    device: str = "cpu"
    max_speedup: float | None = None  # an upper bound on an honest-but-tricky candidate's speedup
    calls: int | None = None  # cap on timed calls, when the test default is too low for the scenario
    sandbox: bool = False  # the verdict relies on the write sandbox (Landlock)
    min_timing: float = 0.0  # seconds of timed calls at least (up to the cap)

    @property
    def id(self) -> str:
        extra = [k for k, on in (("strict", self.strict), ("nostatic", not self.static)) if on]
        extra += [self.precision] if self.precision != "fp32" else []
        return "/".join([self.path.parent.name, self.path.stem] + extra)


def scenarios(folder: str, device: str = "cpu") -> list[Scenario]:
    found = []
    for path in sorted((CANDIDATES / folder).glob("*.py")):
        for line in path.read_text().splitlines():
            if not line.startswith("# kernelswarm-test:"):
                continue
            words = line.split(":", 1)[1].split()
            kv = dict(w.split("=", 1) for w in words if "=" in w)
            flags = {w for w in words if "=" not in w}
            found.append(Scenario(
                path=path, problem=kv["problem"], verdicts=tuple(kv["verdict"].split("|")), check=kv.get("check"),
                kind=kv.get("kind"), precision=kv.get("precision", "fp32"), timeout=float(kv.get("timeout", 240)),
                static=kv.get("static", "on") != "off", strict="strict" in flags, slow="slow" in flags, forks="forks" in flags,
                device=kv.get("device", "cpu"), max_speedup=float(kv["max_speedup"]) if "max_speedup" in kv else None,
                calls=int(kv["calls"]) if "calls" in kv else None, sandbox="sandbox" in flags,
                min_timing=float(kv.get("min_timing", 0.0)),
            ))
    return [s for s in found if s.device == device]



def running_with(pid: int, needle: bytes) -> bool:
    """Whether a thread of `pid` still runs with `needle` among its environment's entries. A
    zombie (Z) whose main thread exited while other threads go on (`pthread_exit`) counts, as it
    does for the evaluator (contain.session_states); its own /proc entry shows no environment
    then, so each thread's is read."""
    import os

    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
            with open(f"/proc/{pid}/task/{tid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    return True
        except OSError:
            continue
    return False
