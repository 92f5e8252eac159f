"""Built-in agents: compiler-made candidates that need no API key.

Each proposes one ordinary candidate file, judged by the same evaluator as any other. They make
the tool useful offline and set the bar that model-written kernels must beat. A candidate embeds
the problem's `Model` (the evaluator runs it in a fresh process that does not import the problem)
and defines `ModelNew` as a subclass of it: same constructor, same parameter names and the same
random initialisation order, so any weight syncing the evaluator does works unchanged.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from kernelswarm import pyast
from kernelswarm.agents.base import Context
from kernelswarm.problems.load import Problem
from kernelswarm.records import Candidate

_CONV = re.compile(r"\bConv(?:Transpose)?[23]d\b|\bconv(?:_transpose)?[23]d\s*\(")

# Helpers shared by the variants that need them, placed after the embedded problem.
_CLONE = '''
def _ks_clone(out):
    # Replayed graphs write into the same buffers on every call: hand back a copy so that an
    # output returned earlier is never changed by a later call.
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, (tuple, list)):
        return type(out)(_ks_clone(o) for o in out)
    return out
'''

_CHANNELS_LAST = '''
def _ks_channels_last(t):
    if isinstance(t, torch.Tensor) and t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if isinstance(t, torch.Tensor) and t.dim() == 5:
        return t.contiguous(memory_format=torch.channels_last_3d)
    return t
'''


@dataclass(frozen=True)
class Variant:
    """One built-in transformation, as the pieces of a candidate file."""

    name: str  # agent name, used by --agents and in reports
    devices: tuple[str, ...]  # devices it applies to
    note: str  # what it does, one line (becomes the candidate's note and docstring)
    init: str  # statements appended to ModelNew.__init__ (after Model.__init__)
    forward: str | None = None  # ModelNew.forward body; None keeps Model.forward
    setup: str = ""  # module-level statements before ModelNew
    conv_only: bool = False  # applies only to problems with convolutions
    language: str = "compile"
    training: bool = True  # also right under autograd (False: inference only, e.g. no_grad, captured graphs)


def _compile_variant(name: str, devices: tuple[str, ...], note: str, args: str, setup: str = "",
                     no_grad: bool = False, mark_step: bool = False, inductor: str = "",
                     dynamo: str = "") -> Variant:
    # Compile the bound Model.forward rather than the module: the module keeps its own parameter
    # names (torch.compile(module) would nest them under `_orig_mod`).
    call = "self._ks_fn(*args, **kwargs)"
    # Compiler settings hold for this module's calls only (compilation happens inside the first
    # call), never for the process that imports the candidate. In-process compilation: inductor's
    # parallel compile pool leaves an idle thread behind, which the evaluator (rightly) cannot
    # tell from a candidate finishing work after returning.
    scope = f"torch._inductor.config.patch(compile_threads=1{inductor})"
    if dynamo:
        scope += f", torch._dynamo.config.patch({dynamo})"
    if no_grad:
        scope += ", torch.no_grad()"
    body = [f"with {scope}:"]
    if mark_step:
        body.append("    torch.compiler.cudagraph_mark_step_begin()")
        body.append(f"    return _ks_clone({call})")
    else:
        body.append(f"    return {call}")
    setup = "import torch._inductor.config\nimport torch._dynamo.config\n" + setup
    return Variant(name, devices, note, f"self._ks_fn = torch.compile(super().forward{args})",
                   "\n".join(body), setup + (_CLONE if mark_step else ""), training=not no_grad and not mark_step)


VARIANTS: tuple[Variant, ...] = (
    _compile_variant("compile", ("cpu", "cuda"), "torch.compile, default mode", ""),
    # CUDA only: on a CPU its GEMM templates rarely pay for minutes of extra compilation.
    _compile_variant("compile-max-autotune", ("cuda",),
                     "torch.compile, max-autotune without CUDA graphs (autotuned GEMM and conv templates)",
                     ', mode="max-autotune-no-cudagraphs"'),
    _compile_variant("compile-reduce-overhead", ("cuda",),
                     "torch.compile, reduce-overhead mode (CUDA graphs; outputs copied out)",
                     ', mode="reduce-overhead"', mark_step=True),
    _compile_variant("compile-freezing", ("cpu", "cuda"),
                     "torch.compile with inductor freezing under no_grad (weights as constants: folding, conv-bn fusion; inference only)",
                     # Frozen weights are constants: each new instance (the evaluator re-draws weights)
                     # compiles anew, so allow more than dynamo's default of 8 before it falls back to eager.
                     "", inductor=", freezing=True", dynamo="recompile_limit=64", no_grad=True),
    Variant(
        "cudagraph", ("cuda",),
        "eager PyTorch captured whole into one CUDA graph per input signature, replayed (inputs copied in, outputs out)",
        init="self._ks_graphs = {}",
        forward=(
            "key = tuple((tuple(a.shape), a.dtype, a.device) if isinstance(a, torch.Tensor) else repr(a) for a in args)\n"
            "entry = self._ks_graphs.get(key)\n"
            "if entry is None:\n"
            "    entry = self._ks_graphs[key] = self._ks_capture(args, kwargs)\n"
            "if entry is False:  # capture was impossible (host sync, dynamic shapes): plain eager\n"
            "    return super().forward(*args, **kwargs)\n"
            "graph, static_in, static_out = entry\n"
            "for s, a in zip(static_in, args):\n"
            "    if isinstance(a, torch.Tensor):\n"
            "        s.copy_(a)\n"
            "graph.replay()\n"
            "return _ks_clone(static_out)"
        ),
        setup=_CLONE,
        language="pytorch",
        training=False,
    ),
    Variant(
        "cudnn-benchmark", ("cuda",), "eager PyTorch with cuDNN autotuning (torch.backends.cudnn.benchmark)",
        init="",
        # The setting holds during this module's calls only, not for the process that imports it.
        forward=("previous = torch.backends.cudnn.benchmark\n"
                 "torch.backends.cudnn.benchmark = True\n"
                 "try:\n"
                 "    return super().forward(*args, **kwargs)\n"
                 "finally:\n"
                 "    torch.backends.cudnn.benchmark = previous"),
        conv_only=True, language="pytorch",
    ),
    Variant(
        "channels-last", ("cpu", "cuda"), "eager PyTorch with channels-last layouts for weights and inputs",
        init=("with torch.no_grad():\n"
              "    for p in self.parameters():\n"
              "        p.data = _ks_channels_last(p.data)"),
        forward="return super().forward(*[_ks_channels_last(a) for a in args], **kwargs)",
        setup=_CHANNELS_LAST, conv_only=True, language="pytorch",
    ),
)

# The capture method of the cudagraph variant: warm-up on a side stream (as PyTorch documents),
# then one capture under no_grad (inference only: the variant is not proposed in training mode).
_CAPTURE = '''
    def _ks_capture(self, args, kwargs):
        try:
            static_in = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
            with torch.no_grad():
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):
                        super().forward(*static_in, **kwargs)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_out = super().forward(*static_in, **kwargs)
            return graph, static_in, static_out
        except Exception:
            return False
'''

NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)


def embed_problem(problem: Problem, device: str) -> str:
    """The problem's source without its input builders (inputs come only from the problem file),
    with its size overrides for `device` applied as plain assignments."""
    source = problem.source
    lines = source.splitlines()
    drop: set[int] = set()
    for node in pyast.parse(source).body:
        named = isinstance(node, ast.FunctionDef) and node.name in ("get_inputs", "get_init_inputs")
        main = isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
        if named or main:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            drop.update(range(start - 1, node.end_lineno))
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop).rstrip()
    overrides = dict(problem.sizes.get(device, {}) or {})
    if overrides:
        kept += "\n\n# Size overrides of the problem for this device\n"
        kept += "\n".join(f"{k} = {v!r}" for k, v in overrides.items())
    return kept + "\n"


def _indent(code: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else line for line in code.splitlines())


def render(variant: Variant, problem: Problem, device: str) -> str:
    """The candidate file's text for one variant and problem."""
    parts = [
        f"# kernelswarm built-in candidate `{variant.name}` for problem `{problem.name}` on {device}.",
        f"# {variant.note}.",
        "# The problem's reference Model follows unchanged; ModelNew is defined after it.",
        "",
        embed_problem(problem, device),
        "import torch",
        "import torch.nn as nn",
        variant.setup,
        "",
        "class ModelNew(Model):",
        f'    """{variant.note}."""',
        "",
        "    def __init__(self, *args, **kwargs):",
        "        super().__init__(*args, **kwargs)",
        _indent(variant.init, 8) if variant.init.strip() else "",
    ]
    if variant.forward is not None:
        parts += ["", "    def forward(self, *args, **kwargs):", _indent(variant.forward, 8)]
    if variant.name == "cudagraph":
        parts.append(_CAPTURE)
    return "\n".join(p for p in parts if p is not None).rstrip() + "\n"


