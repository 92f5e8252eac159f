"""A worker's outputs for the clean worker as raw bytes: a header, then each tensor's elements.

Layout: 8 bytes of magic, the header's length (8 bytes, little-endian), the header (JSON: per
output its dtype, shape and offset), then from the next multiple of ALIGN each output's elements,
contiguous in logical order, at its offset. The candidate's worker copies its outputs straight into
a memory file (a device's from the device, once) and seals it (wire/sealed.py); the clean worker
maps the file privately and reads each output in place. Nothing is unpickled or inflated: the
reader takes dtypes from a fixed list, checks that every output lies inside the file, and reads
the bytes as they are. Before, torch.save wrote the outputs (after a device's were copied to a
host tensor of their own) and torch.load read them: two extra passes over a 1 GiB output, and a
zip archive for an untrusted sender to shape (cheat/blob_bomb). Small outputs cross the pipe as
the same bytes.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from kernelswarm.evaluate.wire.sealed import SealedBlob

MAGIC = b"KSRAW\x00\x00\x01"
_PREFIX = struct.Struct("<8sQ")
ALIGN = 64  # every output starts at a multiple of this (vectorised reads, any dtype's alignment)
MAX_OUTPUTS = 4096
_MAX_HEADER = 1 << 20
_MAX_DIMS = 64
DTYPES = {name: getattr(torch, name) for name in (
    "float64", "float32", "float16", "bfloat16", "complex128", "complex64", "int64", "int32", "int16", "int8",
    "uint8", "bool", "uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2") if hasattr(torch, name)}


class RawBlobError(ValueError):
    """What a worker sent is not outputs laid out as this module writes them."""


def _up(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def to_blob(outputs: list[Any]) -> bytes | SealedBlob:
    """Outputs laid out for the clean worker: large ones in a sealed memory file, small ones as bytes."""
    from kernelswarm.evaluate.wire import sealed

    tensors = [o.detach() for o in outputs]
    entries, end = layout(tensors)
    header = json.dumps(entries).encode()
    start = _up(_PREFIX.size + len(header))

    def fill(put: Callable[[int, Any], None]) -> None:
        put(0, _PREFIX.pack(MAGIC, len(header)) + header)
        for t, e in zip(tensors, entries):
            _put_tensor(put, start + e["offset"], t)

    if sealed.AVAILABLE and end >= sealed.min_sealed():
        return sealed.write(start + end, lambda fd: fill(lambda at, data: _pwrite(fd, at, data)))
    buf = bytearray(start + end)
    fill(lambda at, data: buf.__setitem__(slice(at, at + len(data)), data))
    return bytes(buf)


def layout(tensors: list[torch.Tensor]) -> tuple[list[dict[str, Any]], int]:
    """Each output's header entry (dtype, shape, offset from the first output's start) and where
    the last one ends; an output of a dtype the clean worker does not read is refused."""
    entries, end = [], 0
    for t in tensors:
        name = str(t.dtype).removeprefix("torch.")
        if name not in DTYPES:
            raise RawBlobError(f"an output of dtype {name}, which the clean worker does not read")
        entries.append({"dtype": name, "shape": list(t.shape), "offset": end})
        end = _up(end + t.numel() * t.element_size())
    return entries, end


# A device's outputs (or a host output not laid out in order) are copied to the host in steps of
# this many bytes, through one buffer: never a host copy of the whole output (issue 16).
_STEP = 64 << 20


def _put_tensor(put: Callable[[int, Any], None], at: int, t: torch.Tensor) -> None:
    """`t`'s elements, contiguous in logical order, from byte `at` on."""
    if not t.numel():
        return
    if t.device.type == "cpu" and t.is_contiguous() and not (t.is_conj() or t.is_neg()):
        put(at, _memory(t))  # straight from the tensor's memory: the only copy
        return
    flat = t.resolve_conj().resolve_neg().contiguous().view(-1).view(torch.uint8)  # a copy only on its device
    stage = _staging(min(_STEP, flat.numel()), t.device)
    for lo in range(0, flat.numel(), _STEP):
        k = min(_STEP, flat.numel() - lo)
        stage[:k].copy_(flat[lo:lo + k])  # waits for the copy: a pinned buffer's copy too
        put(at + lo, _memory(stage[:k]))


def _staging(n: int, device: torch.device) -> torch.Tensor:
    """A host buffer of `n` bytes: pinned for a CUDA device (its copies go straight to it) where the
    driver grants it, else pageable (the copy is staged by the driver, as before)."""
    if device.type == "cuda":
        try:
            return torch.empty(n, dtype=torch.uint8, pin_memory=True)
        except RuntimeError:
            pass
    return torch.empty(n, dtype=torch.uint8)


def _memory(t: torch.Tensor) -> memoryview:
    """A contiguous host tensor's bytes, in place (valid while `t` lives)."""
    return memoryview((ctypes.c_char * (t.numel() * t.element_size())).from_address(t.data_ptr())).cast("B")


def _pwrite(fd: int, at: int, data: Any) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view[:1 << 30], at)
        view, at = view[n:], at + n


