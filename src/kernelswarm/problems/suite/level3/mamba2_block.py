"""Mamba-2-style selective state-space block: projections, a chunked SSD scan, gating."""

import torch
import torch.nn as nn
import torch.nn.functional as F

batch = 8
seq_len = 2048
d_model = 1024
d_state = 64
head_dim = 64
chunk = 128

# Per-device size overrides that kernelswarm's loader applies; plain KernelBench ignores them.
KERNELSWARM_SIZES = {"cpu": {"batch": 2, "seq_len": 128, "d_model": 64, "d_state": 16, "head_dim": 16, "chunk": 16}}


def segsum(x):
    """Stable segment sums: out[..., i, j] = x[..., j+1] + ... + x[..., i] for j < i, 0 on the diagonal, -inf above.

    Built from a masked cumulative sum rather than a difference of cumulative sums, which would cancel.
    """
    t = x.shape[-1]
    x = x[..., None].expand(*x.shape, t)
    strict = torch.ones(t, t, dtype=torch.bool, device=x.device).tril(-1)
    x = x.masked_fill(~strict, 0.0)
    out = torch.cumsum(x, dim=-2)
    lower = torch.ones(t, t, dtype=torch.bool, device=x.device).tril(0)
    return out.masked_fill(~lower, float("-inf"))


def ssd(x, a, b, c, chunk):
    """Chunked state-space duality scan (Mamba-2). x: (B, L, H, P), a: (B, L, H), b and c: (B, L, N)."""
    bsz, length, heads, p = x.shape
    k = length // chunk
    x = x.reshape(bsz, k, chunk, heads, p)
    b = b.reshape(bsz, k, chunk, -1)
    c = c.reshape(bsz, k, chunk, -1)
    a = a.reshape(bsz, k, chunk, heads).permute(0, 3, 1, 2)  # (B, H, K, T)
    a_cum = torch.cumsum(a, dim=-1)
    # Within each chunk: attention-like quadratic form with a decay mask.
    decay = torch.exp(segsum(a))  # (B, H, K, T, T)
    y_diag = torch.einsum("bkln,bksn,bhkls,bkshp->bklhp", c, b, decay, x)
    # Each chunk's final state, then the states passed from chunk to chunk.
    decay_states = torch.exp(a_cum[..., -1:] - a_cum)
    states = torch.einsum("bkln,bhkl,bklhp->bkhpn", b, decay_states, x)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(a_cum[..., -1], (1, 0))))
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)[:, :-1]
    # The states' contribution to each position.
    y_off = torch.einsum("bkln,bkhpn,bhkl->bklhp", c, states, torch.exp(a_cum))
    return (y_diag + y_off).reshape(bsz, length, heads, p)


class Model(nn.Module):
    def __init__(self, d_model, d_state, head_dim, chunk):
        super().__init__()
        d_inner = 2 * d_model
        self.heads = d_inner // head_dim
        self.head_dim = head_dim
        self.d_state = d_state
        self.chunk = chunk
        self.in_proj = nn.Linear(d_model, 2 * d_inner + 2 * d_state + self.heads, bias=False)
        self.a_log = nn.Parameter(torch.log(torch.linspace(1.0, 16.0, self.heads)))
        self.dt_bias = nn.Parameter(torch.log(torch.expm1(torch.linspace(0.001, 0.1, self.heads))))
        self.d = nn.Parameter(torch.ones(self.heads))
        self.norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, u):
        bsz, length, _ = u.shape
        d_inner = self.heads * self.head_dim
        z, x, b, c, dt = torch.split(
            self.in_proj(u), [d_inner, d_inner, self.d_state, self.d_state, self.heads], dim=-1)
        dt = F.softplus(dt + self.dt_bias)  # (B, L, H), positive step sizes
        a = -torch.exp(self.a_log)  # negative, so that states decay
        x = F.silu(x).view(bsz, length, self.heads, self.head_dim)
        y = ssd(x * dt[..., None], a * dt, b, c, self.chunk)
        y = y + x * self.d[:, None]
        y = self.norm(y.reshape(bsz, length, d_inner)) * F.silu(z)
        return self.out_proj(y)


def get_inputs():
    return [torch.randn(batch, seq_len, d_model)]


def get_init_inputs():
    return [d_model, d_state, head_dim, chunk]
