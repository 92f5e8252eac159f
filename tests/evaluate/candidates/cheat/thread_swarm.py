# kernelswarm-test: problem=relu_linear verdict=rejected|accepted static=off
# Against the evaluator's own sampler (ipsample.py), which opens a perf event, a descriptor and a
# ring buffer of the parent's, on each thread of the candidate's worker: 2,000 threads started at
# import, each asleep, so that a sampler opening one event per thread would use up the
# evaluator's descriptors (1,024 by default) and its locked memory. The sampler takes at most 64
# threads; the CPU time of any other counts as not the candidate's. The work is PyTorch's own:
# rejected here (stopping and continuing 2,000 threads is CPU time outside its claims: 50 ms a
# call), and the evaluation ends as any other: the evaluator keeps its descriptors.
import threading
import time

import torch
import torch.nn as nn

threading.stack_size(64 * 1024)
_threads = []
for _ in range(2000):
    try:
        t = threading.Thread(target=time.sleep, args=(3600,), daemon=True)
        t.start()
    except RuntimeError:  # a thread limit: as many as it may have
        break
    _threads.append(t)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        return torch.relu(self.lin(x))
