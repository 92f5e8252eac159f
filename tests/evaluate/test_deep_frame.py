"""A header nested too deep is a protocol error, never a crash (cheat/forge_deep_frame)."""

from __future__ import annotations

import os
import struct
import threading

import pytest

from kernelswarm.evaluate.wire.protocol import MAX_DEPTH, Channel, ProtocolError


def _frame(header: bytes) -> Channel:
    r, w = os.pipe()
    data = struct.pack("<QQ", len(header), 0) + header
    # A writer thread: the frame is larger than a pipe's buffer.
    writer = threading.Thread(target=lambda: (os.write(w, data) if len(data) < 65536 else _write_all(w, data), os.close(w)))
    writer.start()
    chan = Channel(r, -1)
    chan._writer = writer  # joined by the test
    return chan


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@pytest.mark.parametrize("depth", [200_000, 900, MAX_DEPTH + 1])
def test_a_header_nested_too_deep_is_a_protocol_error(depth):
    chan = _frame(b'{"x": ' + b"[" * depth + b"]" * depth + b"}")
    with pytest.raises(ProtocolError, match="nested"):
        chan.recv(deadline=None)
    chan._writer.join()


def test_headers_as_deep_as_real_ones_and_wide_ones_pass():
    wide = b'{"fingerprints": [' + b",".join([b"[1.0, 2.0, [3.0]]"] * 5000) + b'], "deep": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    chan = _frame(wide)
    header, _ = chan.recv(deadline=None)
    assert len(header["fingerprints"]) == 5000
    chan._writer.join()


def test_brackets_inside_strings_do_not_count():
    text = '"a ' + "[" * 100 + ' \\" {{{ \\\\"'
    chan = _frame(('{"error": ' + __import__("json").dumps(text) + ', "x": [[1]]}').encode())
    header, _ = chan.recv(deadline=None)
    assert header["error"] == text and header["x"] == [[1]]
    chan._writer.join()
