"""Source code from live modules: a function that rebuilds a module (its classes imported, its
attributes written out, its parameters drawn under the current seed), and `get_inputs` that
reproduces captured inputs (shapes, dtypes, value ranges; integer ids in range, masks as masks).

The generated text is a problem's own code, so it may not load anything from a file: an
evaluated candidate embeds the problem, and the evaluator's screen refuses loads.
"""

from __future__ import annotations

import enum
import hashlib
import math
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

EXACT_MAX = 4096  # integer, boolean and few-valued tensors up to this size are written out exactly
FLOAT_EXACT_MAX = 256  # floating buffers up to this size too; larger ones are drawn like weights
_MODULE_KEYS = set(vars(nn.Module()).keys())


class CodegenError(ValueError):
    """A module or value that cannot be written as code; one line."""


@dataclass
class Stats:
    """Mean and spread of a weight, pooled over every instance of a task."""

    mean: float
    std: float
    nonneg: bool


@dataclass
class Writer:
    """Accumulates a builder's imports and lines; objects shared inside a module are built once."""

    imports: set[str] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=lambda: {"torch", "nn", "Model", "get_inputs", "get_init_inputs"})
    embedded: dict[str, tuple[str, str]] = field(default_factory=dict)  # module -> (prefix, its definitions)
    count: int = 0

    def var(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def use(self, obj: Any) -> str:
        """The name under which a class, function or enum is imported (aliased on a clash)."""
        mod, qual = obj.__module__, obj.__qualname__
        if "<locals>" in qual:
            return self._type_of_global(obj, mod, qual)
        if mod == "builtins":
            return qual
        if _user_module(mod):
            return self.embed(mod) + qual
        top = qual.split(".")[0]
        alias = self.aliases.get((mod, top))
        if alias is None:
            alias = top if top not in self.taken else f"{top}_{len(self.taken)}"
            self.taken.add(alias)
            self.aliases[(mod, top)] = alias
            self.imports.add(f"from {mod} import {top}" + (f" as {alias}" if alias != top else ""))
        return alias + qual[len(top):]


    def _type_of_global(self, cls: type, mod: str, qual: str) -> str:
        """A class made inside a function is reachable when its module holds an instance of it
        (transformers' `@use_kernel_forward_from_hub` turns `apply_rotary_pos_emb` into an
        instance of a local `Func` module class): `type(that_global)`."""
        owner = sys.modules.get(mod)
        found = sorted(vars(owner).items()) if owner is not None and not _user_module(mod) else []
        for gname, value in found:
            if type(value) is cls and gname.isidentifier():
                alias = gname if gname not in self.taken else f"{gname}_{len(self.taken)}"
                if (mod, gname) in self.aliases:
                    alias = self.aliases[(mod, gname)]
                else:
                    self.taken.add(alias)
                    self.aliases[(mod, gname)] = alias
                    self.imports.add(f"from {mod} import {gname}" + (f" as {alias}" if alias != gname else ""))
                return f"type({alias})"
        raise CodegenError(f"{qual} is defined inside a function, not importable by name")

    def embed(self, mod: str) -> str:
        """The user's own module (a script, MODEL.py, a file outside installed packages) is
        written into the problem, its definitions only, under a prefix; returns the prefix."""
        if mod not in self.embedded:
            from kernelswarm.optimize.pysource import definitions, prefixed

            path = getattr(sys.modules.get(mod), "__file__", None)
            try:
                text = Path(path).read_text() if path else ""
            except OSError:
                text = ""
            if not text:
                raise CodegenError(f"module {mod} has no readable source")
            prefix = f"_u{len(self.embedded)}_"
            self.embedded[mod] = (prefix, prefixed(definitions(text), prefix, {}))
        return self.embedded[mod][0]


def _user_module(mod: str) -> bool:
    """A module of the user's own: not installed (site-packages), not the standard library."""
    if mod in ("__main__", "kernelswarm_problem"):
        return True
    top = sys.modules.get(mod.split(".")[0])
    path = getattr(sys.modules.get(mod), "__file__", None) or getattr(top, "__file__", None)
    if path is None:
        return False
    p = str(Path(path).resolve())
    if "site-packages" in p or "dist-packages" in p or p.startswith(sysconfig.get_paths()["stdlib"]):
        return False
    return not mod.startswith(("torch", "kernelswarm", "transformers", "timm"))


def _g(x: float) -> str:
    if math.isnan(x):
        return "float('nan')"
    if math.isinf(x):
        return "float('inf')" if x > 0 else "float('-inf')"
    return repr(float(x))


def literal(v: Any, w: Writer) -> str:
    """Python source for a plain value (configs, dtypes, enums, importable functions too)."""
    # Enums first: a `str` or `int` enum (timm's `Format.NCHW`) is a str too, and its repr is no code.
    if isinstance(v, enum.Enum):
        return f"{w.use(type(v))}.{v.name}"
    if v is None or type(v) in (bool, int, str):
        return repr(v)
    if isinstance(v, float):  # numpy's float64 too: a float's value is all it carries
        return _g(float(v))
    if isinstance(v, (int, str)):  # another subclass: its repr need not rebuild it
        raise CodegenError(f"a {type(v).__module__}.{type(v).__qualname__} value (a subclass of {type(v).__mro__[1].__name__})")
    if isinstance(v, torch.dtype):
        return str(v)
    if isinstance(v, torch.device):
        return f"torch.device({v.type!r})"
    if isinstance(v, tuple):
        return "(" + "".join(literal(x, w) + ", " for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x, w) for x in v) + "]"
    if isinstance(v, (set, frozenset)):
        return ("set" if isinstance(v, set) else "frozenset") + "([" + ", ".join(literal(x, w) for x in sorted(v, key=repr)) + "])"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{literal(k, w)}: {literal(x, w)}" for k, x in v.items()) + "}"
    if _is_config(v):
        return _config(v, w)
    if callable(v) and hasattr(v, "__module__") and hasattr(v, "__qualname__") and not isinstance(v, nn.Module):
        return w.use(v)
    if isinstance(v, nn.Module) and _stateless(v):  # transformers' per-instance kernel wrappers
        return build_module(v, w, {})
    raise CodegenError(f"a {type(v).__module__}.{type(v).__qualname__} value")


