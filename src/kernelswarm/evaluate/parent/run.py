"""One evaluation, from source text to verdict. Runs in the trusted process; standard library only.

Order matters (TRUST.md): the candidate runs first, in its own process, on inputs it builds from
seeds it learns one at a time; it returns raw outputs and claimed times. Only after it has been
killed does the clean reference worker compute the expected outputs and judge them. No
expected output exists anywhere while candidate code is alive.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernelswarm import intervals, redact
from kernelswarm.evaluate.parent import (
    autogroup,
    baselines,
    burstvouch,
    judge,
    timing,
    wallclock,
)
from kernelswarm.evaluate.parent.devicelock import NO_LOCK, DeviceLock, NoLock
from kernelswarm.evaluate.parent.kind import label_of
from kernelswarm.evaluate.parent.options import EvalOptions
from kernelswarm.evaluate.parent.own_kernels import own_kernels
from kernelswarm.evaluate.parent.procs import WorkerFailed, WorkerProcess, init_message
from kernelswarm.evaluate.parent.static import screen_source
from kernelswarm.evaluate.worker import contain
from kernelswarm.locks import device_lock
from kernelswarm.printable import printable_fields
from kernelswarm.problems.load import Problem, ProblemError, reference_failed
from kernelswarm.records import (
    Check,
    Evaluation,
    Kind,
    Mode,
    Precision,
    Timing,
    Verdict,
)

# Stress trials scale floating inputs small and large; fp16's range (max 65504) gets milder scales.
_STRESS_SCALES = {"fp16": (1e-1, 1e1)}
_DEFAULT_STRESS = (1e-2, 1e2)
# ...first all elements at once, then in MIXED_TRIALS trials each element on its own: scaled large
# with probability MIXED_SHARE, small with the same, else as drawn. A uniform scaling shows in any
# one element (a candidate stable only when `|x[0, 0]|` is large passes it); a mixed one does not:
# probing k elements misses the large ones with probability (1 - MIXED_SHARE)**k per trial.
MIXED_TRIALS, MIXED_SHARE = 2, 1.0 / 32
# ...and once with each slice of the first dimension scaled by its own factor between the two, so
# that magnitudes between the scales are met too (stress graded: cheat/mid_scale_softmax).
_SECOND_POISON = 1234.5  # the determinism re-run poisons with a finite value instead of NaN


def _seed() -> int:
    return secrets.randbits(62)


_stale_cleaned = False


def _clean_stale_once() -> None:
    """Once per process: what an earlier, SIGKILLed evaluator left (contain.clean_stale)."""
    global _stale_cleaned
    if not _stale_cleaned:
        _stale_cleaned = True
        contain.clean_stale()


@dataclass
class _State:
    """What one evaluation accumulates before the verdict."""

    options: EvalOptions
    lock: DeviceLock | NoLock
    base_deadline: float
    checks: list[Check] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    pending: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)  # (label, check msg, outputs blob)
    mode: Mode = Mode.INFERENCE  # train: outputs are a call's outputs followed by its gradients
    # From the plain trials' checks: the float32 reference's own normwise error and what the
    # policy allowed there; timed outputs' projections are judged by them (compare.projection_allowance).
    ref_rel: float = 0.0
    allowed_norm: float = 0.0
    work_pending: bool = False  # the reference's worker owes the floor's count (op_work)
    # Replies to the first of `pending`'s checks, asked while the kept outputs were collected
    # (judge.collect_checking), judged in order with the rest (judge.outputs).
    checked: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.waited_before = self.lock.waited_s()

    @property
    def waited_s(self) -> float:
        """Time this evaluation spent waiting for the device lock."""
        return self.lock.waited_s() - self.waited_before

    @property
    def deadline(self) -> float:
        """--timeout bounds the candidate's own time: waiting for the device is added back."""
        return self.base_deadline + self.waited_s

    def fail(self, verdict: Verdict, name: str, detail: str) -> _Verdict:
        self.checks.append(Check(name, False, detail))
        return _Verdict(verdict, f"{name}: {detail}")

    def ok(self, name: str, detail: str = "") -> None:
        self.checks.append(Check(name, True, detail))