def from_blob(blob: bytes | SealedBlob) -> list[torch.Tensor]:
    """Read outputs an untrusted process sent, in place (a sealed file is mapped, not copied).
    Raises RawBlobError for anything not laid out as to_blob lays it out."""
    from kernelswarm.evaluate.wire.sealed import SealedBlob

    buf: Any = blob.map() if isinstance(blob, SealedBlob) else bytearray(blob)
    size = len(buf)
    if size < _PREFIX.size:
        raise RawBlobError("the outputs are shorter than their header")
    magic, hlen = _PREFIX.unpack_from(buf, 0)
    if magic != MAGIC:
        raise RawBlobError("the outputs are not laid out as the worker lays them out (another format)")
    if hlen > min(_MAX_HEADER, size - _PREFIX.size):
        raise RawBlobError(f"an outputs header of {hlen} bytes")
    try:
        entries = json.loads(bytes(buf[_PREFIX.size:_PREFIX.size + hlen]))
    except (ValueError, UnicodeDecodeError):
        raise RawBlobError("a malformed outputs header") from None
    if not isinstance(entries, list) or len(entries) > MAX_OUTPUTS:
        raise RawBlobError("the outputs header is not a list of at most 4096 outputs")
    start = _up(_PREFIX.size + hlen)
    return [_tensor(buf, e, start, size) for e in entries]


def entry(e: Any, start: int, size: int) -> tuple[torch.dtype, tuple[int, ...], int, int]:
    """One output's dtype, shape, byte position and element count from an untrusted header entry,
    its offset counted from `start`, checked to lie inside `size` bytes. Raises RawBlobError."""
    ok = isinstance(e, dict) and e.get("dtype") in DTYPES and isinstance(e.get("shape"), list) \
        and isinstance(e.get("offset"), int) and len(e["shape"]) <= _MAX_DIMS \
        and all(type(d) is int and 0 <= d < 1 << 62 for d in e["shape"])
    if not ok or type(e["offset"]) is not int or e["offset"] < 0 or e["offset"] % ALIGN:
        raise RawBlobError(f"a malformed output entry {json.dumps(e)[:200]}")
    dtype, shape = DTYPES[e["dtype"]], tuple(e["shape"])
    n = math.prod(shape)
    at = start + e["offset"]
    if n and at + n * dtype.itemsize > size:
        raise RawBlobError(f"an output of {n} {e['dtype']} elements reaches past the outputs' {size} bytes")
    return dtype, shape, at, n


def _tensor(buf: Any, e: Any, start: int, size: int) -> torch.Tensor:
    """One output from its header entry, checked against the file's size."""
    dtype, shape, at, n = entry(e, start, size)
    if n == 0:
        return torch.empty(shape, dtype=dtype)
    t = torch.frombuffer(buf, dtype=dtype, count=n, offset=at).view(shape)
    if dtype is torch.bool and bool((t.view(torch.uint8) > 1).any()):
        raise RawBlobError("a bool output holds bytes other than 0 and 1")
    return t


# Received outputs of at least this many bytes go to a CUDA device through two pinned buffers in
# turn; smaller ones by a plain copy.
_STAGED_MIN = 8 << 20
_pins: list[torch.Tensor] = []  # the clean worker's two pinned buffers, kept for its later checks


def to_device(outputs: list[torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    """Read outputs (from_blob's, in the sealed file's private mapping) as tensors of their own on
    `device`. To a CUDA device a large one goes through two pinned buffers in turn, each step's copy
    from the mapping overlapping the device's copy of the step before: 108-175 ms a GiB on the H200
    against 258-298 ms for `.to(device)` straight from the mapping, which the driver stages itself,
    one step after another (benchmarks/transfer_paths.py, session 21). The clean worker's own
    buffers: nothing of them reaches the candidate, and each check overwrites what it copies."""
    device = torch.device(device)
    return [_staged(t, device) if device.type == "cuda" and t.is_contiguous() and t.numel() * t.element_size() >= _STAGED_MIN
            else t.to(device) for t in outputs]


def _staged(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if not _pins:
        try:
            _pins.extend(torch.empty(_STEP, dtype=torch.uint8, pin_memory=True) for _ in range(2))
        except RuntimeError:  # no pinned memory granted: the driver's own staging, as before
            return t.to(device)
    src = t.reshape(-1).view(torch.uint8)
    out = torch.empty_like(t, device=device)
    dst = out.view(-1).view(torch.uint8)
    done: list[Any] = [None, None]
    for i, lo in enumerate(range(0, src.numel(), _STEP)):
        k, j = min(_STEP, src.numel() - lo), i % 2
        if done[j] is not None:
            done[j].synchronize()  # that buffer's last copy to the device has finished
        _pins[j][:k].copy_(src[lo:lo + k])
        dst[lo:lo + k].copy_(_pins[j][:k], non_blocking=True)
        done[j] = torch.cuda.Event()
        done[j].record()
    torch.cuda.current_stream(device).synchronize()
    return out
