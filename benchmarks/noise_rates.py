"""False-liar and false-`incorrect` rates on a busy machine, with the timing cheats beside them.

    python benchmarks/noise_rates.py --out OUT --repeats 5 --copies 10 --load torch:2:2 --jobs 2 \
        [--fixtures correct] [--cheats noop_flush,swapped_timer,reply_shave,burst_fake,reply_rewrite] \
        [--cheat-repeats 2] [--budget SECONDS]

Cases: every CPU fixture under tests/evaluate/candidates/correct (`--fixtures`; `slow` ones with
`--slow`), under the options its test uses (tests/evaluate/test_fixtures.py), `--repeats` times
each; copies of the reference (`class Model` renamed `ModelNew`) on `--copies` bundled problems
(spread over levels 1-3 as in paired_timing.py), under the CPU's default options, `--repeats`
times each; `--pairs PROBLEM=CANDIDATE` files (a task of `kernelswarm optimize --tasks-out` and
its hand-written kernel, say) under the CPU's default options, `--repeats` times each; and the
named cheat fixtures' CPU scenarios, `--cheat-repeats` times each. The order
is shuffled round by round, so load drifts over all cases alike.

Load made on purpose (`--load`, as copy_charges.py: `torch:N:T` is N processes of 512-cube
matmuls on T threads, `spin:N` N Python spinners) while `--jobs` evaluations run at once, each in
its own process with its own KERNELSWARM_LOCK_DIR (so they overlap each other's timings, as
unrelated work on a shared runner does). Load averages (1 min) are read as each evaluation
starts and ends.

Each evaluation is classed: `accepted` (with whether its interval contains 1 and what
intervals.decide says at the default 2% margin), `liar` (rejected by a wall-clock/burst charge,
or any rejection marked noise-sensitive), `incorrect`, `other` (any other verdict), `error`
(the child failed). For fixtures, `as stated` says whether the header's verdict and
`max_speedup` hold. Writes OUT/noise_rates.jsonl (one line per evaluation, as they finish),
OUT/noise_rates.json and OUT/noise_rates.md (per case and totals).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TESTS = ROOT / "tests" / "evaluate"
TIMING_CHEATS = "noop_flush,swapped_timer,reply_shave,burst_fake,reply_rewrite"
THREADS = [0]  # --copy-threads: intra-op threads of the copies' workers (0: the default, all cores)


def one(kind: str, name: str, index: int, problem_path: str) -> None:
    """In the child: evaluate one case and print one JSON line."""
    sys.path.insert(0, str(TESTS))
    from kernelswarm.evaluate import EvalOptions, evaluate
    from kernelswarm.intervals import decide
    from kernelswarm.problems.load import load_problem

    if kind == "copy":
        problem = load_problem(Path(problem_path))
        ev = evaluate(problem, problem.source.replace("class Model(", "class ModelNew("), EvalOptions.for_device("cpu"))
        stated = None
    elif kind == "pair":  # an honest candidate file against a problem file, as a run's search judges it
        problem_file, candidate_file = problem_path.split("=", 1)
        problem = load_problem(Path(problem_file))
        ev = evaluate(problem, Path(candidate_file).read_text(), EvalOptions.for_device("cpu"))
        stated = None
    else:
        from fixtures import PROBLEMS, scenarios
        from test_fixtures import _options

        folder, _ = name.split("/", 1)
        s = [s for s in scenarios(folder) if s.id == name][index]
        ev = evaluate(load_problem(PROBLEMS / f"{s.problem}.py"), s.path.read_text(), _options(s))
        stated = ev.verdict.value in s.verdicts and not (
            s.max_speedup is not None and ev.correct and (ev.speedup or 0) >= s.max_speedup)
        if s.check and stated:
            stated = s.check in [c.name for c in ev.checks if not c.passed]
    failed = [c.name for c in ev.checks if not c.passed]
    ci = ev.speedup_ci
    # Which code judged it (the time shares), for a table over trees.
    from kernelswarm.evaluate.parent import timing

    shares = [getattr(timing, "TIMED_UNTIL_LEFT", None), getattr(timing, "BURST_TIME_LEFT", None)]
    print(json.dumps({
        "verdict": ev.verdict.value, "failed": failed, "noise_sensitive": ev.noise_sensitive,
        "reason": ev.reason[:240], "speedup": ev.speedup, "ci": list(ci) if ci else None,
        "contains_1": (ci[0] <= 1.0 <= ci[1]) if ci else None,
        "decision": decide(ci, 0.02).value if ev.correct else None, "stated": stated,
        "candidate_ms": ev.candidate.median_ms if ev.candidate else None,  # charged, as the speedup uses it
        "reference_ms": ev.reference.median_ms if ev.reference else None,
        "calls": ev.candidate.n if ev.candidate else None, "wall_s": round(ev.wall_s, 1), "shares": shares,
        "ended": time.strftime("%H:%M:%S", time.gmtime()),
        "wall_clock": next((c.detail[:600] for c in ev.checks if c.name == "wall-clock"), None),
        # What the wall clock vouched for (wallclock.vouch; trees before session 14 have none).
        "resolution": next((c.detail[:400] for c in ev.checks if c.name == "resolution"), None),
        # The speedup the clocks confirm (wallclock.vouch) and the claims' own, before any cap.
        "vouched": _vouched(ev),
    }))


def _vouched(ev) -> list[float] | None:
    """[confirmed, claimed] from the resolution check's line (None where there is none)."""
    import re

    line = next((c.detail for c in ev.checks if c.name == "resolution"), "")
    m = re.search(r"at most ([0-9.e+-]+)x against the claimed ([0-9.e+-]+)x", line)
    return [float(m.group(1)), float(m.group(2))] if m else None


