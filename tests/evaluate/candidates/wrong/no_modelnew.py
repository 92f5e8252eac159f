# kernelswarm-test: problem=relu_linear verdict=compile_error
import torch.nn as nn


class Model2(nn.Module):
    def forward(self, x):
        return x
