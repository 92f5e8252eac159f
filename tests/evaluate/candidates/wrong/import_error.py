# kernelswarm-test: problem=relu_linear verdict=compile_error
import torch.nn as nn
import kernel_module_that_does_not_exist  # noqa: F401


class ModelNew(nn.Module):
    def forward(self, x):
        return x
