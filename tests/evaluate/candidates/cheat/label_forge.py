# kernelswarm-test: problem=relu_linear verdict=accepted kind=pytorch-rewrite static=off
# kernelswarm-test: problem=relu_linear verdict=rejected check=strict static=off strict
# kernelswarm-test: device=cuda problem=relu_linear verdict=rejected check=strict static=off strict
# A well-formed but untrue reply (issue 14.5's other half): PyTorch does all the work, and the
# worker's `label` reply is rewritten to say its own extension did 97% of the profiled call in
# every timed call, with a kernel name in `ran` and `defined`. Every field has the right type;
# only the trusted side's own knowledge of the source can tell that no kernel exists.
import torch
import torch.nn as nn

_worker = getattr(torch, "sy" + "s").modules["__main__"].Worker
_real = _worker.op_label


def _label(self, msg):
    reply = _real(self, msg)
    reply.update(custom_share=0.97, ran=["ks_ext::relu_linear", "aten::addmm"], defined=["relu_linear"],
                 timed_ext_share=1.0)
    return reply


_worker.op_label = _label


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
