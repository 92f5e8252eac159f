"""The `kind` label of an accepted candidate: custom-kernel or pytorch-rewrite, from what ran.

The worker reports what its profiled call ran and how its timed calls used its extension; that
process runs the candidate's code, so each of its claims is checked against what the trusted side
knows itself: the source (own_kernels.py) and, on a CPU, the parent's own samples of where the
timed calls ran (ipsample.py).
"""

from __future__ import annotations

from kernelswarm.evaluate.parent.candidate_timing import CandidateTiming
from kernelswarm.printable import capped
from kernelswarm.records import Kind

# A custom kernel's label needs its extension called in at least this share of the timed calls
# (counted by the ExtensionTracer: extension calls, and on CUDA its Triton launches); the profiled call alone can be told apart.
MIN_TIMED_EXT_SHARE = 0.9
# On a CPU, the share of the timed calls' CPU time the parent's samples must find in code the
# candidate built (ipsample), and the samples that make it a finding. Half the profile's bar: the
# timed request also holds the worker's own work (its fingerprint of the outputs, the binding).
MIN_IP_OWN_SHARE, MIN_IP_SAMPLES = 0.25, 10


def label_of(ct: CandidateTiming, device: str, source: str | None = None) -> tuple[Kind, str]:
    """custom-kernel only when the candidate's own kernels did a real share of the profiled work
    (and, where the source is given, the source defines or builds kernels of its own, and where
    the parent sampled the timed calls, its own code ran a real share of them); with the `kind`
    check's detail."""
    from kernelswarm.evaluate.parent.own_kernels import own_kernels
    from kernelswarm.evaluate.worker.labels import MIN_CUSTOM_SHARE

    if ct.profile_skipped:  # the parent's own reading of the source decided: no profiled call was asked for
        return Kind.PYTORCH_REWRITE, f"{ct.profile_skipped}: PyTorch did the work (not profiled)"
    top = names(ct.ran[:3]) or "nothing recorded"
    bar = MIN_CUSTOM_SHARE[device]
    if ct.custom_share < bar:
        defined = f"; defined but idle: {names(ct.defined)}" if ct.defined else ""
        return Kind.PYTORCH_REWRITE, (f"custom kernels did {ct.custom_share:.0%} of the work; PyTorch did the rest "
                                      f"(top: {top}){defined}")
    reported = f"its worker reported custom kernels doing {ct.custom_share:.0%} of the profiled call"
    sampled = _sampled(ct)
    if source is not None and not own_kernels(source):
        # The label reply is the candidate process's own: a well-formed one can still be untrue
        # (cheat/label_forge). Its source, read here, defines and builds no kernel at all.
        return Kind.PYTORCH_REWRITE, (f"{reported}, but its source defines and builds no kernel of its own: "
                                      f"PyTorch did the work (top: {top})")
    if ct.timed_ext_share is not None and ct.timed_ext_share < MIN_TIMED_EXT_SHARE:
        # Its kernel ran under the profiler, not in the calls that were timed (cheat/profiler_launder).
        return Kind.PYTORCH_REWRITE, (f"{reported}, but its extension was called in only {ct.timed_ext_share:.0%} "
                                      f"of the timed calls: PyTorch did the timed work (top: {top})")
    if ct.timed_ext_time_share is not None and ct.timed_ext_time_share < bar:
        # Called in every timed call, but on a sliver: its kernel did the work only under the profiler
        # (cheat/decoy_sliver). On a CPU an extension call's time is its work, as the profile's share.
        return Kind.PYTORCH_REWRITE, (f"{reported}, but its extension took only {ct.timed_ext_time_share:.0%} of "
                                      f"the timed calls' time: PyTorch did the timed work (top: {top})")
    if ct.ip_blocked:
        # The clean worker could be sampled, the candidate's could not: nothing vouches for the label.
        return Kind.PYTORCH_REWRITE, f"{reported}, but {sampled}: nothing vouches for it (top: {top})"
    if _below_bar(ct):
        # What the worker says can be untrue (a rewritten reply, a kernel run only under the
        # profiler): the parent's own samples of the timed calls say where they ran
        # (cheat/label_forge_decoy), and CPU time no sample explains is not its kernel's
        # (cheat/label_thread_hide).
        return Kind.PYTORCH_REWRITE, f"{reported}, but {sampled}: PyTorch did the timed work (top: {top})"
    return Kind.CUSTOM_KERNEL, f"custom kernels did {ct.custom_share:.0%} of the profiled work; {sampled} (top: {top})"


def _below_bar(ct: CandidateTiming) -> bool:
    """The parent's samples find the candidate's own code below the bar. With enough samples, by
    where they fell; with fewer, only where even all of them in its own code would not reach it:
    the threads sampled ran too little of CPU time long enough to be a finding (a thread started
    inside each call did the rest, and no event is on such a thread)."""
    from kernelswarm.evaluate.parent.ipsample import PERIOD_NS

    s = ct.ip_samples
    if ct.ip_own_share is None or s is None:
        return False
    if s.total >= MIN_IP_SAMPLES:
        return ct.ip_own_share < MIN_IP_OWN_SHARE
    return s.cpu_ns >= MIN_IP_SAMPLES * PERIOD_NS and s.covered < MIN_IP_OWN_SHARE


def _sampled(ct: CandidateTiming) -> str:
    """What the parent's samples of the timed calls say (ipsample), in words."""
    s = ct.ip_samples
    if s is None:
        return ct.ip_note or "its timed calls were not sampled"
    if s.total < MIN_IP_SAMPLES and ct.ip_own_share is not None:
        return (f"sampled by the evaluator, the threads it could sample ran {s.covered:.0%} of its timed calls' "
                f"{s.cpu_ns / 1e6:.1f} ms of CPU time ({s.total} samples)")
    return (f"sampled by the evaluator, code built in its own folder ran {ct.ip_own_share:.0%} of its timed calls' "
            f"CPU time ({s.total} samples)")


def names(names: list[str], most: int = 10, each: int = 120) -> str:
    """Kernel and range names for a detail: the candidate chose them (cheat/range_name_flood put
    three 200 KB range names in the `kind` check), so each is cut, and only the first few shown."""
    shown = [capped(str(n), each) for n in names[:most]]
    return ", ".join(shown) + (f" and {len(names) - most} more" if len(names) > most else "")