def klass(row: dict) -> str:
    v = row.get("verdict")
    if v == "accepted":
        return "accepted"
    if v == "rejected" and ("wall-clock" in row.get("failed", []) or row.get("noise_sensitive")):
        return "liar"
    if v in ("incorrect", "error"):
        return v
    return "other"


def cases(a: argparse.Namespace) -> list[tuple[str, str, int, str]]:
    """(kind, name, scenario index, problem path) for every case to run once per round."""
    sys.path.insert(0, str(SRC))
    sys.path.insert(0, str(TESTS))
    from fixtures import scenarios

    out: list[tuple[str, str, int, str]] = []
    if a.copies:
        from paired_timing import pick  # the same spread of bundled problems

        out += [("copy", f"copy/{p.name}", 0, str(p.path)) for p in pick("cpu", a.copies)]
    for pair in filter(None, a.pairs.split(",")):  # PROBLEM=CANDIDATE files
        problem_file, candidate_file = pair.split("=", 1)
        out.append(("pair", f"pair/{Path(candidate_file).stem}", 0,
                    f"{Path(problem_file).resolve()}={Path(candidate_file).resolve()}"))
    for folder, wanted in (("correct", a.fixtures), ("cheat", a.cheats)):
        if not wanted:
            continue
        names = None if wanted == "all" else set(wanted.split(","))
        seen: dict[str, int] = {}
        for s in scenarios(folder):
            index = seen[s.id] = seen.get(s.id, -1) + 1
            if folder == "cheat" and s.static:
                continue  # the timing cheats' runtime verdicts; their static rejections need no load
            if (names is None or s.path.stem in names) and (a.slow or not s.slow) and not s.sandbox:
                out.append((folder, s.id, index, ""))
    return out


def _child(case: tuple[str, str, int, str], timeout: float) -> dict:
    kind, name, index, problem = case
    with tempfile.TemporaryDirectory(prefix="ks-noise-locks-") as locks:
        env = {**os.environ, "PYTHONPATH": str(SRC), "KERNELSWARM_LOCK_DIR": locks}
        if kind == "copy" and THREADS[0]:  # the fixtures' own options set their threads (1)
            env["KERNELSWARM_CPU_THREADS"] = str(THREADS[0])
        load0 = os.getloadavg()[0]
        started = time.monotonic()
        try:
            r = subprocess.run([sys.executable, __file__, "--one", kind, name, str(index), problem or "-"],
                               capture_output=True, text=True, env=env, timeout=timeout, check=False, cwd=ROOT)
            lines = r.stdout.strip().splitlines()
            row = json.loads(lines[-1]) if r.returncode == 0 and lines else {
                "verdict": "error", "reason": (r.stderr.strip().splitlines() or ["?"])[-1][:240]}
        except subprocess.TimeoutExpired:
            row = {"verdict": "error", "reason": f"the child ran past {timeout:.0f} s"}
    return {"kind": kind, "case": name, **row, "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
            "process_s": round(time.monotonic() - started, 1)}


def _load(spec: str) -> list[subprocess.Popen]:
    from copy_charges import _load as start  # one definition of the load kinds

    return start(spec) if spec else []


