"""Whole training steps, worker side (issue 17 item 5): one process per implementation, driven by
optimize/steps.py over a pipe. A step is what a training loop does: `zero_grad`, forward, the
loss, backward, the optimizer's step.

The reference's process holds only the user's model; the candidate's holds the assembled model
with the user's weights copied in. Standard library and torch only; it prints nothing on its
protocol channel but replies (whatever the model prints goes to stderr).
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any

import torch


def _module(path: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module  # triton looks kernels' modules up by name
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), module.__dict__)
    return module


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def default_loss(out: Any, seed: int) -> torch.Tensor:
    """Without a loss_fn: the mean of each floating output weighted by a fixed random tensor (drawn
    from `seed`, the same in every process), summed: every output gets a random upstream gradient."""
    if isinstance(out, dict) or hasattr(out, "items"):
        out = [v for _, v in sorted(out.items()) if v is not None]
    elif isinstance(out, torch.Tensor):
        out = [out]
    total = None
    for i, o in enumerate(x for x in out if isinstance(x, torch.Tensor) and x.is_floating_point() and x.requires_grad):
        gen = torch.Generator(device="cpu").manual_seed(seed + 7919 * i)
        w = torch.randn(tuple(o.shape), generator=gen, dtype=torch.float64).to(device=o.device, dtype=o.dtype)
        term = (o * w).mean()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("the model's outputs carry no gradient: nothing to train")
    return total


class Steps:
    """One implementation's training run: its model, optimizer, inputs and loss."""

    def __init__(self, init: dict[str, Any]) -> None:
        self.device = init["device"]
        self.seed = int(init["seed"])
        self.dtype = getattr(torch, init.get("dtype", "float32"))
        problem = _module(init["problem"], "kernelswarm_steps_problem")
        self.problem = problem
        init_inputs = problem.get_init_inputs()
        torch.manual_seed(self.seed)
        model = problem.Model(*init_inputs)
        self.sandbox = ""
        if init.get("candidate"):
            # As the evaluator's candidate worker: from here on this process writes only inside its
            # own folder (the working directory), whatever the candidate's code tries.
            # As there: no `setsid` (every process it starts stays in its session, which the parent
            # stops between requests and kills at the end), no other process's memory or signals.
            if not os.environ.get("KERNELSWARM_NO_SANDBOX"):
                from kernelswarm.evaluate.worker.sandbox import candidate_sandbox

                self.sandbox = candidate_sandbox(torch.device(self.device).type)
            cand = _module(init["candidate"], "kernelswarm_steps_candidate")
            new = cand.ModelNew(*init_inputs)
            new.load_state_dict(model.state_dict())  # the user's weights, as the reference starts from
            model = new
        # As a training loop does; a model already in training mode keeps its sub-modules' own
        # flags (batch norms frozen for fine-tuning stay frozen, as the problem file records them).
        self.model = model.to(self.device) if model.training else model.to(self.device).train()
        if self.dtype == torch.float64:
            self.model = self.model.double()
        root = init.get("root", "")
        self.fn = self.model.get_submodule(root) if root else self.model
        if init.get("compile"):
            self.fn = torch.compile(self.fn)
        self.loss_fn = None
        if init.get("loss"):
            self.loss_fn = getattr(_module(init["loss"]["path"], "kernelswarm_steps_loss"), init["loss"]["name"])
        self.opt: Any = None
        self.prepared: list[Any] | None = None

    def optimizer(self, name: str, lr: float) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if name == "sgd":
            self.opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
        elif name == "adamw":
            self.opt = torch.optim.AdamW(params, lr=lr)
        else:
            raise ValueError(f"unknown optimizer {name!r}")

    def inputs(self, i: int) -> list[Any]:
        """Step i's inputs: the problem's get_inputs() under a seed of the step (the captured value
        ranges: token ids stay ids in range, masks stay masks), floating ones in this run's dtype."""
        torch.manual_seed(self.seed + 1 + i)
        with torch.device(self.device):
            xs = list(self.problem.get_inputs())
        return [x.to(self.dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in xs]

    def step(self, xs: list[Any]) -> float:
        self.opt.zero_grad(set_to_none=True)
        out = self.fn(*xs)
        loss = self.loss_fn(out, *xs) if self.loss_fn is not None else default_loss(out, self.seed)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def run(self, msg: dict[str, Any]) -> dict[str, Any]:
        """`steps` optimizer steps from the current weights; the parameters after them saved to `out`."""
        self.optimizer(msg["optimizer"], float(msg["lr"]))
        losses = [self.step(self.inputs(i)) for i in range(int(msg["steps"]))]
        _sync(self.device)
        state = {k: v.detach().to("cpu", torch.float64) for k, v in self.model.named_parameters()}
        torch.save(state, msg["out"])
        return {"losses": losses}

    def reset(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Back to the weights saved at `path` (the user's), for the next optimizer's run."""
        saved = torch.load(msg["path"], map_location="cpu", weights_only=True)
        with torch.no_grad():
            for k, v in self.model.named_parameters():
                v.copy_(saved[k])
        return {}


def serve(proto: Any, lines: Any) -> None:
    steps: Steps | None = None
    for line in lines:
        msg = json.loads(line)
        op = msg["op"]
        try:
            if op == "init":
                steps = Steps(msg)
                reply: dict[str, Any] = {"sandbox": steps.sandbox}
            elif op == "save":
                torch.save({k: v.detach().cpu().clone() for k, v in steps.model.named_parameters()}, msg["path"])
                reply = {}
            elif op == "run":
                reply = steps.run(msg)
            elif op == "reset":
                reply = steps.reset(msg)
            elif op == "optimizer":
                steps.optimizer(msg["optimizer"], float(msg["lr"]))
                reply = {}
            elif op == "prepare":  # the next timed step's inputs, outside its timing
                steps.prepared = steps.inputs(int(msg["i"]))
                _sync(steps.device)
                reply = {}
            elif op == "step":  # one timed step: the parent's clock around this request is its time
                loss = steps.step(steps.prepared)
                _sync(steps.device)
                reply = {"loss": loss}
            elif op == "exit":
                return
            else:
                reply = {"error": f"unknown op {op!r}"}
        except Exception as e:  # the parent reports it in one line
            text = str(e).strip().splitlines()
            reply = {"error": f"{type(e).__name__}: {text[0] if text else ''}"[:400]}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


def main() -> None:
    # Replies go to the original stdout only; anything the model prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(proto, sys.stdin)


if __name__ == "__main__":
    main()