class _Verdict(Exception):
    def __init__(self, verdict: Verdict, reason: str, noise_sensitive: bool = False) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason
        self.noise_sensitive = noise_sensitive


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
    st = _State(options, lock, base_deadline=started + options.timeout_s, mode=options.mode_for(problem))
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
            ask = {"op": "spec", "seed": _seed(), "precision": options.precision.value,
                   "work_key": _work_key(problem, options.device), "defer_work": st.mode is not Mode.TRAIN}
            spec = baselines.reference_spec(ref, ask, lock, st.deadline)
        except WorkerFailed as e:
            raise reference_failed(problem.path, e.message) from None
        if "train_error" in spec:  # KS-TRAIN: nothing for a backward to reach
            raise ProblemError(f"{problem.path}: training mode: {spec['train_error']}")
        if spec.pop("work_deferred", False):  # counted while the candidate's trials run (op_work)
            ref.send({**ask, "op": "work"})
            st.work_pending = True
        if st.mode is not Mode.TRAIN:  # (a training candidate's frames carry gradients as well)
            # A candidate's frames carry its outputs and no more: a huge one is a protocol
            # violation, not something for the evaluator to allocate.
            cand.chan.max_blob = 2 * _output_bytes(spec["spec"]) + (16 << 20)
        ev.versions = {k: str(v) for k, v in spec.get("versions", {}).items()}
        ev.sol_ms = spec.get("sol_ms")
        st.phases["start"] = time.monotonic() - t
        ct = _run_candidate(st, cand, ref, flusher, problem, candidate_source, spec, workdir, lock)
        ev.candidate = ct.timing
        ev.sol_ms = spec.get("sol_ms")  # (a deferred count arrived before the timing)
        t = time.monotonic()
        # The flusher is as clean as the reference's worker and idle now: the checks are shared
        # between them. The candidate's worker profiles meanwhile (timing.send_label), where it
        # was asked to: nothing here is timed.
        clean = _clean(st, ref, flusher)
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
            ev.compiled = _in_window(pair, ev.reference)
        st.phases["baseline"] = time.monotonic() - t
        _plausible(st, ct, spec)
        ev.custom_share = None if ct.profile_skipped else ct.custom_share
        ev.kind = _label(st, ct, candidate_source)
        if options.strict and ev.kind is not Kind.CUSTOM_KERNEL:
            raise st.fail(Verdict.REJECTED, "strict", "no custom kernel did the work (" + st.checks[-1].detail + ")")
        ev.verdict = Verdict.ACCEPTED
        ev.reason = f"correct ({ev.kind.value}); max normwise error {ev.max_rel_error:.2g}"
        t = time.monotonic()
        _intervals(ev, pair)
        _vouch(st, ev, ct)
        st.phases["intervals"] = time.monotonic() - t
    except _Verdict as v:
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


def _in_window(pair: tuple[Timing, Timing], reference: Timing) -> Timing:
    """torch.compile's time in the candidate's window: its ratio to eager (timed side by side in
    `pair`), times the eager median of this window."""
    eager, compiled = pair
    scale = reference.median_ms / eager.median_ms
    if compiled.samples:
        return Timing.from_samples([t * scale for t in compiled.samples])
    return dataclasses.replace(compiled, **{k: getattr(compiled, k) * scale
                                            for k in ("median_ms", "mean_ms", "min_ms", "p10_ms", "p90_ms")})


def _intervals(ev: Evaluation, pair: tuple[Timing, Timing] | None) -> None:
    """The speedups' intervals, from the paired samples (kernelswarm.intervals)."""
    ref, cand = ev.reference, ev.candidate
    if not (ref and cand and ref.samples and len(ref.samples) == len(cand.samples)):
        return
    ev.speedup_ci = intervals.ratio_ci(ref.samples, cand.samples)
    if pair is not None and pair[0].samples and len(pair[0].samples) == len(pair[1].samples):
        eager, compiled = pair
        ev.speedup_vs_compile_ci = intervals.chained_ci([(ref.samples, cand.samples), (compiled.samples, eager.samples)])


# KERNELSWARM_VOUCH=0: the claims counted as charged, however little the wall clock resolved
# (the behaviour before session 14), for before-and-after measurements on other devices: on a GPU
# a short call's per-call clock may resolve less than its gain (see wallclock.vouch).
VOUCH = os.environ.get("KERNELSWARM_VOUCH", "1") != "0"
# KERNELSWARM_BURST_VOUCH=0: the per-call clock vouches alone (before session 15), for comparison.
BURST_VOUCH = os.environ.get("KERNELSWARM_BURST_VOUCH", "1") != "0"


def _vouch(st: _State, ev: Evaluation, ct: timing.CandidateTiming) -> None:
    """A speedup counted only as far as the wall clock can confirm it (wallclock.vouch): the
    interval's low end goes down to what it vouches for (the decision follows: undecided where
    the clock cannot resolve the claimed gain), and a claimed gain beyond that, and beyond 1, is
    not counted. After the speed-of-light check, which judges the claims themselves."""
    ref, cand = ev.reference, ev.candidate
    if not (ref and cand and cand.samples and ct.resolution) or not VOUCH:
        return
    bursts = burstvouch.merged(ct.bursts) if BURST_VOUCH else None
    v = wallclock.vouch(ref.median_ms, ct.claimed_ms, cand.median_ms, ct.resolution,
                        burstvouch.bound_ms(bursts), burstvouch.detail(bursts) if bursts else "")
    st.ok("resolution", v.detail)
    if ev.speedup_ci is not None:
        ev.speedup_ci = (min(ev.speedup_ci[0], v.vouched), ev.speedup_ci[1])
    if ev.speedup_vs_compile_ci is not None and ev.compiled is not None:
        low = v.vouched * ev.compiled.median_ms / ref.median_ms
        ev.speedup_vs_compile_ci = (min(ev.speedup_vs_compile_ci[0], low), ev.speedup_vs_compile_ci[1])
    if v.cap > 1.0:
        ev.candidate = Timing.from_samples([t * v.cap for t in cand.samples])


