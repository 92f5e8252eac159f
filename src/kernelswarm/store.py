"""The store: every run, problem, candidate, evaluation and model call, in SQLite (WAL).

The supervisor is the only writer. Each finished step (a problem's baselines, one agent's
proposals for one round, one evaluation) is one short transaction, so a run killed at any moment,
even with SIGKILL, loses nothing that had finished, and `--resume` skips it. WAL lets readers
(report, export) query while a run writes.

Query functions (all return typed records, never loose rows):
  Store.list_runs() -> list[RunInfo]                       every run, newest first
  Store.run(run_id) -> RunInfo                             one run: config, device, versions, status
  Store.latest_run_id(unfinished_only=False) -> int | None
  Store.problem_results(run_id) -> list[ProblemResult]     per problem: baselines and the selected best
  Store.candidates(run_id, problem=None) -> list[CandidateRow]  every candidate with its evaluation, ordered
  Store.evaluation(candidate_id) -> Evaluation | None      the full stored Evaluation record
  Store.log_tails(run_id) -> dict[int, str]                the candidate output kept per evaluation
  Store.agent_costs(run_id) -> list[AgentCost]             model calls per agent: tokens, cost, errors
  Store.model_calls(run_id, agent=None) -> list[CallRow]   every model call
  Store.run_cost(run_id) -> float                          total model cost so far, in USD
  Store.run_span_s(run_id) -> float                        seconds from start to finish (or last evaluation)
  Store.best_on_other_device(problem_hash, device) -> CandidateRow | None

Copies: Store.copy_to(dest) writes a consistent, self-contained copy (one file, no WAL) while a run
writes, replacing dest only once the copy is whole.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from kernelswarm import intervals, redact
from kernelswarm.locks import Busy, ProcessLock, store_lock
from kernelswarm.metrics import NOT_MEASURED, ProblemScore
from kernelswarm.records import Candidate, Evaluation, Selection, SpeedDecision, Timing, Verdict, timed_on

DEFAULT_MIN_GAIN = 0.02  # `run --min-gain`: a candidate's interval must clear 1 + this to replace a baseline

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
  status TEXT NOT NULL,              -- running | finished (a killed run stays 'running')
  device TEXT NOT NULL, config TEXT NOT NULL, versions TEXT NOT NULL,
  owner TEXT);                       -- 'host:pid:start' of the process writing it (liveness.py)
CREATE TABLE IF NOT EXISTS problems (
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
  position INTEGER NOT NULL,         -- order within the run
  name TEXT NOT NULL, level INTEGER, hash TEXT NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL,
  sizes TEXT NOT NULL DEFAULT '{}',
  eager TEXT, compiled TEXT,         -- Timing JSON of the baselines; NULL until measured
  baseline_error TEXT,               -- why the baselines could not be measured
  baselines_done INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
  flags TEXT,                        -- JSON list of the screen's findings; NULL until screened
  UNIQUE (run_id, name));
CREATE TABLE IF NOT EXISTS proposals (  -- one agent asked once for one problem and round
  problem_id INTEGER NOT NULL REFERENCES problems(id), agent TEXT NOT NULL, round INTEGER NOT NULL,
  note TEXT NOT NULL DEFAULT '', PRIMARY KEY (problem_id, agent, round));
CREATE TABLE IF NOT EXISTS candidates (
  id INTEGER PRIMARY KEY, problem_id INTEGER NOT NULL REFERENCES problems(id),
  agent TEXT NOT NULL, round INTEGER NOT NULL, parent_id INTEGER, context TEXT NOT NULL,
  language TEXT NOT NULL, note TEXT NOT NULL, source TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
  candidate_id INTEGER PRIMARY KEY REFERENCES candidates(id),
  verdict TEXT NOT NULL, reason TEXT NOT NULL, kind TEXT,
  candidate_ms REAL, reference_ms REAL, compiled_ms REAL, wall_s REAL NOT NULL,
  data TEXT NOT NULL,                -- the whole Evaluation as JSON (checks, timings, versions, phases)
  created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS model_calls (
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, problem_id INTEGER NOT NULL,
  candidate_id INTEGER, agent TEXT NOT NULL, model TEXT NOT NULL, prompt TEXT NOT NULL,
  reply TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
  latency_s REAL NOT NULL, cost_usd REAL NOT NULL, error TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS candidates_problem ON candidates (problem_id);
CREATE INDEX IF NOT EXISTS problems_hash ON problems (hash);
CREATE INDEX IF NOT EXISTS calls_run ON model_calls (run_id);
"""


