"""A copy of the reference evaluated by two trees (and more arms) in turn, on a machine made busy on purpose.

    python benchmarks/copy_ab.py --old /path/to/old/src --new src --runs 6 [--burners 2]
        [--trees old,new] [--arm NAME:VAR=V,...] [--keep FOLDER] [--detail N]

Each run evaluates the same copy (softmax_rows from the tests, `Model` renamed `ModelNew`) with
`kernelswarm eval --json` from each arm, rotating which goes first, with `--burners`
processes burning a core each for the whole run. Prints one JSON line per evaluation (tree,
verdict, speedup, interval, whether it contains 1, load) and a summary per tree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBLEM = Path(__file__).resolve().parent.parent / "tests" / "evaluate" / "problems" / "softmax_rows.py"


def _eval(src: str, copy: Path, cache: Path, problem: Path, extra: dict[str, str] | None = None) -> dict:
    env = {**os.environ, "KERNELSWARM_CACHE": str(cache), "PYTHONPATH": str(Path(src).resolve()), **(extra or {})}
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kernelswarm", "eval", str(problem), str(copy), "--device", "cpu",
                        "--json", "--timeout", "600"], capture_output=True, text=True, env=env, timeout=900, check=False)
    try:
        d = json.loads(r.stdout)
    except json.JSONDecodeError:
        return {"verdict": "no-json", "reason": (r.stderr or r.stdout)[-300:], "wall_s": time.monotonic() - t}
    d["wall_s"] = time.monotonic() - t
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the old tree's src folder")
    ap.add_argument("--new", required=True, help="the new tree's src folder")
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--problem", default=str(PROBLEM))
    ap.add_argument("--detail", type=int, default=0, help="where the interval misses 1: this many characters of the "
                    "wall-clock and resolution checks")
    ap.add_argument("--keep", default="", help="a folder for each evaluation's whole JSON")
    ap.add_argument("--trees", default="old,new", help="which of the trees run, in turn")
    ap.add_argument("--arm", action="append", default=[], metavar="NAME:VAR=V[,VAR=V]",
                    help="one more arm: the new tree (the old where NAME ends in @old) with these environment variables (repeatable)")
    args = ap.parse_args()
    problem = Path(args.problem)
    tmp = Path(tempfile.mkdtemp(prefix="copy_ab-"))
    copy = tmp / "copy.py"
    copy.write_text(problem.read_text().replace("class Model(", "class ModelNew("))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burners)]
    arms: dict[str, tuple[str, dict[str, str]]] = {"old": (args.old, {}), "new": (args.new, {})}
    for a in args.arm:
        name, _, spec = a.partition(":")
        src = args.old if name.endswith("@old") else args.new  # NAME@old: the old tree with these variables
        arms[name] = (src, dict(kv.split("=", 1) for kv in spec.split(",") if kv))
    names = [t for t in args.trees.split(",") if t] + [a.partition(":")[0] for a in args.arm]
    unknown = [t for t in names if t not in arms]
    if unknown or not names:
        sys.exit(f"copy_ab: no arm named {', '.join(unknown) or '(none given)'}; --trees takes old and new")
    rows: dict[str, list[dict]] = {name: [] for name in names}
    try:
        for i in range(args.runs):
            k = i % len(names)  # each run starts with the next arm: none always goes first
            for tree in names[k:] + names[:k]:
                load0 = os.getloadavg()[0]
                src, extra = arms[tree]
                d = _eval(src, copy, tmp / f"cache-{tree}", problem, extra)
                ci = d.get("speedup_ci")
                row = {"run": i, "tree": tree, "verdict": d.get("verdict"), "speedup": d.get("speedup"), "ci": ci,
                       "contains_1": bool(ci and ci[0] <= 1.0 <= ci[1]), "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
                       "wall_s": round(d["wall_s"], 1), "reason": (d.get("reason") or "")[:200]}
                if args.detail and not row["contains_1"]:  # what charged or capped it
                    row["checks"] = {c["name"]: c["detail"][:args.detail] for c in d.get("checks", [])
                                     if c["name"] in ("wall-clock", "resolution")}
                rows[tree].append(row)
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    (Path(args.keep) / f"{tree}-{i}.json").write_text(json.dumps(d))
                print(json.dumps(row), flush=True)
    finally:
        for p in burners:
            p.kill()
            p.wait()
    for tree, rs in rows.items():
        if not rs:
            continue
        ok = sum(r["contains_1"] for r in rs)
        acc = sum(r["verdict"] == "accepted" for r in rs)
        sp = sorted(r["speedup"] for r in rs if r["speedup"])
        print(json.dumps({"tree": tree, "evaluations": len(rs), "accepted": acc, "interval_contains_1": ok,
                          "speedups": sp}), flush=True)


if __name__ == "__main__":
    main()
