"""Fixture candidates' verdicts and costs, an old source tree beside this one in one run (issue 14's
structured trial: the verdicts before and after, and what the trial adds to an evaluation).

    git archive BASE src | tar -x -C OLD                  # the old tree: main before the change
    PYTHONPATH=src python benchmarks/structured_verdicts.py --old OLD/src [--rounds 2] [--device cpu]

Each round runs, for each tree in turn (the order alternating round by round), one process that
evaluates each candidate with the fixture tests' options (tests/evaluate/test_fixtures.py: one
thread, 10 to 20 timed calls on a CPU, 100 to 200 on a GPU) against the problem its first header
line of the device names. Prints one JSON line per evaluation and a markdown table: verdict, wall
seconds, and the phases the trial adds to (`trials`: the candidate's; `check`: the clean workers').
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ROOT / "tests" / "evaluate" / "candidates"
DEFAULT = ("cheat/constant_row_softmax,cheat/tied_max_softmax,cheat/train_padding_rows,correct/stable_softmax,"
           "correct/argmax_last_tie,correct/standardize_one_pass,correct/train_same_ops,correct/same_ops")

_CHILD = r"""
import json, sys, time
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.problems.load import load_problem
device, problems = sys.argv[1], Path(sys.argv[2])
for item in sys.argv[3].split(","):
    path = Path(sys.argv[4]) / f"{item}.py"
    header = [l for l in path.read_text().splitlines() if l.startswith("# kernelswarm-test:")
              and ("device=cuda" in l) == (device != "cpu")][0]
    problem = load_problem(problems / (dict(w.split("=", 1) for w in header.split(":", 1)[1].split() if "=" in w)["problem"] + ".py"))
    cpu = device == "cpu"
    opts = EvalOptions.for_device(device, timed_calls=10 if cpu else 100, max_timed_calls=20 if cpu else 200,
                                  min_timing_s=0.0, cpu_threads=1)
    t = time.monotonic()
    ev = evaluate(problem, path.read_text(), opts)
    print(json.dumps({"candidate": item, "verdict": ev.verdict.value, "reason": ev.reason[:160],
                      "wall_s": ev.wall_s, "outer_s": time.monotonic() - t, "phases": ev.phases_s,
                      "speedup": ev.speedup}), flush=True)
"""


def _run(tree: Path, device: str, items: str, locks: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree), "KERNELSWARM_LOCK_DIR": locks}
    proc = subprocess.run([sys.executable, "-c", _CHILD, device, str(ROOT / "tests" / "evaluate" / "problems"), items,
                           str(CANDIDATES)], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"{tree}: exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _table(rows: list[dict], items: list[str]) -> str:
    phases = ("trials", "check")
    lines = ["| candidate | tree | n | verdicts | wall s | " + " | ".join(f"{p} s" for p in phases) + " |",
             "|---|---|---|---|---|" + "---|" * len(phases)]
    for item in items:
        for path in ("old", "new"):
            rs = [r for r in rows if r["candidate"] == item and r["path"] == path]
            if not rs:
                continue
            verdicts = ", ".join(sorted({r["verdict"] + (f" {r['speedup']:.2f}x" if r.get("speedup") else "") for r in rs}))
            cells = [statistics.median(r["phases"].get(p, 0.0) for r in rs) for p in phases]
            lines.append(f"| `{item}` | {path} | {len(rs)} | {verdicts} | {statistics.median(r['wall_s'] for r in rs):.1f} | "
                         + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the old tree's src folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--candidates", default=DEFAULT, help="comma list of FOLDER/NAME under tests/evaluate/candidates")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if not (a.old / "kernelswarm").is_dir():
        raise SystemExit(f"--old {a.old}: no kernelswarm package there")
    trees = {"old": a.old.resolve(), "new": ROOT / "src"}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ks-structured-") as locks:
        for r in range(a.rounds):
            for path in (("old", "new") if r % 2 == 0 else ("new", "old")):
                for row in _run(trees[path], a.device, a.candidates, locks):
                    row.update(path=path, round=r)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    table = _table(rows, a.candidates.split(","))
    print(table)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "structured_verdicts.json").write_text(json.dumps(rows, indent=1))
        (a.out / "structured_verdicts.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
