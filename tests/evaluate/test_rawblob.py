"""Outputs between a worker and the clean worker as raw bytes (worker/rawblob.py): what is written
is read back exactly, in place, and anything an untrusted sender could shape otherwise is refused."""

from __future__ import annotations

import json
import os

import pytest
import torch

from kernelswarm.evaluate.wire import sealed
from kernelswarm.evaluate.worker import rawblob
from kernelswarm.evaluate.worker.rawblob import RawBlobError, from_blob, to_blob

OUTPUTS = [torch.randn(3, 4), torch.arange(10), torch.tensor(True), torch.randn(2, 3, dtype=torch.complex64),
           torch.empty(0, 5), torch.randn(4, 6).t(), torch.randn(5, dtype=torch.bfloat16),
           torch.randn(3, dtype=torch.complex64)[1:].conj(), torch.randn(8, dtype=torch.float64)[::2],
           torch.randint(0, 2, (7,), dtype=torch.bool), torch.tensor(2.5, dtype=torch.float16)]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))


def test_outputs_of_every_layout_come_back_exactly_through_the_pipe():
    blob = to_blob(OUTPUTS)
    assert isinstance(blob, bytes)
    assert _same(OUTPUTS, from_blob(blob))


@pytest.mark.skipif(not sealed.AVAILABLE, reason="needs memfd (Linux)")
def test_large_outputs_travel_sealed_and_are_read_in_place_privately(monkeypatch):
    monkeypatch.setattr(rawblob, "_STEP", 1 << 16)  # a non-contiguous output in several steps
    outs = [torch.randn(1 << 18), torch.randn(300, 700).t(), *OUTPUTS]
    blob = to_blob(outs)
    assert isinstance(blob, sealed.SealedBlob)
    back = from_blob(blob)
    assert _same(outs, back)
    back[0][0] = 1e30  # the reader's mapping is its own: a write never reaches the file
    assert _same(outs, from_blob(blob))
    with pytest.raises(OSError):  # and the sender cannot change it either: it is sealed
        os.pwrite(blob.fd, b"\0" * 8, 4096)
    blob.close()


def _forged(entries, data: bytes = b"\0" * 4096, magic: bytes = rawblob.MAGIC) -> bytes:
    header = json.dumps(entries).encode()
    start = rawblob._up(16 + len(header))
    return (rawblob._PREFIX.pack(magic, len(header)) + header).ljust(start, b"\0") + data


@pytest.mark.parametrize("blob, why", [
    (b"short", "shorter"),
    (_forged([], magic=b"PK\x03\x04abcd"), "another format"),
    (rawblob._PREFIX.pack(rawblob.MAGIC, 1 << 40) + b"[]", "header of"),
    (_forged({"dtype": "float32"}), "not a list"),
    (_forged([{"dtype": "object", "shape": [1], "offset": 0}]), "malformed output entry"),
    (_forged([{"dtype": "float32", "shape": [-1], "offset": 0}]), "malformed output entry"),
    (_forged([{"dtype": "float32", "shape": [2], "offset": 3}]), "malformed output entry"),
    (_forged([{"dtype": "float32", "shape": [True], "offset": 0}]), "malformed output entry"),
    (_forged([{"dtype": "float32", "shape": [1025], "offset": 0}]), "reaches past"),
    (_forged([{"dtype": "float32", "shape": [1 << 61, 1 << 61], "offset": 0}]), "reaches past"),
    (_forged([{"dtype": "float32", "shape": [4], "offset": 1 << 20}]), "reaches past"),
    (_forged([{"dtype": "bool", "shape": [4], "offset": 0}], b"\0\1\2\0" + b"\0" * 60), "other than 0 and 1"),
    (_forged([{"dtype": "float32", "shape": [1], "offset": 0}] * 5000), "at most 4096"),
])
def test_what_a_sender_could_shape_otherwise_is_refused(blob, why):
    with pytest.raises(RawBlobError, match=why):
        from_blob(blob)


def test_two_entries_may_share_bytes_and_read_the_same_values():
    """Harmless: each output is judged on its own values, which any sender chooses anyway."""
    data = torch.arange(4, dtype=torch.float32)
    blob = _forged([{"dtype": "float32", "shape": [4], "offset": 0}] * 2, bytes(rawblob._memory(data)))
    a, b = from_blob(blob)
    assert torch.equal(a, data) and torch.equal(b, data)


def test_a_cuda_staging_buffer_falls_back_to_pageable_memory(monkeypatch):
    """A driver that refuses pinned memory (or a build without CUDA) costs speed, not the trial."""
    empty = torch.empty

    def refuse_pinned(*args, pin_memory=False, **kw):
        if pin_memory:
            raise RuntimeError("no pinned memory here")
        return empty(*args, **kw)

    monkeypatch.setattr(torch, "empty", refuse_pinned)
    stage = rawblob._staging(1024, torch.device("cuda"))
    assert stage.numel() == 1024 and stage.device.type == "cpu" and not stage.is_pinned()


def test_received_outputs_stay_in_place_on_the_cpu():
    outs = from_blob(to_blob(OUTPUTS))
    back = rawblob.to_device(outs, "cpu")
    assert _same(OUTPUTS, back) and all(a is b for a, b in zip(outs, back))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.skipif(not sealed.AVAILABLE, reason="needs memfd (Linux)")
def test_large_received_outputs_reach_the_device_exactly_through_the_pinned_steps(monkeypatch):
    monkeypatch.setattr(rawblob, "_STAGED_MIN", 1 << 12)
    monkeypatch.setattr(rawblob, "_STEP", 1 << 20)  # several steps per output, both buffers in turn
    monkeypatch.setattr(rawblob, "_pins", [])
    outs = [torch.randn(3 << 20), torch.randint(0, 2, (5 << 20,), dtype=torch.bool),
            torch.randn(1 << 20, dtype=torch.complex64), torch.randn(700, 300).t(), *OUTPUTS]
    blob = to_blob(outs)
    back = rawblob.to_device(from_blob(blob), "cuda")
    assert all(b.device.type == "cuda" for b in back)
    assert _same(outs, [b.cpu() for b in back])
    blob.close()
