"""The store: round trips, selection, resumability markers, SIGKILL durability, concurrent reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from kernelswarm.records import Candidate, Evaluation, Kind, ModelCall, Timing, Verdict
from kernelswarm.store import Store


def _t(ms: float) -> Timing:
    return Timing.from_samples([ms])


def _ev(verdict: Verdict, ms: float | None = None, ref: float = 10.0) -> Evaluation:
    return Evaluation(problem="p", device="cpu", verdict=verdict, reason="r",
                      kind=Kind.PYTORCH_REWRITE if verdict is Verdict.ACCEPTED else None,
                      reference=_t(ref), candidate=_t(ms) if ms else None)


def _problem(store: Store, run: int, name: str = "p", eager: float = 10.0, compiled: float | None = 8.0) -> int:
    pid = store.add_problem(run, 0, name, 1, "h-" + name, "/x/" + name + ".py", "src", {})
    store.set_baselines(pid, _t(eager), _t(compiled) if compiled else None, None)
    return pid


def test_round_trip_and_selection(tmp_path: Path) -> None:
    s = Store(tmp_path / "k.db")
    run = s.create_run("cpu", {"rounds": 1}, {"torch": "x"})
    pid = _problem(s, run)
    ids = s.add_proposals(run, pid, "a", 0, [Candidate("S1", "a", context={"feedback": False}),
                                             Candidate("S2", "a")])
    s.add_evaluation(ids[0], _ev(Verdict.ACCEPTED, 9.0))  # faster than eager, slower than compile
    s.add_evaluation(ids[1], _ev(Verdict.INCORRECT))
    [r] = s.problem_results(run)
    assert r.best is None and r.fastest_accepted.id == ids[0]
    assert r.best_baseline == "compile" and r.result_ms == 8.0
    assert r.speedup_vs_best_baseline == 1.0 and r.speedup_vs_eager == 10.0 / 8.0
    ids2 = s.add_proposals(run, pid, "b", 1, [Candidate("S3", "b")])
    s.add_evaluation(ids2[0], _ev(Verdict.ACCEPTED, 4.0))
    [r] = s.problem_results(run)
    assert r.best.agent == "b" and r.speedup_vs_best_baseline == 2.0 and r.n_accepted == 2
    assert s.proposed(pid) == {("a", 0), ("b", 1)}
    rows = s.candidates(run)
    assert [c.round for c in rows] == [0, 0, 1] and rows[0].context == {"feedback": False}
    assert s.evaluation(ids[1]).verdict is Verdict.INCORRECT
    assert s.run(run).config == {"rounds": 1} and s.list_runs()[0].id == run
    assert 0 <= s.run_span_s(run) < 60
    s.set_run_status(run, "finished")
    assert s.run(run).finished_at and s.latest_run_id(unfinished_only=True) is None


def test_model_calls_and_cost(tmp_path: Path) -> None:
    s = Store(tmp_path / "k.db")
    run = s.create_run("cuda", {}, {})
    pid = _problem(s, run)
    call = ModelCall("gpt", "prompt", "reply", 100, 50, 1.5, 0.25)
    s.add_proposals(run, pid, "gpt", 0, [Candidate("S", "gpt", calls=[call])])
    s.add_calls(run, pid, "gpt", [ModelCall("gpt", "p", "", error="timeout", cost_usd=0.0)])
    assert s.run_cost(run) == 0.25
    [c] = s.agent_costs(run)
    assert (c.calls, c.errors, c.tokens_in, c.tokens_out) == (2, 1, 100, 50)
    assert [m.error for m in s.model_calls(run)] == ["", "timeout"]


def test_other_device_best(tmp_path: Path) -> None:
    s = Store(tmp_path / "k.db")
    run = s.create_run("cuda", {}, {})
    pid = _problem(s, run)
    [i] = s.add_proposals(run, pid, "a", 0, [Candidate("CUDA-SRC", "a")])
    s.add_evaluation(i, _ev(Verdict.ACCEPTED, 2.0))
    assert s.best_on_other_device("h-p", "cpu").source == "CUDA-SRC"
    assert s.best_on_other_device("h-p", "cuda") is None


_WRITER = textwrap.dedent("""
    import sys
    from kernelswarm.records import Candidate, Evaluation, Timing, Verdict
    from kernelswarm.store import Store
    s = Store(sys.argv[1])
    run = s.create_run("cpu", {}, {})
    pid = s.add_problem(run, 0, "p", 1, "h", "/p.py", "src", {})
    i = 0
    while True:
        [cid] = s.add_proposals(run, pid, "a", i, [Candidate("S%d" % i, "a")])
        s.add_evaluation(cid, Evaluation("p", "cpu", Verdict.INCORRECT, "r"))
        print(cid, flush=True)  # printed only after the commit returned
        i += 1
