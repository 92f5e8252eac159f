"""One evaluation, from source text to verdict. Runs in the trusted process; standard library only.

Order matters (TRUST.md): the candidate runs first, in its own process, on inputs it builds from
seeds it learns one at a time; it returns raw outputs and claimed times. Only after it has been
killed does the clean reference worker compute the expected outputs and judge them. No
expected output exists anywhere while candidate code is alive.

Here: the workers' start and end, and the order of the phases. The candidate's own phase is
candidate_run.py, the clean workers' checks judge.py, what an accepted verdict needs and carries
acceptance.py; state.py holds what they accumulate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kernelswarm import redact
from kernelswarm.evaluate.parent import acceptance, autogroup, baselines, judge, timing
from kernelswarm.evaluate.parent.candidate_run import fresh_seed, output_bytes, run_candidate
from kernelswarm.evaluate.parent.devicelock import NO_LOCK
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.parent.procs import WorkerFailed, WorkerProcess, init_message
from kernelswarm.evaluate.parent.state import State, VerdictReached, clean_workers
from kernelswarm.evaluate.wire import devfd
from kernelswarm.evaluate.parent.static import screen_source
from kernelswarm.evaluate.worker import contain
from kernelswarm.locks import device_lock
from kernelswarm.printable import printable_fields
from kernelswarm.problems.load import Problem, ProblemError, reference_failed
from kernelswarm.records import Check, Evaluation, Kind, Mode, Precision, Timing, Verdict

_stale_cleaned = False


def _clean_stale_once() -> None:
    """Once per process: what an earlier, SIGKILLed evaluator left (contain.clean_stale)."""
    global _stale_cleaned
    if not _stale_cleaned:
        _stale_cleaned = True
        contain.clean_stale()


# The longest a check's detail is kept (what the evaluator writes stays far below it).
DETAIL_LIMIT = 4000


def evaluate(problem: Problem, candidate_source: str, options: EvalOptions | None = None) -> Evaluation:
    """Judge one candidate for one problem. Raises ProblemError when the problem itself is unusable.

    A very large speedup over the faster baseline is only believed after a second, independent
    evaluation with fresh seeds agrees; the figures of the one with the lower speedup are kept.
    """
    options = options or EvalOptions()
    # No other kernelswarm process judges on this device meanwhile (locks.device_lock); a caller
    # that holds it already (the supervisor, `kernelswarm eval`) passes straight through, and
    # time spent waiting for it is before any deadline starts.
    with device_lock(options.device, options.gpu).hold() as waited:
        ev = _evaluate_held(problem, candidate_source, options)
    ev.waited_for(waited.seconds, waited.holder)  # shown by the progress display and the report
    return ev


def _evaluate_held(problem: Problem, candidate_source: str, options: EvalOptions) -> Evaluation:
    first, pair = _evaluate_once(problem, candidate_source, options)
    base = min((t.median_ms for t in (first.reference, first.compiled) if t), default=None)
    if not first.correct or base is None or base / first.candidate.median_ms <= options.reverify_above:
        return first
    again, _ = _evaluate_once(problem, candidate_source, dataclasses.replace(
        options, reference=pair[0] if pair else None, compiled=pair[1] if pair else None, baseline_compile=False))
    if not again.correct:
        again.reason = f"re-verification with fresh seeds: {again.reason}"
        again.checks.insert(0, Check("re-verified", False, "a second evaluation with fresh seeds did not agree"))
        return again
    slower = min(first, again, key=lambda e: e.speedup or 0.0)
    for name in ("reference", "candidate", "compiled", "speedup_ci", "speedup_vs_compile_ci"):
        setattr(first, name, getattr(slower, name))
    best = min((t.median_ms for t in (first.reference, first.compiled) if t), default=base)
    first.checks.append(Check("re-verified", True, f"{best / first.candidate.median_ms:.1f}x over the faster baseline held on a second evaluation with fresh seeds"))
    first.wall_s += again.wall_s
    return first


def _screen(source: str, options: EvalOptions) -> list:
    # Once the policy allows TF32 (or lower), switching it on is the candidate's own business.
    if options.precision is Precision.FP32:
        return screen_source(source)
    return screen_source(source, allow_tf32=True)


def _evaluate_once(problem: Problem, candidate_source: str, options: EvalOptions) -> tuple[Evaluation, tuple[Timing, Timing] | None]:
    """One evaluation, and the eager and torch.compile timings paired in one window that its
    figures against torch.compile come from (the run's, or measured here), if any."""
    started = time.monotonic()
    # Timing holds the supervisor's device lock, which stops every other evaluation's workers
    # meanwhile; this evaluation's own workers are registered with it, to be stopped in turn.
    lock = options.timing_lock or NO_LOCK
    st = State(options, lock, base_deadline=started + options.timeout_s, mode=options.mode_for(problem))
    nice = autogroup.requested_nice()  # a bad $KERNELSWARM_AUTOGROUP_NICE stops here (BadNice)
    options.precision = Precision(options.precision)
    ev = Evaluation(problem=problem.name, device=options.device, verdict=Verdict.REJECTED, reason="",
                    precision=options.precision, problem_hash=problem.hash, mode=st.mode)
    _clean_stale_once()
    workdir = Path(tempfile.mkdtemp(prefix=contain.PREFIX))
    contain.claim_folder(workdir)
    ref = cand = flusher = None
    pair = (options.reference, options.compiled) if options.reference and options.compiled else None
    try:
        findings = _screen(candidate_source, options) if options.static_screen else []
        if findings:
            f = findings[0]
            more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
            raise st.fail(Verdict.REJECTED, "static", f"line {f.line}: {f.what}: {f.why}{more}")
        st.ok("static", "no banned constructs" if options.static_screen else "skipped")
        t = time.monotonic()
        ref = WorkerProcess("reference", workdir / "reference", options.device, lock=lock, gpu=options.gpu)
        contain.note_session(workdir, ref.proc.pid)
        cand = WorkerProcess("candidate", workdir / "candidate", options.device, _memory_limit(options.device), lock=lock,
                             gpu=options.gpu, seed=options.compile_seed)
        contain.note_session(workdir, cand.proc.pid)
        # A third process, as clean as the reference's, flushes the caches before every timed call
        # of both (timing.flush_outside): each call then follows another process's flush alike.
        flusher = WorkerProcess("reference", workdir / "flusher", options.device, lock=lock, gpu=options.gpu)
        contain.note_session(workdir, flusher.proc.pid)
        # One weight for the three workers' scheduling groups before any of them works (autogroup.py).
        st.ok("scheduling", autogroup.equalize(
            {"reference": ref.proc.pid, "candidate": cand.proc.pid, "flush": flusher.proc.pid}, nice).detail)
        init = init_message(problem, options)
        cand.send(init)  # the candidate worker starts torch and the device while the reference works
        flusher.send(init)
        try:
            ref.call(init, deadline=st.deadline)
            ask = {"op": "spec", "seed": fresh_seed(), "precision": options.precision.value,
                   "work_key": _work_key(problem, options.device), "defer_work": st.mode is not Mode.TRAIN}
            with _fd_probe(options.device) as probe:  # can a clean worker take descriptors from here?
                spec = baselines.reference_spec(ref, {**ask, **probe}, lock, st.deadline)
        except WorkerFailed as e:
            raise reference_failed(problem.path, e.message) from None
        if "train_error" in spec:  # KS-TRAIN: nothing for a backward to reach
            raise ProblemError(f"{problem.path}: training mode: {spec['train_error']}")
        if spec.pop("work_deferred", False):  # counted while the candidate's trials run (op_work)
            ref.send({**ask, "op": "work"})
            st.work_pending = True
        st.output_bytes = output_bytes(spec["spec"])
        if st.mode is not Mode.TRAIN:  # (a training candidate's frames carry gradients as well)
            # A candidate's frames carry its outputs and no more: a huge one is a protocol
            # violation, not something for the evaluator to allocate.
            cand.chan.max_blob = 2 * st.output_bytes + (16 << 20)
        if spec.pop("fd_probe", None) == "":  # outputs may stay on the device (wire/devfd.py)
            st.device_bytes = DEVICE_OUTPUT_BYTES
        ev.versions = {k: str(v) for k, v in spec.get("versions", {}).items()}
        ev.sol_ms = spec.get("sol_ms")
        st.phases["start"] = time.monotonic() - t
        ct = run_candidate(st, cand, ref, flusher, problem, candidate_source, spec, workdir, lock)
        ev.candidate = ct.timing
        ev.sol_ms = spec.get("sol_ms")  # (a deferred count arrived before the timing)
        t = time.monotonic()
        # The flusher is as clean as the reference's worker and idle now: the checks are shared
        # between them. The candidate's worker profiles meanwhile (timing.send_label), where it
        # was asked to: nothing here is timed.
        clean = clean_workers(st, ref, flusher)
        ev.max_rel_error = judge.outputs(st, clean)
        st.phases["check.trials"] = time.monotonic() - t
        judge.timed_calls(st, clean, ct)
        st.phases["check"] = time.monotonic() - t
        t = time.monotonic()
        if not ct.profile_skipped:
            timing.take_label(cand, ct, st.deadline)
        st.phases["label_wait"] = time.monotonic() - t
        cand.kill()
        if cand.survivors:  # nothing of the candidate may run while the reference is timed
            raise st.fail(Verdict.REJECTED, "contained", f"{len(cand.survivors)} of its processes could not be killed")
        if cand.exceeded:  # past a bound on what it may use, whenever that happened
            raise st.fail(Verdict.REJECTED, "resources", cand.exceeded)
        st.ok("contained", f"every process it started is gone ({cand.containment})")
        t = time.monotonic()
        ev.reference = ct.reference  # timed call by call beside the candidate's: never an earlier baseline
        if pair is None and options.baseline_compile:
            pair = baselines.compile_pair(problem, options, st.deadline, ref, spec, lock=lock)
        if pair is not None:
            ev.compiled = acceptance.in_window(pair, ev.reference)
        st.phases["baseline"] = time.monotonic() - t
        acceptance.plausible(st, ct, spec)
        ev.custom_share = None if ct.profile_skipped else ct.custom_share
        ev.kind = acceptance.label(st, ct, candidate_source)
        if options.strict and ev.kind is not Kind.CUSTOM_KERNEL:
            raise st.fail(Verdict.REJECTED, "strict", "no custom kernel did the work (" + st.checks[-1].detail + ")")
        ev.verdict = Verdict.ACCEPTED
        ev.reason = f"correct ({ev.kind.value}); max normwise error {ev.max_rel_error:.2g}"
        t = time.monotonic()
        acceptance.speedup_intervals(ev, pair)
        acceptance.vouch(st, ev, ct)
        st.phases["intervals"] = time.monotonic() - t
    except VerdictReached as v:
        ev.verdict, ev.reason, ev.kind = v.verdict, v.reason, None
        ev.noise_sensitive = v.noise_sensitive
    except WorkerFailed as e:
        verdict = {"compile_error": Verdict.COMPILE_ERROR, "timeout": Verdict.TIMEOUT,
                   "protocol": Verdict.REJECTED, "resources": Verdict.REJECTED}.get(e.kind, Verdict.RUNTIME_ERROR)
        ev.verdict, ev.reason, ev.kind = verdict, _one_line(e.message), None
        ev.noise_sensitive = verdict is Verdict.TIMEOUT  # a busy machine makes everything slower
        named = e.kind in ("protocol", "resources")
        st.checks.append(Check(e.kind if named else verdict.value, False, e.message))
        if named:
            ev.reason = f"{e.kind}: {ev.reason}"
        ev.log_tail = _trim(e.detail or (cand.log_tail() if cand else ""))
    finally:
        for w in (cand, ref, flusher):
            if w is not None:
                w.kill()
        if cand is not None and not ev.log_tail:
            # Kept for accepted candidates too: why their own extension never ran (a build error
            # they caught, a sandbox denial) is often only there.
            ev.log_tail = _trim(cand.log_tail())
        shutil.rmtree(workdir, ignore_errors=True)
        for _, _, blob in st.pending:  # sealed output files are closed now, not at some collection
            getattr(blob, "close", lambda: None)()
    ev.checks = st.checks
    for w in (ref, cand):  # worker-side time per operation, to see where a phase's time went
        if w is not None:
            st.phases.update({f"{w.role}.{op}": t for op, t in w.op_seconds.items()})
    if options.timing_lock is not None:
        st.phases["device_wait"] = st.waited_s
    ev.phases_s = {k: round(v, 3) for k, v in st.phases.items()}
    ev.wall_s = time.monotonic() - started
    # Everything here that a candidate could influence, shown as text (no terminal controls) and
    # scrubbed of secrets before anyone sees it.
    ev = printable_fields(ev, ("reason", "log_tail"))
    ev.checks = [printable_fields(c, ("detail",), limit=DETAIL_LIMIT) for c in ev.checks]
    return redact.scrub_record(ev), pair


# At most this many bytes of a candidate's outputs are left on the device at once (each trial's
# block is held until the evaluation ends, as its sealed file would be): past it, the host.
DEVICE_OUTPUT_BYTES = 16 << 30


@contextlib.contextmanager
def _fd_probe(device: str) -> Iterator[dict]:
    """On a CUDA device, a descriptor of this process (/dev/null) for the reference's worker to try
    taking (wire/devfd.probe): only where it can may a candidate's outputs stay on the device."""
    if not device.startswith("cuda") or not devfd.enabled():
        yield {}
        return
    fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield {"fd_probe": {"pid": os.getpid(), "fd": fd}}
    finally:
        os.close(fd)


def _work_key(problem: Problem, device: str) -> str:
    """Key of the cached FLOP and byte counts: the problem and the user's modules it imports."""
    from kernelswarm.problems.load import local_imports_digest

    digest = local_imports_digest(problem)
    return f"{problem.hash}|{device}" + (f"|imports={digest}" if digest else "")


def _memory_limit(device: str) -> int | None:
    """Address-space cap for CPU candidates (CUDA reserves huge virtual ranges, so none there)."""
    if device != "cpu":
        return None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return int(total * 0.6)
    except (ValueError, OSError):
        return None


def _one_line(text: str) -> str:
    # Lines end at newlines only: split at a carriage return (or another of str.splitlines's
    # breaks), a candidate's message chose what the reason showed (cheat/terminal_escape).
    lines = [line for line in text.strip().split("\n") if line.strip()]
    return (lines[-1] if lines else "unknown error")[:500]


def _trim(text: str, limit: int = 4000) -> str:
    return text[-limit:]

