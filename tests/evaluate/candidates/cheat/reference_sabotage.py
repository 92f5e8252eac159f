# kernelswarm-test: problem=matmul verdict=accepted
# kernelswarm-test: device=cuda problem=matmul_big verdict=accepted max_speedup=1.3
# Changes global torch settings at import to slow the reference down, the cuDNN flags the screen
# allows among them (honest kernels set them for their own code): the reference and baselines run
# in a clean process, so this copy of the reference gains nothing from them.
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.set_flush_denormal(True)
torch.backends.cudnn.benchmark = False
torch.backends.cudnn.deterministic = True
torch.use_deterministic_algorithms(True, warn_only=True)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return a @ b
