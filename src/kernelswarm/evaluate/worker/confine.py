"""What a candidate's worker gives up before the candidate's code is imported (Linux).

- Capabilities: a worker started by root would otherwise hold every capability, and with
  CAP_SYS_PTRACE read any process's memory and environment (the evaluator's, a shell's that holds
  an API key) whatever the target's dumpable flag says. All of them are dropped, from the bounding
  set too, so that nothing the candidate executes regains them.
- System calls (seccomp): `setsid` fails, so every process the candidate starts stays in the
  worker's session, where `contain.kill_session` finds it; `ptrace`, `process_vm_readv`/`writev`
  and `pidfd_getfd` fail, so no other process's memory or descriptors can be reached.
  `setpgid` stays allowed: build tools (ninja) put each command in its own process group.
  `socket` fails too (and 32-bit `socketcall`): a unix socket file is reached by its path,
  which no write restriction covers, and the host keeps services behind them (docker, dbus,
  a ray cluster's raylet, X11); UDP is not covered by Landlock's TCP rules. Nothing a candidate
  legitimately runs (torch, its compilers, Triton, CUDA) makes a socket after the worker
  starts; `socketpair`, which reaches nothing outside, stays allowed. Only the profiling worker
  under Nsight Compute keeps sockets (its injected library talks to the front end).

Both are kernel state that the process cannot undo, and they pass to every child. Standard
library only (ctypes).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _PR_CAP_AMBIENT = 24, 38, 22, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECCOMP_MODE_FILTER = 2
_SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
_CAPSET_X86_64, _CAPSET_GENERIC = 126, 91
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# (audit arch, {syscall: number}) per ABI a process on this machine can call.
# The keyring calls too: a key added to the user's keyring is the user's, not the process's, and
# outlives the evaluation where the next candidate, as the same user, reads it (cheat/keyring_stash);
# `request_key` can make the kernel start a helper program outside every namespace.
# And System V shared memory and message queues (i386: the `ipc` multiplexer as well): a segment
# filled through a mapping, then detached, is memory that no process maps, so no resident set
# counts it, and it lives as long as the IPC namespace (600 MiB held beyond every bound:
# cheat/isolation/memfd_hoard, adv17); a queue holds kernel memory alike. Nothing honest here
# uses them (PyTorch's shared memory is files in /dev/shm, bounded with /tmp).
_X86_64 = (0xC000003E, {"setsid": 112, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
                        "pidfd_getfd": 438, "add_key": 248, "request_key": 249, "keyctl": 250,
                        "shmget": 29, "msgget": 68})
_I386 = (0x40000003, {"setsid": 66, "ptrace": 26, "process_vm_readv": 347, "process_vm_writev": 348,
                      "pidfd_getfd": 438, "add_key": 286, "request_key": 287, "keyctl": 288,
                      "ipc": 117, "shmget": 395, "msgget": 399})
_AARCH64 = (0xC00000B7, {"setsid": 157, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
                         "pidfd_getfd": 438, "add_key": 217, "request_key": 218, "keyctl": 219,
                         "shmget": 194, "msgget": 186})
# Refused unless sockets are kept (see the module's note): per ABI, as the tables above.
_SOCKETS = {0xC000003E: {"socket": 41}, 0x40000003: {"socket": 359, "socketcall": 102}, 0xC00000B7: {"socket": 198}}
# Calls that act on a process named by its id: allowed on the caller itself only (these arguments
# must hold these values: a pid of 0, PRIO_PROCESS, IOPRIO_WHO_PROCESS), refused on any other.
# A process may lower another's priority (nice 19, SCHED_IDLE), move it to other cores, or change
# its limits whenever both run as one user, without a capability: without a PID namespace the
# candidate reached the clean worker that times the reference (cheat/renice_reference).
_SELF_ONLY = {"setpriority": ((0, 0), (1, 0)), "sched_setparam": ((0, 0),), "sched_setscheduler": ((0, 0),),
              "sched_setaffinity": ((0, 0),), "sched_setattr": ((0, 0),), "ioprio_set": ((0, 1), (1, 0)),
              "prlimit64": ((0, 0),)}
_SELF_NUMBERS = {
    0xC000003E: {"setpriority": 141, "sched_setparam": 142, "sched_setscheduler": 144, "sched_setaffinity": 203,
                 "ioprio_set": 251, "prlimit64": 302, "sched_setattr": 314},
    0x40000003: {"setpriority": 97, "sched_setparam": 154, "sched_setscheduler": 156, "sched_setaffinity": 241,
                 "ioprio_set": 289, "prlimit64": 340, "sched_setattr": 351},
    0xC00000B7: {"setpriority": 140, "sched_setparam": 118, "sched_setscheduler": 119, "sched_setaffinity": 122,
                 "ioprio_set": 30, "prlimit64": 261, "sched_setattr": 274},
}
_X32_BIT = 0x40000000  # x86_64's x32 ABI: the same calls under numbers with this bit set

_RET_ALLOW, _RET_ERRNO_EPERM, _RET_KILL = 0x7FFF0000, 0x00050000 | 1, 0x80000000


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _err(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def drop_capabilities() -> str:
    """Drop every capability (effective, permitted, inheritable, ambient, bounding)."""
    libc = _libc()
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):  # the bounding set first: it needs CAP_SETPCAP, dropped below
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() not in (1, 22):
            raise _err(f"prctl(CAPBSET_DROP, {cap})")
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = struct.pack("<Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    data = bytes(24)  # two {effective, permitted, inheritable} u32 triples, all zero
    nr = _CAPSET_X86_64 if platform.machine() == "x86_64" else _CAPSET_GENERIC
    if libc.syscall(nr, ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
        raise _err("capset")
    return "no capabilities"


def _program(tables: list[tuple[int, dict[str, int], bool]]) -> list[tuple[int, int, int, int]]:
    """BPF: for each (audit arch, numbers, x32) the listed calls fail with EPERM (with x32, every
    call of the x32 ABI too), and the arch's `_SELF_ONLY` calls unless aimed at the caller
    itself; a call under any other arch is killed (no honest use here).

    Layout: `ld arch`, then per table `jeq arch ? fall through : next table`, `ld nr`, the
    number tests (each jumping to the EPERM return), the self-only calls (`jeq nr ? fall through
    : past it`, then per argument its low and high words against the value, any other to the
    EPERM return, then `ret ALLOW`), `ret ALLOW`; after the last table `ret KILL`, `ret EPERM`.
    The accumulator still holds the arch when a table is skipped, the number when a call is."""
    ld_w_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    blocks = []
    for arch, numbers, x32 in tables:
        tests = [(jge, _X32_BIT)] if x32 else []
        tests += [(jeq, n) for n in sorted(set(numbers.values()))]
        own = [(nr, _SELF_ONLY[name]) for name, nr in sorted(_SELF_NUMBERS.get(arch, {}).items())]
        blocks.append((arch, tests, own))

    def size(tests: list, own: list) -> int:  # jeq arch, ld nr, the tests, the self-only calls, ret allow
        return 3 + len(tests) + sum(2 + 4 * len(args) for _, args in own)

    total = 1 + sum(size(tests, own) for _, tests, own in blocks) + 2
    deny_at, kill_at = total - 1, total - 2
    prog: list[tuple[int, int, int, int]] = [(ld_w_abs, 0, 0, 4)]
    for arch, tests, own in blocks:
        prog.append((jeq, 0, size(tests, own) - 1, arch))  # not this arch: past this block
        prog.append((ld_w_abs, 0, 0, 0))
        for op, k in tests:
            prog.append((op, deny_at - len(prog) - 1, 0, k))
        for nr, args in own:
            prog.append((jeq, 0, 4 * len(args) + 1, nr))  # not this call: past it (nr still loaded)
            for index, value in args:
                for offset, want in ((16 + 8 * index, value), (20 + 8 * index, 0)):  # low word, high word
                    prog.append((ld_w_abs, 0, 0, offset))
                    prog.append((jeq, 0, deny_at - len(prog) - 1, want))
            prog.append((ret, 0, 0, _RET_ALLOW))
        prog.append((ret, 0, 0, _RET_ALLOW))
    prog += [(ret, 0, 0, _RET_KILL), (ret, 0, 0, _RET_ERRNO_EPERM)]
    assert len(prog) == total and kill_at == total - 2
    assert all(0 <= jt <= 255 and 0 <= jf <= 255 for _, jt, jf, _ in prog)
    return prog


def _install(prog: list[tuple[int, int, int, int]]) -> None:
    libc = _libc()
    raw = b"".join(struct.pack("<HBBI", code, jt, jf, k) for code, jt, jf, k in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = _Fprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _err("prctl(NO_NEW_PRIVS)")
    # SPEC_ALLOW: kernels whose speculative-store-bypass mitigation is in `seccomp` mode would
    # otherwise turn it on for this process (slowing the candidate against the reference).
    nr = {"x86_64": 317, "aarch64": 277, "arm64": 277}.get(platform.machine())
    if nr is not None and libc.syscall(nr, 1, _SECCOMP_FILTER_FLAG_SPEC_ALLOW, ctypes.byref(fprog)) == 0:
        return
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:  # before Linux 4.17
        raise _err("prctl(SECCOMP)")


def deny_escapes(sockets: bool = False) -> str:
    """Install the seccomp filter; returns what holds, or why nothing could. `sockets`: `socket`
    stays allowed (only for Nsight Compute)."""
    if platform.system() != "Linux":
        return "no seccomp on this system"

    def table(arch: int, numbers: dict[str, int]) -> dict[str, int]:
        return numbers if sockets else {**numbers, **_SOCKETS[arch]}

    machine = platform.machine()
    if machine == "x86_64":  # a 64-bit process can also make 32-bit (int 0x80) and x32 calls
        _install(_program([(_X86_64[0], table(*_X86_64), True), (_I386[0], table(*_I386), False)]))
    elif machine in ("aarch64", "arm64"):
        _install(_program([(_AARCH64[0], table(*_AARCH64), False)]))
    else:
        return f"no seccomp filter for {machine}"
    return ("setsid, ptrace, process_vm_*, pidfd_getfd, keyrings, System V shm and queues" + ("" if sockets else ", socket")
            + " and other processes' priority, scheduling, affinity and limits refused (seccomp)")


def confine(sockets: bool = False) -> str:
    """Both steps, for a worker about to import a candidate; one line saying what holds.
    `sockets`: `socket` stays allowed (deny_escapes)."""
    parts = [deny_escapes(sockets)]
    if os.geteuid() == 0 or _has_caps():
        parts.append(drop_capabilities())
    return "; ".join(parts)


def _has_caps() -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16) != 0
    except (OSError, ValueError):
        pass
    return False