def _run_candidate(st: _State, cand: WorkerProcess, ref: WorkerProcess, flusher: WorkerProcess, problem: Problem, source: str, spec: dict,
                   workdir: Path, lock: Any) -> timing.CandidateTiming:
    """Everything the candidate process does: import, trials, labelling, timing (`ref` times the
    calibration calls beside it)."""
    t = time.monotonic()
    cand.finish_call("init", st.deadline)
    path = str(workdir / "candidate" / "candidate.py")
    Path(path).write_text(source)
    if os.environ.get("KERNELSWARM_NO_SANDBOX"):
        st.ok("sandbox", "off (KERNELSWARM_NO_SANDBOX is set): the candidate could write anywhere its user may")
    else:
        try:
            st.ok("sandbox", str(cand.call({"op": "sandbox"}, deadline=st.deadline)[0]["sandbox"]))
        except WorkerFailed as e:  # the kernel offered Landlock and then refused it: run nothing
            raise st.fail(Verdict.RUNTIME_ERROR, "sandbox", f"the evaluator could not sandbox the candidate: {e.message}") from None
    cand.call({"op": "import", "source": source, "path": path}, deadline=st.deadline)
    st.phases["import"] = time.monotonic() - t
    ct = _candidate_on_device(st, cand, ref, flusher, spec, lock)
    if own_kernels(source):
        timing.send_label(cand, ct)  # answered after the clean workers' checks (take_label)
    else:
        # Its kind is decided without a profile (kind.label_of): the parent's own reading of the
        # source finds no kernel of its own, so no reply of its worker could make it a custom
        # kernel. The profiler's start (5-6 s of the candidate's worker on the H200) is saved.
        ct.profile_skipped = "its source defines and builds no kernel of its own"
    return ct


