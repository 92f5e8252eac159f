# kernelswarm-test: problem=relu_linear verdict=accepted
# kernelswarm-test: device=cuda problem=relu_linear verdict=accepted
# Times two forms of the layer at construction and keeps the faster (honest autotuning, as published
# kernels do with CUDA events or perf_counter): reading a clock is allowed; the evaluator's own
# timing objects are out of the candidate's reach, and every form it may pick is checked.
import time

import torch
import torch.nn as nn


def _plain(x, w, b):
    return torch.relu(torch.nn.functional.linear(x, w, b))


def _fused(x, w, b):
    return torch.addmm(b, x, w.t()).clamp_min_(0)


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)
        self.impl = self._pick(features)

    def _pick(self, features):
        device = "cuda" if torch.cuda.is_available() else "cpu"
        x = torch.ones(64, features, device=device)
        w = torch.ones(features, features, device=device)
        b = torch.ones(features, device=device)
        best, best_s = _plain, float("inf")
        for impl in (_plain, _fused):
            impl(x, w, b)
            if device == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(5):
                    impl(x, w, b)
                end.record()
                torch.cuda.synchronize()
                took = start.elapsed_time(end) / 1000
            else:
                t0 = time.perf_counter()
                for _ in range(5):
                    impl(x, w, b)
                took = time.perf_counter() - t0
            if took < best_s:
                best, best_s = impl, took
        return best

    def forward(self, x):
        return self.impl(x, self.lin.weight, self.lin.bias)
