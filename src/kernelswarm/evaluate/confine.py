"""What a candidate's worker gives up before the candidate's code is imported (Linux).

- Capabilities: a worker started by root would otherwise hold every capability, and with
  CAP_SYS_PTRACE read any process's memory and environment (the evaluator's, a shell's that holds
  an API key) whatever the target's dumpable flag says. All of them are dropped, from the bounding
  set too, so that nothing the candidate executes regains them.
- System calls (seccomp): `setsid` fails, so every process the candidate starts stays in the
  worker's session, where `contain.kill_session` finds it; `ptrace`, `process_vm_readv`/`writev`
  and `pidfd_getfd` fail, so no other process's memory or descriptors can be reached.
  `setpgid` stays allowed: build tools (ninja) put each command in its own process group.

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
_CAPSET_X86_64, _CAPSET_GENERIC = 126, 91
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# (audit arch, {syscall: number}) per ABI a process on this machine can call.
_X86_64 = (0xC000003E, {"setsid": 112, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
                        "pidfd_getfd": 438})
_I386 = (0x40000003, {"setsid": 66, "ptrace": 26, "process_vm_readv": 347, "process_vm_writev": 348,
                      "pidfd_getfd": 438})
_AARCH64 = (0xC00000B7, {"setsid": 157, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
                         "pidfd_getfd": 438})
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
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
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
    call of the x32 ABI too); a call under any other arch is killed (no honest use here)."""
    ld_arch, ld_nr = (0x20, 0, 0, 4), (0x20, 0, 0, 0)
    jeq, jge, ret = 0x15, 0x35, 0x06
    # Instructions with symbolic jump targets ("deny", "kill", "next" = the next arch's block).
    code: list[tuple[int, object, object, int]] = [(*ld_arch[:1], 0, 0, 4)]
    for arch, numbers, x32 in tables:
        code.append((jeq, 0, "next", arch))
        code.append((*ld_nr[:1], 0, 0, 0))
        if x32:
            code.append((jge, "deny", 0, _X32_BIT))
        code += [(jeq, "deny", 0, n) for n in sorted(set(numbers.values()))]
        code.append((ret, 0, 0, _RET_ALLOW))
        code.append(("next", 0, 0, 0))  # a label, removed below; the accumulator still holds the arch
    code = [c for c in code[:-1]] + [(ret, 0, 0, _RET_KILL), (ret, 0, 0, _RET_ERRNO_EPERM)]
    labels, prog, pending = {"kill": len(code) - 2, "deny": len(code) - 1}, [], []
    for c in code:
        if c[0] == "next":
            pending.append(len(prog))
            continue
        prog.append(c)
    # Resolve: "next" in instruction i means the first instruction after the next label past i.
    resolved = []
    kill_at, deny_at = len(prog) - 2, len(prog) - 1
    for i, (op, jt, jf, k) in enumerate(prog):
        def target(t: object) -> int:
            if t == "deny":
                return deny_at - i - 1
            if t == "kill":
                return kill_at - i - 1
            if t == "next":
                after = [at for at in pending if at > i]
                return (after[0] if after else kill_at) - i - 1
            return int(t)  # type: ignore[arg-type]
        resolved.append((int(op), target(jt), target(jf), k))  # type: ignore[arg-type]
    del labels
    return resolved


def _install(prog: list[tuple[int, int, int, int]]) -> None:
    libc = _libc()
    raw = b"".join(struct.pack("<HBBI", code, jt, jf, k) for code, jt, jf, k in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = _Fprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _err("prctl(NO_NEW_PRIVS)")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise _err("prctl(SECCOMP)")


def deny_escapes() -> str:
    """Install the seccomp filter; returns what holds, or why nothing could."""
    if platform.system() != "Linux":
        return "no seccomp on this system"
    machine = platform.machine()
    if machine == "x86_64":  # a 64-bit process can also make 32-bit (int 0x80) and x32 calls
        _install(_program([(_X86_64[0], _X86_64[1], True), (_I386[0], _I386[1], False)]))
    elif machine in ("aarch64", "arm64"):
        _install(_program([(_AARCH64[0], _AARCH64[1], False)]))
    else:
        return f"no seccomp filter for {machine}"
    return "setsid, ptrace, process_vm_* and pidfd_getfd refused (seccomp)"


def confine() -> str:
    """Both steps, for a worker about to import a candidate; one line saying what holds."""
    parts = [deny_escapes()]
    if os.geteuid() == 0 or _has_caps():
        parts.append(drop_capabilities())
    return "; ".join(parts)


def _has_caps() -> bool:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16) != 0
    except (OSError, ValueError):
        pass
    return False
