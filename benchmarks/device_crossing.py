"""Can a candidate's device outputs reach the clean worker on the device, without the host? (issue 16)

    python benchmarks/device_crossing.py --mib 1024 --out OUT   # on a CUDA machine

Today a 1 GiB output crosses through the host: the candidate's worker copies it into a sealed memory
file (about 440 ms on the H200) and the clean worker reads it back to the device (about 260 ms), in
every correctness trial (session 19). Legacy CUDA IPC handles do not cross PID namespaces, and the
candidate's worker runs in one of its own. This probe tries the driver's virtual memory API instead:
the sender allocates with cuMemCreate (a POSIX file descriptor as its shareable handle), copies the
outputs in on the device and exports the descriptor; a process outside its namespace takes that
descriptor (pidfd_getfd, as the evaluator's parent would from its descendant), and a sibling takes it
from there (pidfd_getfd again; then, once the sender has exited, over a Unix socket) and maps it
read-only, copies it into memory of its own and checks the bytes. Then the refusals a hostile sender would meet: a descriptor that is not
device memory (a pipe, a memfd, the driver's control file) and a mapping larger than the allocation.

Every step's time is printed and written to OUT/device_crossing.json. Nothing here is the evaluator.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

CLONE_NEWPID, CLONE_NEWNS = 0x20000000, 0x00020000
_SYS_PIDFD_GETFD = 438  # x86-64 and arm64 alike


def pidfd_getfd(pid: int, fd: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"pidfd_getfd: {os.strerror(e)}")
        return got
    finally:
        os.close(pidfd)


class Loc(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("id", ctypes.c_int)]


class Flags(ctypes.Structure):
    _fields_ = [("compressionType", ctypes.c_ubyte), ("gpuDirectRDMACapable", ctypes.c_ubyte),
                ("usage", ctypes.c_ushort), ("reserved", ctypes.c_ubyte * 4)]


class Prop(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("requestedHandleTypes", ctypes.c_int), ("location", Loc),
                ("win32HandleMetaData", ctypes.c_void_p), ("allocFlags", Flags)]


class Access(ctypes.Structure):
    _fields_ = [("location", Loc), ("flags", ctypes.c_int)]


class Driver:
    def __init__(self) -> None:
        import torch

        torch.cuda.init()
        torch.empty(1, device="cuda")  # the primary context, current on this thread
        self.cu = ctypes.CDLL("libcuda.so.1")
        self.prop = Prop(type=1, requestedHandleTypes=1, location=Loc(type=1, id=torch.cuda.current_device()))
        g = ctypes.c_size_t()
        self.check(self.cu.cuMemGetAllocationGranularity(ctypes.byref(g), ctypes.byref(self.prop), 0), "granularity")
        self.granularity = g.value

    def check(self, rc: int, what: str) -> None:
        if rc != 0:
            name = ctypes.c_char_p()
            self.cu.cuGetErrorName(rc, ctypes.byref(name))
            raise RuntimeError(f"{what}: {name.value.decode() if name.value else rc}")

    def up(self, n: int) -> int:
        return -(-n // self.granularity) * self.granularity

    def create(self, size: int) -> tuple[int, int]:
        h, ptr = ctypes.c_ulonglong(), ctypes.c_ulonglong()
        self.check(self.cu.cuMemCreate(ctypes.byref(h), ctypes.c_size_t(size), ctypes.byref(self.prop), ctypes.c_ulonglong(0)), "cuMemCreate")
        self.check(self.cu.cuMemAddressReserve(ctypes.byref(ptr), ctypes.c_size_t(size), ctypes.c_size_t(0), ctypes.c_ulonglong(0), ctypes.c_ulonglong(0)), "reserve")
        self.map(ptr.value, size, h.value, 3)
        return h.value, ptr.value

    def map(self, ptr: int, size: int, handle: int, flags: int) -> None:
        self.check(self.cu.cuMemMap(ctypes.c_ulonglong(ptr), ctypes.c_size_t(size), ctypes.c_size_t(0), ctypes.c_ulonglong(handle), ctypes.c_ulonglong(0)), "cuMemMap")
        acc = Access(location=self.prop.location, flags=flags)
        self.check(self.cu.cuMemSetAccess(ctypes.c_ulonglong(ptr), ctypes.c_size_t(size), ctypes.byref(acc), ctypes.c_size_t(1)), "cuMemSetAccess")

    def export(self, handle: int) -> int:
        fd = ctypes.c_int(-1)
        self.check(self.cu.cuMemExportToShareableHandle(ctypes.byref(fd), ctypes.c_ulonglong(handle), 1, ctypes.c_ulonglong(0)), "export")
        return fd.value

    def import_fd(self, fd: int) -> int:
        h = ctypes.c_ulonglong()
        self.check(self.cu.cuMemImportFromShareableHandle(ctypes.byref(h), ctypes.c_void_p(fd), 1), "import")
        return h.value

    def reserve(self, size: int) -> int:
        ptr = ctypes.c_ulonglong()
        self.check(self.cu.cuMemAddressReserve(ctypes.byref(ptr), ctypes.c_size_t(size), ctypes.c_size_t(0), ctypes.c_ulonglong(0), ctypes.c_ulonglong(0)), "reserve")
        return ptr.value

    def release(self, ptr: int, size: int, handle: int | None) -> None:
        self.cu.cuMemUnmap(ctypes.c_ulonglong(ptr), ctypes.c_size_t(size))
        self.cu.cuMemAddressFree(ctypes.c_ulonglong(ptr), ctypes.c_size_t(size))
        if handle is not None:
            self.cu.cuMemRelease(ctypes.c_ulonglong(handle))


def as_tensor(ptr: int, n: int):
    import torch

    class View:
        __cuda_array_interface__ = {"shape": (n,), "typestr": "|u1", "data": (ptr, False), "version": 3}

    return torch.as_tensor(View(), device="cuda")


def sender(nbytes: int) -> None:
    """In a new PID namespace (as its first process): outputs copied into exported device memory."""
    os.unshare(CLONE_NEWPID)
    pid = os.fork()
    if pid:
        print(json.dumps({"real_pid": pid}), flush=True)
        os.waitpid(pid, 0)
        return
    # Its own /proc, as the evaluator's containment gives it (contain.py): the driver reads /proc,
    # and a PID namespace seen through the machine's /proc fails CUDA's start (error 304).
    libc = ctypes.CDLL(None, use_errno=True)
    os.unshare(CLONE_NEWNS)
    if libc.mount(b"none", b"/", None, 16384 | (1 << 18), None) != 0 or libc.mount(b"proc", b"/proc", b"proc", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mounting the namespace's own /proc")
    import torch

    t = {}
    s = time.perf_counter()
    d = Driver()
    t["init_s"] = time.perf_counter() - s
    out = torch.randint(0, 256, (nbytes,), dtype=torch.uint8, device="cuda")
    size = d.up(nbytes)
    s = time.perf_counter()
    h, ptr = d.create(size)
    t["create_map_ms"] = (time.perf_counter() - s) * 1e3
    s = time.perf_counter()
    as_tensor(ptr, nbytes).copy_(out)
    torch.cuda.synchronize()
    t["copy_in_ms"] = (time.perf_counter() - s) * 1e3
    s = time.perf_counter()
    fd = d.export(h)
    t["export_ms"] = (time.perf_counter() - s) * 1e3
    total = int(out.to(torch.int64).sum().item())
    print(json.dumps({"fd": fd, "size": size, "nbytes": nbytes, "sum": total, "ns_pid": os.getpid(),
                      "granularity": d.granularity, **t}), flush=True)
    sys.stdin.read()  # holds the memory until told to go
    os._exit(0)


def receiver(how: str, owner: int, fd: int, size: int, nbytes: int, sock_fd: int) -> None:
    """A clean process: the descriptor taken from the evaluator's stand-in, mapped read-only, copied."""
    import torch

    r: dict = {"how": how}
    s = time.perf_counter()
    if how == "pidfd":
        mine = pidfd_getfd(owner, fd)
    else:
        sock = socket.socket(fileno=sock_fd)
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
        mine = fds[0]
    r["take_ms"] = (time.perf_counter() - s) * 1e3
    s = time.perf_counter()
    d = Driver()
    r["init_s"] = time.perf_counter() - s
    s = time.perf_counter()
    h = d.import_fd(mine)
    os.close(mine)
    ptr = d.reserve(size)
    d.map(ptr, size, h, 1)  # read-only
    r["import_map_ms"] = (time.perf_counter() - s) * 1e3
    s = time.perf_counter()
    own = as_tensor(ptr, nbytes).clone()
    torch.cuda.synchronize()
    r["copy_out_ms"] = (time.perf_counter() - s) * 1e3
    s = time.perf_counter()
    d.release(ptr, size, h)
    r["release_ms"] = (time.perf_counter() - s) * 1e3
    r["sum"] = int(own.to(torch.int64).sum().item())
    # A hostile sender's descriptors: each must be refused, and the context must still work after.
    refusals = {}
    for name, make in (("pipe", lambda: os.pipe()[0]), ("memfd", lambda: os.memfd_create("x")),
                       ("nvidiactl", lambda: os.open("/dev/nvidiactl", os.O_RDWR))):
        try:
            bad = make()
            refusals[name] = f"imported (handle {d.import_fd(bad)})"
        except Exception as e:  # noqa: BLE001 - what the driver says is the finding
            refusals[name] = str(e)
    try:
        mine = pidfd_getfd(owner, fd) if how == "pidfd" else None
        if mine is not None:
            h = d.import_fd(mine)
            ptr = d.reserve(size + d.granularity)
            try:
                d.map(ptr, size + d.granularity, h, 1)
                refusals["oversize_map"] = "mapped"
            except RuntimeError as e:
                refusals["oversize_map"] = str(e)
    except Exception as e:  # noqa: BLE001
        refusals["oversize_map"] = f"setup: {e}"
    r["refusals"] = refusals
    r["context_after"] = float(torch.ones(4, device="cuda").sum().item())
    print(json.dumps(r), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--role", default="")
    ap.add_argument("--args", default="")
    a = ap.parse_args()
    if a.role == "sender":
        sender(a.mib << 20)
        return
    if a.role == "receiver":
        how, owner, fd, size, nbytes, sock_fd = a.args.split(",")
        receiver(how, int(owner), int(fd), int(size), int(nbytes), int(sock_fd))
        return
    a.out.mkdir(parents=True, exist_ok=True)
    me = [sys.executable, __file__]
    snd = subprocess.Popen(me + ["--role", "sender", "--mib", str(a.mib)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    real = json.loads(snd.stdout.readline())["real_pid"]
    info = json.loads(snd.stdout.readline())
    result: dict = {"sender": info, "real_pid": real}
    s = time.perf_counter()
    fd = pidfd_getfd(real, info["fd"])
    result["parent_take_ms"] = (time.perf_counter() - s) * 1e3
    st = os.fstat(fd)
    result["fd_is"] = {"link": os.readlink(f"/proc/self/fd/{fd}"), "mode": oct(st.st_mode),
                       "chr": stat.S_ISCHR(st.st_mode), "reg": stat.S_ISREG(st.st_mode)}
    for how in ("pidfd", "socket"):
        if how == "socket":  # the sender has let go and exited: only the evaluator's descriptor holds the block
            snd.stdin.close()
            snd.wait(timeout=60)
            result["sender_exited_before_socket"] = snd.returncode
        a_end, b_end = socket.socketpair()
        args = f"{how},{os.getpid()},{fd},{info['size']},{info['nbytes']},{b_end.fileno()}"
        rcv = subprocess.Popen(me + ["--role", "receiver", "--args", args], stdout=subprocess.PIPE, text=True,
                               pass_fds=(b_end.fileno(),))
        b_end.close()
        if how == "socket":
            socket.send_fds(a_end, [b"f"], [fd])
        out, _ = rcv.communicate(timeout=240)
        rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        result[how] = rows[0] if rows else {"error": f"exit {rcv.returncode}"}
        result[how]["bytes_match"] = bool(rows) and rows[0].get("sum") == info["sum"]
        a_end.close()
    text = json.dumps(result, indent=1)
    (a.out / "device_crossing.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