# A problem of run ? whose baselines failed before any candidate was stored: nothing measured.
_UNMEASURED = ("p.run_id = ? AND p.baseline_error IS NOT NULL"
               " AND NOT EXISTS (SELECT 1 FROM candidates c WHERE c.problem_id = p.id)")


class StoreError(Exception):
    """The store cannot be used as asked; the message is one line and names the file."""


class StoreBusy(StoreError):
    """Another process is writing the store."""


class StoreFull(StoreError):
    """A write failed for lack of space (or a file size limit). It was rolled back; everything
    committed before it is stored."""


# SQLite's primary result codes for a write the filesystem refused: SQLITE_IOERR (a short write
# that set EFBIG, EIO) and SQLITE_FULL (ENOSPC).
_SQLITE_IOERR, _SQLITE_FULL = 10, 13


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """A refused write to the store becomes one StoreFull line instead of a traceback."""
    try:
        yield
    except sqlite3.OperationalError as e:
        code = getattr(e, "sqlite_errorcode", None)  # Python 3.11+
        full = (code & 0xFF) in (_SQLITE_IOERR, _SQLITE_FULL) if code is not None else \
            any(s in str(e) for s in ("disk is full", "disk I/O error"))
        if not full:
            raise
        raise StoreFull(f"{path}: the store could not be written ({e}): no space left, or a file size limit;"
                        " everything finished before this is stored") from None


@dataclass(frozen=True)
class RunInfo:
    id: int
    started_at: str  # UTC, ISO 8601
    finished_at: str | None
    status: str  # running | finished; a killed run stays running until resumed (see shown_status)
    device: str
    config: dict[str, Any]  # the supervisor's RunConfig as JSON
    versions: dict[str, str]  # torch, triton, cuda, driver, device name, python
    owner: str | None = None  # 'host:pid:start' of the process that wrote it last; None in older stores

    @property
    def shown_status(self) -> str:
        """`status`, except that a 'running' run whose process is gone is shown as stopped."""
        from kernelswarm.liveness import shown_status

        return shown_status(self.status, self.owner)


@dataclass(frozen=True)
class CandidateRow:
    """A candidate and, when evaluated, the essentials of its evaluation."""

    id: int
    problem: str
    agent: str
    round: int
    parent_id: int | None
    context: dict[str, Any]  # the context arms shown to the agent
    language: str
    note: str
    source: str
    verdict: str | None  # None until evaluated (or when the agent produced no code)
    reason: str = ""
    kind: str | None = None
    candidate_ms: float | None = None
    reference_ms: float | None = None  # eager time the evaluation compared against
    compiled_ms: float | None = None  # torch.compile's time in the evaluation's window (see Evaluation.compiled)
    device: str = ""
    timed_on: str = ""  # the machine and GPU that timed it, when the run placed evaluations (else "")
    speedup_ci: tuple[float, float] | None = None  # Evaluation.speedup_ci (vs eager)
    speedup_vs_compile_ci: tuple[float, float] | None = None
    noise_sensitive: bool = False  # Evaluation.noise_sensitive: a rejection load could have caused
    lock_wait_s: float = 0.0  # Evaluation.lock_wait_s: waited for another process's hold on the device
    lock_holder: str = ""  # who held it then ("" when it did not wait)

    @property
    def speedup(self) -> float | None:
        """Against eager, from the evaluation's own paired window."""
        ok = self.verdict == Verdict.ACCEPTED.value and self.candidate_ms and self.reference_ms
        return self.reference_ms / self.candidate_ms if ok else None

    @property
    def speedup_vs_compile(self) -> float | None:
        ok = self.verdict == Verdict.ACCEPTED.value and self.candidate_ms and self.compiled_ms
        return self.compiled_ms / self.candidate_ms if ok else None


