"""A candidate's outputs as a zip bomb (adv13, cheat/blob_bomb): before, the archive its worker sent
was read by the clean reference worker with torch.load, which inflates compressed entries however
large they say they are. Since fixed15 the clean worker reads only raw outputs (rawblob.py) and
refuses any archive unread. Read here as the clean worker reads it (tensors.from_blob)."""

from __future__ import annotations

import importlib.util
import io
import resource
from pathlib import Path

import pytest
import torch

from kernelswarm.evaluate.worker.tensors import from_blob, to_blob

HERE = Path(__file__).parent / "candidates" / "cheat" / "blob_bomb.py"


def _bomb() -> bytes:
    """The candidate's own bomb (its module loaded here, its patch of to_blob undone)."""
    from kernelswarm.evaluate.worker import tensors

    original = tensors.to_blob
    spec = importlib.util.spec_from_file_location("adv13_blob_bomb", HERE)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.bomb()
    finally:
        tensors.to_blob = original


def test_a_blob_that_inflates_is_refused_without_inflating_it():
    """Before adv13: from_blob returned a 1 GiB tensor from 1 MB (the reader's peak memory grew by
    1 GiB); now it refuses the archive, having read only its first 16 bytes."""
    blob = _bomb()
    assert len(blob) < 1 << 20  # under the pipe's limit: not a sealed file, which is mapped
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="another format"):
        from_blob(blob)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 256


def test_torch_save_archives_are_refused_and_raw_outputs_read():
    """The clean worker unpickles nothing a candidate sends: torch.save's archive, however honest,
    is not read (what the worker itself writes is)."""
    outs = [torch.randn(64, 256), torch.arange(10)]
    back = from_blob(to_blob(outs))
    assert all(torch.equal(a, b) for a, b in zip(outs, back))
    buf = io.BytesIO()
    torch.save(outs, buf)
    with pytest.raises(ValueError, match="another format"):
        from_blob(buf.getvalue())
