"""Containment: every process a candidate starts dies with its evaluation, and nothing outlives it.

A candidate's worker is started through this file, run as a script (`launch_argv`): the launcher
moves into new PID and mount namespaces (as root; otherwise inside a new user namespace, where
the kernel allows one) and forks the worker as the namespace's first process. Then:
- a process the candidate starts can never leave the namespace (a new session, `setsid`,
  `posix_spawn(..., setsid=True)` or a double fork do not leave it), and when the worker dies
  the kernel kills every process left in it: killing the worker kills them all;
- the worker sees a root of its own (rootfs.py): only the system folders, the pieces of /etc,
  the code and tools it needs, read-only, and its own folder; its own `/proc` (no process of the
  evaluator, nor of anyone else, is visible in it, so no other process's environment can be
  read), a /dev with only the device files a worker uses, and its own empty `/dev/shm` and
  `/tmp` (its folder bound back in), which disappear with it. A file elsewhere on disk (a key in
  /srv, /opt, beside the store) is absent; users' homes (/root, /home, $HOME) are empty folders,
  except for the worker's own code found there. Where that root cannot be made, the machine's
  root stays, with private /proc, /tmp and homes, and the sandbox check says files are readable;
- the launcher dies with the evaluator's thread that started it (PR_SET_PDEATHSIG), and the
  worker with the launcher: a SIGKILL of the evaluator takes the whole namespace down.

Where no namespace can be made, the worker runs in its own session, `confine.py` forbids the
candidate's processes `setsid` (seccomp), so all of them stay in the session, and `kill_session`
kills every member; the evaluation folder names its owner, so the next evaluation of a later run
kills what a SIGKILLed evaluator left and removes the folder (`clean_stale`).

Standard library only: the launcher runs as `python -I -S contain.py` before anything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NoReturn, Protocol

_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWIPC = 0x00020000, 0x10000000, 0x20000000, 0x08000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
ENV_MODE = "KERNELSWARM_CONTAINED"  # how the worker is contained, for its sandbox step
OWNER_FILE = "owner.json"
PREFIX = "kernelswarm-eval-"
# One tmpfs holds the private /tmp, /dev/shm and /var/tmp together, and this bounds it: its files
# are memory that no process's limit counts (three tmpfs of half the machine each let a candidate
# hold more memory than the machine has, cheat/tmpfs_hoard). Nothing honest needs much there:
# compilers and caches write in the worker's folder (TMPDIR). KERNELSWARM_TMPFS_MB overrides.
TMPFS_MB = 1024


def tmpfs_size() -> str:
    try:
        mb = int(os.environ.get("KERNELSWARM_TMPFS_MB") or TMPFS_MB)
    except ValueError:
        mb = TMPFS_MB
    return f"size={max(mb, 16)}m"


def available() -> bool:
    """Whether to start candidates' workers through the launcher (Linux; KERNELSWARM_NO_NAMESPACE
    unset). The launcher itself falls back to a plain session where no namespace can be made."""
    return sys.platform.startswith("linux") and not os.environ.get("KERNELSWARM_NO_NAMESPACE")


def launch_argv(worker_argv: list[str], write_fd: int, private: list[str]) -> list[str]:
    """The command that starts `worker_argv` contained; the launcher reports on `write_fd` first.
    `private`: folders (the worker's own) that stay visible under the private /tmp."""
    return [sys.executable, "-I", "-S", __file__, str(write_fd), os.pathsep.join(private), "--", *worker_argv]


def shared_data() -> str:
    """The folder of files every evaluation's workers read (a whole model's own weights: see
    optimize/verify.shared_copy), under the user's cache folder. A candidate's private /tmp and
    empty homes would hide it, so it is bound back where it exists (`shared_paths`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kernelswarm", "weights")


def shared_paths() -> list[str]:
    folder = shared_data()
    return [folder] if os.path.isdir(folder) else []


def code_paths(pythonpath: str, env: dict[str, str] | None = None) -> list[str]:
    """Folders the worker's own code lives in (the interpreter, its prefixes, site folders and the
    folders their .pth files add, `pythonpath`: the worker's whole import path, and the folders
    `env`'s PATH, library and CUDA variables name: compilers, ninja, CUDA): the candidate's own
    root (rootfs.py) shows them, and a private /tmp or home must not hide them when kernelswarm,
    its Python or its tools were installed there (a CI clone, a venv, ~/.local/bin), or the worker
    would fail to start, or import another kernelswarm. Not the rest of this process's import path:
    the worker is a new interpreter and never imports from what this process added to its own (the
    working folder `python -m` puts first, the folder of the script that started it, one a
    notebook or a test prepended), and that is where a project keeps its store and its keys (a
    key in a project's settings.py there came back hashed from isolation/project_keys)."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             *pythonpath.split(os.pathsep), *_site_paths()}
    for name in _TOOL_PATHS:
        found.update((env or {}).get(name, "").split(os.pathsep))
    return sorted(p for p in found if p and os.path.isabs(p) and os.path.isdir(p))


def _site_paths() -> list[str]:
    """Site folders and the folders their .pth files add (an editable install's source)."""
    import site

    folders = [*getattr(site, "getsitepackages", list)()]
    if getattr(site, "ENABLE_USER_SITE", False):
        folders.append(site.getusersitepackages())
    out = list(folders)
    for folder in folders:
        for pth in sorted(Path(folder).glob("*.pth")) if os.path.isdir(folder) else ():
            try:
                lines = pth.read_text(errors="replace").splitlines()
            except OSError:
                continue
            out += [os.path.normpath(os.path.join(folder, ln.strip())) for ln in lines
                    if ln.strip() and not ln.startswith(("#", "import ", "import\t"))]
    return out


_TOOL_PATHS = ("PATH", "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH", "CUDA_HOME", "CUDA_PATH", "CUDA_ROOT",
               "CONDA_PREFIX", "VIRTUAL_ENV")


def home_folders(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """Folders that hold a user's files (shell start-up files, `.netrc`, cloud and tool credentials,
    a project's `.env`), which a candidate must not read (issue 14.3): /root, /home, the user's
    home and $HOME. The private mounts hide each one under an empty tmpfs."""
    import pwd

    env = os.environ if environ is None else environ
    found = {"/root", "/home", env.get("HOME", "")}
    with contextlib.suppress(KeyError):
        found.add(pwd.getpwuid(os.getuid()).pw_dir)
    real = {os.path.realpath(p) for p in found if p and os.path.isabs(p)}
    real = {p for p in real if p != "/" and os.path.isdir(p) and p not in _SYSTEM}
    # Only the outermost: /home hides /home/user already.
    return sorted(p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real))


_SYSTEM = frozenset({"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/opt", "/var", "/proc", "/sys", "/dev", "/tmp",
                     "/run", "/boot", "/srv", "/mnt", "/media"})


# RLIMIT_CORE for every worker and what it starts, hard and soft: 1, not 0. Where the machine pipes
# core dumps to a program (apport, systemd-coredump: kernel.core_pattern "|..."), the kernel
# ignores a limit of 0 and starts that program as root outside every namespace, where it reads the
# whole crashed process: work (and I/O) the candidate causes that no SIGSTOP of its session stops.
# A limit of 1 skips a piped dump (the kernel's own guard against recursive dumps) and is below
# the smallest core file, so no file is written either.
NO_CORE = (1, 1)


def set_parent_death_signal() -> None:
    """In a child between fork and exec: die with SIGKILL when the parent (thread) dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# -- the launcher (runs as a script) -------------------------------------------------------------
def _launch(write_fd: int, private: list[str], argv: list[str]) -> None:
    def start() -> NoReturn:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)

    # The program's own folder (a profiler such as ncu, found on PATH through a link, lives in its
    # install folder): the worker's own root shows it (rootfs.py).
    program = os.path.dirname(os.path.realpath(argv[0])) if os.path.isabs(argv[0]) else ""
    launch(write_fd, private + ([program] if program else []), start)


def launch(write_fd: int, private: list[str], start: Callable[[], NoReturn]) -> None:
    """Contain what `start` runs (the worker: a new program, or a zygote's fork serving in place)
    as described above; this process stays its launcher and exits as the worker does."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    # The mount namespace is the first process's own (see _as_init): this one keeps the
    # machine's /proc, where it finds the worker's pid as the evaluator numbers it.
    # A new IPC namespace too: System V segments, queues and semaphore sets and POSIX message
    # queues are kernel objects of no process, which would outlive the evaluation in the machine's
    # namespace (cheat/ipc_left); in the worker's own they go with it. Without one (a kernel
    # built without IPC namespaces), the PID namespace still holds.
    flags = _CLONE_NEWPID | (0 if os.geteuid() == 0 else _CLONE_NEWUSER)
    if libc.unshare(flags | _CLONE_NEWIPC) == 0:
        flags |= _CLONE_NEWIPC
    elif libc.unshare(flags) != 0:
        why = os.strerror(ctypes.get_errno())
        _report(write_fd, {"contain": "session", "why": f"no PID namespace ({why})", "pid": os.getpid()})
        os.environ[ENV_MODE] = "session"
        start()  # the worker is this process: its session holds everything it starts
    if flags & _CLONE_NEWUSER:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    go_r, go_w = os.pipe()  # launcher -> init: the launcher is alive (its death signal is set)
    forked_r, forked_w = os.pipe()  # init -> launcher: the worker exists
    start_r, start_w = os.pipe()  # launcher -> worker: the launcher has reported, go on
    init = os.fork()
    if init == 0:
        for fd in (go_w, forked_r, start_w):
            os.close(fd)
        _as_init(libc, go_r, forked_w, start_r, private, start)
    for fd in (go_r, forked_w, start_r):
        os.close(fd)
    os.write(go_w, b"g")
    os.close(go_w)
    os.read(forked_r, 1)
    os.close(forked_r)
    worker = _child_of(init)
    _report(write_fd, {"contain": "pid-namespace", "pid": worker or init, "init": init})
    os.write(start_w, b"g")
    os.closerange(3, 65536)  # the worker's channel is the worker's: its end closes when it dies
    code = os.waitstatus_to_exitcode(_wait(init))
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig:  # the evaluator reads how the worker died from the launcher's status
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code & 0xFF)


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _child_of(parent: int) -> int | None:
    """The process whose parent is `parent` (as this namespace numbers them)."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields and int(fields[1]) == parent:
                return int(name)
    return None


def _as_init(libc: ctypes.CDLL, go_r: int, forked_w: int, start_r: int, private: list[str],
             start: Callable[[], NoReturn]) -> None:
    """The namespace's first process: private mounts, the worker as its child, then it reaps
    orphans until the worker exits, and exits alike (which kills everything left in it). The
    worker is not the first process itself: that one ignores the signals it sends itself."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.read(go_r, 1) != b"g":  # the launcher died before it could know: so must this
        os._exit(1)
    os.close(go_r)
    mode = "pid-namespace"
    cwd = os.getcwd()
    try:
        if libc.unshare(_CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), f"no mount namespace ({os.strerror(ctypes.get_errno())})")
        mode += _own_view(libc, private, cwd)
    except OSError as e:
        mode += f" (shared /proc and /tmp: {e})"
    os.environ[ENV_MODE] = mode
    worker = os.fork()
    if worker == 0:
        # Only its own descriptors: `forked_w` was this process's (a worker once held its write
        # end, dead by then but still a pipe it could write: cheat/inherited_fds, adv13).
        os.close(forked_w)
        os.read(start_r, 1)
        os.close(start_r)
        os.chdir(cwd)  # through the bound folder, not the hidden one
        start()
    os.write(forked_w, b"f")
    os.closerange(3, 65536)  # the worker's channel and pipes are its own, not this process's
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)