@dataclass(frozen=True)
class ProblemResult:
    """One problem of a run: its baselines and the implementation selected as its result."""

    name: str
    level: int | None
    hash: str
    path: str
    source: str  # the problem's own source
    eager_ms: float | None
    compile_ms: float | None  # None when torch.compile failed or was not measured
    baseline_error: str | None  # set when even eager could not be timed
    done: bool  # the supervisor finished every round of it
    n_candidates: int
    n_accepted: int
    best: CandidateRow | None  # the fastest accepted candidate whose interval clears the margin over the faster baseline
    fastest_accepted: CandidateRow | None = None  # the fastest accepted candidate, even if slower
    flags: tuple[str, ...] = ()  # the screen's findings (a no-op could pass...); empty when fair or not screened
    selection: Selection = Selection.NONE_ACCEPTED  # why the result is what it is (`reason` says it in words)
    min_gain: float = DEFAULT_MIN_GAIN  # the margin a candidate's interval had to clear

    @property
    def reason(self) -> str:
        """One line for the summary and the report: why this result."""
        shown_of = self.best or self.fastest_accepted
        ci = interval_vs_best(shown_of, self.compile_ms) if shown_of else None
        shown = f" (interval {ci[0]:.3f}-{ci[1]:.3f}x)" if ci else ""
        bar = f"{1 + self.min_gain:.2f}x"
        return {
            Selection.WIN: f"won{shown}: clears {bar} over the faster baseline",
            Selection.NOT_FASTER: f"baseline stands: the fastest accepted candidate{shown} does not clear {bar}",
            Selection.TOO_NOISY: f"undecided: the machine is too noisy{shown}; the baseline stands",
            Selection.NONE_ACCEPTED: "baseline stands: no candidate was accepted",
            Selection.NO_BASELINE: f"no baseline: {self.baseline_error or 'not measured'}",
        }[self.selection]

    @property
    def speedup_ci(self) -> tuple[float, float] | None:
        """The result's interval against the faster baseline; None when a baseline stands."""
        return interval_vs_best(self.best, self.compile_ms) if self.best else None

    @property
    def best_baseline_ms(self) -> float | None:
        times = [t for t in (self.eager_ms, self.compile_ms) if t is not None]
        return min(times) if times else None

    @property
    def best_baseline(self) -> str | None:
        """'eager' or 'compile': the faster baseline, which stands when no candidate beats it."""
        if self.eager_ms is None:
            return None
        return "compile" if self.compile_ms is not None and self.compile_ms < self.eager_ms else "eager"

    @property
    def outcome(self) -> str:
        """metrics.WIN, BASELINE_STANDS, BASELINES_FAILED or NOT_MEASURED (never reached)."""
        from kernelswarm.metrics import outcome

        return outcome(self.eager_ms, self.baseline_error, self.best is not None)

    @property
    def result_ms(self) -> float | None:
        """Time of what this problem delivers: the best candidate, else the faster baseline."""
        return self.best.candidate_ms if self.best else self.best_baseline_ms

    @property
    def result_agent(self) -> str | None:
        """The agent whose candidate is the result; None when a baseline stands."""
        return self.best.agent if self.best else None

    @property
    def speedup_vs_eager(self) -> float | None:
        """The best candidate's paired speedup; where a baseline stands, its own against eager."""
        if self.best is not None:
            return self.best.speedup
        b = self.best_baseline_ms
        return self.eager_ms / b if self.eager_ms and b else None

    @property
    def speedup_vs_best_baseline(self) -> float | None:
        if self.best is not None:
            return _point_vs_best(self.best, self.compile_ms)
        return 1.0 if self.best_baseline_ms else None

    def score(self) -> ProblemScore:
        """This result reduced to what kernelswarm.metrics needs."""
        return ProblemScore(self.name, self.level, self.n_accepted > 0, self.speedup_vs_eager,
                            self.speedup_vs_best_baseline, self.result_agent, flagged=bool(self.flags),
                            measured=self.outcome != NOT_MEASURED)


@dataclass(frozen=True)
class AgentCost:
    agent: str
    calls: int
    errors: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float  # summed over calls


