"""A candidate's worker sees a filesystem of its own: only what a worker needs, read-only.

Reads are not otherwise sandboxed (Landlock denies writes only): a key file anywhere on disk
that the evaluator's user can read (/work/secret.txt, /opt/keys/x, /srv/x, a raw disk in /dev)
was readable by a candidate. In the worker's mount namespace `build` makes a new root, a small
tmpfs, and binds into it only:
- system folders: /usr (compilers, headers, the CUDA toolkit in /usr/local), /bin, /sbin, /lib*
  (links where the machine has merged them into /usr), and the pieces of /etc a process needs to
  run (the loader's cache, users and groups, name service, certificates, alternatives, NVIDIA's);
- the worker's code and tools: the interpreter's prefixes, its import path, the folders named by
  PATH and the library and CUDA variables (`contain.code_paths`), folders the loader's
  configuration lists, the folder of every shared library already mapped (libcuda where a driver
  lives outside /usr), and the installation above a PATH's `nvcc` or C/C++ compiler;
- /proc (the namespace's own), /sys (read-only), a /dev of its own with only the device files a
  worker uses (null, zero, full, random, urandom, tty, /dev/nvidia*, /dev/dri, /dev/kfd), and one
  size-bounded tmpfs for /tmp, /dev/shm and /var/tmp;
- the worker's own folder, writable.
Then `pivot_root` makes it the root and the machine's is detached: anything else (a secret file
elsewhere, another user's files, block devices, the evaluator's store) is simply absent.

Standard library only: the launcher runs as `python -I -S contain.py` before anything else.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import stat

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC, _MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 21
_MNT_DETACH = 2
# statvfs's f_flag bits -> mount flags a read-only remount of a bind must keep (a user namespace
# may not clear the flags its mount was made with: the remount would fail with EPERM).
_KEEP = ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC),
         (os.ST_NOATIME, _MS_NOATIME), (os.ST_NODIRATIME, _MS_NODIRATIME), (os.ST_RELATIME, _MS_RELATIME))
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What of /etc a worker reads: the loader, users (getpass, inductor's cache names), name service,
# time zone, certificates, compiler alternatives (/usr/bin/cc links through them), the GPU
# vendors' files. Not the rest: /etc/environment or a service's configuration may hold keys.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ld.so.preload", "passwd", "group", "nsswitch.conf", "hosts",
       "host.conf", "localtime", "timezone", "ssl", "ca-certificates", "ca-certificates.conf", "pki", "alternatives",
       "os-release", "lsb-release", "debian_version", "redhat-release", "gai.conf", "protocols", "services",
       "mime.types", "magic", "OpenCL", "vulkan", "glvnd", "nvidia", "cuda", "gcc", "fonts")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
           "nvidia-modeset", "kfd")
DEVICE_GLOBS = ("nvidia[0-9]*",)
DEVICE_DIRS = ("nvidia-caps", "dri")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    libc = _libc()
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data) if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


# Folders of the new root's own (or hidden) that no bound folder may cover: a folder named by
# PATH or the import path that is one of these or above one ("/", "/var", a home itself) is left out.
OWN = ("/tmp", "/var/tmp", "/dev", "/proc", "/sys")


def exposed(code: list[str], hidden: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every host path the new root shows (besides /proc, /sys, /dev and /tmp): the system folders,
    /etc's pieces, `code` (the worker's code and tools, and its own folder) and the folders the
    loader searches or has loaded libraries from. Never "/", nor a folder that is or holds one of
    OWN or `hidden` (users' homes, the evaluator's working folder): their code is bound by its own
    folders, never by the whole home."""
    found = [p for p in SYSTEM if os.path.lexists(p)]
    found += [os.path.join("/etc", name) for name in ETC if os.path.lexists(os.path.join("/etc", name))]
    found += code + _loader_dirs() + _mapped_library_dirs() + _toolkits(code) + _link_targets(code)
    guarded = [os.path.realpath(p) for p in (*OWN, *hidden) if p]
    seen, out = set(), []
    for p in found:
        p = os.path.normpath(p)
        if not os.path.isabs(p) or p in seen or not os.path.lexists(p):
            continue
        real = os.path.realpath(p)
        if real == "/" or any(g == real or g.startswith(real.rstrip("/") + "/") for g in guarded):
            continue
        seen.add(p)
        out.append(p)
    return out