def _own_view(libc: ctypes.CDLL, private: list[str], cwd: str) -> str:
    """The worker's own root (rootfs.py): only what it needs, read-only, and its folder; where that
    cannot be made, the machine's root with private /proc, /tmp and homes (`_private_mounts`).
    Returns what the mode string adds."""
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    rootfs = _rootfs()
    tmp_dev = os.stat("/tmp").st_dev
    try:
        homes = home_folders()
        paths = [p for p in rootfs.exposed(private, homes) if os.path.realpath(p) != os.path.realpath(cwd)]
        notes = rootfs.build("/tmp", paths, cwd, tmpfs_size(), homes)
    except OSError as e:
        if os.stat("/tmp").st_dev != tmp_dev:  # the new root's tmpfs, half built: gone
            libc.umount2(b"/tmp", 2)
        return ("+private-proc-tmp" + _private_mounts(libc, private)
                + f" (no root of its own, files elsewhere on disk readable: {e})")
    covered = _cover_secret_files(libc, private)
    if covered:
        notes.append(f"{covered} secret files beside the code covered")
    return "+private-proc-tmp+private-root+private-home" + (f" ({'; '.join(notes)})" if notes else "")


def _rootfs() -> ModuleType:
    """rootfs.py, as a package module or, in the launcher (`python -I -S contain.py`, whose own
    folder is not on its path), from this file's folder."""
    try:
        from kernelswarm.evaluate.worker import rootfs
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import rootfs  # type: ignore[no-redef]
    return rootfs


