"""Everything the candidate's worker does in one evaluation, in order: its import (sandboxed), the
correctness trials' plan and run, its timing beside the reference's, and the checks of what it
left behind (kept outputs, timer integrity, threads). Standard library only."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernelswarm.evaluate.parent import judge, timing
from kernelswarm.evaluate.parent.own_kernels import own_kernels
from kernelswarm.evaluate.parent.procs import WorkerFailed, WorkerProcess
from kernelswarm.evaluate.parent.state import State, clean_workers
from kernelswarm.records import Precision, Verdict

if TYPE_CHECKING:
    from kernelswarm.problems.load import Problem

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


def fresh_seed() -> int:
    return secrets.randbits(62)


def run_candidate(st: State, cand: WorkerProcess, ref: WorkerProcess, flusher: WorkerProcess, problem: Problem, source: str, spec: dict,
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
    builds = bool(own_kernels(source))
    ct = _candidate_on_device(st, cand, ref, flusher, spec, lock, vouch=builds)
    if builds:
        timing.send_label(cand, ct)  # answered after the clean workers' checks (take_label)
    else:
        # Its kind is decided without a profile (kind.label_of): the parent's own reading of the
        # source finds no kernel of its own, so no reply of its worker could make it a custom
        # kernel. The profiler's start (5-6 s of the candidate's worker on the H200) is saved.
        ct.profile_skipped = "its source defines and builds no kernel of its own"
    return ct


def _candidate_on_device(st: State, cand: WorkerProcess, ref: WorkerProcess, flusher: WorkerProcess, spec: dict,
                         lock: Any, vouch: bool = False) -> timing.CandidateTiming:
    o = st.options
    t = time.monotonic()
    w_a, w_b = fresh_seed(), fresh_seed()
    plan: list[tuple[str, dict[str, Any]]] = []
    seeds = [fresh_seed() for _ in range(max(2, o.trials))]
    split = max(1, (len(seeds) + 1) // 2)
    for i, s in enumerate(seeds):
        plan.append((f"trial {i}", {"input_seed": s, "weight_seed": w_a if i < split else w_b, "scale": 1.0}))
        if i == 0:
            plan.append(("determinism re-run", {"input_seed": s, "weight_seed": w_a, "scale": 1.0, "poison": _SECOND_POISON}))
    if o.stress:
        scales = _STRESS_SCALES.get(Precision(o.precision).value, _DEFAULT_STRESS)
        plan += [(f"stress x{scale:g}", {"input_seed": fresh_seed(), "weight_seed": w_b, "scale": scale}) for scale in scales]
        mixed = [scales[0], scales[1], MIXED_SHARE]
        plan += [(f"stress mixed {k} (x{scales[0]:g} and x{scales[1]:g} on {MIXED_SHARE:.3g} of the elements each)",
                  {"input_seed": fresh_seed(), "weight_seed": w_b, "scale": 1.0, "mixed": mixed}) for k in range(MIXED_TRIALS)]
        plan.append((f"stress graded (each row scaled between x{scales[0]:g} and x{scales[1]:g})",
                     {"input_seed": fresh_seed(), "weight_seed": w_b, "scale": 1.0, "graded": list(scales)}))
    # On every device and in training mode, stress trials or not: inputs with the structure real
    # models feed and random draws never make (worker/structured.py says what it judges).
    plan.append(("structured (constant slices, exact zeros, ties)",
                 {"input_seed": fresh_seed(), "weight_seed": w_b, "scale": 1.0, "structured": True}))
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
        ct = timing.time_candidate(cand, ref, o, st.deadline, spec["spec"], w_b, output_bytes=st.output_bytes,
                                   flusher=flusher, vouch=vouch)
        st.phases["timing"] = time.monotonic() - t
        st.phases["settle"] = ct.settled_ms / 1000.0
    t = time.monotonic()  # outputs kept during timing are copied out after it, the device free again,
    bad = judge.collect_checking(st, clean_workers(st, ref, flusher), cand, ct)  # the trials checked meanwhile
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


def _trials(st: State, cand: WorkerProcess, spec: dict, plan: list[tuple[str, dict[str, Any]]]) -> None:
    for label, trial in plan:
        keep = st.device_outputs(st.output_bytes)
        reply, blob = cand.call({"op": "run", "spec": spec["spec"], **trial, "device_outputs": keep}, deadline=st.deadline)
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


def output_bytes(specs: list[dict]) -> int:
    sizes = {"float64": 8, "float32": 4, "int64": 8, "int32": 4, "float16": 2, "bfloat16": 2, "bool": 1, "uint8": 1, "int8": 1}
    total = 0
    for s in specs:
        n = 1
        for d in s["shape"]:
            n *= d
        total += n * sizes.get(s["dtype"], 4)
    return total

