"""Ways a large output could take between the candidate's worker and the clean worker (issue 16):
today's against writing through the memory file's mapping, with and without the pages registered
with the device. A measurement only; the library is not changed.

    PYTHONPATH=src python benchmarks/transfer_paths.py --device cuda --mib 1024 --repeats 3

Sending (the candidate's worker, a device output into a new sealed memory file):
- `pwrite` (today, rawblob.to_blob): through a pinned staging buffer, 64 MiB at a time, then pwrite;
- `mapping`: the file mapped shared and writable, the output copied into the mapping at once
  (a device's through the driver's own staging), unmapped, sealed;
- `mapping+register` (CUDA only): the same, the mapping registered with cudaHostRegister first, so
  that the device copies into it directly.
Receiving (the clean worker, the sealed file onto its device):
- `map+to` (today, rawblob.from_blob then `.to(device)`): mapped privately, copied to the device;
- `map+register+to` (CUDA only): the private mapping registered read-only first;
- `map+staged+to` (CUDA only): the private mapping copied through two pinned 64 MiB buffers in turn,
  each step's host copy overlapping the previous step's copy to the device.

On this CPU (2 cores, load 8) the host part alone, 256 MiB: pwrite 541-628 ms, through the mapping
1175-1394 ms (docs/benchmarks.md, session 19, tput19). Prints a markdown table of each path's ms per
repeat, alternating the paths' order. Exit 0.
"""

from __future__ import annotations

import argparse
import mmap
import os
import time

import torch

from kernelswarm.evaluate.worker import rawblob
from kernelswarm.evaluate.wire import sealed

_POPULATE_WRITE = 23  # MADV_POPULATE_WRITE, Linux 5.14
_REGISTER_READ_ONLY = 8  # cudaHostRegisterReadOnly


def _register(ptr: int, size: int, flags: int = 0) -> None:
    err = torch.cuda.cudart().cudaHostRegister(ptr, size, flags)
    if int(err) != 0:
        raise RuntimeError(f"cudaHostRegister failed ({err})")


def _unregister(ptr: int) -> None:
    torch.cuda.cudart().cudaHostUnregister(ptr)


def send_mapping(t: torch.Tensor, register: bool) -> sealed.SealedBlob:
    """The output's bytes (no header: the copy is what is measured) into a new memfd through its mapping."""
    import fcntl

    flat = t.contiguous().view(-1).view(torch.uint8)
    size = flat.numel()
    fd = os.memfd_create("kernelswarm-outputs", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            try:
                mm.madvise(_POPULATE_WRITE)
            except (OSError, ValueError):
                pass
            dst = torch.frombuffer(mm, dtype=torch.uint8)
            if register:
                _register(dst.data_ptr(), size)
            try:
                dst.copy_(flat)
            finally:
                if register:
                    _unregister(dst.data_ptr())
            del dst
        finally:
            mm.close()
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        return sealed.SealedBlob(fd, size)
    except BaseException:
        os.close(fd)
        raise


def receive(blob: sealed.SealedBlob, device: torch.device, register: bool) -> torch.Tensor:
    mm = blob.map()
    src = torch.frombuffer(mm, dtype=torch.uint8)
    if register:
        _register(src.data_ptr(), src.numel(), _REGISTER_READ_ONLY)
    try:
        out = src.to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
    finally:
        if register:
            _unregister(src.data_ptr())
    del src
    mm.close()
    return out


FAILED: dict[str, str] = {}  # path -> why it could not run (shown under the table)


def receive_staged(blob: sealed.SealedBlob, device: torch.device, step: int = 64 << 20) -> torch.Tensor:
    """The private mapping copied to the device through two pinned buffers in turn: the host's copy
    of one step into a buffer while the device takes the other's (CUDA only)."""
    mm = blob.map()
    src = torch.frombuffer(mm, dtype=torch.uint8)
    n = src.numel()
    out = torch.empty(n, dtype=torch.uint8, device=device)
    pins = [torch.empty(min(step, n), dtype=torch.uint8, pin_memory=True) for _ in range(2)]
    done = [None, None]
    for i, lo in enumerate(range(0, n, step)):
        k, j = min(step, n - lo), i % 2
        if done[j] is not None:
            done[j].synchronize()  # that buffer's previous copy to the device has finished
        pins[j][:k].copy_(src[lo:lo + k])
        out[lo:lo + k].copy_(pins[j][:k], non_blocking=True)
        done[j] = torch.cuda.Event()
        done[j].record()
    torch.cuda.synchronize()
    del src
    mm.close()
    return out


def _timed(name: str, fn):
    """ms of `fn()` and its result; (nan, None) where the path fails here (a driver refusing to
    register a mapping: named under the table, the other paths measured)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - a path that cannot run here is named, the others measured
        FAILED[name] = f"{e.__class__.__name__}: {e}"[:200]
        return float("nan"), None
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return 1000.0 * (time.perf_counter() - t), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mib", type=int, default=256, help="the output's size")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if not sealed.AVAILABLE:
        raise SystemExit("no memfds here")
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    t = torch.randn((a.mib << 20) // 4, device=device)
    sends = {"pwrite": lambda: rawblob.to_blob([t]), "mapping": lambda: send_mapping(t, False)}
    if cuda:
        sends["mapping+register"] = lambda: send_mapping(t, True)
    receives = {"map+to": False, **({"map+register+to": True, "map+staged+to": None} if cuda else {})}
    rows: dict[str, list[float]] = {k: [] for k in [*sends, *receives]}
    for r in range(a.repeats):
        order = list(sends) if r % 2 == 0 else list(sends)[::-1]
        for name in order:
            ms, blob = _timed(name, sends[name])
            rows[name].append(ms)
            if blob is None:
                continue
            if name == "pwrite":
                for rname, reg in (receives.items() if r % 2 == 0 else list(receives.items())[::-1]):
                    ms, out = _timed(rname, lambda: receive_staged(blob, device) if reg is None else receive(blob, device, reg))
                    rows[rname].append(ms)
                    del out
            blob.close()
    print(f"## a {a.mib} MiB float32 output between two processes' paths ({a.device}; ms per repeat)\n")
    print("| path | " + " | ".join(f"repeat {i + 1}" for i in range(a.repeats)) + " |")
    print("|---|" + "---|" * a.repeats)
    for name, xs in rows.items():
        print(f"| {name} | " + " | ".join(f"{x:.1f}" for x in xs) + " |")
    for name, why in FAILED.items():
        print(f"\n{name} could not run here: {why}")


if __name__ == "__main__":
    main()
