"""A two-layer GRU over a sequence; the output is the top layer's hidden state at every step."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 64
seq_len = 256
input_size = 512
hidden_size = 1024
num_layers = 2

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 4, "seq_len": 32, "input_size": 64, "hidden_size": 128}}


class Model(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers):
        super().__init__()
        self.rnn = nn.GRU(input_size, hidden_size, num_layers=num_layers, batch_first=True)

    def forward(self, x):
        output, _ = self.rnn(x)
        return output


def get_inputs():
    return [torch.randn(batch, seq_len, input_size)]


def get_init_inputs():
    return [input_size, hidden_size, num_layers]