def _candidate_on_device(st: _State, cand: WorkerProcess, ref: WorkerProcess, flusher: WorkerProcess, spec: dict,
                         lock: Any) -> timing.CandidateTiming:
    o = st.options
    t = time.monotonic()
    w_a, w_b = _seed(), _seed()
    plan: list[tuple[str, dict[str, Any]]] = []
    seeds = [_seed() for _ in range(max(2, o.trials))]
    split = max(1, (len(seeds) + 1) // 2)
    for i, s in enumerate(seeds):
        plan.append((f"trial {i}", {"input_seed": s, "weight_seed": w_a if i < split else w_b, "scale": 1.0}))
        if i == 0:
            plan.append(("determinism re-run", {"input_seed": s, "weight_seed": w_a, "scale": 1.0, "poison": _SECOND_POISON}))
    if o.stress:
        scales = _STRESS_SCALES.get(Precision(o.precision).value, _DEFAULT_STRESS)
        plan += [(f"stress x{scale:g}", {"input_seed": _seed(), "weight_seed": w_b, "scale": scale}) for scale in scales]
        mixed = [scales[0], scales[1], MIXED_SHARE]
        plan += [(f"stress mixed {k} (x{scales[0]:g} and x{scales[1]:g} on {MIXED_SHARE:.3g} of the elements each)",
                  {"input_seed": _seed(), "weight_seed": w_b, "scale": 1.0, "mixed": mixed}) for k in range(MIXED_TRIALS)]
        plan.append((f"stress graded (each row scaled between x{scales[0]:g} and x{scales[1]:g})",
                     {"input_seed": _seed(), "weight_seed": w_b, "scale": 1.0, "graded": list(scales)}))
    # On every device and in training mode, stress trials or not: inputs with the structure real
    # models feed and random draws never make (worker/structured.py says what it judges).
    plan.append(("structured (constant slices, exact zeros, ties)",
                 {"input_seed": _seed(), "weight_seed": w_b, "scale": 1.0, "structured": True}))
    _trials(st, cand, spec, plan)
    st.ok("output", "plain tensors of their own storage, inputs unchanged")
    st.phases["trials"] = time.monotonic() - t
    if st.work_pending:  # the floor's count, asked after `spec`, before the reference is timed
        t = time.monotonic()
        spec.update(ref.finish_call("work", st.deadline)[0])
        st.work_pending = False
        st.phases["work_wait"] = time.monotonic() - t
    flusher.finish_call("init", st.deadline)
    with lock.exclusive("candidate timing"):
        t = time.monotonic()
        ct = timing.time_candidate(cand, ref, o, st.deadline, spec["spec"], w_b, output_bytes=_output_bytes(spec["spec"]),
                                   flusher=flusher)
        st.phases["timing"] = time.monotonic() - t
        st.phases["settle"] = ct.settled_ms / 1000.0
    t = time.monotonic()  # outputs kept during timing are copied out after it, the device free again,
    bad = judge.collect_checking(st, _clean(st, ref, flusher), cand, ct)  # the trials checked meanwhile
    st.phases["collect"] = time.monotonic() - t
    st.pending.extend(ct.pending)
    if bad:
        raise st.fail(Verdict.REJECTED, "output", bad)
    integrity = cand.call({"op": "integrity"}, deadline=st.deadline)[0]
    if integrity["patched"]:
        raise st.fail(Verdict.REJECTED, "timer-integrity", "timing functions were replaced: " + ", ".join(integrity["patched"]))
    if integrity["python_threads"] > 0 or ct.threads_left:
        raise st.fail(Verdict.REJECTED, "threads", "the candidate left Python threads running")
    st.ok("timer-integrity", "timing functions unchanged, no threads left behind")
    return ct


def _clean(st: _State, ref: WorkerProcess, flusher: WorkerProcess) -> tuple[WorkerProcess, ...]:
    """The clean workers that check outputs: the flusher is as clean as the reference's worker.
    (In training mode only the reference's worker knows the outputs' roles.)"""
    return (ref, flusher) if st.mode is not Mode.TRAIN else (ref,)


def _trials(st: _State, cand: WorkerProcess, spec: dict, plan: list[tuple[str, dict[str, Any]]]) -> None:
    for label, trial in plan:
        reply, blob = cand.call({"op": "run", "spec": spec["spec"], **trial}, deadline=st.deadline)
        if "bad_output" in reply:
            raise st.fail(Verdict.REJECTED, "output", reply["bad_output"])
        if "bad_train" in reply:  # KS-TRAIN: a detached output, unmatched parameters
            raise st.fail(Verdict.INCORRECT, "gradients", f"{label}: {reply['bad_train']}")
        if reply.get("inputs_mutated"):
            raise st.fail(Verdict.REJECTED, "inputs-unchanged", f"the candidate modified its inputs in place ({label})")
        if reply.get("python_threads", 0) > 0:
            raise st.fail(Verdict.REJECTED, "threads", "the candidate left Python threads running after returning")
        msg = {"op": "check", "fingerprint_at_return": reply["fingerprint_at_return"], **trial}
        if reply.get("missing_grads"):
            msg["missing_grads"] = [str(n) for n in reply["missing_grads"]]
        msg.pop("poison", None)
        st.pending.append((label, msg, blob))


def _output_bytes(specs: list[dict]) -> int:
    sizes = {"float64": 8, "float32": 4, "int64": 8, "int32": 4, "float16": 2, "bfloat16": 2, "bool": 1, "uint8": 1, "int8": 1}
    total = 0
    for s in specs:
        n = 1
        for d in s["shape"]:
            n *= d
        total += n * sizes.get(s["dtype"], 4)
    return total


def _plausible(st: _State, ct: timing.CandidateTiming, spec: dict) -> None:
    cand = ct.timing
    floor = spec.get("floor_ms")
    if floor is not None:
        if cand.median_ms < floor:
            raise st.fail(Verdict.REJECTED, "speed-of-light", f"median {cand.median_ms:.4g} ms is below the physical floor {floor:.4g} ms")
        sol = spec.get("sol_ms") or floor
        st.ok("speed-of-light", f"median {cand.median_ms:.4g} ms >= floor {floor:.4g} ms; {sol / cand.median_ms:.0%} of speed of light ({sol:.4g} ms)")
    else:
        st.ok("speed-of-light", "floor not available: " + spec.get("floor_error", "unknown"))
    if not ct.wall_ok:
        v = st.fail(Verdict.REJECTED, "wall-clock", ct.wall_detail)
        v.noise_sensitive = ct.noise_sensitive
        raise v
    if ct.unchecked:  # neither a lie nor a claim to stand on: the load (or a slow call) used the time
        v = st.fail(Verdict.TIMEOUT, "wall-clock", "no time was left to check the claimed times in bursts "
                    f"({ct.wall_detail}); the machine may be too busy for this time limit")
        v.noise_sensitive = True
        raise v
    st.ok("wall-clock", ct.wall_detail)


def _label(st: _State, ct: timing.CandidateTiming, source: str | None = None) -> Kind:
    kind, detail = label_of(ct, st.options.device, source)
    st.ok("kind", detail)
    return kind


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
        import os

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


