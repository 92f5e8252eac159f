"""The clean workers' verdicts on a candidate's outputs, after its process is gone (TRUST.md: no
expected output exists while candidate code is alive). The reference's worker and the flusher
are both clean processes with the reference problem's code only; once the candidate is killed
nothing is timed, and they share the checks out and work at once (issue 16)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernelswarm.evaluate.parent import timing
from kernelswarm.evaluate.parent.procs import WorkerProcess
from kernelswarm.records import Mode, Precision, Verdict

if TYPE_CHECKING:
    from kernelswarm.evaluate.parent.state import State


def outputs(st: State, clean: tuple[WorkerProcess, ...]) -> float:
    """The clean workers recompute every expected output and compare; first failure decides.
    The checks are shared out among them (each a clean process with the reference's code only),
    which work at once; their replies are judged in order. The first ones may have been answered
    already, while the kept outputs were collected (`collect_checking`)."""
    worst = 0.0
    precision = Precision(st.options.precision).value
    for entry, reply in zip(st.pending, st.checked):
        worst = max(worst, _judge(st, entry[0], reply))
    for at in range(len(st.checked), len(st.pending), len(clean)):
        group = st.pending[at:at + len(clean)]
        _send(clean, group, precision)
        for (label, _, _), reply in zip(group, _finish(st, clean, group)):
            worst = max(worst, _judge(st, label, reply))
    n_timed = sum(1 for label, _, _ in st.pending if label.startswith("timed"))
    what = "outputs and gradients" if st.mode is Mode.TRAIN else "outputs"  # KS-TRAIN
    st.ok("correctness", f"{len(st.pending) - n_timed} trials' {what} match the float64 reference under the "
          f"{precision} policy")
    st.ok("timed-output", f"{n_timed} outputs sampled at random during timing match")
    return worst


def collect_checking(st: State, clean: tuple[WorkerProcess, ...], cand: WorkerProcess, ct: timing.CandidateTiming) -> str:
    """The sampled timed outputs copied out of the candidate's worker, once the device is free for
    others again; each was taken into keeping right after its call returned, with its fingerprint
    at return, which its check compares with what arrives, so a change made since shows.
    The clean workers check the trials' outputs meanwhile: before
    each kept output is copied out of the candidate's worker, the next of the trials' checks go out
    to the clean workers, and their replies are kept (`st.checked`) to be judged in order by
    `outputs`, after the checks that come first now as before (output, timer-integrity, threads).
    Only once the device is free again: nothing is timed, and no expected output is in the
    candidate's process (issue 16: on the H200 the copies of 1 GiB outputs, 0.5 s each, waited
    for the checks' 0.4 s rounds and the checks for them). Returns why a kept output is
    unacceptable as a plain result, or ''."""
    precision = Precision(st.options.precision).value
    kept, ct.kept = ct.kept, []
    for n, (label, msg) in enumerate(kept):
        at = len(st.checked)
        group = st.pending[at:at + len(clean)]  # the trials' own entries: the kept ones come after
        _send(clean, group, precision)
        keep = st.device_outputs(st.output_bytes)
        reply, blob = cand.call({"op": "kept_outputs", "index": n, "device_outputs": keep}, deadline=st.deadline)
        st.checked.extend(_finish(st, clean, group))
        if "bad_output" in reply:
            return f"{label}: {reply['bad_output']}"
        ct.pending.append((label, msg, blob))
    return ""


def _send(clean: tuple[WorkerProcess, ...], group: list, precision: str) -> None:
    for w, (_, msg, blob) in zip(clean, group):
        w.send({**msg, "precision": precision}, blob)


def _finish(st: State, clean: tuple[WorkerProcess, ...], group: list) -> list[dict]:
    return [w.finish_call("check", st.deadline)[0] for w, _ in zip(clean, group)]


def _judge(st: State, label: str, reply: dict) -> float:
    """One check's reply, in order: a mismatch decides the verdict; returns its relative error."""
    if label.startswith(("trial", "determinism")) and reply["match"]:  # inputs drawn as the timed ones are
        st.ref_rel = max(st.ref_rel, float(reply.get("ref_rel", 0.0)))
        st.allowed_norm = max(st.allowed_norm, float(reply.get("allowed_norm", 0.0)))
    if not reply["match"]:
        name = "timed-output" if label.startswith("timed") else "correctness"
        raise st.fail(Verdict.INCORRECT, name, f"{label}: {reply['detail']}")
    return reply["rel_error"] if reply.get("rel_error") is not None else 0.0


# Relative tolerance on the magnitude fingerprints of timed outputs, per precision policy.
_FINGERPRINT_TOL = {"fp32": 1e-4, "tf32": 2e-3, "fp16": 4e-3, "bf16": 8e-3}


def timed_calls(st: State, clean: tuple[WorkerProcess, ...], ct: timing.CandidateTiming) -> None:
    """Every timed call's expected output, against its fingerprint and projections: the calls
    shared out among the clean workers (the reference's and the flusher's, both the reference
    problem's code only), which work at once. The candidate's process is gone by now (no expected
    output exists while candidate code is alive), and nothing is timed meanwhile."""
    precision = Precision(st.options.precision).value
    msg = {"op": "fingerprints", "pool_seeds": ct.pool_seeds, "weight_seed": ct.weight_seed,
           "tolerance": _FINGERPRINT_TOL[precision], "ref_rel": st.ref_rel, "allowed_norm": st.allowed_norm}
    calls = [c.as_message() for c in ct.calls]
    # In runs of one pool input each, so that each worker builds as few base inputs as it can.
    calls.sort(key=lambda c: c["pool_index"])
    workers = clean[:max(1, min(len(clean), len(calls)))]
    size = -(-len(calls) // len(workers))
    shares = [calls[k * size:(k + 1) * size] for k in range(len(workers))]
    for w, share in zip(workers[1:], shares[1:]):
        w.send({**msg, "calls": share})
    replies = [workers[0].call({**msg, "calls": shares[0]}, deadline=st.deadline)[0]]
    replies += [w.finish_call("fingerprints", st.deadline)[0] for w in workers[1:]]
    for reply in replies:
        if not reply["match"]:
            raise st.fail(Verdict.INCORRECT, "timed-output", reply["detail"])
    worst = max(float(r.get("worst", 0.0)) for r in replies)
    bound = float(replies[0].get("bound", 0.0))
    st.ok("timed-fingerprints", f"every timed output's magnitudes and random projections match ({len(calls)} timed "
          f"outputs; projections within {worst:.2g} of the norm (bound {bound:.2g}))")
