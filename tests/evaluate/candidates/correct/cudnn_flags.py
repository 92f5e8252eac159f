# kernelswarm-test: problem=relu_linear verdict=accepted
# kernelswarm-test: device=cuda problem=matmul_big verdict=accepted
# Sets cuDNN flags in its own process, as 8 of 131 published KernelBench kernels do: honest, since
# they change only the candidate's own code (the reference and baselines run in a clean process).
import torch
import torch.nn as nn

torch.backends.cudnn.benchmark = True
torch.backends.cudnn.deterministic = True


class ModelNew(nn.Module):
    def __init__(self, features=None):
        super().__init__()
        self.lin = nn.Linear(features, features) if features else None

    def forward(self, *args):
        if self.lin is None:  # matmul_big (the CUDA scenario)
            return args[0] @ args[1]
        return torch.relu(self.lin(args[0]))
