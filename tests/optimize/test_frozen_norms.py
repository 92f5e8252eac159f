"""Training mode with batch norms frozen (fine-tuning a pretrained CNN: the model in training mode,
its batch norms on their running statistics): optimize keeps the flags the user set, so the
convolution blocks are tasks (not refused for updating statistics), the written whole-model
problem records them, and the training-step processes keep them."""

from __future__ import annotations

import torch
from torch import nn

from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.pipeline import _working_copy
from kernelswarm.optimize.tasks import cut


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(self.block(x).mean((2, 3)))


def _frozen() -> ConvNet:
    torch.manual_seed(0)
    m = ConvNet().train()
    m.block[1].eval()
    return m


def test_frozen_batch_norm_blocks_are_tasks_in_training_mode():
    x = (torch.randn(2, 3, 8, 8),)
    work = _working_copy(_frozen(), "cpu", train=True)
    assert work.training and not work.block[1].training  # the user's flags kept
    c = cut(capture(work, x, "cpu", train=True))
    assert not any("updates its buffers" in why for _, why in c.refused), c.refused
    frozen_paths = {p for t in c.tasks for p in t.paths}
    assert frozen_paths & {"", "block"}, frozen_paths  # the block with its norm is in a task
    # Unfrozen, the same block updates its statistics and is refused, saying why.
    live = _working_copy(ConvNet().train(), "cpu", train=True)
    live_cut = cut(capture(live, x, "cpu", train=True))
    assert any("updates its buffers" in why for _, why in live_cut.refused), live_cut.refused
    live_paths = {p for t in live_cut.tasks for p in t.paths}
    assert not live_paths & {"", "block"}, live_paths


def test_a_model_in_eval_mode_is_switched_to_training():
    work = _working_copy(ConvNet().eval(), "cpu", train=True)
    assert all(m.training for m in work.modules())
    assert not _working_copy(ConvNet().eval(), "cpu", train=False).training  # inference: as given


def test_step_processes_keep_the_recorded_flags(tmp_path):
    from kernelswarm.optimize.steps_worker import Steps
    from kernelswarm.optimize.verify import whole_problems

    x = (torch.randn(2, 3, 8, 8),)
    work = _working_copy(_frozen(), "cpu", train=True)
    _, user = whole_problems(work, x, tmp_path, "convnet_whole", train=True)
    steps = Steps({"op": "init", "problem": str(user.path), "device": "cpu", "seed": 0, "root": "region",
                   "loss": None})
    bn = steps.model.get_submodule("region.block.1")
    assert steps.model.training and not bn.training
    before = bn.running_mean.clone()
    steps.fn(*x)
    assert torch.equal(bn.running_mean, before)  # frozen statistics stay as they were
