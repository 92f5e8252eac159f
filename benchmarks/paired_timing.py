"""Paired timing on a busy machine: a copy of the reference must measure 1 within its interval,
no honest fixture may be rejected, and what pairing costs per evaluation.

    python benchmarks/paired_timing.py --device cpu --limit 12 --busy 2 --out OUT [--before-src DIR]
    python benchmarks/paired_timing.py --device cuda --limit 20 --out OUT
    python benchmarks/paired_timing.py --device cuda --problems argmax,tests/evaluate/problems/matmul_big.py \
        --before-src OLD/src --out OUT     # chosen copies, this tree and an older one alternately
    python benchmarks/paired_timing.py --wins-from DB [--wins-from DB2 ...] --out OUT

Identical candidates: each chosen bundled problem (at the device's sizes, spread over levels 1-3)
is evaluated against a copy of itself (`class Model` renamed `ModelNew`), under the device's
default options, while `--busy N` processes burn a core each (started and stopped by this
script). Each row: verdict, speedup, its interval, whether the interval contains 1, the
evaluation's wall time and its timing phases. With `--before-src DIR` (a checkout's `src` from
before paired timing, e.g. `git archive 3ebfe31 src | tar -x -C /tmp/before`), each evaluation is
also run by that code right after, under the same load, for the cost side by side. `--fixtures`
adds the honest fixtures (tests/evaluate/candidates/correct) for the device, also under load.

`--wins-from`: over stores of `run`s (e.g. benchmarks/swarm_builtin.py's), the problems whose
fastest accepted candidate beat the faster baseline by its point estimate (the old rule's
"wins"), and the share of those whose interval clears 1 + 0.02 (the new rule's wins).

Every evaluation runs in its own process with PYTHONPATH set to the source tree under test, so
the two versions never share a process. Writes OUT/paired_timing.json and OUT/paired_timing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
FIXTURES = ROOT / "tests" / "evaluate"


def one(problem: str, candidate: str, device: str, timeout: float) -> None:
    """In the child: evaluate and print the Evaluation's JSON (whatever version is on sys.path)."""
    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.problems.load import load_problem

    ev = evaluate(load_problem(problem), Path(candidate).read_text(), EvalOptions.for_device(device, timeout_s=timeout))
    d = ev.to_dict()
    for t in ("reference", "candidate", "compiled"):  # the samples are long; the figures are enough here
        if d.get(t):
            d[t].pop("samples", None)
    print(json.dumps(d))


def _child(src: Path, problem: Path, candidate: Path, device: str, timeout: float) -> dict:
    rest = os.environ.get("PYTHONPATH")  # the tree under test first; what else was there (e.g. pydantic) after it
    env = {**os.environ, "PYTHONPATH": str(src) + (os.pathsep + rest if rest else "")}
    started = time.monotonic()
    r = subprocess.run([sys.executable, __file__, "--one", str(problem), str(candidate), "--device", device,
                        "--timeout", str(timeout)], capture_output=True, text=True, env=env, timeout=timeout + 300)
    wall = time.monotonic() - started
    try:
        d = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"verdict": "error", "reason": (r.stderr.strip().splitlines() or ["?"])[-1][:200], "process_s": wall}
    phases = d.get("phases_s", {})
    ci = d.get("speedup_ci")
    return {
        "verdict": d["verdict"], "reason": d["reason"][:800], "speedup": d.get("speedup"), "speedup_ci": ci,
        "contains_1": (ci[0] <= 1.0 <= ci[1]) if ci else None,
        "reference_ms": d.get("reference_ms"), "candidate_ms": d.get("candidate_ms"),
        "calls": (d.get("candidate") or {}).get("n"), "wall_s": d.get("wall_s"), "process_s": wall,
        "timing_s": sum(phases.get(k, 0.0) for k in ("timing", "baseline", "intervals")),
        "phases_s": phases,
    }


def pick(device: str, limit: int) -> list:
    """`limit` bundled problems spread evenly over levels 1-3 (by name within each level)."""
    from kernelswarm.problems.suite import resolve_problems

    chosen = []
    per = {1: 0.5, 2: 0.3, 3: 0.2}
    for level, share in per.items():
        problems, _ = resolve_problems([], level=level)
        problems.sort(key=lambda p: p.name)
        k = max(1, round(share * limit))
        step = len(problems) / k
        chosen += [problems[int(i * step)] for i in range(min(k, len(problems)))]
    return chosen[:limit]


def identical(problem, folder: Path) -> Path:
    path = folder / f"{problem.name}_copy.py"
    path.write_text(problem.source.replace("class Model(", "class ModelNew("))
    return path


def burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def chosen(names: str) -> list:
    """`--problems`: bundled problem names or paths of problem files, comma-separated."""
    from kernelswarm.problems.load import load_problem
    from kernelswarm.problems.suite import resolve_problems

    out = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        out += [load_problem(Path(name))] if Path(name).is_file() else resolve_problems([name])[0]
    return out


def cases(a: argparse.Namespace, work: Path) -> list[tuple[str, Path, Path]]:
    out = []
    problems = chosen(a.problems) if a.problems else pick(a.device, a.limit)
    index, count = a.shard
    for p in problems[index::count]:
        out.append((f"{p.name} / copy", p.path, identical(p, work)))
    if a.fixtures:
        sys.path.insert(0, str(FIXTURES))
        from fixtures import scenarios

        for s in scenarios("correct", a.device):
            if not s.slow and s.precision == "fp32" and not s.strict:
                out.append((f"{s.problem} / {s.path.name}", FIXTURES / "problems" / f"{s.problem}.py", s.path))
    return out


