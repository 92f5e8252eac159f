# kernelswarm-test: problem=matmul verdict=rejected check=static
# kernelswarm-test: problem=matmul verdict=accepted precision=tf32
# kernelswarm-test: device=cuda problem=matmul_big verdict=rejected check=static
# kernelswarm-test: device=cuda problem=matmul_big verdict=incorrect check=correctness static=off
# kernelswarm-test: device=cuda problem=matmul_big verdict=accepted precision=tf32
# Switches fp32 matmuls to TF32 tensor cores in its own process. Under the fp32 policy the screen
# names `--precision tf32`; with the screen off (any route the screen does not see), the comparison
# against the fp64 reference still fails it. Under --precision tf32 it is an honest choice.
import torch
import torch.nn as nn

torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return a @ b
