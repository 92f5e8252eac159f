"""kernelswarm task `blocks_mlp` of Model: `MLP` at blocks.0.mlp, blocks.1.mlp.

A region of a whole model, cut out as a problem. `Model.region` is rebuilt from code with weights
drawn under the current seed (statistics of the model's own); `get_inputs` reproduces the captured
inputs. The region's original source is in the comments below.
"""

import torch
import torch.nn as nn
from torch.nn.modules.linear import Linear

# The original module (what `Model.region` is an instance of):
# From kernelswarm_problem (/work/wt/liar19/tests/optimize/tinynet.py):
# class MLP(nn.Module):
#     def __init__(self, dim):
#         super().__init__()
#         self.up = nn.Linear(dim, 4 * dim)
#         self.down = nn.Linear(4 * dim, dim)
#
#     def forward(self, x):
#         # GELU, tanh approximation, written out as HuggingFace's gelu_new is: eight elementwise
#         # operations a fused kernel does in one pass.
#         h = self.up(x)
#         h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * torch.pow(h, 3.0))))
#         return self.down(h)
#
# Weights, as ModelNew receives them (same names):
#   region.up.weight: [128, 32] torch.float32
#   region.up.bias: [128] torch.float32
#   region.down.weight: [32, 128] torch.float32
#   region.down.bias: [32] torch.float32

def _draw(shape, dtype, mean, std):
    """A weight drawn under the current seed, with the statistics of the model's own."""
    return (torch.randn(shape, dtype=torch.float32) * std + mean).to(dtype)


# ---- definitions from the user's module kernelswarm_problem ----
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

class _u0_Attention(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))

class _u0_MLP(nn.Module):

    def __init__(self, dim):
        super().__init__()
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)

    def forward(self, x):
        h = self.up(x)
        h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * torch.pow(h, 3.0))))
        return self.down(h)

class _u0_Block(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _u0_Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _u0_MLP(dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))

class _u0_Model(nn.Module):

    def __init__(self, _u0_vocab=64, dim=32, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Embedding(_u0_vocab, dim)
        self.blocks = nn.ModuleList((_u0_Block(dim, heads) for _ in range(layers)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, _u0_vocab)
        self.eval()

    def forward(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
_u0_batch, _u0_seq, _u0_vocab = (2, 16, 64)


def _build_region():
    m1 = _u0_MLP.__new__(_u0_MLP)
    nn.Module.__init__(m1)
    m1.training = False
    m2 = Linear.__new__(Linear)
    nn.Module.__init__(m2)
    m2.in_features = 32
    m2.out_features = 128
    m2.training = False
    p3 = nn.Parameter(_draw((128, 32), torch.float32, 0.00054, 0.1), requires_grad=True)
    m2.register_parameter('weight', p3)
    p4 = nn.Parameter(_draw((128,), torch.float32, 0.0093, 0.1), requires_grad=True)
    m2.register_parameter('bias', p4)
    m1.add_module('up', m2)
    m5 = Linear.__new__(Linear)
    nn.Module.__init__(m5)
    m5.in_features = 128
    m5.out_features = 32
    m5.training = False
    p6 = nn.Parameter(_draw((32, 128), torch.float32, 0.0012, 0.051), requires_grad=True)
    m5.register_parameter('weight', p6)
    p7 = nn.Parameter(_draw((32,), torch.float32, 0.00046, 0.053), requires_grad=True)
    m5.register_parameter('bias', p7)
    m1.add_module('down', m5)
    return m1


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.region = _build_region()

    def forward(self, x0):
        out = self.region(x0)
        return out


def get_inputs():
    return [
        (torch.randn((2, 16, 32), dtype=torch.float32) * 1.0 + -2.4e-09).to(torch.float32),  # x0
    ]


def get_init_inputs():
    return []
