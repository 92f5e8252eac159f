"""Reading the adversarial fixtures: each candidate file states the verdicts it must get.

A line `# kernelswarm-test: problem=NAME verdict=V [check=C] [kind=K] [precision=P] [timeout=S]
[static=off] [strict] [slow] [forks] [sandbox] [device=cuda]
[max_speedup=X] [calls=N] [min_timing=S] [bf16]` is one scenario; a file may have several. `calls` raises
the cap on timed calls (the evaluator times short calls on a noisy machine until a timing lie
would stand out); `min_timing` asks for at least S seconds of timed calls, so that the timing runs
to that cap (a cheat that waits for the calls after the minimum count is then reached).
`sandbox`: the verdict relies on the write sandbox (skipped where the kernel has no Landlock).
`bf16`: the cheat acts only where this CPU computes a float32 matrix product in bfloat16 under
`torch.set_float32_matmul_precision("medium")` (AVX-512 BF16 or AMX); elsewhere the flag changes
nothing, the candidate is the reference, and the verdict it must get is `accepted`.
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
    bf16: bool = False  # the cheat needs a CPU whose float32 product drops to bfloat16 under "medium"

    def expected(self) -> tuple[tuple[str, ...], str | None]:
        """The verdicts this machine must give, and the check that must fail."""
        if self.bf16 and self.device == "cpu" and not cpu_bf16_matmul():
            return ("accepted",), None
        return self.verdicts, self.check

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
                min_timing=float(kv.get("min_timing", 0.0)), bf16="bf16" in flags,
            ))
    return [s for s in found if s.device == device]



_BF16: list[bool] = []


def cpu_bf16_matmul() -> bool:
    """Whether a float32 matrix product on this CPU changes under "medium" precision (run once,
    in a child process, so this process's precision setting is never touched)."""
    if not _BF16:
        import subprocess
        import sys

        probe = (
            "import torch; g = torch.Generator().manual_seed(0); a = torch.randn(256, 256, generator=g); "
            "b = torch.randn(256, 256, generator=g); r = a @ b; torch.set_float32_matmul_precision('medium'); "
            "print(int(not torch.equal(a @ b, r)))"
        )
        out = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=300)
        _BF16.append(out.returncode == 0 and out.stdout.strip() == "1")
    return _BF16[0]


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