def applies(variant: Variant, problem: Problem, device: str, mode: str = "inference") -> bool:
    if device not in variant.devices or (mode == "train" and not variant.training):
        return False
    return not variant.conv_only or bool(_CONV.search(problem.source))


class BuiltinAgent:
    """Proposes its variant once, in round 0: the transformation does not learn from feedback."""

    billable = False  # never counts against --budget
    proposes_once = True  # nothing more after round 0: the supervisor says so instead of staying silent

    def __init__(self, variant: Variant) -> None:
        self.variant = variant
        self.name = variant.name

    def propose(self, problem: Problem, context: Context) -> list[Candidate]:
        if context.round > 0 or not applies(self.variant, problem, context.device, context.mode):
            return []
        return [Candidate(
            source=render(self.variant, problem, context.device), agent=self.name, problem=problem.name,
            round=context.round, context=context.arms(), language=self.variant.language, note=self.variant.note,
        )]


def builtin_agents(names: list[str] | None = None) -> list[BuiltinAgent]:
    """The built-in agents, all of them or those named (unknown names raise ValueError)."""
    by_name = {v.name: v for v in VARIANTS}
    if names is None:
        return [BuiltinAgent(v) for v in VARIANTS]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown built-in agent {unknown[0]!r}; built-in agents: {', '.join(NAMES)}")
    return [BuiltinAgent(by_name[n]) for n in names]
