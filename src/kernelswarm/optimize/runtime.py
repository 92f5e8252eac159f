"""What an assembled model runs: a region's calls checked against what was verified, winners as
custom operators, the original region for everything else.

This file's source is also written, unchanged, into every assembled candidate (a candidate cannot
import kernelswarm), so it passes the evaluator's static screen: no introspection, no files, no
global settings. It needs torch only.
"""

import torch

# A call's structure: ("T", i) a tensor (the i-th), ("C", value) a constant, ("tuple"|"list", [..]),
# ("dict", [(key, item), ..]). A value that is none of these cannot be a task's input.
_KS_CONSTANTS = (type(None), bool, int, float, str, torch.dtype)


class KsUnsupported(Exception):
    """A value a task cannot take or give (a cache object, a tensor subclass, ...)."""


def ks_structure(value, tensors):
    """The structure of `value`, its tensors appended to `tensors` in order."""
    if type(value) is torch.Tensor or type(value) is torch.nn.Parameter:
        tensors.append(value)
        return ("T", len(tensors) - 1)
    if isinstance(value, torch.Tensor):
        raise KsUnsupported(f"a tensor subclass {type(value).__name__}")
    if isinstance(value, _KS_CONSTANTS):
        return ("C", value)
    if type(value) in (tuple, list):
        return (type(value).__name__, [ks_structure(v, tensors) for v in value])
    if type(value) is dict:
        return ("dict", [(k, ks_structure(v, tensors)) for k, v in value.items()])
    raise KsUnsupported(f"a {type(value).__module__}.{type(value).__qualname__}")


def ks_build(structure, tensors):
    """The value a structure describes, with `tensors` in its tensor places."""
    tag, body = structure
    if tag == "T":
        return tensors[body]
    if tag == "C":
        return body
    if tag == "dict":
        return {k: ks_build(v, tensors) for k, v in body}
    items = [ks_build(v, tensors) for v in body]
    return tuple(items) if tag == "tuple" else items


def ks_same(a, b):
    """Whether two structures are the same (constants compared by type and value)."""
    if a[0] != b[0]:
        return False
    if a[0] == "C":
        return type(a[1]) is type(b[1]) and a[1] == b[1]
    if a[0] == "T":
        return a[1] == b[1]
    if len(a[1]) != len(b[1]):
        return False
    if a[0] == "dict":
        return all(ka == kb and ks_same(va, vb) for (ka, va), (kb, vb) in zip(a[1], b[1]))
    return all(ks_same(x, y) for x, y in zip(a[1], b[1]))


def ks_match_state(ref_sd, new_sd):
    """Names in `new_sd` for each of `ref_sd` (equal, or all under one prefix); None if none fit.
    The evaluator maps a task's weights into ModelNew the same way."""
    if set(ref_sd) == set(new_sd):
        mapping = {k: k for k in ref_sd}
    else:
        mapping = None
        if len(new_sd) == len(ref_sd):
            prefixes = {nk[: len(nk) - len(rk)] for nk in new_sd for rk in ref_sd
                        if nk.endswith(rk) and nk[: len(nk) - len(rk)].endswith(".")}
            for prefix in sorted(prefixes):
                if all(prefix + k in new_sd for k in ref_sd):
                    mapping = {k: prefix + k for k in ref_sd}
                    break
    if mapping is None or any(ref_sd[k].shape != new_sd[v].shape for k, v in mapping.items()):
        return None
    return mapping


class KsRegion:
    """One region of the user's model with a verified winner: `forward` of the region's module is
    replaced by `self.forward` (its parameters, names and hooks stay where they were). A call
    that is not what was verified (another shape, dtype, device, constant, training mode, or one
    that needs gradients where only inference was verified) runs the original forward.

    A task verified in training mode (plan "train": its gradients were checked) runs its winner
    under autograd too, through the winner's own backward; the winner then holds the region's own
    parameters and buffers, not copies, so gradients land where the user's optimizer reads them."""

    def __init__(self, module, original_forward, plan, make_winner, op):
        self.module = module
        self.original = original_forward
        self.plan = plan  # {"inputs": structure, "specs": [(shape, dtype)], "outputs": structure, "training": bool, ...}
        self.make_winner = make_winner  # () -> ModelNew class
        self.op = op
        self.key = plan["key"]
        self.winners = {}  # device -> the winner's module, built on first use with the region's weights
        self.fast_calls = 0
        self.fallback_calls = 0

    def verified(self, args, kwargs):
        tensors = []
        try:
            structure = ks_structure((list(args), kwargs), tensors)
        except KsUnsupported:
            return None
        if self.module.training != self.plan["training"] or not ks_same(structure, self.plan["inputs"]):
            return None
        specs = self.plan["specs"]
        if len(tensors) != len(specs):
            return None
        device = None
        for t, (shape, dtype) in zip(tensors, specs):
            if list(t.shape) != list(shape) or str(t.dtype) != dtype:
                return None
            if device is None:
                device = t.device
            elif t.device != device:
                return None
            if t.requires_grad and torch.is_grad_enabled() and not self.plan.get("train"):
                return None  # autograd through a winner is not verified: the original keeps it
        if device is None or device.type != self.plan["device"]:
            return None
        return tensors

    def winner(self, device):
        key = str(device)
        if key not in self.winners:
            impl = None
            try:
                with torch.no_grad():
                    new = self.make_winner()(*self.plan["init_inputs"])
                    ref_sd = {"region." + k: v for k, v in self.module.state_dict().items()}
                    new_sd = new.state_dict()
                    mapping = ks_match_state(ref_sd, new_sd) if ref_sd else {}
                    # The winner keeps the training flags it was built with: the evaluator judged
                    # it so (it sets none), and .train() would unfreeze a frozen batch norm in it.
                    if mapping is not None and self.plan.get("train"):
                        impl = ks_tie(new, self.module, mapping)
                    elif mapping is not None:
                        new.load_state_dict({v: ref_sd[k] for k, v in mapping.items()}, strict=bool(ref_sd))
                        impl = new.to(device)
            except Exception:
                impl = None  # a winner that cannot take the user's weights is not used
            self.winners[key] = impl
        return self.winners[key]

    def run_winner(self, xs):
        """The custom operator's implementation (never traced): the winner, or the original
        region when the winner cannot be built with this region's weights."""
        impl = self.winner(xs[0].device)
        if impl is None:
            self.fallback_calls += 1
            args, kwargs = ks_build(self.plan["inputs"], xs)
            tensors = []
            ks_structure(self.original(*args, **kwargs), tensors)
            outs = tensors
        else:
            self.fast_calls += 1
            with torch.no_grad():
                out = impl(*xs)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
        ptrs = {x.untyped_storage().data_ptr() for x in xs if x.numel()}
        return [o.clone() if o.numel() and o.untyped_storage().data_ptr() in ptrs else o.contiguous() for o in outs]

    def forward(self, *args, **kwargs):
        xs = self.verified(args, kwargs)
        if xs is None:
            return self.original(*args, **kwargs)
        if self.plan.get("train") and torch.is_grad_enabled():
            # Training: the winner itself, its own backward (verified with the task), outside the
            # custom operator (which has no autograd of its own).
            impl = self.winner(xs[0].device)
            if impl is None:
                self.fallback_calls += 1
                return self.original(*args, **kwargs)
            self.fast_calls += 1
            out = impl(*xs)
            return ks_build(self.plan["outputs"], list(out) if isinstance(out, (tuple, list)) else [out])
        return ks_build(self.plan["outputs"], self.op(self.key, xs))


