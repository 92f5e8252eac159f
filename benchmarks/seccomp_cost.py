"""What the candidate's seccomp filter costs a CUDA process's host work (issue 13: a copy's claims
and unclaimed time ran above the reference's on the H200, and only the candidate's worker is
filtered).

    PYTHONPATH=src python benchmarks/seccomp_cost.py [--device cuda] [--n 3000]

In one fresh process: a tiny kernel launched and waited for (`x.add_(1)` then a whole-device
synchronize), a small matrix product's launch and wait, `os.getppid()`, and a pipe round trip
with a child, each timed N times (median and p90 microseconds), before and after
`confine.deny_escapes()` (the filter itself, without Landlock or capabilities). The process's
speculation-control lines from /proc/self/status are printed on each side, with the kernel's
/sys/devices/system/cpu/vulnerabilities entries.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path


def _quantiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"median_us": round(statistics.median(s), 2), "p90_us": round(s[int(0.9 * (len(s) - 1))], 2)}


def measure(device: str, n: int) -> dict[str, dict[str, float]]:
    import torch

    clock = time.perf_counter
    out: dict[str, dict[str, float]] = {}
    x = torch.zeros(1024, device=device)
    a = torch.randn(256, 256, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    cases = {
        "tiny kernel + synchronize": lambda: (x.add_(1.0), sync()),
        "256^2 matmul + synchronize": lambda: (a @ a, sync()),
        "os.getppid()": os.getppid,
    }
    for name, fn in cases.items():
        for _ in range(50):
            fn()
        samples = []
        for _ in range(n):
            t = clock()
            fn()
            samples.append(1e6 * (clock() - t))
        out[name] = _quantiles(samples)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:  # the echo child
        os.close(w1)
        os.close(r2)
        while True:
            b = os.read(r1, 1)
            if not b:
                os._exit(0)
            os.write(w2, b)
    os.close(r1)
    os.close(w2)
    samples = []
    for i in range(n + 50):
        t = clock()
        os.write(w1, b"x")
        os.read(r2, 1)
        if i >= 50:
            samples.append(1e6 * (clock() - t))
    os.close(w1)
    os.close(r2)
    os.waitpid(pid, 0)
    out["pipe round trip (a child echoes)"] = _quantiles(samples)
    return out


def speculation() -> list[str]:
    return [line.strip() for line in Path("/proc/self/status").read_text().splitlines() if "Specul" in line]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n", type=int, default=3000)
    a = ap.parse_args()
    from kernelswarm.evaluate.worker import confine

    vuln = {p.name: p.read_text().strip() for p in sorted(Path("/sys/devices/system/cpu/vulnerabilities").glob("*"))
            if p.name in ("spectre_v2", "spec_store_bypass", "retbleed", "spectre_v1")}
    measure(a.device, a.n // 3)  # warm-up: the first pass pays for lazy loading
    before = {"status": speculation(), "timings": measure(a.device, a.n)}
    detail = confine.deny_escapes()
    after = {"status": speculation(), "timings": measure(a.device, a.n), "filter": detail}
    again = measure(a.device, a.n)
    print(json.dumps({"vulnerabilities": vuln, "before": before, "after": after, "after_again": again}, indent=1))


if __name__ == "__main__":
    main()