def _loader_dirs() -> list[str]:
    """Folders /etc/ld.so.conf (and what it includes) lists: where libcuda lives on some hosts."""
    out: list[str] = []
    files = ["/etc/ld.so.conf"]
    while files and len(out) < 200:
        try:
            with open(files.pop()) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line.startswith("include "):
                files += sorted(glob.glob(line.split(None, 1)[1].strip()))
            elif line.startswith("/") and os.path.isdir(line):
                out.append(line)
    return out


def _mapped_library_dirs() -> list[str]:
    """The folder of every shared library this process has mapped (a forked worker's: torch's
    libraries, libcuda where the driver is outside the system folders)."""
    out = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/") and ".so" in parts[5]:
                    path = parts[5].strip()
                    if not path.endswith("(deleted)"):
                        out.add(os.path.dirname(path))
    except OSError:
        pass
    return sorted(out)


def _link_targets(code: list[str], most: int = 4000) -> list[str]:
    """The folders that links in `code`'s folders outside the system ones point into (a PATH's
    `ncu` or `ninja` linked to its install folder under /opt or ~/.local): the tool's whole folder."""
    out: set[str] = set()
    for folder in code:
        if any(folder == s or folder.startswith(s + "/") for s in SYSTEM) or not os.path.isdir(folder):
            continue
        try:
            with os.scandir(folder) as entries:
                for n, e in enumerate(entries):
                    if n >= most:
                        break
                    if e.is_symlink():
                        real = os.path.realpath(e.path)
                        if os.path.isfile(real) and not real.startswith(folder + "/"):
                            out.add(os.path.dirname(real))
        except OSError:
            continue
    return sorted(out)


# Compilers whose installation is a prefix with bin/ beside lib/, libexec/ and include/.
COMPILERS = ("nvcc", "gcc", "g++", "cc", "c++", "clang", "clang++")
COMPILER_DIRS = ("lib", "lib64", "libexec", "include")


def _toolkits(code: list[str]) -> list[str]:
    """The installation above each compiler in one of `code`'s folders: the CUDA toolkit above an
    `nvcc` (its include, lib and nvvm folders are siblings of bin/), and a C/C++ compiler's own
    prefix where it lives outside the system folders. On the H200 machine gcc is /opt/gcc/bin/gcc:
    with only its bin/ shown, its cc1plus and its stddef.h (under /opt/gcc/lib and libexec) were
    absent, so every load_inline build and Triton's driver helper failed inside the new root."""
    out = []
    for p in code:
        for name in COMPILERS:
            tool = os.path.join(p, name)
            if not os.path.isfile(tool):
                continue
            prefix = os.path.dirname(os.path.dirname(os.path.realpath(tool)))
            if name == "nvcc":
                out.append(prefix)
            else:  # only the toolchain's own folders: its prefix may hold anything else (/work)
                out += [os.path.join(prefix, sub) for sub in COMPILER_DIRS if os.path.isdir(os.path.join(prefix, sub))]
    return out


