# kernelswarm-test: problem=relu_linear verdict=rejected check=static
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, x)
        return x