@dataclass(frozen=True)
class CallRow:
    id: int
    agent: str
    model: str
    problem: str
    candidate_id: int | None
    prompt: str
    reply: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    cost_usd: float
    error: str


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns added since a store was created (stores written by earlier versions)."""
    have = {r[1] for r in db.execute("PRAGMA table_info(problems)")}
    if "flags" not in have:
        db.execute("ALTER TABLE problems ADD COLUMN flags TEXT")
    if "owner" not in {r[1] for r in db.execute("PRAGMA table_info(runs)")}:
        db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")


def _open_read_only(path: Path) -> tuple[sqlite3.Connection, Path | None]:
    """A read-only connection that writes nothing beside the store, also on read-only media.

    `mode=ro` reads a store while a run writes it (WAL), but needs to make the -shm side file
    where none is. Where it cannot (a read-only folder), a store with no -wal content is read as
    `immutable` (nothing can change it there); one whose -wal still holds commits (the writer was
    killed) is copied with it to a private folder and read there, so no commit is missed.
    Returns the connection and that folder (None when reading in place)."""
    def connect(target: Path, query: str) -> sqlite3.Connection:
        db = sqlite3.connect(f"{target.resolve().as_uri()}?{query}", uri=True, check_same_thread=False, timeout=30)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opening is lazy: open now
        except BaseException:
            db.close()
            raise
        return db

    try:
        return connect(path, "mode=ro"), None
    except sqlite3.OperationalError:
        wal = Path(f"{path}-wal")
        if not (wal.exists() and wal.stat().st_size > 0):
            return connect(path, "immutable=1"), None
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="kernelswarm-store-"))
    try:
        shutil.copyfile(path, scratch / path.name)
        shutil.copyfile(wal, scratch / wal.name)
        return connect(scratch / path.name, "mode=ro"), scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _timing_json(t: Timing | None) -> str | None:
    return None if t is None else json.dumps(t.__dict__)


def _ci(s: str | None) -> tuple[float, float] | None:
    v = json.loads(s) if s else None
    return (float(v[0]), float(v[1])) if v else None


def _timing(s: str | None) -> Timing | None:
    return Timing.from_dict(json.loads(s)) if s else None


class Store:
    """A connection to one store file. Safe to share between threads: writes are serialised."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self._writer: ProcessLock | None = None
        self._scratch: Path | None = None  # a private copy read instead of read-only media (see _open_read_only)
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"{self.path}: no such store")
            self._db, self._scratch = _open_read_only(self.path)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One writer per store: a second process is refused at once, naming the first.
            self._writer = store_lock(self.path)
            try:
                self._writer.acquire(wait=False)
            except Busy as e:
                raise StoreBusy(f"{self.path}: another kernelswarm process is writing this store ({e.holder});"
                                " wait for it to finish or use another --db") from None
            try:
                self._db = self._open_writer()
            except BaseException:
                self.close()
                raise
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()

    def _open_writer(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30, isolation_level=None)
        with _writing(self.path):
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed evaluation survives power loss too, not just SIGKILL; writes are rare.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            _add_missing_columns(db)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return db

    def close(self) -> None:
        if getattr(self, "_db", None) is not None:
            self._db.close()
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._scratch is not None:
            import shutil

            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def copy_to(self, dest: str | Path) -> Path:
        """A consistent copy of everything committed so far, as one self-contained file at `dest`.

        A plain file copy of a WAL database misses what is still in its -wal file; so would a backup
        into an existing WAL-mode file, if the process then exits without closing it. The copy is
        made beside `dest`, switched to a rollback journal, closed, and only then renamed over it."""
        import os

        dest = Path(dest)
        if dest.resolve() == self.path.resolve():
            raise ValueError(f"{dest}: a store cannot be copied onto itself")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
        out = sqlite3.connect(str(tmp))
        try:
            with self._lock:
                self._db.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")
        finally:
            out.close()
        for stale in (Path(f"{dest}-wal"), Path(f"{dest}-shm")):
            stale.unlink(missing_ok=True)
        os.replace(tmp, dest)
        return dest

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; committed before return, or rolled back on error."""
        with self._lock, _writing(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT (disk full) leaves it open
                    self._db.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---- writes (the supervisor's) ----

    def create_run(self, device: str, config: dict[str, Any], versions: dict[str, str]) -> int:
        from kernelswarm.liveness import current_owner

        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (started_at, status, device, config, versions, owner) VALUES (?, 'running', ?, ?, ?, ?)",
                (_now(), device, json.dumps(config), json.dumps(versions), current_owner()),
            )
            return int(cur.lastrowid)

    def claim_run(self, run_id: int) -> None:
        """This process continues the run (--resume): it becomes the owner whose liveness is checked."""
        from kernelswarm.liveness import current_owner

        with self._tx() as db:
            db.execute("UPDATE runs SET owner = ? WHERE id = ?", (current_owner(), run_id))

    def update_versions(self, run_id: int, versions: dict[str, str]) -> None:
        """Merge facts learned later (device name and driver come with the first evaluation)."""
        with self._tx() as db:
            row = db.execute("SELECT versions FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = {**json.loads(row["versions"]), **versions}
            db.execute("UPDATE runs SET versions = ? WHERE id = ?", (json.dumps(merged), run_id))

    def set_run_status(self, run_id: int, status: str) -> None:
        finished = _now() if status == "finished" else None
        with self._tx() as db:
            db.execute("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", (status, finished, run_id))

    def add_problem(self, run_id: int, position: int, name: str, level: int | None, hash: str,
                    path: str, source: str, sizes: dict[str, Any]) -> int:
        """Register a problem of a run (idempotent: a resumed run finds the existing row)."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM problems WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()
            if row:
                return int(row["id"])
            cur = db.execute(
                "INSERT INTO problems (run_id, position, name, level, hash, path, source, sizes) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, position, name, level, hash, path, source, json.dumps(sizes)),
            )
            return int(cur.lastrowid)

    def set_baselines(self, problem_id: int, eager: Timing | None, compiled: Timing | None, error: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE problems SET eager = ?, compiled = ?, baseline_error = ?, baselines_done = 1 WHERE id = ?",
                (_timing_json(eager), _timing_json(compiled), redact.scrub(error) if error else error, problem_id),
            )

    def reopen_unmeasured(self, run_id: int) -> list[str]:
        """Open again the problems of a run whose baselines failed and that have no candidate (a
        timeout, an out-of-memory, a harness fault: nothing was measured, so nothing is redone);
        a finished run that had any runs again. Returns their names."""
        with self._tx() as db:
            rows = db.execute(f"SELECT id, name FROM problems p WHERE {_UNMEASURED} ORDER BY position", (run_id,)).fetchall()
            for r in rows:
                db.execute("UPDATE problems SET eager = NULL, compiled = NULL, baseline_error = NULL,"
                           " baselines_done = 0, done = 0 WHERE id = ?", (r["id"],))
            if rows:
                db.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?", (run_id,))
            return [str(r["name"]) for r in rows]

    def resumable_run_id(self) -> int | None:
        """The run `--resume` continues: the latest unfinished one, else the latest run if some of
        its problems' baselines failed (see reopen_unmeasured)."""
        run_id = self.latest_run_id(unfinished_only=True)
        if run_id is not None:
            return run_id
        last = self.latest_run_id()
        if last is not None and self._rows(f"SELECT 1 FROM problems p WHERE {_UNMEASURED} LIMIT 1", (last,)):
            return last
        return None

    def set_problem_flags(self, problem_id: int, flags: list[str]) -> None:
        """The screen's findings for a problem of a run (an empty list: screened and fair)."""
        with self._tx() as db:
            db.execute("UPDATE problems SET flags = ? WHERE id = ?", (json.dumps(list(flags)), problem_id))

    def mark_problem_done(self, problem_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE problems SET done = 1 WHERE id = ?", (problem_id,))

    def add_proposals(self, run_id: int, problem_id: int, agent: str, round: int,
                      candidates: list[Candidate], note: str = "") -> list[int]:
        """Store one agent's answer for one round, its model calls, and the fact that it answered,
        in one transaction: a resumed run never asks (and pays) twice for the same round.
        What a model wrote (notes, replies, sources) is stored scrubbed of secrets (redact.py)."""
        ids: list[int] = []
        candidates = [redact.scrub_record(c) for c in candidates]
        note = redact.scrub(note)
        with self._tx() as db:
            for c in candidates:
                cur = db.execute(
                    "INSERT INTO candidates (problem_id, agent, round, parent_id, context, language, note, source, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (problem_id, c.agent or agent, round, c.parent_id, json.dumps(c.context, default=str),
                     c.language, c.note, c.source, _now()),
                )
                c.id = int(cur.lastrowid)
                ids.append(c.id)
                for m in c.calls:
                    self._insert_call(db, run_id, problem_id, c.id, agent, m)
            db.execute("INSERT OR REPLACE INTO proposals VALUES (?,?,?,?)", (problem_id, agent, round, note))
        return ids

    def add_calls(self, run_id: int, problem_id: int, agent: str, calls: list) -> None:
        """Model calls that produced no candidate (failed requests still cost and are reported)."""
        with self._tx() as db:
            for m in calls:
                self._insert_call(db, run_id, problem_id, None, agent, redact.scrub_record(m))

    @staticmethod
    def _insert_call(db: sqlite3.Connection, run_id: int, problem_id: int, candidate_id: int | None, agent: str, m) -> None:
        db.execute(
            "INSERT INTO model_calls (run_id, problem_id, candidate_id, agent, model, prompt, reply, tokens_in,"
            " tokens_out, latency_s, cost_usd, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, problem_id, candidate_id, agent, m.model, m.prompt, m.reply, m.tokens_in, m.tokens_out,
             m.latency_s, m.cost_usd, m.error),
        )

    def add_evaluation(self, candidate_id: int, ev: Evaluation) -> None:
        """One finished evaluation, one transaction: once this returns it survives a SIGKILL."""
        ev = redact.scrub_record(ev)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO evaluations VALUES (?,?,?,?,?,?,?,?,?,?)",
                (candidate_id, ev.verdict.value, ev.reason, ev.kind.value if ev.kind else None,
                 ev.candidate.median_ms if ev.candidate else None,
                 ev.reference.median_ms if ev.reference else None,
                 ev.compiled.median_ms if ev.compiled else None,
                 ev.wall_s, ev.to_json(), _now()),
            )

    # ---- reads ----

    def list_runs(self) -> list[RunInfo]:
        return [self._run(r) for r in self._rows("SELECT * FROM runs ORDER BY id DESC")]

    def run(self, run_id: int) -> RunInfo:
        rows = self._rows("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no run {run_id} in {self.path}")
        return self._run(rows[0])

    def latest_run_id(self, unfinished_only: bool = False) -> int | None:
        where = "WHERE status != 'finished'" if unfinished_only else ""
        rows = self._rows(f"SELECT id FROM runs {where} ORDER BY id DESC LIMIT 1")
        return int(rows[0]["id"]) if rows else None

    @staticmethod
    def _run(r: sqlite3.Row) -> RunInfo:
        return RunInfo(r["id"], r["started_at"], r["finished_at"], r["status"], r["device"],
                       json.loads(r["config"]), json.loads(r["versions"]), r["owner"] if "owner" in r.keys() else None)

    _CANDIDATE_SQL = (
        "SELECT c.*, p.name AS problem, r.device AS device, e.verdict, e.reason, e.kind, e.candidate_ms,"
        " e.reference_ms, e.compiled_ms, json_extract(e.data, '$.host') AS host,"
        " json_extract(e.data, '$.device_index') AS device_index, json_extract(e.data, '$.speedup_ci') AS speedup_ci,"
        " json_extract(e.data, '$.speedup_vs_compile_ci') AS speedup_vs_compile_ci,"
        " json_extract(e.data, '$.noise_sensitive') AS noise_sensitive, json_extract(e.data, '$.lock_wait_s') AS lock_wait_s,"
        " json_extract(e.data, '$.lock_holder') AS lock_holder FROM candidates c JOIN problems p ON p.id = c.problem_id"
        " JOIN runs r ON r.id = p.run_id LEFT JOIN evaluations e ON e.candidate_id = c.id"
    )

    @staticmethod
    def _candidate(r: sqlite3.Row) -> CandidateRow:
        return CandidateRow(
            id=r["id"], problem=r["problem"], agent=r["agent"], round=r["round"], parent_id=r["parent_id"],
            context=json.loads(r["context"]), language=r["language"], note=r["note"], source=r["source"],
            verdict=r["verdict"], reason=r["reason"] or "", kind=r["kind"], candidate_ms=r["candidate_ms"],
            reference_ms=r["reference_ms"], compiled_ms=r["compiled_ms"], device=r["device"],
            timed_on=timed_on(r["host"], r["device_index"]),
            speedup_ci=_ci(r["speedup_ci"]), speedup_vs_compile_ci=_ci(r["speedup_vs_compile_ci"]),
            noise_sensitive=bool(r["noise_sensitive"]),
            lock_wait_s=float(r["lock_wait_s"] or 0.0), lock_holder=r["lock_holder"] or "",
        )

    def candidates(self, run_id: int, problem: str | None = None) -> list[CandidateRow]:
        """Every candidate of a run (or of one of its problems), by problem order, round, agent, id."""
        sql = self._CANDIDATE_SQL + " WHERE p.run_id = ?"
        args: tuple = (run_id,)
        if problem is not None:
            sql += " AND p.name = ?"
            args += (problem,)
        rows = self._rows(sql + " ORDER BY p.position, c.round, c.agent, c.id", args)
        return [self._candidate(r) for r in rows]

    def candidates_of_problem(self, problem_id: int) -> list[CandidateRow]:
        rows = self._rows(self._CANDIDATE_SQL + " WHERE c.problem_id = ? ORDER BY c.round, c.agent, c.id", (problem_id,))
        return [self._candidate(r) for r in rows]

    def evaluation(self, candidate_id: int) -> Evaluation | None:
        rows = self._rows("SELECT data FROM evaluations WHERE candidate_id = ?", (candidate_id,))
        return Evaluation.from_dict(json.loads(rows[0]["data"])) if rows else None

    def timing_seconds(self, run_id: int) -> tuple[int, float]:
        """How many candidates' evaluations the run stored, and the seconds they spent in their
        timing phases (the device held exclusively: phases_s["timing"] never overlap)."""
        rows = self._rows(
            "SELECT COUNT(*) AS n, COALESCE(SUM(json_extract(e.data, '$.phases_s.timing')), 0.0) AS t FROM evaluations e"
            " JOIN candidates c ON c.id = e.candidate_id JOIN problems p ON p.id = c.problem_id WHERE p.run_id = ?",
            (run_id,))
        return (int(rows[0]["n"]), float(rows[0]["t"])) if rows else (0, 0.0)

    def lock_waits(self, run_id: int) -> tuple[int, float]:
        """How many of the run's evaluations waited for another kernelswarm process's hold on the
        device (Evaluation.lock_wait_s), and the seconds they waited in all."""
        rows = self._rows(
            "SELECT COUNT(*) AS n, COALESCE(SUM(json_extract(e.data, '$.lock_wait_s')), 0.0) AS t FROM evaluations e"
            " JOIN candidates c ON c.id = e.candidate_id JOIN problems p ON p.id = c.problem_id"
            " WHERE p.run_id = ? AND COALESCE(json_extract(e.data, '$.lock_holder'), '') != ''", (run_id,))
        return (int(rows[0]["n"]), float(rows[0]["t"])) if rows else (0, 0.0)

    def log_tails(self, run_id: int) -> dict[int, str]:
        """Candidate id -> the tail of its process's output, for evaluations that kept one."""
        rows = self._rows(
            "SELECT e.candidate_id AS id, json_extract(e.data, '$.log_tail') AS log FROM evaluations e"
            " JOIN candidates c ON c.id = e.candidate_id JOIN problems p ON p.id = c.problem_id WHERE p.run_id = ?",
            (run_id,))
        return {int(r["id"]): str(r["log"]) for r in rows if r["log"]}

    def proposed(self, problem_id: int) -> set[tuple[str, int]]:
        """(agent, round) pairs already asked for this problem."""
        return {(r["agent"], r["round"]) for r in self._rows("SELECT agent, round FROM proposals WHERE problem_id = ?", (problem_id,))}

    def problem_rows(self, run_id: int) -> list[dict[str, Any]]:
        """Raw problem registrations, for resuming: name, level, hash, path, source, sizes, baselines."""
        out = []
        for r in self._rows("SELECT * FROM problems WHERE run_id = ? ORDER BY position", (run_id,)):
            d = dict(r)
            d["sizes"] = json.loads(d["sizes"])
            d["eager"], d["compiled"] = _timing(d["eager"]), _timing(d["compiled"])
            d["flags"] = json.loads(d["flags"]) if d.get("flags") else None  # None: not screened (older stores)
            out.append(d)
        return out

    def problem_results(self, run_id: int) -> list[ProblemResult]:
        cands = self.candidates(run_id)
        min_gain = float(self.run(run_id).config.get("min_gain", DEFAULT_MIN_GAIN))
        out = []
        for p in self.problem_rows(run_id):
            mine = [c for c in cands if c.problem == p["name"]]
            out.append(select(p, mine, min_gain))
        return out

    def run_span_s(self, run_id: int) -> float:
        """Seconds from a run's start to its finish, or to its last stored evaluation."""
        rows = self._rows(
            "SELECT r.started_at AS s, COALESCE(r.finished_at, MAX(e.created_at), r.started_at) AS f FROM runs r"
            " LEFT JOIN problems p ON p.run_id = r.id LEFT JOIN candidates c ON c.problem_id = p.id"
            " LEFT JOIN evaluations e ON e.candidate_id = c.id WHERE r.id = ?", (run_id,))
        if not rows or rows[0]["s"] is None:
            return 0.0
        parse = _dt.datetime.fromisoformat
        return (parse(rows[0]["f"]) - parse(rows[0]["s"])).total_seconds()

    def run_cost(self, run_id: int) -> float:
        rows = self._rows("SELECT COALESCE(SUM(cost_usd), 0) AS s FROM model_calls WHERE run_id = ?", (run_id,))
        return float(rows[0]["s"])

    def agent_costs(self, run_id: int) -> list[AgentCost]:
        rows = self._rows(
            "SELECT agent, COUNT(*) AS n, SUM(error != '') AS errors, SUM(tokens_in) AS ti, SUM(tokens_out) AS tout,"
            " SUM(cost_usd) AS cost, SUM(latency_s) AS lat FROM model_calls WHERE run_id = ? GROUP BY agent ORDER BY agent",
            (run_id,),
        )
        return [AgentCost(r["agent"], r["n"], r["errors"] or 0, r["ti"] or 0, r["tout"] or 0, r["cost"] or 0.0, r["lat"] or 0.0)
                for r in rows]

    def model_calls(self, run_id: int, agent: str | None = None) -> list[CallRow]:
        sql = ("SELECT m.*, p.name AS problem FROM model_calls m JOIN problems p ON p.id = m.problem_id"
               " WHERE m.run_id = ?")
        args: tuple = (run_id,)
        if agent is not None:
            sql += " AND m.agent = ?"
            args += (agent,)
        return [CallRow(r["id"], r["agent"], r["model"], r["problem"], r["candidate_id"], r["prompt"], r["reply"],
                        r["tokens_in"], r["tokens_out"], r["latency_s"], r["cost_usd"], r["error"])
                for r in self._rows(sql + " ORDER BY m.id", args)]

    def best_on_other_device(self, problem_hash: str, device: str) -> CandidateRow | None:
        """The fastest accepted candidate for the same problem written for another device (any run)."""
        rows = self._rows(
            self._CANDIDATE_SQL + " WHERE p.hash = ? AND r.device != ? AND e.verdict = ?"
            " ORDER BY e.candidate_ms / e.reference_ms LIMIT 1",
            (problem_hash, device, Verdict.ACCEPTED.value),
        )
        return self._candidate(rows[0]) if rows else None


