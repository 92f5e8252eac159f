"""A candidate's label, its first profiled call in a fresh process, an old source tree beside this
one (issue 16: the label took 5-6 s of the candidate's worker on the H200, 4.4-5.9 s on a 2-core CPU).

    git archive BASE src | tar -x -C .old18        # the old path
    PYTHONPATH=src python benchmarks/label_start.py --old .old18/src --device cuda

Each round starts one process per tree, in turn (the old first in even rounds): torch imported,
the device's first call made, then `labels.profile_call` of a small matmul and relu timed as the
worker's `label` does it, and whether torch._inductor was imported by then. Prints a markdown
table to stdout; exit 0 whatever it finds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, time
import torch
from kernelswarm.evaluate.worker.labels import profile_call
device = torch.device(sys.argv[1])
a = torch.randn(1024, 1024, device=device)
(a @ a).relu().sum().item()  # the device started, as in a worker after its timed calls
t = time.perf_counter()
share, ran = profile_call(lambda: (a @ a).relu(), device, set(), None)
print(json.dumps({"label_s": time.perf_counter() - t, "inductor": "torch._inductor" in sys.modules, "ran": ran[:3]}))
"""


def _once(tree: Path, device: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", _CHILD, device], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="the old tree's src folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if not (a.old / "kernelswarm").is_dir():
        sys.exit(f"--old {a.old}: no kernelswarm package there")
    trees = {"old": a.old.resolve(), "new": ROOT / "src"}
    print(f"## the first profiled call in a fresh process ({a.device}; old = {a.old})\n")
    print("| round | tree | label s | torch._inductor imported | top |")
    print("|---|---|---|---|---|")
    for r in range(a.rounds):
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            row = _once(trees[name], a.device)
            if "error" in row:
                print(f"| {r} | {name} | | | {row['error'][:200]} |", flush=True)
                continue
            print(f"| {r} | {name} | {row['label_s']:.2f} | {row['inductor']} | {', '.join(row['ran'])} |", flush=True)


if __name__ == "__main__":
    main()