def measure(a: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    lock = threading.Lock()
    todo = cases(a)
    rng = random.Random(a.seed)
    plan = []
    repeats = {"copy": a.copy_repeats, "correct": a.repeats, "cheat": a.cheat_repeats, "pair": a.repeats}
    for k in range(max(repeats.values())):
        this = [c for c in todo if k < repeats[c[0]]]
        rng.shuffle(this)
        plan += this
    start = time.monotonic()
    log = (a.out / "noise_rates.jsonl").open("a")

    def run(case: tuple[str, str, int, str]) -> None:
        if a.budget and time.monotonic() - start > a.budget:
            return  # the table of what finished, rather than none when a caller's limit strikes
        row = _child(case, a.timeout)
        with lock:
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(f"{row['case']}: {klass(row)} {row.get('speedup') or ''} {row.get('ci') or ''} load {row['load']}",
                  file=sys.stderr, flush=True)

    burners = _load(a.load)
    try:
        with ThreadPoolExecutor(a.jobs) as pool:
            list(pool.map(run, plan))
    finally:
        for p in burners:
            p.kill()
            p.wait()
        log.close()
    return rows


def markdown(rows: list[dict], header: str) -> str:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["case"], []).append(r)
    out = [header, "", ("| case | n | accepted | liar | incorrect | other | as stated | interval contains 1 | "
                        "decision (faster/not/undecided) | speedups | load |"),
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rs in sorted(by.items(), key=lambda kv: (kv[1][0]["kind"], kv[0])):
        n = {k: sum(1 for r in rs if klass(r) == k) for k in ("accepted", "liar", "incorrect", "other", "error")}
        acc = [r for r in rs if r.get("verdict") == "accepted"]
        stated = [r["stated"] for r in rs if r.get("stated") is not None]
        dec = [sum(1 for r in acc if r.get("decision") == d) for d in ("faster", "not-faster", "undecided")]
        sp = sorted(r["speedup"] for r in acc if r.get("speedup"))
        loads = [x for r in rs for x in r["load"]]
        out.append(
            f"| {name} | {len(rs)} | {n['accepted']} | {n['liar']} | {n['incorrect']} | {n['other'] + n['error']} | "
            f"{f'{sum(stated)}/{len(stated)}' if stated else '-'} | "
            f"{sum(1 for r in acc if r.get('contains_1'))}/{len(acc)} | {'/'.join(map(str, dec))} | "
            f"{f'{sp[0]:.2f}-{sp[-1]:.2f}' if sp else '-'} | {min(loads):.1f}-{max(loads):.1f} |")
    out.append("")
    for kind in ("copy", "pair", "correct", "cheat"):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        acc = [r for r in rs if r.get("verdict") == "accepted"]
        out.append(f"- {kind}: {len(rs)} evaluations; liar {sum(klass(r) == 'liar' for r in rs)}, incorrect "
                   f"{sum(klass(r) == 'incorrect' for r in rs)}, other {sum(klass(r) in ('other', 'error') for r in rs)}; "
                   f"accepted {len(acc)}, of which the interval contains 1 in {sum(bool(r.get('contains_1')) for r in acc)}"
                   + (f"; as stated {sum(bool(r.get('stated')) for r in rs)}" if kind != "copy" else ""))
    odd = [r for r in rows if klass(r) != "accepted" and r["kind"] != "cheat"
           or r["kind"] == "cheat" and r.get("stated") is False]
    if odd:
        out += ["", "Reasons where an honest case was not accepted, or a cheat not as stated:", ""]
        out += [f"- {r['case']} ({r['verdict']}, load {r['load'][1]}): {r.get('reason', '')}" for r in odd]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", nargs=4, metavar=("KIND", "NAME", "INDEX", "PROBLEM"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--repeats", type=int, default=5, help="evaluations of each honest case")
    ap.add_argument("--copies", type=int, default=10, help="bundled problems evaluated against a copy of themselves")
    ap.add_argument("--copy-repeats", type=int, default=3, help="evaluations of each copy")
    ap.add_argument("--copy-threads", type=int, default=0, help="the copies' CPU threads (0: the default, all cores)")
    ap.add_argument("--fixtures", default="all", help="honest fixtures (file stems, comma-separated), 'all' or ''")
    ap.add_argument("--pairs", default="", help="PROBLEM=CANDIDATE files (comma-separated), judged --repeats times "
                    "under the CPU's default options, as a run's search judges them")
    ap.add_argument("--slow", action="store_true", help="include fixtures marked slow")
    ap.add_argument("--cheats", default=TIMING_CHEATS, help="cheat fixtures (file stems) run beside them, or ''")
    ap.add_argument("--cheat-repeats", type=int, default=2)
    ap.add_argument("--load", default="torch:2:2", help="torch:N:T or spin:N ('' for none)")
    ap.add_argument("--jobs", type=int, default=2, help="evaluations at once")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per evaluation's process")
    ap.add_argument("--budget", type=float, default=0.0, help="start no evaluation after this many seconds (0: no limit)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--summarize", type=Path, help="only write the table from an existing noise_rates.jsonl")
    a = ap.parse_args()
    if a.one:
        one(a.one[0], a.one[1], int(a.one[2]), a.one[3])
        return 0
    if a.out is None:
        ap.error("--out is required")
    a.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).parent))
    THREADS[0] = a.copy_threads
    if a.summarize:
        rows = [json.loads(line) for line in a.summarize.read_text().splitlines() if line.strip()]
    else:
        rows = measure(a)
    header = (f"{os.cpu_count()} cores; load {a.load or 'none'} made by this script, {a.jobs} evaluations at once; "
              f"copies on {a.copy_threads or 'all'} threads; {len(rows)} evaluations")
    (a.out / "noise_rates.json").write_text(json.dumps({"load": a.load, "jobs": a.jobs, "rows": rows}, indent=1))
    (a.out / "noise_rates.md").write_text(markdown(rows, header))
    print(markdown(rows, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
