"""What a stored winner can do in the user's process (adv13, cheat/sandbox_aware): the evaluator
judges a candidate contained, and every sign of that is readable from inside; `kernelswarm.load`
and `optimize`'s result run the same code in the user's own process, where it can tell."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

HERE = Path(__file__).parent / "candidates" / "cheat" / "sandbox_aware.py"


def test_a_winner_can_tell_the_users_process_from_its_evaluation():
    spec = importlib.util.spec_from_file_location("adv13_sandbox_aware", HERE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.ModelNew(8)
    assert not model.judged  # here, as in a user's process: not contained
    x = torch.randn(4, 8)
    assert torch.equal(model(x), -torch.relu(model.lin(x)))  # and so it does what it hid when judged
