"""Where a worker's CPU time went, sampled from outside it: which code its threads were running.

The `kind` label is measured inside the candidate's process (a profiled call, counted extension
calls), and that process runs the candidate's code: with the static screen off, a candidate can
rewrite the worker's `label` reply, and with it on, it can still see the profiler and run its own
kernel only while the profiler records. Either way a decoy kernel on a sliver of the work, with
PyTorch doing the rest, was labelled custom-kernel (cheat/decoy_sliver, cheat/label_forge_decoy).

Here the parent samples the worker's user-space instruction pointer itself (Linux perf events, a
software clock, opened on each of the worker's threads as each sampled window starts) while the
timed calls run, and maps each sample to the file whose code it was in, from /proc/<pid>/maps.
The kernel does not let a sampled event be inherited by threads started later, so the CPU time of
the worker and its processes over the same windows (cputime.tree_cpu_ns: exited threads and
waited-for children included) is read too: CPU time no sample accounts for (a thread started
inside a call, a forked child) counts as not the candidate's kernel.
Nothing of this lives in the candidate's process: it neither sees when it is sampled nor can
change the samples. Standard library only; where perf events are not permitted (a kernel's
perf_event_paranoid above 2, a seccomp filter, a worker that made itself undumpable) the sampler
reports nothing, and the label stands on what the worker said.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
from dataclasses import dataclass

_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}.get(os.uname().machine)
_TYPE_SOFTWARE, _SW_TASK_CLOCK = 1, 1
_SAMPLE_IP, _SAMPLE_TID = 1 << 0, 1 << 1
_DISABLED, _EXCLUDE_KERNEL, _EXCLUDE_HV = 1 << 0, 1 << 5, 1 << 6
_ENABLE, _DISABLE = 0x2400, 0x2401  # PERF_EVENT_IOC_ENABLE / DISABLE
_RECORD_SAMPLE = 9
# Ring buffer pages per thread: 32 KiB, about 1,300 samples (0.68 s of a thread's CPU time) per
# window; the share of the rest is taken to be as theirs. Small, since a user's perf buffers share
# one locked-memory allowance (perf_event_mlock_kb, 516 KiB by default) where the evaluator is not root.
_PAGES = 8
PERIOD_NS = 500_000  # one sample per 0.5 ms of a thread's CPU time: each costs the sampled thread about
# 10 us in this VM (2% of a timed call; both workers pay it alike)
# Threads sampled at most, each an event (a descriptor and a ring) of the parent's: a worker that
# starts thousands must not use up the evaluator's descriptors (cheat/thread_swarm). The CPU time
# of threads beyond these counts as not the candidate's kernel, like any unsampled time.
MAX_THREADS = 64
_HEADER = struct.Struct("<IHH")
_SAMPLE = struct.Struct("<QII")


@dataclass(frozen=True)
class Samples:
    """Where sampled CPU time was: per mapped file (or `[anon]`), the number of samples."""
    by_file: dict[str, int]
    sampled_ns: int  # CPU time of the sampled threads over the windows (their events' own counts)
    cpu_ns: int  # the worker's CPU time over the same windows, every thread's and process's

    @property
    def total(self) -> int:
        return sum(self.by_file.values())

    def merged(self, other: Samples | None) -> Samples:
        if other is None:
            return self
        files = dict(self.by_file)
        for f, n in other.by_file.items():
            files[f] = files.get(f, 0) + n
        return Samples(files, self.sampled_ns + other.sampled_ns, self.cpu_ns + other.cpu_ns)

    @property
    def covered(self) -> float:
        """The share of the windows' CPU time that sampled threads ran: the rest (a thread started
        inside a call, a forked child) no sample explains."""
        return min(1.0, self.sampled_ns / max(1, self.cpu_ns))

    def share(self, own: set[str]) -> float:
        """The share of the windows' CPU time spent in code mapped from the files `own`: of the
        sampled threads' time as their samples fall (a full ring keeps the first samples of a
        window only), and none of the time of threads no event was on."""
        if not self.total:
            return 0.0
        own_share = sum(n for f, n in self.by_file.items() if f in own) / self.total
        return own_share * self.covered


class Sampler:
    """Perf events on each thread of one process, read by the parent. `enable` and `disable`
    bracket what is sampled; `take` returns what was sampled since the last take."""

    def __init__(self, pid: int, period_ns: int = PERIOD_NS) -> None:
        self.pid = pid
        self.period_ns = period_ns
        self._events: list[tuple[int, mmap.mmap]] = []
        self._tids: set[int] = set()
        self._ips: list[int] = []
        self._sampled_ns = 0
        self._counts: dict[int, int] = {}  # per event, its count (ns) when last read
        self._cpu_ns = 0
        self._cpu_at = -1
        self._libc = ctypes.CDLL(None, use_errno=True)
        attr = bytearray(128)
        struct.pack_into("<IIQQQQQ", attr, 0, _TYPE_SOFTWARE, len(attr), _SW_TASK_CLOCK, period_ns,
                         _SAMPLE_IP | _SAMPLE_TID, 0, _DISABLED | _EXCLUDE_KERNEL | _EXCLUDE_HV)
        self._attr = ctypes.create_string_buffer(bytes(attr), len(attr))
        refused: OSError | None = None
        for tid in _threads(pid):  # a refusal here is the machine's, or the worker's own doing
            self._tids.add(tid)
            try:
                self._open(tid)
            except OSError as e:
                refused = e
        if not self._events:
            self.close()
            raise refused or OSError("no thread of the worker could be sampled")

    def _open_new(self) -> None:
        """Threads started since: sampled from now on. One that cannot be (the worker made itself
        unreadable since) is not, and its CPU time, which no sample explains, counts as not its own."""
        for tid in _threads(self.pid):
            if tid not in self._tids:
                self._tids.add(tid)
                try:
                    self._open(tid)
                except OSError:
                    pass

    def _open(self, tid: int) -> None:
        if len(self._events) >= MAX_THREADS:
            return
        if _NR_PERF_EVENT_OPEN is None:
            raise OSError("perf events are not known on this machine")
        fd = self._libc.syscall(_NR_PERF_EVENT_OPEN, self._attr, tid, -1, -1, 8)  # PERF_FLAG_FD_CLOEXEC
        if fd < 0:
            err = ctypes.get_errno()
            if err == 3:  # ESRCH: the thread exited since it was listed
                return
            raise OSError(err, f"perf_event_open: {os.strerror(err)}")
        try:
            ring = mmap.mmap(fd, (1 + _PAGES) * mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            os.close(fd)
            raise
        self._events.append((fd, ring))

    def enable(self) -> None:
        from kernelswarm.evaluate.parent.cputime import tree_cpu_ns

        self._open_new()
        for fd, _ in self._events:
            self._libc.ioctl(fd, _ENABLE, 0)
        self._cpu_at = tree_cpu_ns(self.pid)

    def disable(self) -> None:
        from kernelswarm.evaluate.parent.cputime import tree_cpu_ns

        for fd, _ in self._events:
            self._libc.ioctl(fd, _DISABLE, 0)
        now = tree_cpu_ns(self.pid)
        for fd, _ in self._events:
            try:
                count = struct.unpack("<Q", os.read(fd, 8))[0]  # the thread's task clock while enabled
            except (OSError, struct.error):
                continue
            self._sampled_ns += count - self._counts.get(fd, 0)
            self._counts[fd] = count
        if self._cpu_at >= 0 and now >= self._cpu_at:
            self._cpu_ns += now - self._cpu_at
        self._cpu_at = -1
        self._drain()

    def _drain(self) -> None:
        size = _PAGES * mmap.PAGESIZE
        for _, ring in self._events:
            head, tail = struct.unpack_from("<QQ", ring, 1024)
            base = mmap.PAGESIZE
            while tail < head:
                at = tail % size
                raw = ring[base + at: base + at + _HEADER.size] if at + _HEADER.size <= size else \
                    (ring[base + at: base + size] + ring[base: base + _HEADER.size - (size - at)])
                kind, _, length = _HEADER.unpack(raw)
                if length < _HEADER.size:
                    break
                if kind == _RECORD_SAMPLE:
                    body_at = (at + _HEADER.size) % size
                    body = bytes(ring[base + body_at: base + min(size, body_at + _SAMPLE.size)])
                    if len(body) < _SAMPLE.size:
                        body += bytes(ring[base: base + _SAMPLE.size - len(body)])
                    self._ips.append(_SAMPLE.unpack(body)[0])
                tail += length
            struct.pack_into("<Q", ring, 1032, head)  # data_tail: the kernel may overwrite up to here

    @property
    def count(self) -> int:
        """Samples read since the last take (those of the windows closed since)."""
        return len(self._ips)

    def take(self) -> Samples:
        """The samples since the last take, by the file their code was mapped from (now)."""
        self._drain()
        ips, self._ips = self._ips, []
        cpu_ns, self._cpu_ns = self._cpu_ns, 0
        sampled_ns, self._sampled_ns = self._sampled_ns, 0
        regions = _exec_regions(self.pid)
        by_file: dict[str, int] = {}
        for ip in ips:
            name = next((f for lo, hi, f in regions if lo <= ip < hi), "[unmapped]")
            by_file[name] = by_file.get(name, 0) + 1
        return Samples(by_file, sampled_ns, cpu_ns)

    def close(self) -> None:
        events, self._events = self._events, []
        for fd, ring in events:
            ring.close()
            os.close(fd)


def _threads(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def _exec_regions(pid: int) -> list[tuple[int, int, str]]:
    """The executable mappings of `pid`: (start, end, file or `[anon]`)."""
    regions = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 5 or "x" not in parts[1]:
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                regions.append((lo, hi, parts[5].strip() if len(parts) > 5 and parts[5].strip() else "[anon]"))
    except OSError:
        pass
    return regions


def start(pid: int | None) -> tuple[Sampler | None, str]:
    """A sampler on `pid`'s threads, or None and why not (perf events not permitted here)."""
    if pid is None:
        return None, "not sampled (no process to sample)"
    try:
        return Sampler(pid), ""
    except OSError as e:
        return None, f"not sampled ({e.strerror or e})"


class window:
    """`with window(sampler):` samples what the worker runs inside (nothing where it is None)."""

    def __init__(self, sampler: Sampler | None) -> None:
        self.sampler = sampler

    def __enter__(self) -> None:
        if self.sampler is not None:
            self.sampler.enable()

    def __exit__(self, *exc: object) -> None:
        if self.sampler is not None:
            self.sampler.disable()


def own_files(samples: Samples, folder: str) -> set[str]:
    """The sampled files that lie in the worker's own folder: the only place a sandboxed candidate
    can write, so the only place code it built (an extension, a library of its own) can be
    loaded from. Library code the worker imported (PyTorch's, NumPy's BLAS) is never its own."""
    prefix = folder.rstrip("/") + "/"
    return {f for f in samples.by_file if f.startswith(prefix)}
