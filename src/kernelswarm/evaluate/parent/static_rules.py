"""The static screen's rules: what an honest kernel never needs, and why (static.py walks a
candidate's source against them). Each table maps a name to the reason given in a finding."""

from __future__ import annotations

import re

THREADS = "background threads can finish work after the timer stopped"
PROCS = "child processes escape the evaluation"
SERIAL = "loading serialized results is not computing them"
NET = "no network access is needed to compute a kernel"
FRAMES = "frame introspection reaches the evaluator"
SEED = "re-seeding or reading the generator can replay the evaluator's inputs"
UNREAD = "runs Python the screen never read (imports by a name or from a file or text)"
TF32 = ("switches fp32 math to TF32, which the fp32 precision policy does not allow "
        "(judge the candidate with --precision tf32 to allow it)")
HALF = ("changes reduced-precision reduction flags, which the fp32 precision policy does not allow "
        "(judge with --precision bf16 or fp16)")

# Modules that are banned wherever they are reached: imported, or as an attribute of another
# module (`torch.multiprocessing`, `torch.sys`, `np.ctypeslib`'s `ctypes`).
BANNED_ANYWHERE = {
    "gc": "walking the garbage collector can find the evaluator's objects",
    "inspect": "stack and frame introspection can reach the evaluator",
    "ctypes": "raw memory and C calls bypass every check",
    "cffi": "raw memory and C calls bypass every check",
    "threading": THREADS,
    "_thread": THREADS,
    "concurrent": THREADS,
    "multiprocessing": PROCS,
    "subprocess": PROCS,
    "importlib": "dynamic imports hide what the candidate loads",
    "builtins": "patching builtins alters the evaluator",
    "kernelswarm": "the candidate may not touch the evaluator",
    "atexit": "exit hooks can forge results",
    "faulthandler": "not needed by a kernel",
    "resource": "resource limits are the evaluator's",
    "mmap": "raw memory mappings bypass every check",
    "sys": "interpreter internals (frames, modules, exit) reach the evaluator",
    "pickle": SERIAL,
    "marshal": SERIAL,
    "shelve": SERIAL,
    "socket": NET,
}

# Modules banned as imports only (their names are ordinary attributes elsewhere: `torch.random`).
BANNED_IMPORTS = {
    **BANNED_ANYWHERE,
    "signal": "signal handlers can interfere with the evaluator",
    "urllib": NET,
    "http": NET,
    "requests": NET,
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
    "pty": PROCS,
    # adv17: the profilers, debuggers and doctest run statements given as text (cProfile.run ran
    # a string that imported sys: cheat/screen_profile_text), `site` runs a folder's .pth lines.
    "profile": "dynamic code hides what runs", "cProfile": "dynamic code hides what runs",
    "trace": "dynamic code hides what runs", "pdb": "dynamic code hides what runs",
    "bdb": "dynamic code hides what runs", "doctest": "dynamic code hides what runs",
    "site": UNREAD,
}

# Attribute names that are a red flag whoever owns them.
BANNED_ATTRS = {
    "_getframe": FRAMES, "f_back": FRAMES, "f_locals": FRAMES, "f_globals": FRAMES,
    "gi_frame": FRAMES, "tb_frame": FRAMES, "cr_frame": FRAMES, "f_code": FRAMES,
    # adv17: frames from the standard library's walkers, and a frame's builtins, whose
    # `__import__` read by a string key reached `sys` (cheat/screen_frame_builtins).
    "ag_frame": FRAMES, "f_builtins": FRAMES, "walk_stack": FRAMES, "walk_tb": FRAMES,
    "currentframe": FRAMES, "CodeType": "building code objects hides what runs",
    # adv17: names and code evaluated from text: annotations written as strings (get_type_hints
    # evaluated "__import__('sys')"), a format field's dotted path (get_field follows it with
    # getattr), logging's configuration (its "()" factories import any dotted name):
    # cheat/screen_text_lookups. And threads started by asyncio's executors.
    "get_type_hints": UNREAD, "ForwardRef": UNREAD, "_evaluate": UNREAD, "get_field": UNREAD,
    "dictConfig": UNREAD, "fileConfig": UNREAD, "to_thread": THREADS, "run_in_executor": THREADS,
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
    "fork": PROCS, "forkpty": PROCS, "vfork": PROCS, "posix_spawn": PROCS, "posix_spawnp": PROCS,
    "setsid": PROCS,
    "_exit": "exiting early can forge a result",
    "execv": "replacing the process", "execve": "replacing the process",
    "execl": "replacing the process", "execle": "replacing the process", "execlp": "replacing the process",
    "execlpe": "replacing the process", "execvp": "replacing the process", "execvpe": "replacing the process",
    "spawnv": PROCS, "spawnl": PROCS, "spawnle": PROCS, "spawnlp": PROCS, "spawnlpe": PROCS,
    "spawnve": PROCS, "spawnvp": PROCS, "spawnvpe": PROCS,
    "create_subprocess_exec": PROCS, "create_subprocess_shell": PROCS,
    "_import_dotted_name": "dynamic imports hide what the candidate loads",
    "resolve_name": "dynamic imports hide what the candidate loads",
    "manual_seed": SEED, "manual_seed_all": SEED, "set_rng_state": SEED, "get_rng_state": SEED,
    "initial_seed": SEED,
    # adv17: every module's `__loader__` is an importer (a built-in module's makes `sys` and `gc`:
    # cheat/screen_loader_reach), and these load modules from a name, a file or text.
    "__loader__": UNREAD, "__spec__": UNREAD, "load_module": UNREAD, "exec_module": UNREAD,
    "import_module": UNREAD, "_import_module": UNREAD, "_forward_from_src": UNREAD, "PyCodeCache": UNREAD,
    "sys": BANNED_ANYWHERE["sys"],
    "_set_allocator_settings": "allocator settings are the evaluator's",
    "cudaCtxResetPersistingL2Cache": "L2 persistence settings are the evaluator's",
    "persisting_l2_cache_size": "L2 persistence settings are the evaluator's",
}