def _stateless(m: nn.Module) -> bool:
    """No parameters or buffers anywhere inside: a module held in a plain attribute (a dict's
    value, say) can then be rebuilt without losing a weight."""
    return not any(True for _ in m.parameters()) and not any(True for _ in m.buffers())


def _is_config(v: Any) -> bool:
    return hasattr(v, "to_dict") and hasattr(type(v), "from_dict") and type(v).__name__.endswith("Config")


def _config(cfg: Any, w: Writer) -> str:
    if id(cfg) in w.names:
        return w.names[id(cfg)]
    name = w.var("config")
    d = cfg.to_dict()
    w.lines.append(f"{name} = {w.use(type(cfg))}.from_dict({literal(d, w)})")
    impl = getattr(cfg, "_attn_implementation", None)
    if impl is not None:
        w.lines.append(f"{name}._attn_implementation = {impl!r}")
    w.names[id(cfg)] = name
    return name


def tensor_code(t: torch.Tensor, w: Writer, stats: Stats | None = None) -> str:
    """A tensor's value: exact when small or structured, else drawn from its statistics."""
    t = t.detach().cpu()
    dtype = str(t.dtype)
    shape = tuple(t.shape)
    if t.is_floating_point() and t.numel() > FLOAT_EXACT_MAX:
        s = stats or stats_of([t])
        draw = f"_draw({shape}, {dtype}, {_g(s.mean)}, {_g(s.std)})"
        return f"{draw}.abs()" if s.nonneg else draw
    if t.numel() <= (FLOAT_EXACT_MAX if t.is_floating_point() else EXACT_MAX):
        flat = t.reshape(-1).tolist()
        vals = "[" + ", ".join(_g(x) if isinstance(x, float) else repr(x) for x in flat) + "]"
        return f"torch.tensor({vals}, dtype={dtype}).reshape({shape})"
    flat = t.reshape(-1)
    if bool((flat == flat[0]).all()):
        return f"torch.full({shape}, {literal(flat[0].item(), w)}, dtype={dtype})"
    n = shape[-1] if shape else 1
    if not t.is_floating_point() and t.dtype != torch.bool and torch.equal(t, torch.arange(n).to(t.dtype).expand(shape)):
        return f"torch.arange({n}, dtype={dtype}).expand({shape}).contiguous()"
    if t.dim() >= 2 and torch.equal(t, torch.tril(torch.ones(shape[-2:], dtype=torch.bool)).to(t.dtype).expand(shape)):
        return f"torch.tril(torch.ones({shape[-2:]}, dtype=torch.bool)).to({dtype}).expand({shape}).contiguous()"
    raise CodegenError(f"a {dtype} tensor of {t.numel()} values with no pattern to write out")


