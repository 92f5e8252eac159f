"""Device outputs handed between workers on the device (wire/devfd.py says why and what is checked).

The sender (a CUDA candidate's worker) allocates one block with cuMemCreate, shareable as a POSIX
file descriptor, maps it, copies each output in at rawblob's offsets (a device-to-device copy),
waits for the copies and exports the descriptor. The receiver (a clean worker) imports it, maps it
read-only, copies each output into a tensor of its own, unmaps and releases it: what it then checks
is its own memory. The driver is reached through ctypes (libcuda), after torch has made its context
current, so nothing is added to the worker's imports.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch

from kernelswarm.evaluate.wire.devfd import DeviceFd
from kernelswarm.evaluate.worker import rawblob

_POSIX_FD = 1  # CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
_PINNED, _ON_DEVICE = 1, 1  # CU_MEM_ALLOCATION_TYPE_PINNED, CU_MEM_LOCATION_TYPE_DEVICE
_READ, _READ_WRITE = 1, 3  # CU_MEM_ACCESS_FLAGS_PROT_*


class DeviceMemError(RuntimeError):
    """The driver refused a step (its error's name is the message)."""


class _Loc(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("id", ctypes.c_int)]


class _Flags(ctypes.Structure):
    _fields_ = [("compressionType", ctypes.c_ubyte), ("gpuDirectRDMACapable", ctypes.c_ubyte),
                ("usage", ctypes.c_ushort), ("reserved", ctypes.c_ubyte * 4)]


class _Prop(ctypes.Structure):  # CUmemAllocationProp
    _fields_ = [("type", ctypes.c_int), ("requestedHandleTypes", ctypes.c_int), ("location", _Loc),
                ("win32HandleMetaData", ctypes.c_void_p), ("allocFlags", _Flags)]


class _Access(ctypes.Structure):  # CUmemAccessDesc
    _fields_ = [("location", _Loc), ("flags", ctypes.c_int)]


_U64, _SIZE = ctypes.c_ulonglong, ctypes.c_size_t


class _Driver:
    def __init__(self, device: torch.device) -> None:
        torch.empty(1, device=device)  # torch's context, current on this thread
        self.cu = ctypes.CDLL("libcuda.so.1")
        index = device.index if device.index is not None else torch.cuda.current_device()
        self.prop = _Prop(type=_PINNED, requestedHandleTypes=_POSIX_FD, location=_Loc(type=_ON_DEVICE, id=index))
        g = _SIZE()
        self.check(self.cu.cuMemGetAllocationGranularity(ctypes.byref(g), ctypes.byref(self.prop), 0), "granularity")
        self.granularity = g.value

    def check(self, rc: int, what: str) -> None:
        if rc != 0:
            name = ctypes.c_char_p()
            self.cu.cuGetErrorName(rc, ctypes.byref(name))
            raise DeviceMemError(f"{what}: {name.value.decode() if name.value else rc}")

    def reserve_and_map(self, size: int, handle: int, flags: int) -> int:
        ptr = _U64()
        self.check(self.cu.cuMemAddressReserve(ctypes.byref(ptr), _SIZE(size), _SIZE(0), _U64(0), _U64(0)), "reserve")
        try:
            self.check(self.cu.cuMemMap(ptr, _SIZE(size), _SIZE(0), _U64(handle), _U64(0)), "map")
            try:
                access = _Access(location=self.prop.location, flags=flags)
                self.check(self.cu.cuMemSetAccess(ptr, _SIZE(size), ctypes.byref(access), _SIZE(1)), "access")
            except DeviceMemError:
                self.cu.cuMemUnmap(ptr, _SIZE(size))
                raise
        except DeviceMemError:
            self.cu.cuMemAddressFree(ptr, _SIZE(size))
            raise
        return ptr.value

    def unmap(self, ptr: int, size: int) -> None:
        self.cu.cuMemUnmap(_U64(ptr), _SIZE(size))
        self.cu.cuMemAddressFree(_U64(ptr), _SIZE(size))

    def release(self, handle: int) -> None:
        self.cu.cuMemRelease(_U64(handle))


_drivers: dict[str, _Driver] = {}


def _driver(device: torch.device) -> _Driver:
    key = str(device)
    if key not in _drivers:
        _drivers[key] = _Driver(device)
    return _drivers[key]


def _view(ptr: int, nbytes: int, device: torch.device) -> torch.Tensor:
    """`nbytes` of device memory at `ptr` as a uint8 tensor, not copied."""

    class Memory:
        __cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (ptr, False), "version": 3}

    return torch.as_tensor(Memory(), device=device)