def build(newroot: str, paths: list[str], writable: str, tmpfs_opts: str, empty: list[str]) -> list[str]:
    """Make `newroot` (an empty folder) the tmpfs root described above, `paths` bound into it
    read-only, `writable` (the worker's folder) read-write and `empty` (users' homes) empty
    folders; then pivot into it. Every source is
    opened before anything is mounted (a tmpfs may hide it). Returns notes (what could not be
    made read-only). Raises OSError: the caller then falls back to the machine's root."""
    notes: list[str] = []
    sources = []
    for p in sorted(set(paths) | {writable}, key=lambda q: (len(os.path.realpath(q)), q)):
        real = os.path.realpath(p)
        try:
            sources.append((real, os.open(real, os.O_PATH | os.O_CLOEXEC)))
        except OSError:
            continue  # vanished since it was listed
    links = {q: target for p in paths for q, target in _links_to(p)}
    devices = _device_nodes()
    try:
        mount("tmpfs", newroot, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=16m")
        _mkdirs(newroot, "/tmp")
        mount("tmpfs", newroot + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=1777,{tmpfs_opts}")
        for inner in ("/tmp/.dev-shm", "/tmp/.var-tmp"):
            os.mkdir(newroot + inner, 0o1777)
            os.chmod(newroot + inner, 0o1777)
        _dev(newroot, devices)
        _mkdirs(newroot, "/proc")
        mount("proc", newroot + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        if os.path.isdir("/sys"):
            _mkdirs(newroot, "/sys")
            _bind(newroot, "/sys", "/sys", True, notes, recursive=True)
        _mkdirs(newroot, "/var/tmp")
        mount(newroot + "/tmp/.var-tmp", newroot + "/var/tmp", None, _MS_BIND)
        bound: list[str] = []
        for real, fd in sources:
            rw = real == os.path.realpath(writable)
            if not rw and any(real == b or real.startswith(b.rstrip("/") + "/") for b in bound):
                continue  # inside a folder bound already
            src = f"/proc/self/fd/{fd}"
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                _mkdirs(newroot, real)
            else:
                _mkdirs(newroot, os.path.dirname(real))
                if not os.path.lexists(newroot + real):
                    os.close(os.open(newroot + real, os.O_CREAT | os.O_WRONLY, 0o644))
            _bind(newroot, src, real, not rw, notes, recursive=not rw)
            bound.append(real)
        for q, target in sorted(links.items()):
            if not os.path.lexists(newroot + q):
                _mkdirs(newroot, os.path.dirname(q))
                os.symlink(target, newroot + q)
        for folder in empty:
            if not os.path.lexists(newroot + folder):
                _mkdirs(newroot, folder)
        mount(None, newroot, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    finally:
        for _, fd in sources:
            os.close(fd)
        for fd in devices.values():
            os.close(fd)
    _pivot(newroot)
    return notes


def _device_nodes() -> dict[str, int]:
    """The device files a worker uses, opened as paths (name under /dev -> descriptor)."""
    names = [n for n in DEVICES if os.path.exists("/dev/" + n)]
    names += [os.path.basename(p) for g in DEVICE_GLOBS for p in glob.glob("/dev/" + g)]
    names += [n for n in DEVICE_DIRS if os.path.isdir("/dev/" + n)]
    out = {}
    for name in names:
        try:
            out[name] = os.open("/dev/" + name, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
    return out


def _dev(newroot: str, devices: dict[str, int]) -> None:
    """A /dev of its own: a small tmpfs with only `devices` bound in (no disk, no loop device, no
    kernel log), /dev/shm from the bounded tmpfs, and the usual links."""
    dev = newroot + "/dev"
    os.mkdir(dev)
    mount("tmpfs", dev, "tmpfs", _MS_NOSUID | _MS_NOEXEC, "mode=0755,size=1m")
    for name, fd in sorted(devices.items()):
        target = f"{dev}/{name}"
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.mkdir(target)
            mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
            mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND)
    os.mkdir(dev + "/shm")
    mount(newroot + "/tmp/.dev-shm", dev + "/shm", None, _MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")


def _mkdirs(newroot: str, path: str) -> None:
    os.makedirs(newroot + path, mode=0o755, exist_ok=True)


def _bind(newroot: str, source: str, real: str, read_only: bool, notes: list[str], recursive: bool) -> None:
    target = newroot + real
    mount(source, target, None, _MS_BIND | (_MS_REC if recursive else 0))
    if not read_only:
        return
    kept = 0
    try:
        flags = os.statvfs(target).f_flag
        kept = sum(ms for st, ms in _KEEP if flags & st)
        mount(None, target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | kept)
    except OSError as e:  # writes stay refused by Landlock (sandbox.py)
        notes.append(f"{real} not read-only ({e.strerror})")


def _links_to(path: str, depth: int = 0) -> list[tuple[str, str]]:
    """The links on the way to `path` (a venv's python, /lib -> usr/lib, /usr/local/cuda ->
    cuda-13.0), as (where, target): made the same in the new root where it does not show one
    already (a link inside a bound folder is the machine's own), `path` resolves there as here."""
    parts = path.strip("/").split("/")
    for i in range(len(parts)):
        q = "/" + "/".join(parts[: i + 1])
        if not os.path.islink(q):
            continue
        rest = "/".join(parts[i + 1:])
        real = os.path.realpath(q)
        further = _links_to(os.path.join(real, rest) if rest else real, depth + 1) if depth < 20 else []
        return [(q, os.readlink(q)), *further]
    return []


def _pivot(newroot: str) -> None:
    """Make `newroot` this mount namespace's root and detach the machine's."""
    libc = _libc()
    nr = _PIVOT_ROOT.get(platform.machine())
    if nr is None:
        raise OSError(0, f"no pivot_root number for {platform.machine()}")
    os.chdir(newroot)
    if libc.syscall(nr, b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    if libc.umount2(b".", _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"detaching the machine's root: {os.strerror(err)}")
    os.chdir("/")