def ks_tie(new, region, mapping):
    """`new` holding `region`'s own parameters and buffers in the places `mapping` names (state
    names "region.<name>" to new's); None when one of them is not a parameter or buffer there."""
    own = dict(region.named_parameters(remove_duplicate=False)) | dict(region.named_buffers(remove_duplicate=False))
    for ref_name, new_name in mapping.items():
        value = own.get(ref_name[len("region."):])
        owner_path, _, leaf = new_name.rpartition(".")
        owner = new.get_submodule(owner_path) if owner_path else new
        if value is None:
            return None
        params = dict(owner.named_parameters(recurse=False))
        buffers = dict(owner.named_buffers(recurse=False))
        if (leaf in params) != isinstance(value, torch.nn.Parameter) or (leaf not in params and leaf not in buffers):
            return None
        # The same object: a parameter stays registered as one, a buffer as one (persistent or not).
        if leaf in params:
            owner.register_parameter(leaf, value)
        else:
            owner.register_buffer(leaf, value, persistent=leaf in owner.state_dict(keep_vars=True))
    return new


class KsOps:
    """One custom operator per assembled model, dispatching to its regions by key, with a fake
    implementation (shapes and dtypes as verified) so that torch.compile traces around it."""

    def __init__(self):
        self.regions = {}
        # A name of its own per assembled model in this process (a second assembly must not
        # collide with the first one's registration).
        name = f"kernelswarm::region_{id(self.regions)}"
        regions = self.regions

        def impl(key: int, xs: list[torch.Tensor]) -> list[torch.Tensor]:
            return regions[key].run_winner(xs)

        def fake(key, xs):
            plan = regions[key].plan
            return [torch.empty(shape, dtype=_ks_dtype(dtype), device=xs[0].device) for shape, dtype in plan["out_specs"]]

        self.op = torch.library.custom_op(name, impl, mutates_args=())
        self.op.register_fake(fake)

    def __call__(self, key, xs):
        # A plain eager call skips the dispatcher: custom_op's autograd wrapper and redispatch were
        # half of a swapped region's cost on a CPU (tinynet, 11 regions: 13.8 -> 6.8 ms per call;
        # eager 1.0). Under torch.compile or export (the operator is what is traced), under another
        # dispatch mode or with tensor subclasses, and while a profiler records (it names the
        # operator), the operator itself; it runs the same run_winner.
        if (torch.compiler.is_compiling() or torch._C._autograd._profiler_enabled()
                or _ks_dispatch_mode() is not None or any(type(x) not in _KS_PLAIN for x in xs)):
            return self.op(key, xs)
        return self.regions[key].run_winner(xs)


_KS_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _ks_dispatch_mode():
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return _get_current_dispatch_mode()


def _ks_dtype(name):
    return {"torch.float32": torch.float32, "torch.float64": torch.float64, "torch.float16": torch.float16,
            "torch.bfloat16": torch.bfloat16, "torch.int64": torch.int64, "torch.int32": torch.int32,
            "torch.bool": torch.bool, "torch.int8": torch.int8, "torch.uint8": torch.uint8}[name]


def ks_apply(model, plans, winners):
    """Swap verified winners into `model` in place: for each plan, the regions at its paths.
    `winners[task]` is a function returning that task's ModelNew class. Returns the regions."""
    ops = KsOps()
    done = []
    for plan in plans:
        for path in plan["paths"]:
            module = model.get_submodule(path) if path else model
            region = KsRegion(module, module.forward, {**plan, "key": len(ops.regions)}, winners[plan["task"]], ops)
            ops.regions[region.key] = region
            module.forward = region.forward
            done.append(region)
    return done
