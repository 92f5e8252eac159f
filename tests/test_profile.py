"""Profiles run in a fresh worker process: kernels, work, speed of light, Nsight Compute parsing."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import textwrap
import uuid

import pytest

import kernelswarm
from kernelswarm import profile as profile_mod
from kernelswarm.problems.load import load_problem
from kernelswarm.profile import ProfileError, format_profile, parse_ncu_csv, profile_problem, summary_text

PROBLEM = textwrap.dedent('''
    import torch
    import torch.nn as nn

    batch_size = 64
    features = 128


    class Model(nn.Module):
        def __init__(self, features):
            super().__init__()
            self.linear = nn.Linear(features, features)

        def forward(self, x):
            return torch.relu(self.linear(x))


    def get_inputs():
        return [torch.randn(batch_size, features)]


    def get_init_inputs():
        return [features]
''')

CANDIDATE = textwrap.dedent('''
    import sys
    import torch
    import torch.nn as nn

    # Importing this must not touch the caller's process.
    if "kernelswarm" in sys.modules:
        sys.modules["kernelswarm"].CANDIDATE_WAS_HERE = True


    class ModelNew(nn.Module):
        def __init__(self, features):
            super().__init__()
            self.linear = nn.Linear(features, features)

        def forward(self, x):
            return torch.clamp_min(torch.addmm(self.linear.bias, x, self.linear.weight.t()), 0.0)
''')


@pytest.fixture
def problem(tmp_path, monkeypatch):
    monkeypatch.setenv("KERNELSWARM_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "linear_relu.py"
    path.write_text(PROBLEM)
    return load_problem(path)


def test_reference_profile_has_work_kernels_and_sol(problem):
    p = profile_problem(problem, "cpu", quick_peaks=True)
    assert p.subject == "reference" and p.device == "cpu"
    assert p.flops == 2 * 64 * 128 * 128
    assert p.bytes == 4 * (64 * 128 + 128 * 128 + 128 + 64 * 128)
    assert p.median_ms > 0 and 0 < p.sol_ms and p.floor_ms < p.sol_ms
    assert p.median_ms > p.floor_ms  # an honest implementation is above the floor
    assert 0 < p.fraction_of_sol < 1
    names = [k.name for k in p.kernels]
    assert "aten::addmm" in names
    assert sum(k.share for k in p.kernels) == pytest.approx(1.0)
    assert p.peaks.device == "cpu" and p.versions.get("torch")
    assert "Nsight" not in format_profile(p)  # ncu not requested


def test_candidate_runs_only_in_the_worker(problem):
    p = profile_problem(problem, "cpu", candidate_source=CANDIDATE, quick_peaks=True)
    assert p.subject == "candidate"
    assert p.flops == 2 * 64 * 128 * 128  # the problem's work, counted on the reference
    assert not hasattr(kernelswarm, "CANDIDATE_WAS_HERE")
    assert "aten::addmm" in [k.name for k in p.kernels]


def test_broken_candidate_is_a_one_line_error(problem):
    with pytest.raises(ProfileError, match="ZeroDivisionError") as e:
        profile_problem(problem, "cpu", candidate_source="x = 1 / 0\n", quick_peaks=True)
    assert "\n" not in str(e.value)


def test_candidate_that_kills_its_process(problem):
    with pytest.raises(ProfileError, match="status 7"):
        profile_problem(problem, "cpu", candidate_source="import os\nos._exit(7)\n", quick_peaks=True)


def test_ncu_on_cpu_says_why_it_is_absent(problem):
    p = profile_problem(problem, "cpu", ncu=True, quick_peaks=True)
    assert p.ncu == [] and "CUDA" in p.ncu_note
    assert "Nsight Compute:" in format_profile(p)


def test_ncu_absent_from_path(monkeypatch):
    monkeypatch.setattr(profile_mod.shutil, "which", lambda name: None)
    kernels, note = profile_mod._ncu({}, "cuda", 10)
    assert kernels == [] and "not on PATH" in note


NCU_CSV = '''==PROF== Connected to process 1234 (/usr/bin/python3.11)
==PROF== Disconnected from process 1234
"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"
"0","1234","python3.11","127.0.0.1","ampere_sgemm_128x64_tn","1","7","(128, 1, 1)","(8, 4, 1)","0","9.0","Command line profiler metrics","dram__throughput.avg.pct_of_peak_sustained_elapsed","%","10.00"
"0","1234","python3.11","127.0.0.1","ampere_sgemm_128x64_tn","1","7","(128, 1, 1)","(8, 4, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","nsecond","3,000"
"0","1234","python3.11","127.0.0.1","ampere_sgemm_128x64_tn","1","7","(128, 1, 1)","(8, 4, 1)","0","9.0","Command line profiler metrics","sm__throughput.avg.pct_of_peak_sustained_elapsed","%","80.00"
"1","1234","python3.11","127.0.0.1","ampere_sgemm_128x64_tn","1","7","(128, 1, 1)","(8, 4, 1)","0","9.0","Command line profiler metrics","dram__throughput.avg.pct_of_peak_sustained_elapsed","%","40.00"
"1","1234","python3.11","127.0.0.1","ampere_sgemm_128x64_tn","1","7","(128, 1, 1)","(8, 4, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","nsecond","1000"
"1","1234","python3.11","127.0.0.1","ampere_sgemm_128x64_tn","1","7","(128, 1, 1)","(8, 4, 1)","0","9.0","Command line profiler metrics","sm__throughput.avg.pct_of_peak_sustained_elapsed","%","40.00"
"2","1234","python3.11","127.0.0.1","vectorized_elementwise_kernel","1","7","(128, 1, 1)","(64, 1, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","usecond","2.5"
"2","1234","python3.11","127.0.0.1","vectorized_elementwise_kernel","1","7","(128, 1, 1)","(64, 1, 1)","0","9.0","Command line profiler metrics","dram__throughput.avg.pct_of_peak_sustained_elapsed","%","90.00"
'''


def test_parse_ncu_csv_aggregates_launches_weighted_by_duration():
    [gemm, elementwise] = parse_ncu_csv(NCU_CSV)
    assert gemm.name == "ampere_sgemm_128x64_tn" and gemm.launches == 2
    assert gemm.duration_ms == pytest.approx(4e-3)
    assert gemm.sm_pct == pytest.approx((80 * 3 + 40 * 1) / 4)
    assert gemm.dram_pct == pytest.approx((10 * 3 + 40 * 1) / 4)
    assert elementwise.duration_ms == pytest.approx(2.5e-3) and elementwise.sm_pct is None
    assert parse_ncu_csv("no csv here") == []


def test_summary_text_is_compact_and_cached(problem, monkeypatch):
    calls = []
    real = profile_problem

    def counting(*a, **kw):
        calls.append(a)
        return real(*a, quick_peaks=True, **kw)

    monkeypatch.setattr(profile_mod, "profile_problem", counting)
    monkeypatch.setattr(profile_mod, "_SUMMARIES", {})
    text = summary_text(problem, "cpu")
    assert summary_text(problem, "cpu") == text and len(calls) == 1
    assert "speed of light" in text and "aten::addmm" in text and "FLOP" in text
    assert len(text.splitlines()) <= 12


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


TRITON_CANDIDATE = textwrap.dedent('''
    import torch
    import torch.nn as nn
    import triton
    import triton.language as tl


    @triton.jit
    def relu_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(out_ptr + offs, tl.maximum(tl.load(x_ptr + offs, mask=mask), 0.0), mask=mask)


    class ModelNew(nn.Module):
        def __init__(self, features):
            super().__init__()
            self.linear = nn.Linear(features, features)

        def forward(self, x):
            y = self.linear(x)
            out = torch.empty_like(y)
            relu_kernel[(triton.cdiv(y.numel(), 1024),)](y, out, y.numel(), BLOCK=1024)
            return out
''')


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_cuda_profile_lists_kernels_not_annotations(problem):
    p = profile_problem(problem, "cuda")
    names = [k.name for k in p.kernels]
    assert names and "kernelswarm.forward" not in names
    assert sum(k.share for k in p.kernels) == pytest.approx(1.0)
    assert p.peaks.device == "cuda" and p.peaks.bf16_tflops > p.peaks.fp32_tflops
    assert p.median_ms > p.floor_ms and p.versions.get("device_name")
    c = profile_problem(problem, "cuda", candidate_source=TRITON_CANDIDATE)
    assert any("relu_kernel" in k.name for k in c.kernels)  # the candidate's own Triton kernel ran


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_cuda_ncu_metrics_or_a_reason(problem):
    p = profile_problem(problem, "cuda", ncu=True)
    if p.ncu:
        assert p.ncu[0].duration_ms > 0 and p.ncu[0].launches >= 1
    else:
        assert p.ncu_note  # absent ncu or missing counter permissions are stated, never silent


# A profiled candidate that tries what a hostile one would (issue 14.3 and 14.4): read every
# environment it can reach (its own, its parent's, every /proc/*/environ), plant a file outside its
# folder, and leave a process behind in a new session and in a new process group. What it found
# comes back in the error it raises, as the SHA-256 of every value (no scrubbing hides a hash:
# finding it means the key was readable).
HOSTILE = textwrap.dedent('''
    import hashlib, os, re, subprocess, sys
    import torch
    import torch.nn as nn

    found = set()
    paths = ["/proc/self/environ", f"/proc/{os.getppid()}/environ"]
    paths += [f"/proc/{p}/environ" for p in os.listdir("/proc") if p.isdigit()]
    texts = ["\\0".join(f"{k}={v}" for k, v in os.environ.items())]
    for path in paths:
        try:
            texts.append(open(path, "rb").read().decode(errors="replace"))
        except OSError:
            pass
    for text in texts:
        found.update(re.findall(r"sk-kstest-[0-9a-f]{40}", text))
    planted = []
    for target in (PLANT_PATHS):
        try:
            with open(target, "w") as f:
                f.write("planted")
            planted.append(target)
        except OSError:
            pass
    spin = [sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"]
    for start in (lambda: subprocess.Popen(spin, start_new_session=True),
                  lambda: subprocess.Popen(spin, process_group=0), lambda: subprocess.Popen(spin)):
        try:
            start()
        except OSError:
            pass
    LOOT = "_".join(sorted(hashlib.sha256(v.encode()).hexdigest() for v in found)) or "none"


    raise RuntimeError("loot_" + LOOT + " planted:" + ",".join(os.path.basename(t) for t in planted))
''')


def _tagged(tag: str) -> list[int]:
    """Live processes carrying this test's tag in their environment (only what it started)."""
    needle = f"KERNELSWARM_TEST_TAG={tag}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if needle in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"):
                    if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                        found.append(int(pid))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="containment and the sandbox are Linux's")
