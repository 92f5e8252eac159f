# kernelswarm-test: problem=relu_linear verdict=rejected check=static
# kernelswarm-test: problem=relu_linear verdict=rejected static=off
# Returns at once and fills the output later from a thread.
import threading

import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        out = torch.empty(x.shape[0], self.lin.out_features)
        x = x.clone()

        def work():
            out.copy_(torch.relu(self.lin(x)))

        threading.Thread(target=work, daemon=True).start()
        return out
