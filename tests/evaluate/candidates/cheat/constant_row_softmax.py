# kernelswarm-test: problem=softmax_rows verdict=incorrect check=correctness
# kernelswarm-test: problem=softmax_rows verdict=incorrect check=correctness static=off
# kernelswarm-test: device=cuda problem=softmax_rows verdict=incorrect check=correctness
# A softmax that returns zeros for a row whose elements are all equal (a padding row, which its
# author meant to mask out): right on every random draw, wrong on the inputs real models feed.
# Accepted in session 17 (every trial drew its inputs at random); the structured trial makes such
# rows, in rows it draws per trial.
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        m = x.amax(dim=1, keepdim=True)
        e = (x - m).exp()
        out = e / e.sum(dim=1, keepdim=True)
        padding = (x == m).all(dim=1, keepdim=True)
        return torch.where(padding, torch.zeros_like(out), out)
