"""The quick start's main job, an old source tree beside this one in one run (issue 16).

    git archive a47e2b9 src | tar -x -C /tmp/old     # the tree issue 16 was filed against
    PYTHONPATH=src python benchmarks/main_job.py --old /tmp/old/src --rounds 3 --out OUT
    # two trees neither of which is this checkout: --old A/src --new B/src

`python3 quickstart.py run` is `kernelswarm run` with its defaults inside the quick start's
environment; each round runs exactly that once per tree (the order alternating round by round),
each in a fresh folder with a fresh store and a fresh cache folder (KERNELSWARM_CACHE: the
screen, the peak rates and the baselines are all measured, as on a first run) and a device-lock
folder of this benchmark's own (other kernelswarm processes on the machine do not queue into
the figures; they still share its cores). Every output line is stamped with the seconds since
the start, so a run's timeline (baselines, screen, each candidate) can be read back; each
stored evaluation's phases come from the store. Writes OUT/main_job.json and OUT/main_job.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(tree: Path, locks: str, timeout_s: float) -> dict:
    """One `kernelswarm run` (the defaults) with `tree` on the path; its wall, load and timeline."""
    with tempfile.TemporaryDirectory(prefix="ks-mainjob-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(tree), "KERNELSWARM_LOCK_DIR": locks,
               "KERNELSWARM_CACHE": str(Path(tmp) / "cache")}
        load = os.getloadavg()[0]
        lines: list[tuple[float, str]] = []
        t = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "kernelswarm", "run"], cwd=tmp, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((round(time.monotonic() - t, 1), line.rstrip()))
            if time.monotonic() - t > timeout_s:
                proc.kill()
        rc = proc.wait()
        wall = time.monotonic() - t
        evs = _evaluations(Path(tmp) / "kernelswarm.db")
    return {"wall_s": round(wall, 1), "rc": rc, "load_before": load, "load_after": os.getloadavg()[0],
            "timeline": lines, "evaluations": evs,
            "device_line": next((x for _, x in lines if x.startswith("device:")), "")}


def _evaluations(db: Path) -> list[dict]:
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT data FROM evaluations ORDER BY candidate_id").fetchall()
    finally:
        con.close()
    out = []
    for (data,) in rows:
        ev = json.loads(data)
        out.append({"problem": ev["problem"], "verdict": ev["verdict"], "wall_s": round(ev["wall_s"], 2),
                    "speedup": ev.get("speedup"), "phases_s": ev.get("phases_s")})
    return out


def _table(rows: list[dict]) -> str:
    lines = [("| path | runs | wall s (each) | median wall s | load (start) | evaluations | eval wall summed s |"
              " timing summed s | trials + checks + collect summed s | verdicts |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for path in ("old", "new"):
        rs = [r for r in rows if r["path"] == path]
        if not rs:
            continue
        walls = [r["wall_s"] for r in rs]
        loads = [r["load_before"] for r in rs]
        evs = [e for r in rs for e in r["evaluations"]]
        verdicts: dict[str, int] = {}
        for e in evs:
            verdicts[e["verdict"]] = verdicts.get(e["verdict"], 0) + 1
        timing = statistics.median(sum((e["phases_s"] or {}).get("timing", 0.0) for e in r["evaluations"]) for r in rs)
        ev_wall = statistics.median(sum(e["wall_s"] for e in r["evaluations"]) for r in rs)
        fixed = statistics.median(sum(sum((e["phases_s"] or {}).get(k, 0.0) for k in ("trials", "check", "collect"))
                                      for e in r["evaluations"]) for r in rs)
        lines.append(f"| {path} | {len(rs)} | {', '.join(f'{w:.0f}' for w in walls)} | {statistics.median(walls):.0f} | "
                     f"{', '.join(f'{x:.1f}' for x in loads)} | {len(evs) / len(rs):.0f} | {ev_wall:.0f} | "
                     f"{timing:.0f} | {fixed:.0f} | {', '.join(f'{k} {v}' for k, v in sorted(verdicts.items()))} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the old tree's src folder")
    ap.add_argument("--new", type=Path, default=ROOT / "src", help="the new tree's src folder (default: this one's)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--paths", default="old,new", help="which trees, in the first round's order")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per main job")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    for flag, tree in (("--old", args.old), ("--new", args.new)):
        if not (tree / "kernelswarm").is_dir():
            print(f"{flag} {tree}: no kernelswarm package there", file=sys.stderr)
            sys.exit(2)
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    order = [p for p in args.paths.split(",") if p]
    if not order or any(p not in trees for p in order):
        print(f"--paths {args.paths}: a comma list of old, new", file=sys.stderr)
        sys.exit(2)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ks-mainjob-locks-") as locks:
        for r in range(args.rounds):
            for path in (order if r % 2 == 0 else order[::-1]):
                row = {"path": path, "round": r, **run_once(trees[path], locks, args.timeout)}
                rows.append(row)
                print(f"round {r} {path}: {row['wall_s']:.1f} s (rc {row['rc']}, load {row['load_before']:.1f} -> "
                      f"{row['load_after']:.1f}); {row['device_line']}", flush=True)
                (args.out / "main_job.json").write_text(json.dumps(rows, indent=1))
    table = _table(rows)
    print(table)
    (args.out / "main_job.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
