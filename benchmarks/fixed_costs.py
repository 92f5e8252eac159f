"""Fixed costs of an evaluation, old tree beside new in one run, alternated (issue 16).

    PYTHONPATH=src python benchmarks/fixed_costs.py --old OLD/src [--elements 67108864] [--device cpu] \
        [--parts stops,compare,transfer]

1. Stop and continue of a contained worker (`contain.signal_session`, around every timed call):
   a worker in a PID namespace of its own with three spinning children (one left its group, one
   an orphan), stopped and continued `--cycles` times by a scan of the machine's /proc (the old
   way) and through the namespace's own /proc (parent/members.py), alternated in blocks of 10.
2. The check of one large output (`compare.compare`, every correctness trial's): a float32
   output of `--elements` values (a relu's, the reference's own and its float64 result) compared
   by the old tree's compare.py and this tree's, alternated, `--repeats` each.
3. A large output between processes and its fingerprint (each tree in a process of its own,
   alternated, `--repeats` each after one unmeasured): `send` is the worker's `tensors.to_blob` of
   a relu's output of `--elements` float32 values on `--device` (the trials' and kept outputs'
   way to the parent), `receive` the clean worker's `tensors.from_blob` of it, the tensor moved to
   the device and summed (every byte read, as the check reads it); `fingerprint` is
   `fingerprints.fingerprint` of that output (every trial's and every timed call's, both workers').

Prints a markdown table (median and spread per way) and one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

_FAMILY = r"""
import os, time
def spin():
    while True:
        pass
if os.fork() == 0:
    os.setpgid(0, 0)
    spin()
if os.fork() == 0:
    if os.fork() == 0:
        spin()
    os._exit(0)
if os.fork() == 0:
    spin()
time.sleep(3600)
"""


def stop_continue(cycles: int) -> dict[str, list[float]]:
    from kernelswarm.evaluate.parent import members
    from kernelswarm.evaluate.worker import contain

    r, w = os.pipe()
    proc = subprocess.Popen(contain.launch_argv([sys.executable, "-c", _FAMILY], w, []), pass_fds=(w,),
                            start_new_session=True)
    os.close(w)
    size = struct.unpack("<QQ", os.read(r, 16))[0]
    report = json.loads(os.read(r, size))
    os.close(r)
    out: dict[str, list[float]] = {"scan of the machine's /proc": [], "the namespace's /proc": []}
    try:
        if report.get("contain") != "pid-namespace":
            raise SystemExit(f"no PID namespace here: {report}")
        time.sleep(1.0)
        view = members.NamespaceView(int(report["init"]))
        ways = [(k, v) for k, v in zip(out, (None, view))]
        for block in range(cycles // 10):
            for name, how in ways if block % 2 == 0 else ways[::-1]:
                for _ in range(10):
                    t = time.perf_counter()
                    contain.signal_session(proc.pid, signal.SIGSTOP, members=how)
                    contain.signal_session(proc.pid, signal.SIGCONT, members=how)
                    out[name].append(1000 * (time.perf_counter() - t))
        view.close()
    finally:
        os.kill(int(report.get("init", proc.pid)), signal.SIGKILL)
        proc.kill()
        proc.wait()
    return out


def compares(old_src: Path, elements: int, repeats: int, device: str) -> dict[str, list[float]]:
    import torch

    from kernelswarm.evaluate.worker import compare as new

    spec = importlib.util.spec_from_file_location("old_compare", old_src / "kernelswarm/evaluate/worker/compare.py")
    old = importlib.util.module_from_spec(spec)
    sys.modules["old_compare"] = old
    spec.loader.exec_module(old)
    torch.manual_seed(0)
    x = torch.randn(elements, device=device)
    ref, ref64 = torch.relu(x), torch.relu(x.double())
    cand = torch.relu(x.clone())
    out: dict[str, list[float]] = {"old compare": [], "new compare": []}
    for i in range(repeats):
        for name, mod in ((("old compare", old), ("new compare", new)) if i % 2 == 0 else
                          (("new compare", new), ("old compare", old))):
            t = time.perf_counter()
            res = mod.compare(cand, ref, ref64, "fp32")
            if device != "cpu":
                torch.cuda.synchronize()
            out[name].append(1000 * (time.perf_counter() - t))
            assert res.ok, (name, res)
    return out


_TRANSFER = r"""
import json, sys, time, torch
from kernelswarm.evaluate.worker import tensors as T
try:
    from kernelswarm.evaluate.worker.fingerprints import fingerprint
except ImportError:  # a tree before session 19's split of tensors.py
    fingerprint = T.fingerprint
n, device, repeats = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
y = torch.relu(torch.randn(n, device=device))
sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
out = {"send": [], "receive": [], "fingerprint": []}
for i in range(repeats + 1):
    sync()
    t0 = time.perf_counter()
    blob = T.to_blob([y])
    t1 = time.perf_counter()
    c = T.from_blob(blob)[0].to(device)
    s = float(c.sum())
    sync()
    t2 = time.perf_counter()
    fp = fingerprint([y])
    t3 = time.perf_counter()
    assert s == s and fp[0] == fp[0]
    del c
    getattr(blob, "close", lambda: None)()
    if i:
        for k, v in zip(out, (t1 - t0, t2 - t1, t3 - t2)):
            out[k].append(1000 * v)
print(json.dumps(out))
"""


def transfers(old_src: Path, elements: int, repeats: int, device: str, rounds: int = 2) -> dict[str, list[float]]:
    """Part 3: each tree's send, receive and fingerprint, in processes of their own, alternated."""
    new_src = Path(__file__).resolve().parents[1] / "src"
    out: dict[str, list[float]] = {}
    for r in range(rounds):
        for name, src in (("old", old_src), ("new", new_src))[::1 if r % 2 == 0 else -1]:
            env = {**os.environ, "PYTHONPATH": str(src.resolve())}
            res = subprocess.run([sys.executable, "-c", _TRANSFER, str(elements), device, str(repeats)], env=env,
                                 capture_output=True, text=True, check=True)
            for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items():
                out.setdefault(f"{name} {k}", []).extend(v)
    return dict(sorted(out.items(), key=lambda kv: (kv[0].split()[1], kv[0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="the old tree's src folder")
    ap.add_argument("--cycles", type=int, default=400)
    ap.add_argument("--elements", type=int, default=1 << 26)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--parts", default="stops,compare,transfer", help="which of the three parts to measure")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    nproc = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    rows = {**(stop_continue(a.cycles) if "stops" in parts else {}),
            **(compares(a.old, a.elements, a.repeats, a.device) if "compare" in parts else {}),
            **(transfers(a.old, a.elements, a.repeats, a.device) if "transfer" in parts else {})}
    print(f"{nproc} processes in /proc; load {os.getloadavg()[0]:.1f}; {a.elements} elements on {a.device}\n")
    print("| what | n | median ms | min ms | max ms |\n|---|---|---|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {len(v)} | {statistics.median(v):.3f} | {min(v):.3f} | {max(v):.3f} |")
    print(json.dumps({"processes": nproc, "load": os.getloadavg()[0], "elements": a.elements, "device": a.device,
                      **{k: statistics.median(v) for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
