"""Static screen of a candidate's source: things an honest kernel never needs.

This is defense in depth, not the main line: the verdict is computed outside the candidate's
process from data the trusted side checks itself. The screen exists so that the obvious
attacks (introspecting the evaluator, patching timers, forking, precision flags) get a clear
reason instead of depending on a later check to notice their effect.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from kernelswarm import pyast


@dataclass(frozen=True)
class Finding:
    """One banned construct in the candidate's source."""

    line: int  # 1-based line number
    what: str  # the construct, e.g. "import gc"
    why: str  # the reason an honest candidate does not need it


# Modules a candidate may not import, with the reason.
_BANNED_MODULES = {
    "gc": "walking the garbage collector can find the evaluator's objects",
    "inspect": "stack and frame introspection can reach the evaluator",
    "ctypes": "raw memory and C calls bypass every check",
    "cffi": "raw memory and C calls bypass every check",
    "threading": "background threads can finish work after the timer stopped",
    "_thread": "background threads can finish work after the timer stopped",
    "concurrent": "background threads can finish work after the timer stopped",
    "multiprocessing": "child processes escape the evaluation",
    "subprocess": "child processes escape the evaluation",
    "signal": "signal handlers can interfere with the evaluator",
    "socket": "no network access is needed to compute a kernel",
    "urllib": "no network access is needed to compute a kernel",
    "http": "no network access is needed to compute a kernel",
    "requests": "no network access is needed to compute a kernel",
    "pickle": "loading serialized results is not computing them",
    "marshal": "loading serialized results is not computing them",
    "shelve": "loading serialized results is not computing them",
    "importlib": "dynamic imports hide what the candidate loads",
    "builtins": "patching builtins alters the evaluator",
    "kernelswarm": "the candidate may not touch the evaluator",
    "time": "a kernel does not need clocks; timers are the evaluator's",
    "timeit": "a kernel does not need clocks; timers are the evaluator's",
    "atexit": "exit hooks can forge results",
    "faulthandler": "not needed by a kernel",
    "resource": "resource limits are the evaluator's",
    "mmap": "raw memory mappings bypass every check",
    "sys": "interpreter internals (frames, modules, exit) reach the evaluator",
    "random": "a kernel is deterministic",
    "tempfile": "files are not needed to compute a kernel",
    "shutil": "files are not needed to compute a kernel",
}

# Attribute names whose use is a red flag wherever they appear.
_BANNED_ATTRS = {
    "_getframe": "frame introspection reaches the evaluator",
    "f_back": "frame introspection reaches the evaluator",
    "f_locals": "frame introspection reaches the evaluator",
    "f_globals": "frame introspection reaches the evaluator",
    "gi_frame": "frame introspection reaches the evaluator",
    "tb_frame": "frame introspection reaches the evaluator",
    "__subclasses__": "walking the class tree reaches the evaluator",
    "__globals__": "reaching into other functions' globals",
    "__builtins__": "patching builtins alters the evaluator",
    "__code__": "rewriting code objects",
    "__dict__": "reaching into module and object namespaces",
    "sys": "interpreter internals (frames, modules, exit) reach the evaluator",
    "fork": "child processes escape the evaluation",
    "forkpty": "child processes escape the evaluation",
    "_exit": "exiting early can forge a result",
    "kill": "signalling other processes",
    "system": "shell commands escape the evaluation",
    "popen": "shell commands escape the evaluation",
    "execv": "replacing the process",
    "execve": "replacing the process",
    "spawnv": "child processes escape the evaluation",
    "manual_seed": "re-seeding the generator can replay the evaluator's inputs",
    "seed": "re-seeding the generator can replay the evaluator's inputs",
    "set_rng_state": "re-seeding the generator can replay the evaluator's inputs",
    "allow_tf32": "changing global precision flags alters other code (use --precision tf32)",
    "allow_fp16_reduced_precision_reduction": "changing global precision flags alters other code",
    "allow_bf16_reduced_precision_reduction": "changing global precision flags alters other code",
    "set_float32_matmul_precision": "changing global precision flags alters other code (use --precision tf32)",
    "elapsed_time": "the candidate may not touch timers",
    "perf_counter": "the candidate may not touch timers",
    "perf_counter_ns": "the candidate may not touch timers",
    "_set_allocator_settings": "allocator settings are the evaluator's",
    "cudaCtxResetPersistingL2Cache": "L2 persistence settings are the evaluator's",
    "persisting_l2_cache_size": "L2 persistence settings are the evaluator's",
    "load": None,  # checked below: torch.load / pickle-like loads of stored results
}

# Modules whose attributes a candidate may not look up by computed name.
_SYSTEM_MODULES = {"os", "sys", "builtins", "posix", "io", "shutil", "signal"}

