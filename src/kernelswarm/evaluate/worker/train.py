"""Training mode, worker side: one model call is forward plus backward (issue 17).

What a call returns, and so what is compared, timed, fingerprinted and sampled, is the forward's
outputs followed by the gradient of every input that requires one and of every trainable
parameter, after a backward from an upstream gradient drawn from the call's key (random normal:
a backward right only for ones is caught). Gradients are read where training code reads them,
from `.grad`, which is cleared (set to None, as `zero_grad` does) before every call: a backward
that accumulates into stale state, or replays an earlier call's gradients, shows on a later call.
Standard library and torch only: both workers import it.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch

_KEEP_MODELS = 4  # parameter lists kept (one per weight seed in use)


class TrainContract(Exception):
    """The candidate broke the gradient contract (a detached output, parameters that cannot be
    matched to the reference's): its verdict is `incorrect`, with this message."""


class NothingToTrain(Exception):
    """The problem has no trainable parameter and no input that requires a gradient."""


def grad_mask(problem: Any, device: torch.device) -> list[bool]:
    """Which of the problem's get_inputs() entries require gradients, read on the meta device
    (nothing allocated), else on `device`."""
    from kernelswarm.evaluate.worker.tensors import seed_all

    seed_all(0)
    try:
        with torch.device("meta"):
            raw = problem.get_inputs()
    except Exception:
        with device:
            raw = problem.get_inputs()
    return [isinstance(x, torch.Tensor) and x.requires_grad for x in raw]


def trainable(model: Any) -> list[tuple[str, torch.Tensor]]:
    """The reference's parameters that training updates, in registration order."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def match_params(ref: Any, new: Any) -> list[torch.Tensor]:
    """ModelNew's parameter for each of the reference's trainable ones: same names (perhaps under a
    prefix, as the evaluator's weight copy allows), else the same order and shapes."""
    wanted = trainable(ref)
    if new is ref:
        return [p for _, p in wanted]
    have = dict(new.named_parameters()) if hasattr(new, "named_parameters") else {}
    prefixes = [""] + sorted({k[: len(k) - len(n)] for k in have for n, _ in wanted if k.endswith("." + n)})
    for prefix in prefixes:
        if all(prefix + n in have and have[prefix + n].shape == p.shape for n, p in wanted):
            return [have[prefix + n] for n, _ in wanted]
    mine = list(have.values())
    if len(mine) == len(wanted) and all(m.shape == p.shape for m, (_, p) in zip(mine, wanted)):
        return mine
    names = ", ".join(f"{n} {tuple(p.shape)}" for n, p in wanted[:6]) + (" ..." if len(wanted) > 6 else "")
    raise TrainContract(f"ModelNew's parameters cannot be matched to the reference's ({len(mine)} of them; the reference "
                        f"trains {len(wanted)}: {names}); keep the same names, or the same order and shapes")


def upstream(spec: list[dict], key: int, device: torch.device) -> list[torch.Tensor | None]:
    """The upstream gradient of each forward output (None where none flows), drawn from `key`."""
    gen = torch.Generator(device=device)
    gen.manual_seed((key * 7919 + 17) % (2**63))
    out: list[torch.Tensor | None] = []
    for s in spec:
        if s.get("role", "output") != "output":
            continue
        if not s.get("diff"):
            out.append(None)
            continue
        out.append(torch.randn(tuple(s["shape"]), generator=gen, device=device, dtype=getattr(torch, s["dtype"])))
    return out


class Trainer:
    """A worker's training-mode calls: which inputs and parameters get gradients, the upstream."""

    def __init__(self, problem: Any, device: torch.device) -> None:
        self.device = device
        self.mask = grad_mask(problem, device)
        self.params: dict[int, list[torch.Tensor]] = {}  # weight seed -> parameters, reference order
        self.names: list[str] = []  # the reference's trainable parameter names
        self.spec: list[dict] | None = None  # outputs then gradients, from the reference (see describe)
        self.missing: list[str] = []  # gradients the last call left unset (.grad stayed None)
        self.last_diff: list[bool] = []  # per output of the last spec call: whether a gradient flows

    def adopt(self, seed: int, ref: Any, model: Any) -> None:
        """Register the module built under `seed` (the reference itself, or ModelNew beside it)."""
        self.names = [n for n, _ in trainable(ref)]
        self.params.pop(seed, None)
        while len(self.params) >= _KEEP_MODELS:
            self.params.pop(next(iter(self.params)))
        self.params[seed] = match_params(ref, model)
        if not self.names and not any(self.mask):
            raise NothingToTrain("the problem has no trainable parameters and no input that requires a gradient")

    def labels(self, n_outputs: int) -> list[str]:
        """Names of a call's results: outputs, then input gradients, then parameter gradients."""
        outs = [f"output {i}" for i in range(n_outputs)]
        ins = [f"gradient of input {i}" for i, m in enumerate(self.mask) if m]
        return outs + ins + [f"gradient of {n}" for n in self.names]

    def describe(self, spec: list[dict], diff: list[bool]) -> list[dict]:
        """The reference's result spec with each entry's name, role and (outputs) whether a gradient flows."""
        n_out = len(diff)
        labels = self.labels(n_out)
        return [{**s, "name": labels[i] if i < len(labels) else f"result {i}", "role": "output" if i < n_out else "grad",
                 "diff": diff[i] if i < n_out else False} for i, s in enumerate(spec)]

    def upstream(self, key: int) -> list[torch.Tensor | None] | None:
        """This call's upstream gradients (None before the reference's spec call has set the spec)."""
        return upstream(self.spec, key, self.device) if self.spec is not None else None

    def bind(self, model: Any, seed: int, args: list[Any], key: int) -> Callable[[], list[Any]]:
        """One training call, ready to run: leaf inputs, cleared `.grad` and the upstream are made
        here, outside any timed region; the returned function runs forward and backward."""
        params = self.params[seed]
        leaves = [a.detach().requires_grad_(True) if m and isinstance(a, torch.Tensor) else a
                  for a, m in zip(args, self.mask + [False] * (len(args) - len(self.mask)))]
        ups = self.upstream(key)
        return lambda: self.run(model, params, leaves, ups, key)

    def run(self, model: Any, params: list[torch.Tensor], args: list[Any], ups: list[Any] | None,
            key: int) -> list[Any]:
        from kernelswarm.evaluate.worker.tensors import as_outputs

        for p in params:
            p.grad = None
        with torch.enable_grad():
            outs = as_outputs(model(*args))
            if ups is None:  # the reference's first call: the upstream follows its own outputs
                self.last_diff = [isinstance(o, torch.Tensor) and o.requires_grad for o in outs]
                ups = upstream([{"shape": list(o.shape), "dtype": str(o.dtype).removeprefix("torch."), "diff": d}
                                for o, d in zip(outs, self.last_diff)], key, self.device)
            pairs = _pairs(outs, ups)
            if pairs:
                torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        grads = [a.grad for a, m in zip(args, self.mask) if m] + [p.grad for p in params]
        wrt = [a for a, m in zip(args, self.mask) if m] + list(params)
        labels = self.labels(len(outs))[len(outs):]
        self.missing = [labels[i] for i, g in enumerate(grads) if g is None]
        grads = [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt)]
        return [o.detach() if isinstance(o, torch.Tensor) else o for o in outs] + grads

    def fp64(self, model: Any, seed: int, args: list[Any], key: int) -> list[Any]:
        """The same call in float64: a widened copy of the module, inputs and upstream."""
        m64 = copy.deepcopy(model).double()
        named = dict(m64.named_parameters())
        params = [named[n] for n in self.names]
        x64 = [a.detach().double().requires_grad_(m) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
               for a, m in zip(args, self.mask + [False] * (len(args) - len(self.mask)))]
        ups = [u.double() if u is not None else None for u in upstream(self.spec or [], key, self.device)]
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            return self.run(m64, params, x64, ups, key)
        finally:
            torch.set_default_dtype(previous)


def _pairs(outs: list[Any], ups: list[Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(output, its upstream gradient) for each output a gradient flows from; a broken contract raises."""
    if len(outs) != len(ups):
        raise TrainContract(f"{len(outs)} outputs, expected {len(ups)}")
    pairs = []
    for i, (o, g) in enumerate(zip(outs, ups)):
        if g is None:
            continue
        if not isinstance(o, torch.Tensor) or o.shape != g.shape:
            raise TrainContract(f"output {i} is not a tensor of shape {tuple(g.shape)}")
        if not o.requires_grad:
            raise TrainContract(f"output {i} does not require grad: it is detached from the graph, so no "
                                "gradient reaches the parameters or inputs through it")
        if o.dtype != g.dtype and not (o.is_floating_point() and g.dtype == torch.float64):
            raise TrainContract(f"output {i} is {o.dtype}, expected {g.dtype}")
        pairs.append((o, g.to(o.dtype)))
    return pairs