@pytest.mark.parametrize("mode", [pytest.param({}, id="namespace"),
                                  pytest.param({"KERNELSWARM_NO_NAMESPACE": "1"}, id="session")])
def test_a_profiled_candidate_is_contained_and_sandboxed(problem, tmp_path, monkeypatch, mode):
    from kernelswarm.evaluate.worker import sandbox

    key = "sk-kstest-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    tag = uuid.uuid4().hex
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("KERNELSWARM_TEST_TAG", tag)
    for k, v in mode.items():
        monkeypatch.setenv(k, v)
    targets = [str(tmp_path / "planted.py"), f"/dev/shm/ks-profile-{tag}", f"/tmp/ks-profile-{tag}"]
    source = HOSTILE.replace("PLANT_PATHS", repr(tuple(targets))[1:-1])
    try:
        with pytest.raises(ProfileError, match="loot_") as e:
            profile_problem(problem, "cpu", candidate_source=source, quick_peaks=True)
        told = str(e.value)
        assert hashlib.sha256(key.encode()).hexdigest() not in told, "the profiled candidate could read the key"
        assert "loot_none" in told and key not in told, told
        assert _tagged(tag) == [], "a process the profiled candidate started outlived the profile"
        if sandbox.abi() >= 1:
            # A private /dev/shm (a namespace's) may be written; it goes with the worker.
            assert "planted.py" not in told and not any(os.path.exists(t) for t in targets), told
            p = profile_problem(problem, "cpu", candidate_source=CANDIDATE, quick_peaks=True)
            assert "Landlock" in p.sandbox and "setsid" in p.sandbox, p.sandbox
            assert ("pid-namespace" in p.sandbox) == (not mode), p.sandbox
            assert "the candidate ran sandboxed" in format_profile(p)
    finally:
        for pid in _tagged(tag):
            os.kill(pid, signal.SIGKILL)
        for t in targets:
            if os.path.exists(t):
                os.unlink(t)


def test_a_forged_answer_is_a_one_line_error(problem):
    """The answer file is in the candidate's folder: what it holds is checked, not trusted."""
    forger = textwrap.dedent('''
        import json, os, sys
        json.dump({"kernels": "not a list", "median_ms": "fast"}, open(sys.argv[2], "w"))
        os._exit(0)
    ''')
    with pytest.raises(ProfileError, match="malformed") as e:
        profile_problem(problem, "cpu", candidate_source=forger, quick_peaks=True)
    assert "\n" not in str(e.value)
