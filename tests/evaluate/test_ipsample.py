"""ipsample.py: where another process's CPU time went, sampled from outside it (the label's check)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kernelswarm.evaluate.parent import ipsample

# Half its CPU time in zlib on the main thread, half in hashlib on a thread it starts only once
# the sampler is open (so that no event of the sampler's is on it), then it waits.
_CHILD = r"""
import hashlib, sys, threading, time, zlib
sys.stdin.readline()
def burn(fn, data):
    end = time.thread_time() + 0.3
    while time.thread_time() < end:
        fn(data)
t = threading.Thread(target=burn, args=(hashlib.sha256, b"x" * (1 << 20)))
t.start()
burn(zlib.compress, b"y" * (1 << 20))
t.join()
print("done", flush=True)
time.sleep(60)
"""


def _libz(samples: ipsample.Samples) -> set[str]:
    return {f for f in samples.by_file if "libz." in f}


def test_samples_say_where_the_time_went_and_an_unsampled_thread_is_not_own() -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        sampler, why = ipsample.start(child.pid)
        if sampler is None:
            pytest.skip(f"perf events not permitted here: {why}")
        with ipsample.window(sampler):
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "done"
        samples = sampler.take()
        sampler.close()
    finally:
        child.kill()
        child.wait()
    own = _libz(samples)
    assert own, f"no sample in zlib: {samples.by_file}"
    # The main thread's samples are nearly all zlib's; the hashing thread was started after the
    # sampler opened and never sampled, so its 0.3 s of CPU time lowers the share to about half
    # (load on the machine changes neither: both are CPU time).
    assert samples.total >= 100 and samples.cpu_ns >= 0.5e9
    assert sum(samples.by_file[f] for f in own) >= 0.8 * samples.total
    # 0.72 once in a full CPU run (session 19: the sample period's rounding); an unsampled thread
    # counted as own would give about 1.0.
    assert 0.25 <= samples.share(own) <= 0.8, (samples.share(own), samples)
    assert samples.share({"/nowhere"}) == 0.0


def test_own_files_are_those_in_the_workers_folder() -> None:
    s = ipsample.Samples({"/w/ks/torch_extensions/x/x.so": 30, "/w/ks2/y.so": 5, "/usr/lib/libz.so": 10, "[anon]": 5},
                         sampled_ns=5_000_000, cpu_ns=5_000_000)
    assert ipsample.own_files(s, "/w/ks") == {"/w/ks/torch_extensions/x/x.so"}
    assert s.share({"/w/ks/torch_extensions/x/x.so"}) == pytest.approx(0.6)
    # CPU time beyond what the samples stand for (an unsampled thread) is not its own.
    wide = ipsample.Samples(s.by_file, sampled_ns=5_000_000, cpu_ns=10_000_000)
    assert wide.share({"/w/ks/torch_extensions/x/x.so"}) == pytest.approx(0.3)
    # However few samples a full ring kept, the sampled threads' time is as their samples fall.
    merged = s.merged(wide)
    assert merged.by_file["/w/ks2/y.so"] == 10 and merged.share({"/w/ks/torch_extensions/x/x.so"}) == pytest.approx(0.4)


def test_a_process_that_is_gone_is_not_sampled() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    sampler, why = ipsample.start(child.pid)
    assert sampler is None and why.startswith("not sampled")