""")


def test_sigkill_loses_no_finished_evaluation(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    seen: list[int] = []
    reader = None
    deadline = time.monotonic() + 60
    while len(seen) < 40 and time.monotonic() < deadline:
        seen.append(int(proc.stdout.readline()))
        if len(seen) == 5:  # a concurrent reader works while the run writes
            reader = Store(db, read_only=True)
            assert reader.candidates(reader.latest_run_id())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    s = Store(db)
    stored = {c.id for c in s.candidates(s.latest_run_id()) if c.verdict}
    assert set(seen) <= stored
    assert reader is not None



_COPIER = textwrap.dedent("""
    import os, sys
    from kernelswarm.store import Store
    s = Store(sys.argv[1])
    run = s.create_run("cpu", {"n": int(sys.argv[3])}, {})
    s.copy_to(sys.argv[2])
    os._exit(0)  # as the benchmark's hard stop leaves: nothing closed, no checkpoint
""")


def test_copy_is_whole_without_a_clean_exit(tmp_path: Path) -> None:
    """A copy made while the store is open, by a process that then exits without closing anything,
    is one self-contained file holding every committed row, also over an earlier copy (the stale
    copy a sweep once brought back: the second backup had gone into the old copy's WAL file)."""
    src, dest = tmp_path / "live.db", tmp_path / "out" / "copy.db"
    for n in (1, 2):
        subprocess.run([sys.executable, "-c", _COPIER, str(src), str(dest), str(n)], check=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
        shipped = tmp_path / f"shipped{n}.db"
        shipped.write_bytes(dest.read_bytes())  # what a plain `cp` of the file alone brings back
        assert not Path(f"{dest}-wal").exists()
        runs = Store(shipped, read_only=True).list_runs()
        assert sorted(r.config["n"] for r in runs) == list(range(1, n + 1))


def test_copy_refuses_itself(tmp_path: Path) -> None:
    s = Store(tmp_path / "k.db")
    try:
        s.copy_to(tmp_path / "k.db")
    except ValueError as e:
        assert "onto itself" in str(e)
    else:
        raise AssertionError("a store was copied onto itself")


def test_store_from_before_flags_gains_the_column_and_reads_as_unscreened(tmp_path) -> None:
    import sqlite3

    from kernelswarm.store import Store

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
          device TEXT NOT NULL, config TEXT NOT NULL, versions TEXT NOT NULL);
        CREATE TABLE problems (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, position INTEGER NOT NULL,
          name TEXT NOT NULL, level INTEGER, hash TEXT NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL,
          sizes TEXT NOT NULL DEFAULT '{}', eager TEXT, compiled TEXT, baseline_error TEXT,
          baselines_done INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, UNIQUE (run_id, name));
        INSERT INTO runs VALUES (1, '2026-01-01', NULL, 'finished', 'cpu', '{}', '{}');
        INSERT INTO problems (run_id, position, name, hash, path, source) VALUES (1, 0, 'p', 'h', 'p.py', '');
    """)
    db.commit()
    db.close()
    [row] = Store(path, read_only=True).problem_rows(1)  # read-only: no column added, none needed
    assert row["flags"] is None
    store = Store(path)
    store.set_problem_flags(row["id"], ["output is tiny"])
    assert store.problem_rows(1)[0]["flags"] == ["output is tiny"]


def test_a_run_whose_process_is_gone_is_shown_stopped(tmp_path) -> None:
    """Issue 13.6: a killed run stays 'running' in the store; it is shown as stopped."""
    import subprocess
    import sys

    from kernelswarm.store import Store

    path = tmp_path / "k.db"
    code = f"from kernelswarm.store import Store; print(Store({str(path)!r}).create_run('cpu', {{}}, {{}}))"
    dead = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    store = Store(path)
    alive = store.create_run("cpu", {}, {})
    assert store.run(dead).status == "running" and store.run(dead).shown_status.startswith("stopped")
    assert store.run(alive).shown_status == "running"
    store.claim_run(dead)  # --resume: this process continues it
    assert store.run(dead).shown_status == "running"
    store.set_run_status(alive, "finished")
    assert store.run(alive).shown_status == "finished"


def _row(cid: int, ms: float, ci=None, compile_ci=None, ref: float = 10.0, compiled: float | None = 8.0,
         verdict: str = "accepted"):
    from kernelswarm.store import CandidateRow

    return CandidateRow(id=cid, problem="p", agent=f"a{cid}", round=0, parent_id=None, context={}, language="x",
                        note="", source=f"s{cid}", verdict=verdict, candidate_ms=ms, reference_ms=ref,
                        compiled_ms=compiled, speedup_ci=ci, speedup_vs_compile_ci=compile_ci)


def _select(cands, compiled: float | None = 8.0, eager: float | None = 10.0, min_gain: float = 0.02):
    from kernelswarm.store import select

    row = {"name": "p", "level": 1, "hash": "h", "path": "/p.py", "source": "", "done": 1,
           "eager": _t(eager) if eager else None, "compiled": _t(compiled) if compiled else None,
           "baseline_error": None if eager else "boom"}
    return select(row, cands, min_gain)


def test_selection_needs_the_interval_to_clear_the_margin_over_both_baselines():
    from kernelswarm.records import Selection

    # 2x eager (interval clear of 1.02), but against torch.compile an interval down to 1.01.
    narrow = _row(1, 5.0, ci=(1.9, 2.1), compile_ci=(1.01, 1.2))
    r = _select([narrow])
    assert r.best is None and r.selection is Selection.NOT_FASTER and r.fastest_accepted.id == 1
    assert "does not clear 1.02x" in r.reason and "1.010-1.200x" in r.reason
    clear = _row(2, 5.5, ci=(1.7, 1.9), compile_ci=(1.3, 1.6))
    r = _select([narrow, clear])
    assert r.best.id == 2 and r.selection is Selection.WIN and r.speedup_ci == (1.3, 1.6)
    assert r.speedup_vs_eager == 10.0 / 5.5 and "won" in r.reason


def test_selection_outcomes():
    from kernelswarm.records import Selection

    wide = _row(1, 5.0, ci=(0.6, 1.7), compiled=None)
    assert _select([wide], compiled=None).selection is Selection.TOO_NOISY
    assert "undecided: the machine is too noisy" in _select([wide], compiled=None).reason
    assert _select([_row(1, 5.0, verdict="incorrect")]).selection is Selection.NONE_ACCEPTED
    assert _select([], eager=None, compiled=None).selection is Selection.NO_BASELINE
    # A record stored before intervals: its point estimate stands for its interval.
    old = _row(1, 4.0, compiled=None)
    assert _select([old]).selection is Selection.WIN
    assert _select([_row(1, 9.9, ci=(1.0, 1.03), compiled=None)], compiled=None, min_gain=0.0).selection is Selection.WIN


def test_intervals_and_noise_mark_round_trip_through_the_store(tmp_path: Path) -> None:
    s = Store(tmp_path / "k.db")
    run = s.create_run("cpu", {"min_gain": 0.5}, {})
    pid = _problem(s, run, compiled=None)
    a, b = s.add_proposals(run, pid, "a", 0, [Candidate("S1", "a"), Candidate("S2", "a")])
    ev = _ev(Verdict.ACCEPTED, 5.0)
    ev.speedup_ci = (1.6, 2.4)
    s.add_evaluation(a, ev)
    s.add_evaluation(b, Evaluation("p", "cpu", Verdict.REJECTED, "wall-clock: x", noise_sensitive=True))
    rows = s.candidates(run)
    assert rows[0].speedup_ci == (1.6, 2.4) and rows[1].noise_sensitive and not rows[0].noise_sensitive
    assert s.evaluation(a).speedup_ci == (1.6, 2.4) and s.evaluation(b).noise_sensitive
    [r] = s.problem_results(run)
    assert r.min_gain == 0.5 and r.best is not None  # 1.6 clears 1.5, the run's own margin