def stats_of(ts: list[torch.Tensor]) -> Stats:
    """Pooled statistics, rounded (so that instances of one task write the same code); a constant
    weight (a norm's ones) is given some spread, so that redrawn weights do differ."""
    # On the tensors' own device, each reduced where it lies and the parts pooled here: a float64
    # copy of every tensor concatenated (and, before that, a sort on the CPU) was most of the cut's
    # time (ResNet-50 on the H200: 79 s; its 71 regions' weights and inputs on a CPU: 40%).
    n, first, second, low = 0, 0.0, 0.0, math.inf
    for t in ts:
        t = t.detach()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.to(torch.float32)
        if not t.numel():
            continue
        var, mean = torch.var_mean(t, correction=0)
        if not (math.isfinite(float(var)) and math.isfinite(float(mean))):
            t = t[torch.isfinite(t)]  # only where something is not finite: the finite values alone
            if not t.numel():
                continue
            var, mean = torch.var_mean(t.double(), correction=0)
        k = t.numel()
        n, first, second = n + k, first + k * float(mean), second + k * (float(var) + float(mean) ** 2)
        low = min(low, float(t.min()))
    mean = first / n if n else 0.0
    std = math.sqrt(max(second / n - mean * mean, 0.0) * n / (n - 1)) if n > 1 else 0.0
    if std <= 1e-12:
        std = 0.1 * abs(mean) if mean else 0.02
    return Stats(float(f"{mean:.2g}"), float(f"{std:.2g}"), bool(n and low >= 0))


def build_module(m: nn.Module, w: Writer, stats: dict[str, Stats], prefix: str = "") -> str:
    """Lines that rebuild `m` (appended to w.lines); returns its variable's name."""
    if id(m) in w.names:
        return w.names[id(m)]
    cls = w.use(type(m))
    name = w.var("m")
    w.names[id(m)] = name
    w.lines += [f"{name} = {cls}.__new__({cls})", f"nn.Module.__init__({name})"]
    for key, value in vars(m).items():
        if key in _MODULE_KEYS or key.startswith("_forward") or key.startswith("_backward"):
            continue
        if isinstance(value, torch.Tensor) or (isinstance(value, nn.Module) and not _stateless(value)):
            raise CodegenError(f"{prefix or type(m).__qualname__}.{key} is a tensor or module kept outside "
                               f"PyTorch's registries")
        try:
            w.lines.append(f"{name}.{key} = {literal(value, w)}" if key.isidentifier()
                           else f"{name}.{key!r} = {literal(value, w)}")
        except CodegenError as e:
            raise CodegenError(f"attribute `{key}` of {type(m).__qualname__} is {e}") from None
    w.lines.append(f"{name}.training = {m.training!r}")
    for pname, p in m._parameters.items():
        full = f"{prefix}{pname}"
        if p is None:
            w.lines.append(f"{name}.register_parameter({pname!r}, None)")
        elif id(p) in w.names:
            w.lines.append(f"{name}.register_parameter({pname!r}, {w.names[id(p)]})")
        else:
            pv = w.var("p")
            w.names[id(p)] = pv
            if p.is_floating_point():
                st = stats.get(full) or stats_of([p])
                draw = f"_draw({tuple(p.shape)}, {p.dtype}, {_g(st.mean)}, {_g(st.std)})"
            else:
                draw = tensor_code(p, w)
            w.lines.append(f"{pv} = nn.Parameter({draw}, requires_grad={p.requires_grad!r})")
            w.lines.append(f"{name}.register_parameter({pname!r}, {pv})")
    for bname, b in m._buffers.items():
        persistent = bname not in m._non_persistent_buffers_set
        value = "None" if b is None else tensor_code(b, w, stats.get(f"{prefix}{bname}"))
        w.lines.append(f"{name}.register_buffer({bname!r}, {value}, persistent={persistent!r})")
    for cname, c in m._modules.items():
        if c is None:
            w.lines.append(f"{name}.add_module({cname!r}, None)")
            continue
        cv = build_module(c, w, stats, f"{prefix}{cname}.")
        w.lines.append(f"{name}.add_module({cname!r}, {cv})")
    return name