# Builtins a candidate may not call.
_BANNED_CALLS = {
    "eval": "dynamic code hides what runs",
    "exec": "dynamic code hides what runs",
    "compile": "dynamic code hides what runs",
    "__import__": "dynamic imports hide what the candidate loads",
    "open": "files are not needed to compute a kernel",
    "globals": "reaching into module globals",
    "vars": "reaching into other objects' namespaces",
    "breakpoint": "debugger hooks",
}

# Source text that is suspicious even inside strings (e.g. C++ passed to load_inline).
_BANNED_TEXT = [
    (re.compile(r"/proc/"), "reading other processes' memory or state"),
    (re.compile(r"\bcudaStreamPersistingL2|\bcudaLimitPersistingL2CacheSize|accessPolicyWindow"),
     "L2 persistence settings are the evaluator's"),
    (re.compile(r"\b(?:fork|vfork|execve?|execvp|system|popen|ptrace|dlopen)\s*\("), "process or loader calls from native code"),
    (re.compile(r"\bpthread_create\b|std::thread\b|std::async\b"), "background threads can finish work after the timer stopped"),
    (re.compile(r"\bsetenv\s*\(|\bputenv\s*\("), "changing the environment from native code"),
]


def screen_source(source: str) -> list[Finding]:
    """Return every banned construct found; an empty list means the screen passed."""
    try:
        tree = pyast.parse(source)
    except SyntaxError as e:
        return [Finding(e.lineno or 0, "syntax error", e.msg)]
    findings: list[Finding] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                _check_module(alias.name, line, findings)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                findings.append(Finding(line, "relative import", "a candidate is a single self-contained file"))
            _check_module(node.module or "", line, findings)
            for alias in node.names:
                _check_name(alias.name, line, findings)
        elif isinstance(node, ast.Attribute):
            _check_name(node.attr, line, findings, owner=node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _BANNED_CALLS:
            findings.append(Finding(line, f"{node.func.id}()", _BANNED_CALLS[node.func.id]))
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "__loader__", "__spec__"):
            findings.append(Finding(line, node.id, "reaching into the interpreter"))
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                _check_patch(target, line, findings)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            findings.append(Finding(line, f"{node.func.id}()", "patching objects by name can alter the evaluator"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and node.args \
                and isinstance(node.args[0], ast.Name) and node.args[0].id in _SYSTEM_MODULES:
            findings.append(Finding(line, f"getattr({node.args[0].id}, ...)", "looking up system functions by name hides what is called"))
    for pattern, why in _BANNED_TEXT:
        for m in pattern.finditer(source):
            findings.append(Finding(source.count("\n", 0, m.start()) + 1, m.group(0).strip(), why))
    return sorted(set(findings), key=lambda f: (f.line, f.what))


def _check_module(name: str, line: int, findings: list[Finding]) -> None:
    top = name.split(".")[0]
    if top in _BANNED_MODULES:
        findings.append(Finding(line, f"import {name}", _BANNED_MODULES[top]))
    if name.startswith("os.") or name == "os.path":
        return
    if name.startswith("torch.") and any(p in name for p in ("_dynamo.eval_frame", "profiler", "testing")):
        findings.append(Finding(line, f"import {name}", "evaluator internals are not a kernel's business"))


def _check_name(attr: str, line: int, findings: list[Finding], owner: ast.AST | None = None) -> None:
    if attr not in _BANNED_ATTRS:
        return
    why = _BANNED_ATTRS[attr]
    if attr == "load":
        # torch.load / np.load of precomputed results; `cpp_extension.load` builds code and is fine.
        owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if owner_name in ("torch", "np", "numpy", "json", "pickle"):
            findings.append(Finding(line, f"{owner_name}.load", "loading stored results is not computing them"))
        return
    if attr == "seed" and not (isinstance(owner, ast.Name) and owner.id in ("torch", "random", "np", "numpy")):
        return  # e.g. a `.seed` field of the candidate's own object
    if attr == "kill" and not (isinstance(owner, ast.Name) and owner.id == "os"):
        return
    if attr in ("system", "popen") and not (isinstance(owner, ast.Name) and owner.id == "os"):
        return
    findings.append(Finding(line, attr, why))


def _check_patch(target: ast.AST, line: int, findings: list[Finding]) -> None:
    """Assigning to an attribute of an imported module (torch.x = ..., F.relu = ...) is patching."""
    if not isinstance(target, ast.Attribute):
        return
    root = target
    while isinstance(root, ast.Attribute):
        root = root.value
    if isinstance(root, ast.Name) and root.id in ("torch", "F", "nn", "triton", "tl", "os", "math", "np", "numpy"):
        if _dotted(target).startswith(_ALLOWED_SETTINGS):
            return
        findings.append(Finding(line, f"assignment to {_dotted(target)}", "patching a library alters the reference and the evaluator"))


# Settings an honest candidate may change in its own process: they only affect its own code
# (the reference runs in another process) and are what compiler-made candidates tune.
_ALLOWED_SETTINGS = (
    "os.environ",
    "torch.backends.cudnn.benchmark",
    "torch._inductor.config.",
    "torch._dynamo.config.",
)


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))
