"""Candidate code may write only inside its own worker folder (Linux Landlock).

A candidate runs as the evaluator's own user: without this, its Python or native code could
rewrite the store, the package, or the cached compile baselines and peak rates that later
speedups are divided by. Before the candidate's code is imported, its worker restricts itself:
every write to the filesystem (creating, writing, truncating, removing, renaming into) is denied
outside the worker's folder (where its compile caches and temporary files already live), except
to the few device files a GPU process writes (/dev/null, /dev/shm, /dev/nvidia*). Reading stays
allowed. Where Landlock can also scope signals (ABI 6), the candidate cannot signal processes
outside its sandbox (the evaluator, the clean worker). The restriction is the kernel's, so native
code is bound by it too, and it cannot be lifted by the process that asked for it.

Standard library only (ctypes); kernels without Landlock (before 5.13, gVisor, macOS) get none,
and the evaluation says so.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform

_CREATE, _ADD_RULE, _RESTRICT = 444, 445, 446  # syscall numbers, the same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights (include/uapi/linux/landlock.h): the ones that change the filesystem.
_WRITE_FILE = 1 << 1
_FILE_WRITES_ABI1 = _WRITE_FILE
_DIR_WRITES_ABI1 = (1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 11 | 1 << 12)  # remove/make
_REFER = 1 << 13  # ABI 2: link or rename a file into another folder
_TRUNCATE = 1 << 14  # ABI 3
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
# ABI 4: TCP bind and connect, refused to the candidate altogether (no rule allows a port). A kernel
# needs no network, while a service reachable over TCP can act outside this sandbox on its behalf:
# a Ray cluster's GCS, for one, runs whatever work a process with its token (a readable file) sends.
_BIND_TCP, _CONNECT_TCP = 1 << 0, 1 << 1

# Device files a worker writes or opens for writing: the null device, shared memory, the GPU.
_DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                 "/dev/nvidia-modeset")
_DEVICE_GLOBS = ("/dev/nvidia[0-9]*", "/dev/nvidia-caps/*", "/dev/dri/*")
_DEVICE_DIRS = ("/dev/shm",)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none."""
    if platform.system() != "Linux" or os.environ.get("KERNELSWARM_NO_LANDLOCK"):  # the latter: as if absent (tests)
        return 0
    try:
        version = _libc().syscall(_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def candidate_sandbox(device_type: str, tcp: bool = False) -> str:
    """Everything a candidate's process gives up before the candidate's code is imported, the same
    in the evaluator's candidate worker and in the profiling worker: capabilities and escaping
    calls (confine.py), then writes outside the current folder (the worker's own). Returns one
    line saying what holds; raises OSError as `restrict_writes` does. `tcp`: TCP stays allowed
    (only for Nsight Compute, whose injected library talks to its front end over a port)."""
    from kernelswarm.evaluate.worker import confine
    from kernelswarm.evaluate.worker.contain import ENV_MODE

    contained = os.environ.get(ENV_MODE, "not contained")
    # /dev/shm stays writable where it is this worker's own (a private mount) or a GPU library
    # may need it; a CPU worker on the machine's shared one may not leave files there.
    shm = "private" in contained or device_type != "cpu"
    if "private-root" not in contained and "files elsewhere on disk readable" not in contained:
        # No root of its own (rootfs.py): reads are not sandboxed, only writes.
        contained += " (files elsewhere on disk readable)"
    steps = [f"contained: {contained}", confine.confine(sockets=tcp), restrict_writes(os.getcwd(), shm=shm, tcp=tcp)]
    return "; ".join(steps)


def restrict_writes(folder: str, shm: bool = True, tcp: bool = False) -> str:
    """Deny this process (and every process it starts) filesystem writes outside `folder`.
    Returns one line saying what was applied, or why nothing was; raises OSError if the kernel
    refused a step of a restriction it offers (the caller must not run the candidate then).
    `shm`: whether /dev/shm may be written (a private one, or a GPU library's need); `tcp`:
    whether TCP stays open (and abstract sockets to outside it: Nsight Compute's pass)."""
    version = abi()
    if version < 1:
        return "not applied: this kernel has no Landlock (the candidate could write anywhere its user may)"
    libc = _libc()
    dir_rights = _FILE_WRITES_ABI1 | _DIR_WRITES_ABI1 | (_REFER if version >= 2 else 0) | (_TRUNCATE if version >= 3 else 0)
    file_rights = _WRITE_FILE | (_TRUNCATE if version >= 3 else 0)
    scoped = (_SCOPE_SIGNAL | (0 if tcp else _SCOPE_ABSTRACT_UNIX_SOCKET)) if version >= 6 else 0
    net = _BIND_TCP | _CONNECT_TCP if version >= 4 and not tcp else 0
    attr = _RulesetAttr(dir_rights, net, scoped)
    size = ctypes.sizeof(_RulesetAttr) if version >= 6 else (16 if version >= 4 else 8)
    ruleset = libc.syscall(_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        _allow(libc, ruleset, folder, dir_rights)
        for path in _DEVICE_DIRS if shm else ():
            if os.path.isdir(path):
                _allow(libc, ruleset, path, dir_rights)
        devices = [p for p in _DEVICE_FILES if os.path.exists(p)] + [p for g in _DEVICE_GLOBS for p in glob.glob(g)]
        for path in devices:
            if not os.path.isdir(path):
                _allow(libc, ruleset, path, file_rights)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")
        if libc.syscall(_RESTRICT, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    signals = ("; signals to processes outside it refused" if scoped else "") + ("; TCP refused" if net else "")
    shm_note = "" if shm else " (not /dev/shm)"
    return (f"writes only inside the worker's folder and to device files{shm_note} (Landlock ABI {version}); "
            f"other processes' memory and environment closed to it{signals}")


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneath(rights, fd)
        if libc.syscall(_ADD_RULE, ruleset, ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