# Attribute names banned only under the fp32 policy (the worker starts with TF32 off).
PRECISION_ATTRS = {
    "allow_tf32": TF32,
    "set_float32_matmul_precision": TF32,
    "fp32_precision": TF32,
    "_set_cublas_allow_tf32": TF32,
    "allow_fp16_reduced_precision_reduction": HALF,
    "allow_bf16_reduced_precision_reduction": HALF,
}

# Functions of `os` (also reached as `torch.os.x`) that start, signal or replace processes.
OS_CALLS = {"system", "popen", "kill", "killpg", "abort", "setpgid", "setpgrp", "startfile"}

# Module functions that load stored results (`cpp_extension.load` builds code and is fine).
LOADERS = {"torch.load", "numpy.load", "json.load", "pickle.load", "marshal.load"}
SEEDERS = {"seed", "seed_all"}  # as module functions: torch.seed, random.seed, numpy.random.seed

# Builtins that may not be used at all, called or passed around.
BANNED_BUILTINS = {
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
TORCH_INTERNALS = ("torch._dynamo.eval_frame", "torch.profiler", "torch.autograd.profiler", "torch.testing")
# Torch modules that run Python from files or archives, banned wherever reached: torch.hub.load
# with source="local" ran a `hubconf.py` the candidate wrote as text (cheat/screen_hub_local).
TORCH_UNREAD = ("torch.hub", "torch.package")

# Native code or paths inside string constants (C++ passed to load_inline), comments removed.
BANNED_TEXT = [
    (re.compile(r"/proc/"), "reading other processes' memory or state"),
    (re.compile(r"\bcudaStreamPersistingL2|\bcudaLimitPersistingL2CacheSize|accessPolicyWindow"),
     "L2 persistence settings are the evaluator's"),
    (re.compile(r"\b(?:fork|vfork|execve?|execvp|system|popen|ptrace|dlopen|posix_spawnp?|setsid)\s*\("),
     "process or loader calls from native code"),
    (re.compile(r"\bpthread_create\b|std::thread\b|std::async\b"), THREADS),
    (re.compile(r"\bsetenv\s*\(|\bputenv\s*\("), "changing the environment from native code"),
    # adv17: native code that reaches Python itself (pybind11's import handed `sys` back to the
    # candidate: cheat/screen_native_python); a kernel works on the tensors it is given.
    (re.compile(r"\bPy(?:Import|Run|Eval|Sys|Marshal)_\w+|\bPyObject_(?:Get|Set)Attr\w*|\bPy_CompileString\w*"
                r"|::import\s*\(|\b(?:py|pybind11)::(?:eval|exec|eval_file|globals)\b|\.attr\s*\("),
     "native code reaching the interpreter reaches the evaluator"),
]
NATIVE_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)

# Settings an honest candidate may change in its own process: they only affect its own code
# (the reference runs in another, clean process) and are what compiler-made candidates tune.
ALLOWED_SETTINGS = (
    "os.environ",
    "torch.backends.cudnn.benchmark",
    "torch.backends.cudnn.deterministic",
    "torch._inductor.config.",
    "torch._dynamo.config.",
)
TF32_SETTINGS = ("torch.backends.cuda.matmul.", "torch.backends.cudnn.", "torch.backends.mkldnn.")