def _private_mounts(libc: ctypes.CDLL, private: list[str]) -> str:
    """Private /proc, /tmp, /dev/shm, /var/tmp and homes; returns what the mode string adds."""
    notes: list[str] = []
    keep = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in private]
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount(libc, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount(libc, "tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=1777,{tmpfs_size()}")
    for tmp in ("/dev/shm", "/var/tmp"):  # folders of the same tmpfs, under its one bound
        if os.path.isdir(tmp):
            inner = f"/tmp/.{tmp.strip('/').replace('/', '-')}"
            os.mkdir(inner, 0o1777)
            os.chmod(inner, 0o1777)
            _mount(libc, inner, tmp, None, _MS_BIND)
    # Users' homes under empty folders: what the user keeps there (a shell's start-up file with an
    # exported key, .netrc, cloud credentials) is not for a candidate to read. What the worker
    # needs from there (a venv, a clone, ~/.local) is in `private`, bound back below.
    hidden = []
    for home in home_folders():
        try:
            _mount(libc, "tmpfs", home, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
            hidden.append(home)
        except OSError as e:  # one this user may not enter (a user namespace's): read-protected anyway
            notes.append(f"{home} not hidden: {e}")
    # The worker's own folder and code, bound back where they were if a tmpfs now hides them;
    # outer folders first, so that an inner one is found inside its bound outer one.
    for path, fd in sorted(keep, key=lambda k: len(k[0])):
        if not os.path.isdir(path):
            os.makedirs(path, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", path, None, _MS_BIND)
        os.close(fd)
    covered = _cover_secret_files(libc, [p for p, _ in keep])
    if covered:
        notes.append(f"{covered} secret files beside the code covered")
    if hidden:
        return "+private-home" + (f" ({'; '.join(notes)})" if notes else "")
    return f" (homes visible: {'; '.join(notes) or 'none found'})"


# Files where a project keeps keys, beside the code a worker is bound back with: the evaluator's
# working folder is on its import path, and a project's `.env` there (or in any folder above the
# code, outside the homes) was readable by a candidate (a key's hash came back in its error).
SECRET_FILES = (".env", ".env.local", ".envrc", "secrets.env", ".netrc", ".git-credentials", ".pypirc",
                ".git/config")


def _cover_secret_files(libc: ctypes.CDLL, folders: list[str]) -> int:
    """Bind /dev/null over each of SECRET_FILES in `folders` and every folder above them (inside
    this mount namespace only: reading one gives nothing); returns how many were covered."""
    seen: set[str] = set()
    for folder in folders:
        for path in (folder, os.path.realpath(folder)):
            while path and path not in seen:
                seen.add(path)
                path = os.path.dirname(path) if path != "/" else ""
    covered = 0
    for folder in sorted(seen):
        for name in SECRET_FILES:
            target = os.path.join(folder, name)
            if os.path.isfile(target) and not os.path.islink(target):
                try:
                    _mount(libc, "/dev/null", target, None, _MS_BIND)
                    covered += 1
                except OSError:
                    continue
    return covered


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data) if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _report(fd: int, header: dict) -> None:
    """One frame in the protocol's format (protocol.py), before the worker says anything."""
    data = json.dumps({"op": "contain", "ok": True, **header}).encode()
    os.write(fd, struct.pack("<QQ", len(data), 0) + data)


# -- the evaluator's side -----------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (index 0 = field 3), or None if it is gone."""
    return _stat_of(f"/proc/{pid}/stat")


def _zombie_threads(pid: int) -> str | None:
    """For a zombie whose other threads still run (its main thread called `pthread_exit`; /proc
    shows Z, but a signal to it reaches every thread): "T" if all of those are stopped, else "R".
    None for a plain zombie."""
    try:
        states = [(_stat_of(f"/proc/{pid}/task/{tid}/stat") or ["Z"])[0] for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return None
    return live_threads_state(states)


def live_threads_state(states: list[str]) -> str | None:
    """Of a zombie's threads' states: "T" if every live one is stopped, "R" if any runs, None if
    none lives."""
    live = [st for st in states if st not in ("Z", "X")]
    if not live:
        return None
    return "T" if all(st in ("T", "t") for st in live) else "R"


def _stat_of(path: str) -> list[str] | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def session_states(sid: int) -> dict[int, str]:
    """State (R, S, D, T...) of every live process whose session is `sid`. Read with plain
    descriptors: it runs around every timed call (`stop_session`), on machines with many processes."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
            try:
                raw = os.read(fd, 1024)
            finally:
                os.close(fd)
            fields = raw[raw.rindex(b")") + 2:].split(b" ", 4)
            if int(fields[3]) != sid:
                continue
        except (OSError, ValueError, IndexError):
            continue
        state: str | None = fields[0].decode()
        if state in ("Z", "X"):
            state = _zombie_threads(int(name))
        if state is not None:
            found[int(name)] = state
    return found


def session_members(sid: int) -> list[int]:
    """Live processes (zombies left out, unless threads of theirs still run) whose session is `sid`."""
    return sorted(session_states(sid))


class Members(Protocol):
    """Another way to find a session's processes than a scan of the machine's /proc: a contained
    worker's namespace (parent/members.py), numbered its own way."""

    def states(self) -> dict[int, str]: ...

    def kill(self, pid: int, sig: int) -> None: ...


def signal_session(sid: int, sig: int, before_continue: Callable[[], None] | None = None,
                   members: Members | None = None) -> None:
    """Send `sig` to the process group `sid` and to every other process of the session `sid`: a
    candidate's process may leave its worker's process group (`setpgid`, which build tools need and
    confine.py allows), never its session. `members`: where they are found instead of a scan of
    every process of the machine (a contained worker's PID namespace, which holds all of them).
    SIGSTOP returns once every one of them has stopped (or after a second: one in uninterruptible
    sleep stops when it wakes), so that none of them runs, nor starts another, while something
    else is timed; one found running again (continued by another) is stopped again. SIGCONT finds
    every member first, while all are still stopped (none can start another), then continues them
    all at once: continued first and scanned after, the candidate ran for the length of the scan
    (2.5 ms here, more on a host with many processes) before the parent's clock started on its
    next request, and a SIGCONT handler did its call's work there (cheat/sigcont_head_start).
    Where `members` can tell which of them left the group (`outside_group`), only those are sent a
    SIGCONT of their own after the group's: each one is the parent's work after the clock started,
    0.03-0.06 ms for a worker and its namespace's first process, which the clean worker's requests
    never paid (issue 13). Where `members` has `continue_keepers` (a contained worker's launcher and
    its namespace's first process: this file's code, never the candidate's), those two are continued
    once every member has stopped (KEEPERS_RUN), so that the SIGCONT that starts the candidate's
    clock wakes only the worker's own processes, as the clean worker's request wakes only its own."""
    scan: Callable[[], dict[int, str]] = members.states if members is not None else lambda: session_states(sid)
    send: Callable[[int, int], None] = members.kill if members is not None else os.kill
    if sig == signal.SIGCONT:
        outside: Callable[[], list[int]] | None = getattr(members, "outside_group", None)
        found = list(outside() if outside is not None else scan())
        if before_continue is not None:  # e.g. a clock started once the scan is done
            before_continue()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, sig)
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                send(pid, sig)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, sig)
    sent: set[int] = set()
    end = time.monotonic() + 1.0
    while True:
        states = scan()
        for pid, state in states.items():
            if sig == signal.SIGSTOP and pid in sent and state in ("T", "t"):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                send(pid, sig)
            sent.add(pid)
        # A process still running may have started another since the scan: look again until
        # every member was signalled and has stopped.
        if sig != signal.SIGSTOP or time.monotonic() > end:
            break
        if states.keys() <= sent and all(s in ("T", "t") for s in states.values()):
            break
        time.sleep(0.0005)
    keepers: Callable[[], None] | None = getattr(members, "continue_keepers", None)
    if sig == signal.SIGSTOP and keepers is not None and KEEPERS_RUN:
        keepers()


# Whether a contained worker's launcher and its namespace's first process are continued as soon as
# the whole session has stopped (Members.continue_keepers): they run only this file's code, waiting
# for their child; left stopped, the SIGCONT that starts the candidate's clock woke them too.
# KERNELSWARM_STOP_KEEPERS=1 leaves them stopped as before session 18 (for before-and-after figures).
KEEPERS_RUN = os.environ.get("KERNELSWARM_STOP_KEEPERS", "0") != "1"


def kill_session(sid: int, limit_s: float = 10.0) -> list[int]:
    """Stop, then kill, every process of session `sid`, until none is left or `limit_s` passed.
    Stopping first keeps one from starting others while the rest are killed. Returns survivors."""
    end = time.monotonic() + limit_s
    while True:
        members = session_members(sid)
        if not members or time.monotonic() > end:
            return members
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in members:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        time.sleep(0.01)


def start_time(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def claim_folder(folder: Path) -> None:
    """Name this process as the owner of an evaluation folder (for `clean_stale`)."""
    me = os.getpid()
    (folder / OWNER_FILE).write_text(json.dumps({"pid": me, "start": start_time(me), "sessions": []}))


def note_session(folder: Path, sid: int) -> None:
    path = folder / OWNER_FILE
    try:
        owner = json.loads(path.read_text())
        owner["sessions"].append(sid)
        path.write_text(json.dumps(owner))
    except (OSError, ValueError, KeyError, AttributeError):
        pass


def clean_stale(root: str | None = None) -> list[str]:
    """Remove evaluation folders whose owner process is dead, after killing the sessions it
    recorded there (a worker left behind by a SIGKILLed evaluator). Returns what was removed."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = json.loads((folder / OWNER_FILE).read_text())
            pid, started, sessions = int(owner["pid"]), owner.get("start"), list(owner.get("sessions", []))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to judge (an older version's, or still being created)
        if start_time(pid) is not None and start_time(pid) == started:
            continue  # its owner is alive
        for sid in sessions:
            kill_session(int(sid), limit_s=5.0)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed


if __name__ == "__main__":
    _fd = int(sys.argv[1])
    _private = [p for p in sys.argv[2].split(os.pathsep) if p]
    _launch(_fd, _private, sys.argv[sys.argv.index("--") + 1:])
