"""An evaluation's wall time and phases, an old source tree beside this one in one run (issue 16).

    git archive BASE src | tar -x -C /tmp/old            # the old path: main before the change
    PYTHONPATH=src python benchmarks/eval_wall.py --old /tmp/old/src --out OUT
    PYTHONPATH=src python benchmarks/eval_wall.py --old /tmp/old/src --device cuda --out OUT

Each round runs, for the old tree and then this one (the order alternating round by round), one
process that evaluates a copy of each problem's reference (ModelNew = Model: accepted at about
1x) in turn: its first evaluation starts everything (the zygote, torch), the later ones are warm.
`--candidate slower`: the copy runs the reference's forward twice a call (accepted at about
0.5x: a candidate that cannot win, as most proposals are). `ms/call` is the timing phase over
the timed calls: what each timed call costs the evaluation, its requests and stops included.
Prints one JSON line per evaluation and a markdown table of medians; writes OUT/eval_wall.json
and OUT/eval_wall.md. `wall_s` is the evaluation's own (ev.wall_s, the device lock already
held); locks live in a folder of this run's own, so that other kernelswarm processes on the
machine do not queue into the figures (they still share its cores).
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
DEFAULT = {"cpu": "level1/argmax,level1/softmax,level1/matmul_square,level1/layer_norm",
           "cuda": "level1/argmax,level1/softmax,level1/matmul_square,level1/layer_norm,level1/conv2d"}

# Run in the child, under the tree's own PYTHONPATH: nothing of the other tree is imported.
_CHILD = r"""
import json, re, sys, time
from pathlib import Path
from kernelswarm.evaluate import EvalOptions, evaluate
from kernelswarm.problems.load import load_problem
import kernelswarm
suite = Path(kernelswarm.__file__).parent / "problems" / "suite"
SLOWER = ("\n\n_Copy = ModelNew\n\n\nclass ModelNew(_Copy):\n    def forward(self, *args):\n"
          "        super().forward(*args)\n        return super().forward(*args)\n")
for name in sys.argv[2].split(","):
    problem = load_problem(suite / f"{name}.py")
    source = re.sub(r"\bclass Model\(", "class ModelNew(", problem.source)
    if sys.argv[3] == "slower":
        source += SLOWER
    t = time.monotonic()
    ev = evaluate(problem, source, EvalOptions.for_device(sys.argv[1]))
    print(json.dumps({"problem": name, "verdict": ev.verdict.value, "reason": ev.reason[:200],
                      "outer_s": time.monotonic() - t, "wall_s": ev.wall_s, "phases": ev.phases_s,
                      "calls": ev.candidate.n if ev.candidate else 0,
                      "speedup": ev.speedup, "versions": ev.versions}), flush=True)
"""


def _run(tree: Path, device: str, problems: str, locks: str, limit_s: float | None = None,
         candidate: str = "copy") -> list[dict]:
    """One process of `tree` evaluating `problems` in turn; stopped after `limit_s` (what it
    finished by then counts)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "KERNELSWARM_LOCK_DIR": locks}
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, device, problems, candidate], env=env, capture_output=True,
                              text=True, check=False, timeout=limit_s)
        out, code, err = proc.stdout, proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        code, err = "stopped at --limit", ""
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if code != 0:
        print(f"{tree}: exited {code}: {err.strip().splitlines()[-1:]}", file=sys.stderr)
    return rows


def _table(rows: list[dict], problems: list[str]) -> str:
    phases = ["start", "trials", "candidate.run", "timing", "collect", "check", "reference.check", "reference.fingerprints",
              "reference.prepare", "candidate.prepare", "candidate.time_call", "candidate.project"]
    lines = ["| problem | path | n | verdicts | speedup | wall s | " + " | ".join(phases)
             + " | timed calls | ms/call | timing share |",
             "|---|---|---|---|---|---|" + "---|" * len(phases) + "---|---|---|"]
    for name in problems:
        for path in ("old", "new"):
            rs = [r for r in rows if r["problem"] == name and r["path"] == path]
            if not rs:
                continue
            wall = statistics.median(r["wall_s"] for r in rs)
            cells = [statistics.median(r["phases"].get(p, 0.0) for r in rs) for p in phases]
            calls = statistics.median(r["calls"] for r in rs)
            share = statistics.median(r["phases"].get("timing", 0.0) / r["wall_s"] for r in rs)
            per_call = statistics.median(1000.0 * r["phases"].get("timing", 0.0) / max(1, r["calls"]) for r in rs)
            verdicts = ",".join(sorted({r["verdict"] for r in rs}))
            speedups = ",".join(f"{r['speedup']:.2f}" for r in rs if r.get("speedup") is not None) or "-"
            lines.append(f"| {name} | {path} | {len(rs)} | {verdicts} | {speedups} | {wall:.1f} | "
                         + " | ".join(f"{c:.1f}" for c in cells) + f" | {calls:.0f} | {per_call:.1f} | {share:.0%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the old tree's src folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--problems", default="", help="comma list of bundled problems (default: the device's four or five)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--candidate", choices=("copy", "slower"), default="copy",
                    help="copy: the reference renamed (about 1x); slower: its forward run twice a call (about 0.5x)")
    ap.add_argument("--limit", type=float, default=None, help="seconds at most for each process (one tree, one round)")
    ap.add_argument("--fresh-counts", action="store_true",
                    help="remove the cached FLOP and byte counts (work.json) before each process: every tree counts "
                         "each problem's work itself, as a first evaluation of it does (the peaks stay cached)")
    args = ap.parse_args()
    if not (args.old / "kernelswarm").is_dir():
        print(f"--old {args.old}: no kernelswarm package there", file=sys.stderr)
        sys.exit(2)
    problems = args.problems or DEFAULT.get(args.device.split(":")[0], DEFAULT["cuda"])
    trees = {"old": args.old.resolve(), "new": ROOT / "src"}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ks-eval-wall-") as locks:
        for r in range(args.rounds):
            for path in (("old", "new") if r % 2 == 0 else ("new", "old")):
                if args.fresh_counts:
                    cache = Path(os.environ.get("KERNELSWARM_CACHE") or Path.home() / ".cache" / "kernelswarm")
                    (cache / "work.json").unlink(missing_ok=True)
                for i, row in enumerate(_run(trees[path], args.device, problems, locks, args.limit, args.candidate)):
                    row.update(path=path, round=r, warm=i > 0 or len(problems.split(",")) == 1)
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "versions"}), flush=True)
    table = _table(rows, problems.split(","))
    v = rows[0]["versions"] if rows else {}
    note = (f"\n\nDevice: {v.get('device_name', args.device)}, torch {v.get('torch')}; candidate: {args.candidate}; "
            f"medians over {args.rounds} rounds "
            f"(the first problem of each process also starts the zygote: its `start` phase; `warm` in the JSON).")
    print(table + note)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "eval_wall.json").write_text(json.dumps(rows, indent=1))
        (args.out / "eval_wall.md").write_text(table + note + "\n")


if __name__ == "__main__":
    main()
