"""Screening a training problem's backward: is every gradient a fair test too?

In training mode the evaluator compares every gradient against float64 as it does outputs, so
each must be finite, not vanishingly small (a zero gradient would then pass), and well
conditioned in float32 at the stress scales; and something must be trainable at all. Runs the
problem in this process, like `screen`: it is the user's own code.
"""

from __future__ import annotations

import types
from typing import Any

import torch

from kernelswarm.problems.measure import as_tensors, instantiate

NOTHING_TO_TRAIN = "training mode: no trainable parameters and no input that requires a gradient"


def gradients(model: torch.nn.Module, inputs: list[Any], mask: list[bool],
              seed: int) -> tuple[list[str], list[torch.Tensor | None]]:
    """(names, gradients) of one forward and backward from a seeded random upstream gradient:
    inputs that require a gradient, then trainable parameters (None where none arrives)."""
    leaves = [x.detach().requires_grad_(True) if m else x for x, m in zip(inputs, mask)]
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    with torch.enable_grad():
        outs = [o for o in as_tensors(model(*leaves)) if o.requires_grad]
        gen = torch.Generator(device=outs[0].device if outs else "cpu").manual_seed(seed)
        # Drawn in float32 and widened: the float64 run gets the very same upstream gradient.
        ups = [torch.randn(o.shape, generator=gen, device=o.device, dtype=torch.float32).to(o.dtype) for o in outs]
        wrt = [x for x, m in zip(leaves, mask) if m] + [p for _, p in params]
        grads = torch.autograd.grad(outs, wrt, ups, allow_unused=True) if outs and wrt else [None] * len(wrt)
    names = [f"gradient of input {i}" for i, m in enumerate(mask) if m] + [f"gradient of {n}" for n, _ in params]
    return names, list(grads)


def check_gradients(module: types.ModuleType, device: str, scales: tuple[float, ...], tiny: float,
                    numeric_rel: float, reasons: list[str]) -> None:
    """Append a reason for each gradient that would make the evaluator's comparison unfair."""
    from kernelswarm.problems.screen import rel_error

    model32, inputs = instantiate(module, device, 0)
    with torch.device("meta"):  # `instantiate` moved the inputs; the flags are the problem's own
        mask = [isinstance(x, torch.Tensor) and x.requires_grad for x in module.get_inputs()]
    if not any(p.requires_grad for p in model32.parameters()) and not any(mask):
        reasons.append(NOTHING_TO_TRAIN)
        return
    model64 = instantiate(module, device, 0)[0].to(torch.float64)
    for scale in scales:
        scaled = [x * scale if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs]
        names, g32 = gradients(model32, scaled, mask, seed=1)
        _, g64 = gradients(model64, [x.to(torch.float64) if isinstance(x, torch.Tensor) and x.is_floating_point() else x
                                     for x in scaled], mask, seed=1)
        for name, a, b in zip(names, g32, g64):
            if a is None or b is None:
                reasons.append(f"{name}: none arrives (the parameter or input is not used by the forward)")
                return
            if not bool(torch.isfinite(a).all()) or not bool(torch.isfinite(b).all()):
                reasons.append(f"{name} is not finite with inputs scaled by {scale:g}")
                return
            if scale == 1.0 and float(b.abs().max()) < tiny:
                reasons.append(f"{name} is tiny: max {float(b.abs().max()):.2g} < {tiny:g}, so zeros would pass")
            err = rel_error([a], [b])
            if err > numeric_rel:
                reasons.append(f"{name} is ill-conditioned in float32: relative error {err:.2g} against "
                               f"float64 with inputs scaled by {scale:g}")
