"""A kept timed output is the one its call returned, even where the module writes every call into
one buffer of its own (support.unshared; correct/static_output_buffer)."""

from __future__ import annotations

import torch

from kernelswarm.evaluate.worker import support


class _Holder:
    last_outputs: list = []


def _returned(fn) -> list:
    w = _Holder()
    r = fn()
    w.last_outputs = list(r) if isinstance(r, (list, tuple)) else [r]
    del r
    return w.last_outputs


def test_fresh_outputs_are_kept_as_they_are_and_held_ones_copied() -> None:
    buf = torch.zeros(4, 4)

    def static() -> torch.Tensor:
        buf.copy_(torch.randn(4, 4))
        return buf

    fresh = _returned(lambda: torch.relu(torch.randn(4, 4)))
    assert support.unshared(fresh)[0] is fresh[0]
    for fn in (static, lambda: static()[:], lambda: (static(), torch.ones(2))):
        outs = _returned(fn)
        kept = support.unshared(outs)
        assert kept[0] is not outs[0] and torch.equal(kept[0], outs[0])
        before = kept[0].clone()
        static()  # the next call overwrites the module's buffer, not what was kept
        assert torch.equal(kept[0], before)
        if len(outs) > 1:
            assert kept[1] is outs[1]  # a fresh one beside it is not copied
