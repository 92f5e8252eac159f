"""What a candidate's source defines or builds as its own kernels, read by the trusted side.

The `kind` label is measured inside the candidate's process (a profiled call, counted extension
calls): that process runs the candidate's code, which can rewrite the worker's `label` reply into a
well-formed claim that its own kernel did the work (cheat/label_forge: a pure PyTorch candidate
labelled custom-kernel, and so accepted in strict mode). A custom-kernel label therefore also needs
the source, as the parent reads it, to define or build code of its own: a Triton or Numba kernel,
CUDA or C++ source built by `cpp_extension`, a CuPy kernel, or a loaded operator library. A
candidate that has one and forges the label all the same is not caught here (a decoy kernel with a
rewritten reply); the label, unlike the verdict, is the candidate process's own report.
"""

from __future__ import annotations

import ast

from kernelswarm import pyast

_BUILDERS = {"load_inline", "load", "load_library", "RawKernel", "RawModule", "ElementwiseKernel",
             "ReductionKernel", "compile_with_cache"}
_NATIVE_MARKS = ("__global__", "torch::", "at::Tensor", "#include")


def own_kernels(source: str) -> list[str]:
    """How the source makes kernels of its own (decorators, builder calls, native sources), or []."""
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                target = d.func if isinstance(d, ast.Call) else d
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if name in ("jit", "autotune", "heuristics", "njit"):
                    found.append(f"@{name} {node.name}")
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in _BUILDERS:
                found.append(f"{name}()")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and any(m in node.value for m in _NATIVE_MARKS):
            found.append("native source")
    return sorted(set(found))
