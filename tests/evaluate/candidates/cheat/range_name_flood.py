# kernelswarm-test: problem=relu_linear verdict=accepted static=off
# Floods what the evaluator shows and stores with names of its own: the work of each call runs
# inside profiler ranges (torch.profiler.record_function) named by 200 KB strings, each distinct,
# and the label check reports the names of what ran, most time first. Honest otherwise (its
# verdict is the model's); test_printable.py checks that no text of its evaluation is longer than
# a screen's worth: before, each of the three names in the `kind` check's detail was shown whole
# (600 KB of one line on the terminal, in the store, the report and the next prompt).
import torch
from torch import nn

_NAMES = ["R" * 200_000 + f"{k:04d}" for k in range(3)]
# Names a kernel of its own that it never builds: a source without one is labelled without a
# profiled call (kind.label_of), and its range names would then never be recorded.
_DECOY = "__global__ void never_built(float* y) {}"


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        with torch.profiler.record_function(_NAMES[0]):
            y = self.lin(x)
        with torch.profiler.record_function(_NAMES[1]):
            y = y.relu()
        with torch.profiler.record_function(_NAMES[2]):
            return y + 0