class Exported(DeviceFd):
    """The sender's block: mapped here, its descriptor exported; close() lets go of all three."""

    def __init__(self, fd: int, size: int, entries: list[Any], driver: _Driver, handle: int, ptr: int) -> None:
        super().__init__(fd, size, entries)
        self._driver, self._handle, self._ptr = driver, handle, ptr

    def close(self) -> None:
        super().close()
        if self._ptr:
            self._driver.unmap(self._ptr, self.size)
            self._ptr = 0
        if self._handle:
            self._driver.release(self._handle)
            self._handle = 0


def export(outputs: list[torch.Tensor]) -> Exported:
    """Outputs (all on one CUDA device) copied into a new exported block, in rawblob's layout."""
    device = outputs[0].device
    entries, end = rawblob.layout(outputs)
    d = _driver(device)
    size = max(d.granularity, -(-end // d.granularity) * d.granularity)
    handle = _U64()
    d.check(d.cu.cuMemCreate(ctypes.byref(handle), _SIZE(size), ctypes.byref(d.prop), _U64(0)), "create")
    try:
        ptr = d.reserve_and_map(size, handle.value, _READ_WRITE)
    except DeviceMemError:
        d.release(handle.value)
        raise
    block = Exported(-1, size, entries, d, handle.value, ptr)
    try:
        for t, e in zip(outputs, entries):
            n = t.numel() * t.element_size()
            if n:
                flat = t.detach().resolve_conj().resolve_neg().contiguous().reshape(-1).view(torch.uint8)
                _view(ptr + e["offset"], n, device).copy_(flat)
        torch.cuda.synchronize(device)
        fd = ctypes.c_int(-1)
        d.check(d.cu.cuMemExportToShareableHandle(ctypes.byref(fd), _U64(handle.value), _POSIX_FD, _U64(0)), "export")
        block.fd = fd.value
    except BaseException:
        block.close()
        raise
    return block


def receive(blob: DeviceFd, device: torch.device | str) -> list[torch.Tensor]:
    """The outputs another process exported, each copied into a tensor of this process's own on
    `device`. Raises RawBlobError for a layout that does not fit the block, DeviceMemError where the
    driver refuses the descriptor (not an exported allocation, or smaller than stated)."""
    device = torch.device(device)
    checked = [rawblob.entry(e, 0, blob.size) for e in blob.entries]  # before the driver sees anything
    d = _driver(device)
    handle = _U64()
    d.check(d.cu.cuMemImportFromShareableHandle(ctypes.byref(handle), ctypes.c_void_p(blob.fd), _POSIX_FD), "import")
    try:
        ptr = d.reserve_and_map(blob.size, handle.value, _READ)
        try:
            out = []
            for dtype, shape, offset, n in checked:
                own = torch.empty(shape, dtype=dtype, device=device)
                if n:
                    own.view(-1).view(torch.uint8).copy_(_view(ptr + offset, n * dtype.itemsize, device))
                out.append(own)
            torch.cuda.synchronize(device)
        finally:
            d.unmap(ptr, blob.size)
    finally:
        d.release(handle.value)
        blob.close()
    for t in out:
        if t.dtype is torch.bool and bool((t.view(torch.uint8) > 1).any()):
            raise rawblob.RawBlobError("a bool output holds bytes other than 0 and 1")
    return out


def usable(outputs: list[Any]) -> bool:
    """Whether these outputs can stay on the device: all CUDA tensors of one device (whether they
    may is the parent's to say: `device_outputs`, from its probe and KERNELSWARM_DEVICE_OUTPUTS)."""
    return bool(outputs) and all(isinstance(t, torch.Tensor) and t.is_cuda for t in outputs) \
        and len({t.device for t in outputs}) == 1
