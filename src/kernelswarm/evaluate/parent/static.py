"""Static screen of a candidate's source: things an honest kernel never needs.

This is defense in depth, not the main line: the verdict is computed outside the candidate's
process from data the trusted side checks itself. The screen exists so that the obvious
attacks (introspecting the evaluator, forking, precision flags) get a clear reason instead of
depending on a later check to notice their effect. It reads code, not comments: names are
resolved through imports and aliases (`torch.multiprocessing`, `getattr(torch, "s" + "ys")`),
and only string constants that are code (native sources) are searched as text.

What honest published kernels do is allowed, each covered at run time instead (fixtures in
tests/evaluate/candidates): cuDNN flags in the candidate's own process (the reference runs in a
clean one), files written and built inside the worker's own folder (the sandbox confines
writes there; TMPDIR points into it), clocks read to pick the faster of two implementations
(timing objects are the evaluator's and patching them is still banned; timed outputs are
checked, so a clock-driven phase switch is caught).
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


_THREADS = "background threads can finish work after the timer stopped"
_PROCS = "child processes escape the evaluation"
_SERIAL = "loading serialized results is not computing them"
_NET = "no network access is needed to compute a kernel"
_FRAMES = "frame introspection reaches the evaluator"
_SEED = "re-seeding or reading the generator can replay the evaluator's inputs"
_UNREAD = "runs Python the screen never read (imports by a name or from a file or text)"
_TF32 = ("switches fp32 math to TF32, which the fp32 precision policy does not allow "
         "(judge the candidate with --precision tf32 to allow it)")
_HALF = ("changes reduced-precision reduction flags, which the fp32 precision policy does not allow "
         "(judge with --precision bf16 or fp16)")

# Modules that are banned wherever they are reached: imported, or as an attribute of another
# module (`torch.multiprocessing`, `torch.sys`, `np.ctypeslib`'s `ctypes`).
_BANNED_ANYWHERE = {
    "gc": "walking the garbage collector can find the evaluator's objects",
    "inspect": "stack and frame introspection can reach the evaluator",
    "ctypes": "raw memory and C calls bypass every check",
    "cffi": "raw memory and C calls bypass every check",
    "threading": _THREADS,
    "_thread": _THREADS,
    "concurrent": _THREADS,
    "multiprocessing": _PROCS,
    "subprocess": _PROCS,
    "importlib": "dynamic imports hide what the candidate loads",
    "builtins": "patching builtins alters the evaluator",
    "kernelswarm": "the candidate may not touch the evaluator",
    "atexit": "exit hooks can forge results",
    "faulthandler": "not needed by a kernel",
    "resource": "resource limits are the evaluator's",
    "mmap": "raw memory mappings bypass every check",
    "sys": "interpreter internals (frames, modules, exit) reach the evaluator",
    "pickle": _SERIAL,
    "marshal": _SERIAL,
    "shelve": _SERIAL,
    "socket": _NET,
}

# Modules banned as imports only (their names are ordinary attributes elsewhere: `torch.random`).
_BANNED_IMPORTS = {
    **_BANNED_ANYWHERE,
    "signal": "signal handlers can interfere with the evaluator",
    "urllib": _NET,
    "http": _NET,
    "requests": _NET,
    "random": "a kernel is deterministic",
    # Imports and code by a name or text computed at run time (adv15: `pkgutil.resolve_name("g" +
    # "c")`, `pydoc.locate`; timeit, code and runpy run statements given as text; mock patches any
    # object by its dotted name; pty starts processes).
    "pydoc": "dynamic imports hide what the candidate loads",
    "pkgutil": "dynamic imports hide what the candidate loads",
    "runpy": "dynamic code hides what runs",
    "code": "dynamic code hides what runs",
    "codeop": "dynamic code hides what runs",
    "timeit": "dynamic code hides what runs",
    "zipimport": "dynamic imports hide what the candidate loads",
    "imp": "dynamic imports hide what the candidate loads",
    "unittest": "patching objects by name can alter the evaluator",
    "pty": _PROCS,
    # adv17: the profilers, debuggers and doctest run statements given as text (cProfile.run ran
    # a string that imported sys: cheat/screen_profile_text), `site` runs a folder's .pth lines.
    "profile": "dynamic code hides what runs", "cProfile": "dynamic code hides what runs",
    "trace": "dynamic code hides what runs", "pdb": "dynamic code hides what runs",
    "bdb": "dynamic code hides what runs", "doctest": "dynamic code hides what runs",
    "site": _UNREAD,
}

# Attribute names that are a red flag whoever owns them.
_BANNED_ATTRS = {
    "_getframe": _FRAMES, "f_back": _FRAMES, "f_locals": _FRAMES, "f_globals": _FRAMES,
    "gi_frame": _FRAMES, "tb_frame": _FRAMES, "cr_frame": _FRAMES, "f_code": _FRAMES,
    # adv17: frames from the standard library's walkers, and a frame's builtins, whose
    # `__import__` read by a string key reached `sys` (cheat/screen_frame_builtins).
    "ag_frame": _FRAMES, "f_builtins": _FRAMES, "walk_stack": _FRAMES, "walk_tb": _FRAMES,
    "currentframe": _FRAMES, "CodeType": "building code objects hides what runs",
    # adv17: names and code evaluated from text: annotations written as strings (get_type_hints
    # evaluated "__import__('sys')"), a format field's dotted path (get_field follows it with
    # getattr), logging's configuration (its "()" factories import any dotted name):
    # cheat/screen_text_lookups. And threads started by asyncio's executors.
    "get_type_hints": _UNREAD, "ForwardRef": _UNREAD, "_evaluate": _UNREAD, "get_field": _UNREAD,
    "dictConfig": _UNREAD, "fileConfig": _UNREAD, "to_thread": _THREADS, "run_in_executor": _THREADS,
    "__subclasses__": "walking the class tree reaches the evaluator",
    "__globals__": "reaching into other functions' globals",
    "__builtins__": "patching builtins alters the evaluator",
    "__import__": "dynamic imports hide what the candidate loads",
    "__code__": "rewriting code objects",
    "__closure__": "reaching into other functions' state",
    "__dict__": "reaching into module and object namespaces",
    "__getattribute__": "looking up attributes by name hides what is reached",
    "__getattr__": "looking up attributes by name hides what is reached",
    "attrgetter": "looking up attributes by name hides what is reached",
    "methodcaller": "looking up attributes by name hides what is reached",
    "fork": _PROCS, "forkpty": _PROCS, "vfork": _PROCS, "posix_spawn": _PROCS, "posix_spawnp": _PROCS,
    "setsid": _PROCS,
    "_exit": "exiting early can forge a result",
    "execv": "replacing the process", "execve": "replacing the process",
    "execl": "replacing the process", "execle": "replacing the process", "execlp": "replacing the process",
    "execlpe": "replacing the process", "execvp": "replacing the process", "execvpe": "replacing the process",
    "spawnv": _PROCS, "spawnl": _PROCS, "spawnle": _PROCS, "spawnlp": _PROCS, "spawnlpe": _PROCS,
    "spawnve": _PROCS, "spawnvp": _PROCS, "spawnvpe": _PROCS,
    "create_subprocess_exec": _PROCS, "create_subprocess_shell": _PROCS,
    "_import_dotted_name": "dynamic imports hide what the candidate loads",
    "resolve_name": "dynamic imports hide what the candidate loads",
    "manual_seed": _SEED, "manual_seed_all": _SEED, "set_rng_state": _SEED, "get_rng_state": _SEED,
    "initial_seed": _SEED,
    # adv17: every module's `__loader__` is an importer (a built-in module's makes `sys` and `gc`:
    # cheat/screen_loader_reach), and these load modules from a name, a file or text.
    "__loader__": _UNREAD, "__spec__": _UNREAD, "load_module": _UNREAD, "exec_module": _UNREAD,
    "import_module": _UNREAD, "_import_module": _UNREAD, "_forward_from_src": _UNREAD, "PyCodeCache": _UNREAD,
    "sys": _BANNED_ANYWHERE["sys"],
    "_set_allocator_settings": "allocator settings are the evaluator's",
    "cudaCtxResetPersistingL2Cache": "L2 persistence settings are the evaluator's",
    "persisting_l2_cache_size": "L2 persistence settings are the evaluator's",
}

# Attribute names banned only under the fp32 policy (the worker starts with TF32 off).
_PRECISION_ATTRS = {
    "allow_tf32": _TF32,
    "set_float32_matmul_precision": _TF32,
    "fp32_precision": _TF32,
    "_set_cublas_allow_tf32": _TF32,
    "allow_fp16_reduced_precision_reduction": _HALF,
    "allow_bf16_reduced_precision_reduction": _HALF,
}

# Functions of `os` (also reached as `torch.os.x`) that start, signal or replace processes.
_OS_CALLS = {"system", "popen", "kill", "killpg", "abort", "setpgid", "setpgrp", "startfile"}

# Module functions that load stored results (`cpp_extension.load` builds code and is fine).
_LOADERS = {"torch.load", "numpy.load", "json.load", "pickle.load", "marshal.load"}
_SEEDERS = {"seed", "seed_all"}  # as module functions: torch.seed, random.seed, numpy.random.seed

# Builtins that may not be used at all, called or passed around.
_BANNED_BUILTINS = {
    "eval": "dynamic code hides what runs",
    "exec": "dynamic code hides what runs",
    "compile": "dynamic code hides what runs",
    "__import__": "dynamic imports hide what the candidate loads",
    "globals": "reaching into module globals",
    "vars": "reaching into other objects' namespaces",
    "breakpoint": "debugger hooks",
    "setattr": "patching objects by name can alter the evaluator",
    "delattr": "patching objects by name can alter the evaluator",
    "__builtins__": "reaching into the interpreter",
    "__loader__": "reaching into the interpreter",
    "__spec__": "reaching into the interpreter",
}

# Torch modules that are evaluator internals, not a kernel's business.
_TORCH_INTERNALS = ("torch._dynamo.eval_frame", "torch.profiler", "torch.autograd.profiler", "torch.testing")
# Torch modules that run Python from files or archives, banned wherever reached: torch.hub.load
# with source="local" ran a `hubconf.py` the candidate wrote as text (cheat/screen_hub_local).
_TORCH_UNREAD = ("torch.hub", "torch.package")

# Native code or paths inside string constants (C++ passed to load_inline), comments removed.
_BANNED_TEXT = [
    (re.compile(r"/proc/"), "reading other processes' memory or state"),
    (re.compile(r"\bcudaStreamPersistingL2|\bcudaLimitPersistingL2CacheSize|accessPolicyWindow"),
     "L2 persistence settings are the evaluator's"),
    (re.compile(r"\b(?:fork|vfork|execve?|execvp|system|popen|ptrace|dlopen|posix_spawnp?|setsid)\s*\("),
     "process or loader calls from native code"),
    (re.compile(r"\bpthread_create\b|std::thread\b|std::async\b"), _THREADS),
    (re.compile(r"\bsetenv\s*\(|\bputenv\s*\("), "changing the environment from native code"),
    # adv17: native code that reaches Python itself (pybind11's import handed `sys` back to the
    # candidate: cheat/screen_native_python); a kernel works on the tensors it is given.
    (re.compile(r"\bPy(?:Import|Run|Eval|Sys|Marshal)_\w+|\bPyObject_(?:Get|Set)Attr\w*|\bPy_CompileString\w*"
                r"|::import\s*\(|\b(?:py|pybind11)::(?:eval|exec|eval_file|globals)\b|\.attr\s*\("),
     "native code reaching the interpreter reaches the evaluator"),
]
_NATIVE_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)

# Settings an honest candidate may change in its own process: they only affect its own code
# (the reference runs in another, clean process) and are what compiler-made candidates tune.
_ALLOWED_SETTINGS = (
    "os.environ",
    "torch.backends.cudnn.benchmark",
    "torch.backends.cudnn.deterministic",
    "torch._inductor.config.",
    "torch._dynamo.config.",
)
_TF32_SETTINGS = ("torch.backends.cuda.matmul.", "torch.backends.cudnn.", "torch.backends.mkldnn.")


def screen_source(source: str, allow_tf32: bool = False) -> list[Finding]:
    """Return every banned construct found; an empty list means the screen passed.
    `allow_tf32`: the precision policy allows TF32 or lower (`--precision tf32|bf16|fp16`), so
    precision switches in the candidate's own process are its own business."""
    try:
        tree = pyast.parse(source)
    except SyntaxError as e:
        return [Finding(e.lineno or 0, "syntax error", e.msg)]
    screen = _Screen(_aliases(tree), allow_tf32, _bound_names(tree))
    screen.visit(tree)
    screen.native_text(tree)
    return sorted(set(screen.findings), key=lambda f: (f.line, f.what))


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted module path it stands for, from imports and plain assignments
    (`import torch.multiprocessing as mp`, `from torch import sys as s`, `t = torch`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    for _ in range(3):  # assignments of aliases to aliases, a few levels deep
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                dotted = _resolve(node.value, names)
                if dotted and node.targets[0].id not in names:
                    names[node.targets[0].id] = dotted
    return names


def _bound_names(tree: ast.Module) -> set[str]:
    """Names the candidate binds itself (variables, parameters, functions, classes): a variable
    called `vars` is not the builtin, though calling it is still flagged."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound


def _resolve(node: ast.AST, names: dict[str, str]) -> str | None:
    """The dotted module path an expression reaches (`torch.os.system`), or None when it is not
    rooted at an imported module."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, names)
        return f"{owner}.{node.attr}" if owner else None
    if isinstance(node, ast.Call) and _is_getattr(node):
        owner, name = _resolve(node.args[0], names), _constant_str(node.args[1])
        return f"{owner}.{name}" if owner and name else None
    return None


def _is_getattr(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2


def _constant_str(node: ast.AST) -> str | None:
    """A string the code spells out, concatenations and f-strings of constants included."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant_str(node.left), _constant_str(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_constant_str(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return None


def _constant_prefix(node: ast.AST) -> str:
    """The constant text a computed string starts with (`f"conv{i}"`, `"layer" + str(i)`)."""
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _constant_str(node.left) or _constant_prefix(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _constant_prefix(node.func.value) if not isinstance(node.func.value, ast.Constant) \
            else str(node.func.value.value).split("{", 1)[0]
    return ""


def _harmless_prefix(prefix: str) -> bool:
    """A constant start no banned name shares: nothing banned can be reached behind it."""
    if not prefix or prefix.startswith("_"):
        return False
    banned = (set(_BANNED_IMPORTS) | set(_BANNED_ATTRS) | set(_PRECISION_ATTRS) | _OS_CALLS | set(_BANNED_BUILTINS)
              | _SEEDERS | {"load", "environ", "getattr"})
    return not any(b.startswith(prefix) for b in banned)


class _Screen(ast.NodeVisitor):
    def __init__(self, names: dict[str, str], allow_tf32: bool, bound: set[str]) -> None:
        self.names = names
        self.bound = bound
        self.allow_tf32 = allow_tf32
        self.findings: list[Finding] = []
        self.called: set[int] = set()  # ids of Name nodes that are the function of a call

    def flag(self, node: ast.AST, what: str, why: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), what, why))

    # -- imports --------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.check_dotted(node, a.name, imported=True)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.flag(node, "relative import", "a candidate is a single self-contained file")
        module = node.module or ""
        self.check_dotted(node, module, imported=True)
        for a in node.names:
            self.check_dotted(node, f"{module}.{a.name}", imported=True)
            self.check_attr(node, a.name, f"{module}.{a.name}")

    # -- names and attributes -------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name):
            self.called.add(id(node.func))
        if _is_getattr(node):
            self.check_getattr(node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in _BANNED_BUILTINS and node.id not in self.names:
            if id(node) in self.called:
                self.flag(node, f"{node.id}()", _BANNED_BUILTINS[node.id])
            elif node.id not in self.bound or node.id.startswith("__"):  # the builtin itself, passed around
                self.flag(node, node.id, _BANNED_BUILTINS[node.id])
        elif node.id == "getattr" and id(node) not in self.called:
            self.flag(node, "getattr", "passing getattr around hides what is looked up")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _resolve(node, self.names)
        if not (dotted and self.check_dotted(node, dotted)):
            self.check_attr(node, node.attr, dotted)
        self.generic_visit(node)

    def check_getattr(self, node: ast.Call) -> None:
        owner, name = node.args[0], _constant_str(node.args[1])
        owner_text = ast.unparse(owner)
        if name is None:
            # `getattr(self, f"conv{i}")` is how modules reach numbered layers; anything else
            # looked up by a computed name could be any attribute of any module. `self` is only a
            # parameter's name: a function called with a module as `self` reached any of its
            # attributes (cheat/screen_self_getattr), so the name must start with a constant that
            # begins no banned name (`conv` can reach `conv1`, never `sys`).
            prefix = _constant_prefix(node.args[1])
            if not (isinstance(owner, ast.Name) and owner.id == "self" and _harmless_prefix(prefix)):
                self.flag(node, f"getattr({owner_text}, ...)", "looking up attributes by a computed name hides what is reached")
            return
        dotted, what = _resolve(node, self.names), f"getattr({owner_text}, {name!r})"
        if not (dotted and self.check_dotted(node, dotted, what=what)):
            self.check_attr(node, name, dotted, what=what)

    def check_dotted(self, node: ast.AST, dotted: str, imported: bool = False, what: str | None = None) -> bool:
        """A module path reached by an import or an attribute chain rooted at a module; True when
        it is banned."""
        parts = dotted.split(".")
        banned = _BANNED_IMPORTS if imported else _BANNED_ANYWHERE
        label = what or (f"import {dotted}" if imported else dotted)
        for i, part in enumerate(parts):
            if part in _BANNED_ANYWHERE or (i == 0 and part in banned):
                # An attribute chain is named up to the banned module, so that the chain's inner
                # attributes give the same finding instead of one each.
                inner = ".".join(parts[: i + 1])
                self.flag(node, what or (f"import {dotted}" if imported else inner), banned.get(part) or _BANNED_ANYWHERE[part])
                return True
        if "os" in parts[:-1] and parts[-1] in _OS_CALLS:
            why = "processes, signals and shells escape the evaluation"
        elif dotted in _LOADERS:
            why = "loading stored results is not computing them"
        elif parts[-1] in _SEEDERS and len(parts) > 1 and parts[0] in ("torch", "random", "numpy"):
            why = _SEED
        elif imported and dotted.startswith(_TORCH_INTERNALS):
            why = "evaluator internals are not a kernel's business"
        elif any(dotted == m or dotted.startswith(m + ".") for m in _TORCH_UNREAD):
            why = _UNREAD
        else:
            return False
        self.flag(node, label, why)
        return True

    def check_attr(self, node: ast.AST, attr: str, dotted: str | None, what: str | None = None) -> None:
        """An attribute name that is banned whoever owns it, or a precision switch."""
        if attr in _BANNED_ATTRS:
            self.flag(node, what or attr, _BANNED_ATTRS[attr])
        elif attr in _PRECISION_ATTRS and not self.allow_tf32:
            self.flag(node, what or (dotted or attr), _PRECISION_ATTRS[attr])

    # -- patching -------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.check_patch(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.check_patch(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.check_patch(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self.check_patch(target)
        self.generic_visit(node)

    def check_patch(self, target: ast.AST) -> None:
        """Assigning to an attribute of a module (torch.x = ..., time.perf_counter = ...) is patching."""
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self.check_patch(t)
            return
        if not isinstance(target, ast.Attribute):
            return
        dotted = _resolve(target, self.names)
        if dotted is None or dotted.startswith(_ALLOWED_SETTINGS):
            return
        if self.allow_tf32 and dotted.startswith(_TF32_SETTINGS) and target.attr in _PRECISION_ATTRS:
            return
        if target.attr in _PRECISION_ATTRS:
            return  # flagged with the precision reason by check_attr
        self.flag(target, f"assignment to {ast.unparse(target)}", f"patching a library ({dotted}) alters the reference and the evaluator")

    # -- native code ----------------------------------------------------------------------
    def native_text(self, tree: ast.Module) -> None:
        """Search string constants that are code (native sources), not docstrings, not comments.
        Concatenations of constants are searched whole, so a split name is still seen."""
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if id(node) in docstrings:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
                text: str | None = node.value.decode("latin-1")
            elif isinstance(node, (ast.Constant, ast.BinOp, ast.JoinedStr)):
                text = _constant_str(node)
            else:
                continue
            if not text:
                continue
            if "\n" in text:  # a native source: its comments are not code (a one-line path is kept whole)
                text = _NATIVE_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
            for pattern, why in _BANNED_TEXT:
                for m in pattern.finditer(text):
                    self.findings.append(Finding(node.lineno + text.count("\n", 0, m.start()), m.group(0).strip(), why))