def _points(c: CandidateRow, compile_ms: float | None) -> list[float | None]:
    """A candidate's paired speedups against eager and (where the run measured it) torch.compile.
    An evaluation without torch.compile's time in its window falls back on the run's."""
    if compile_ms is None:
        return [c.speedup]
    return [c.speedup, c.speedup_vs_compile or (compile_ms / c.candidate_ms if c.candidate_ms else None)]


def _point_vs_best(c: CandidateRow, compile_ms: float | None) -> float | None:
    both = _points(c, compile_ms)
    return None if None in both else min(both)


def interval_vs_best(c: CandidateRow, compile_ms: float | None) -> tuple[float, float] | None:
    """A candidate's interval against the faster of its baselines: the lower ends of its intervals
    against eager and (where measured) torch.compile. A record without an interval (stored before
    intervals existed) counts its point estimate as one."""
    cis = []
    for ci, point in zip((c.speedup_ci, c.speedup_vs_compile_ci), _points(c, compile_ms)):
        if ci is None and point is None:
            return None
        cis.append(ci or (point, point))
    return min(lo for lo, _ in cis), min(hi for _, hi in cis)


def select(problem: dict[str, Any], cands: list[CandidateRow], min_gain: float = DEFAULT_MIN_GAIN) -> ProblemResult:
    """The selection rule: of the accepted candidates whose interval against the faster baseline
    clears 1 + min_gain, the fastest; otherwise the baseline stands, and `selection` says why."""
    eager: Timing | None = problem["eager"]
    compiled: Timing | None = problem["compiled"]
    accepted = [c for c in cands if c.verdict == Verdict.ACCEPTED.value and c.candidate_ms is not None]
    with_compile = compiled.median_ms if compiled is not None else None

    def speed(c: CandidateRow) -> tuple[float, int]:
        return (_point_vs_best(c, with_compile) or c.speedup or 0.0, -c.id)

    fastest = max(accepted, key=speed, default=None)
    decisions = {c.id: intervals.decide(interval_vs_best(c, with_compile), min_gain) for c in accepted}
    winners = [c for c in accepted if decisions[c.id] is SpeedDecision.FASTER]
    best = max(winners, key=speed, default=None) if eager is not None else None
    if eager is None:
        selection = Selection.NO_BASELINE
    elif best is not None:
        selection = Selection.WIN
    elif fastest is None:
        selection = Selection.NONE_ACCEPTED
    else:
        undecided = any(d is SpeedDecision.UNDECIDED for d in decisions.values())
        selection = Selection.TOO_NOISY if undecided else Selection.NOT_FASTER
    return ProblemResult(
        name=problem["name"], level=problem["level"], hash=problem["hash"], path=problem["path"],
        source=problem["source"], eager_ms=eager.median_ms if eager else None,
        compile_ms=compiled.median_ms if compiled else None, baseline_error=problem["baseline_error"],
        done=bool(problem["done"]), n_candidates=len(cands), n_accepted=len(accepted), best=best,
        fastest_accepted=fastest, flags=tuple(problem.get("flags") or ()), selection=selection, min_gain=min_gain,
    )