def measure(a: argparse.Namespace) -> dict:
    work = a.out / "candidates"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    procs = burners(a.busy)
    start = time.monotonic()
    try:
        for name, problem, cand in cases(a, work):
            if a.budget and time.monotonic() - start > a.budget:
                break  # the table of what finished, rather than none when a caller's limit strikes
            row = {"case": name, "after": _child(SRC, problem, cand, a.device, a.timeout)}
            if a.before_src and name.endswith("/ copy"):
                row["before"] = _child(a.before_src, problem, cand, a.device, a.timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    copies = [r["after"] for r in rows if r["case"].endswith("/ copy")]
    honest = [r["after"] for r in rows]
    out = {
        "device": a.device, "busy": a.busy, "cpu_count": os.cpu_count(), "rows": rows,
        "copies": len(copies), "copies_containing_1": sum(1 for r in copies if r.get("contains_1")),
        "honest_rejected": [r["case"] for r in rows if r["after"]["verdict"] != "accepted"],
        "honest": len(honest),
    }
    if a.before_src:
        pairs = [(r["before"], r["after"]) for r in rows if r.get("before", {}).get("wall_s") and r["after"].get("wall_s")]
        out["mean_wall_s"] = {k: sum(p[i]["wall_s"] for p in pairs) / len(pairs) for i, k in enumerate(("before", "after"))} if pairs else None
        out["mean_timing_s"] = {k: sum(p[i]["timing_s"] for p in pairs) / len(pairs) for i, k in enumerate(("before", "after"))} if pairs else None
    return out


def wins(stores: list[Path]) -> dict:
    from kernelswarm.store import Store, interval_vs_best

    rows = []
    for path in stores:
        store = Store(path, read_only=True)
        for run in store.list_runs():
            for r in store.problem_results(run.id):
                f = r.fastest_accepted
                base = r.best_baseline_ms
                if f is None or base is None or not f.candidate_ms:
                    continue
                ci = interval_vs_best(f, r.compile_ms)
                old_win = f.candidate_ms < base  # the rule before intervals
                rows.append({"problem": r.name, "run": run.id, "old_win": old_win, "interval": ci,
                             "clears": bool(ci and ci[0] >= 1.02), "selection": r.selection.value})
    old = [r for r in rows if r["old_win"]]
    return {"problems": len(rows), "old_wins": len(old), "old_wins_clearing_1.02": sum(r["clears"] for r in old),
            "rows": rows}


def markdown(d: dict) -> str:
    if "old_wins" in d:
        return (f"{d['old_wins']} of {d['problems']} problems were wins by the point estimate; "
                f"{d['old_wins_clearing_1.02']} of them have an interval clearing 1.02.\n")
    lines = [f"device {d['device']}, {d['cpu_count']} cores, {d['busy']} burner processes; "
             f"{d['copies_containing_1']} of {d['copies']} copies' intervals contain 1; "
             f"honest rejected: {', '.join(d['honest_rejected']) or 'none'} (of {d['honest']})", "",
             "| case | verdict | speedup | interval | calls | wall s | timing s | before: verdict | before: speedup | before: interval | before: wall s | before: timing s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        a, b = r["after"], r.get("before", {})
        ci, bci = a.get("speedup_ci"), b.get("speedup_ci")
        cell = lambda v, f="{:.2f}": f.format(v) if isinstance(v, (int, float)) else "-"  # noqa: E731
        lines.append(f"| {r['case']} | {a['verdict']} | {cell(a.get('speedup'))} | "
                     f"{f'{ci[0]:.2f}-{ci[1]:.2f}' if ci else '-'} | {a.get('calls') or '-'} | {cell(a.get('wall_s'), '{:.0f}')} | "
                     f"{cell(a.get('timing_s'), '{:.0f}')} | {b.get('verdict', '-')} | {cell(b.get('speedup'))} | "
                     f"{f'{bci[0]:.2f}-{bci[1]:.2f}' if bci else '-'} | "
                     f"{cell(b.get('wall_s'), '{:.0f}')} | {cell(b.get('timing_s'), '{:.0f}')} |")
    if d.get("mean_wall_s"):
        w, t = d["mean_wall_s"], d["mean_timing_s"]
        lines += ["", f"mean per evaluation: wall {w['before']:.1f} s before, {w['after']:.1f} s after; "
                      f"timing phases {t['before']:.1f} s before, {t['after']:.1f} s after"]
    return "\n".join(lines) + "\n"


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give I/N, e.g. 0/3") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"{text!r}: I must be from 0 to N-1")
    return index, count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", nargs=2, metavar=("PROBLEM", "CANDIDATE"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=12, help="identical-candidate problems")
    ap.add_argument("--problems", default="", help="instead of --limit: bundled names or problem files, comma-separated")
    ap.add_argument("--busy", type=int, default=0, help="processes burning a core each meanwhile")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per evaluation")
    ap.add_argument("--before-src", type=Path, default=None, help="a `src` folder from before paired timing")
    ap.add_argument("--budget", type=float, default=0.0, help="start no evaluation after this many seconds (0: no limit)")
    ap.add_argument("--fixtures", action="store_true", help="also the honest fixtures for the device")
    ap.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N",
                    help="only every Nth chosen problem from the Ith (0-based): several processes share the list")
    ap.add_argument("--wins-from", type=Path, action="append", default=None, help="stores of runs to analyse")
    a = ap.parse_args()
    if a.one:
        one(a.one[0], a.one[1], a.device, a.timeout)
        return 0
    if a.out is None:
        ap.error("--out is required")
    sys.path.insert(0, str(SRC))
    a.out.mkdir(parents=True, exist_ok=True)
    d = wins(a.wins_from) if a.wins_from else measure(a)
    (a.out / "paired_timing.json").write_text(json.dumps(d, indent=1))
    (a.out / "paired_timing.md").write_text(markdown(d))
    print(markdown(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