def module_stats(modules: list[nn.Module]) -> dict[str, Stats]:
    """Per parameter and floating buffer name, statistics pooled over `modules` (one task's instances)."""
    out: dict[str, Stats] = {}
    tables = [dict(list(m.named_parameters(remove_duplicate=False)) + list(m.named_buffers(remove_duplicate=False)))
              for m in modules]  # once per instance, not once per weight name
    for key, t in tables[0].items():
        if t is None or not t.is_floating_point():
            continue
        out[key] = stats_of([s for s in (table.get(key) for table in tables) if s is not None])
    return out


DRAW_HELPER = '''
def _draw(shape, dtype, mean, std):
    """A weight drawn under the current seed, with the statistics of the model's own."""
    return (torch.randn(shape, dtype=torch.float32) * std + mean).to(dtype)
'''


def builder(m: nn.Module, stats: dict[str, Stats], fn_name: str = "_build_region") -> tuple[str, set[str]]:
    """(source of a function returning a rebuilt `m`, the imports it needs). The user's own
    modules' definitions come first, in the source."""
    w = Writer()
    root = build_module(m, w, stats)
    body = "\n".join("    " + line for line in w.lines)
    own = "".join(f"# ---- definitions from the user's module {mod} ----\n{src}\n\n\n" for mod, (_, src) in w.embedded.items())
    return f"{own}def {fn_name}():\n{body}\n    return {root}\n", w.imports


# ---- inputs ----

def _two_values(t: torch.Tensor) -> tuple[Any, Any] | None:
    """(low, high) when `t` holds at most two distinct values (NaN counts as a third), else None."""
    if not t.numel() or t.dtype == torch.bool:
        return None
    if torch.unique(t.reshape(-1)[:1024]).numel() > 2:  # an activation: its first values already differ
        return None
    lo, hi = t.min(), t.max()
    if not bool(((t == lo) | (t == hi)).all()):
        return None
    return lo.item(), hi.item()


def input_code(t: torch.Tensor) -> str:
    """get_inputs' expression for one captured tensor (created on the current default device)."""
    t = t.detach()
    shape, dtype = tuple(t.shape), str(t.dtype)
    two = _two_values(t)  # on the tensor's own device, without a sort (26M values: seconds on a CPU)
    if t.dtype == torch.bool or (two is not None and t.numel() <= EXACT_MAX):
        if t.numel() <= EXACT_MAX:
            return tensor_code(t.cpu(), Writer())  # a mask: exactly as captured
        p = float(t.float().mean())
        return f"(torch.rand({shape}) < {p:.4g})"
    if not t.is_floating_point():
        n = shape[-1] if shape else 1
        if t.dim() and torch.equal(t, torch.arange(n, device=t.device).to(t.dtype).expand(shape)):
            return f"torch.arange({n}, dtype={dtype}).expand({shape}).contiguous()"
        lo, hi = int(t.min()), int(t.max())
        return f"torch.randint({lo}, {hi + 1}, {shape}, dtype={dtype})"
    if two is not None:  # a float mask (0 and a large negative)
        a, b = two
        p = float((t == b).float().mean())
        return f"torch.where(torch.rand({shape}) < {p:.4g}, {_g(b)}, {_g(a)}).to({dtype})"
    s = stats_of([t])
    return f"(torch.randn({shape}, dtype=torch.float32) * {_g(s.std)} + {_g(s.mean)}).to({dtype})"


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
