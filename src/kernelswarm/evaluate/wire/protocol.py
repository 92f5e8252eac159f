"""Framing between the trusted parent and a worker: a JSON header and an opaque blob.

Standard library only. Nobody unpickles what a worker sends: blobs are outputs laid out as raw
bytes (worker/rawblob.py), only ever read in the clean reference worker, which checks their
header itself; headers are plain JSON. A large blob travels as a sealed memory file
(`sealed.py`): the frame carries only where to open it, and the receiver verifies the seals.
"""

from __future__ import annotations

import json
import os
import re
import select
import struct
import time
from typing import Any, Callable, Union

from kernelswarm.evaluate.wire import devfd, sealed
from kernelswarm.evaluate.wire.devfd import DeviceFd
from kernelswarm.evaluate.wire.sealed import SealedBlob

_LEN = struct.Struct("<QQ")
MAX_HEADER = 16 * 1024 * 1024
MAX_BLOB = 16 * 1024**3  # a candidate cannot make the parent allocate more than this
# No header nests deeper (the deepest real one, a burst's projections in a reply, is 4). A frame
# of lists nested 200,000 deep (400 KB) made Python's JSON decoder raise RecursionError, which is
# no ValueError: the evaluator crashed with a traceback (cheat/forge_deep_frame); one nested just
# below the decoder's limit would parse, and crash whatever walks it next (repr, json.dumps).
MAX_DEPTH = 32

# A monotonic-clock deadline, or a function giving the current one (it may move while waiting).
Deadline = Union[float, Callable[[], float], None]


def inflated_archive(f: Any, size: int) -> bool:
    """Whether `f` (a file of `size` bytes, left at its start) is not an archive as torch.save
    writes it: entries stored as they are, together no larger than the file. torch.load also
    inflates compressed entries, however large they say they are, into the reading process's
    memory: 1 MB of deflated zeros is 1 GiB there (adv13: cheat/blob_bomb through the clean
    worker, candidates_steps/zip_bomb through optimize's judging process)."""
    import zipfile

    try:
        entries = zipfile.ZipFile(f).infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return True
    finally:
        f.seek(0)
    return any(e.compress_type != zipfile.ZIP_STORED for e in entries) or sum(e.file_size for e in entries) > size


class ChannelClosed(EOFError):
    """The other side exited or closed its end."""


class ChannelTimeout(TimeoutError):
    """Nothing arrived before the deadline."""


class ProtocolError(ValueError):
    """The other side sent something that is not a valid frame."""


class Channel:
    """A pair of pipe file descriptors carrying (header, blob) frames."""

    def __init__(self, read_fd: int, write_fd: int, peer_pid: int | None = None) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.peer_pid = peer_pid  # sealed files are only ever opened from the process at the other end
        self._handed: list[SealedBlob | DeviceFd] = []  # sent files and device memory, kept until the other side answers
        self.max_blob = MAX_BLOB  # the most a frame may carry: the parent lowers it for a candidate

    def send(self, header: dict[str, Any], blob: "bytes | SealedBlob | DeviceFd" = b"") -> None:
        if isinstance(blob, (SealedBlob, DeviceFd)):
            key, desc = ("_sealed", sealed.describe(blob)) if isinstance(blob, SealedBlob) else ("_device", devfd.describe(blob))
            header = {**header, key: desc}
            self._handed.append(blob)
            blob = b""
        data = json.dumps(header).encode()
        _write_all(self.write_fd, _LEN.pack(len(data), len(blob)) + data)
        if blob:
            _write_all(self.write_fd, blob)

    def recv(self, deadline: Deadline = None) -> "tuple[dict[str, Any], bytes | SealedBlob | DeviceFd]":
        header, blob = self._recv(deadline)
        self._handed.clear()  # the other side has answered, so it took what it was handed
        if "_device" in header:  # outputs left on the device: the descriptor taken from the sender
            if "_sealed" in header:
                raise ProtocolError("a frame with both a sealed file and device outputs")
            try:
                blob = devfd.open_from(self.peer_pid, header.pop("_device"), self.max_blob)
            except devfd.DeviceFdError as e:
                raise ProtocolError(str(e)) from None
            return header, blob
        if "_sealed" in header:
            desc = header.pop("_sealed")
            if self.peer_pid is None or not isinstance(desc, dict):
                raise ProtocolError("a sealed blob with no sender to open it from")
            # Opened from the process at the other end, whatever pid the sender named (a worker in
            # its own PID namespace knows itself by another number).
            desc = {**desc, "pid": self.peer_pid}
            try:
                blob = sealed.open_from(desc, self.max_blob)
            except sealed.SealedError as e:
                raise ProtocolError(str(e)) from None
        return header, blob

    def _recv(self, deadline: Deadline) -> tuple[dict[str, Any], bytes]:
        hlen, blen = _LEN.unpack(self._read(_LEN.size, deadline))
        if hlen > MAX_HEADER or blen > self.max_blob:
            raise ProtocolError(f"frame too large ({hlen} header bytes, {blen} blob bytes)")
        try:
            raw = self._read(hlen, deadline)
            if _too_deep(raw):
                raise ProtocolError(f"malformed header: nested deeper than {MAX_DEPTH}")
            header = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise ProtocolError(f"malformed header: {e}") from None
        except RecursionError:
            raise ProtocolError("malformed header: nested too deep") from None
        if not isinstance(header, dict):
            raise ProtocolError("header is not an object")
        blob = self._read(blen, deadline) if blen else b""
        return header, blob

    def _read(self, n: int, deadline: Deadline) -> bytes:
        chunks: list[bytes] = []
        while n > 0:
            if deadline is not None:
                # A callable deadline is asked again while waiting: it may move (a stopped worker).
                left = (deadline() if callable(deadline) else deadline) - time.monotonic()
                if left <= 0:
                    raise ChannelTimeout("no reply before the deadline")
                if not select.select([self.read_fd], [], [], min(left, 0.5))[0]:
                    continue
            chunk = os.read(self.read_fd, min(n, 1 << 24))
            if not chunk:
                raise ChannelClosed("the worker closed its channel")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        # Idempotent: closing a descriptor twice could close one another thread has just opened.
        fds, self.read_fd, self.write_fd = (self.read_fd, self.write_fd), -1, -1
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def _too_deep(raw: bytes) -> bool:
    """Whether the JSON text `raw` nests lists and objects deeper than MAX_DEPTH, read before it
    is parsed, at C speed: strings dropped, then only the brackets kept, then the innermost pairs
    removed once per level (a 2,000-call burst's reply: 0.4 ms; a walk of the parsed header in
    Python took 21 ms, longer than its parse, under load 8)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    return bool(brackets)  # deeper, or unbalanced: malformed either way


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view[: 1 << 24])
        view = view[n:]
