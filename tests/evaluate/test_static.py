"""The static screen names the banned construct and why, reads code rather than comments, follows
names through imports and aliases, and lets the patterns of honest published kernels through."""

import pytest

from kernelswarm.evaluate.parent.static import screen_source

HONEST = '''
import os
import time
import tempfile
import shutil
import torch
import torch.nn as nn
import triton
import triton.language as tl
from torch.utils.cpp_extension import load, load_inline

os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.deterministic = False
_src = r"""
// a native comment may say system( or fork( or /proc/ or std::thread
/* and pthread_create() in a block comment */
__global__ void k(float* x) { x[0] = 1.f; }
"""

@triton.jit
def add_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def _build():
    # writes its source into a temp dir (the worker's own folder) and builds it: not import gc
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "k.cpp")
    with open(path, "w") as f:
        f.write(_src)
    try:
        return load(name="k", sources=[path])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class ModelNew(nn.Module):
    """Picks the faster of two forms at construction; a docstring may mention subprocess.Popen()
    or sys._getframe or /proc/self."""

    def __init__(self, n):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(n, n) for _ in range(2)])
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        self.use_addmm = time.perf_counter() - t0 < 1.0 or start.elapsed_time(end) < 1.0
        self.act = getattr(self, f"layer{0}", None) or getattr(self, "layers")

    def forward(self, x):
        for i in range(2):
            x = getattr(self, "layers")[i](x)
        return torch.relu(x)
'''


def test_honest_kernel_passes():
    assert screen_source(HONEST) == []


PRELUDE = "import os\nimport torch\nimport torch.nn.functional as F\n"


@pytest.mark.parametrize("snippet, what", [
    ("import gc", "import gc"),
    ("import inspect", "import inspect"),
    ("import ctypes", "import ctypes"),
    ("import threading", "import threading"),
    ("from multiprocessing import Process", "import multiprocessing"),
    ("import sys\nsys._getframe(1)", "import sys"),
    ("x = eval('1')", "eval()"),
    ("torch.manual_seed(0)", "manual_seed"),
    ("torch.seed()", "torch.seed"),
    ("s = torch.initial_seed()", "initial_seed"),
    ("torch.cuda.Event.elapsed_time = lambda a, b: 0.001", "assignment to torch.cuda.Event.elapsed_time"),
    ("import time\ntime.perf_counter_ns = lambda: 0", "assignment to time.perf_counter_ns"),
    ("import time as t\nt.perf_counter += 1", "assignment to t.perf_counter"),
    ("F.relu = lambda x: x", "assignment to F.relu"),
    ("del torch.nn.functional.relu", "assignment to torch.nn.functional.relu"),
    ("getattr(os, '_ex' + 'it')(0)", "getattr(os, '_exit')"),
    ("y = torch.load('cached.pt')", "torch.load"),
    ("from torch import load\ny = load('x.pt')", "import torch.load"),
    ("src = 'int f() { return open(\"/proc/self/mem\"); }'", "/proc/"),
    ("src = 'void go() { std::thread t(work); }'", "std::thread"),
    ("src = 'void go() { sys' + 'tem(\"ls\"); }'", "system("),
    ("m = os.sys.modules", "os.sys"),
    # issue 14.6: names reached through attributes, aliases and computed lookups
    ("import torch.multiprocessing as mp\nmp.Process(target=print).start()", "import torch.multiprocessing"),
    ("from torch import multiprocessing", "import torch.multiprocessing"),
    ("torch.multiprocessing.Process(target=print).start()", "torch.multiprocessing"),
    ("frames = torch.sys._getframe(1)", "torch.sys"),
    ("s = getattr(torch, 'sys')", "getattr(torch, 'sys')"),
    ("s = getattr(torch, 's' + 'ys')", "getattr(torch, 'sys')"),
    ("s = getattr(torch, f'{\"s\"}ys')", "getattr(torch, 'sys')"),
    ("name = 'sys'\ns = getattr(torch, name)", "getattr(torch, ...)"),
    ("t = torch\ns = t.sys", "torch.sys"),
    ("f = getattr(getattr(torch, 'nn'), ''.join(['s', 'ys']))", "getattr(getattr(torch, 'nn'), ...)"),
    ("import functools\nx = functools.reduce(getattr, ['sys'], torch)", "getattr"),
    ("imp = __import__\ns = imp('sys')", "__import__"),
    ("e = eval\nx = e('1')", "eval"),
    ("vars = 1\nx = vars(torch)", "vars()"),
    ("b = torch.__builtins__", "__builtins__"),
    ("import builtins", "import builtins"),
    ("import importlib\nm = importlib.import_module('sys')", "import importlib"),
    ("m = torch._utils.importlib", "torch._utils.importlib"),
    ("import operator\ns = operator.attrgetter('sys')(torch)", "attrgetter"),
    ("s = object.__getattribute__(torch, 'sys')", "__getattribute__"),
    ("s = torch.os.system('true')", "torch.os.system"),
    ("from os import posix_spawn", "posix_spawn"),
    ("from os import system as run\nrun('true')", "import os.system"),
    ("f = self.forward.__globals__", "__globals__"),
    # adv15: a module passed as `self`, and the standard library's importers by computed name.
    ("def f(self, n):\n    return getattr(self, n)\ns = f(torch, 's' + 'ys')", "getattr(self, ...)"),
    ("def f(self, i):\n    return getattr(self, f's{i}')", "getattr(self, ...)"),
    ("def f(self, i):\n    return getattr(self, '_' + i)", "getattr(self, ...)"),
    ("import pkgutil\ng = pkgutil.resolve_name('g' + 'c')", "import pkgutil"),
    ("import pydoc\ng = pydoc.locate('g' + 'c')", "import pydoc"),
    ("import timeit\ntimeit.timeit('import gc', number=1)", "import timeit"),
    ("import runpy", "import runpy"),
    ("from unittest import mock\nmock.patch('time.perf_counter').start()", "import unittest"),
    ("import asyncio\nasyncio.create_subprocess_exec('sh')", "create_subprocess_exec"),
    ("m = torch._utils._import_dotted_name('g' + 'c')", "_import_dotted_name"),
    # adv17: importers reached as attributes, Python run from files or text, Python from native code.
    ("import itertools\ns = itertools.__loader__.load_module('sys')", "__loader__"),
    ("s = torch.__spec__.loader.load_module('gc')", "__spec__"),
    ("m = torch.hub.load('.', 'model', source='local')", "torch.hub"),
    ("from torch.hub import load", "torch.hub"),
    ("m = torch.hub._import_module('x', 'x.py')", "torch.hub"),
    ("from torch.package import PackageImporter", "torch.package"),
    ("f = torch.fx.graph_module._forward_from_src('import sys', {})", "_forward_from_src"),
    ("src = 'pybind11::object f() { return pybind11::module_::import(\"sys\"); }'", "::import("),
    ("src = 'py::object f(py::object m) { return m.attr(\"sys\"); }'", ".attr("),
    ("src = 'void f() { PyRun_SimpleString(\"import gc\"); }'", "PyRun_SimpleString"),
    ("src = 'PyObject* f(PyObject* m) { return PyImport_ImportModule(\"sys\"); }'", "PyImport_ImportModule"),
    ("import traceback\nf = next(traceback.walk_stack(None))[0]", "walk_stack"),
    ("import logging\nb = logging.currentframe().f_builtins['__import__']", "f_builtins"),
    ("import cProfile\ncProfile.run('import sys')", "import cProfile"),
    ("import pdb\npdb.run('import gc')", "import pdb"),
    ("import site\nsite.addsitedir('.')", "import site"),
    ("import types\nc = types.CodeType", "CodeType"),
    ("os.execlp('sh', 'sh')", "execlp"),
    ("os.spawnlp(os.P_NOWAIT, 'sh', 'sh')", "spawnlp"),
    ("import typing\ndef f(x: \"__import__('sys')\"): pass\ns = typing.get_type_hints(f)", "get_type_hints"),
    ("import string\nm = string.Formatter().get_field('0.sys', [torch], {})", "get_field"),
    ("import logging.config\nlogging.config.dictConfig({})", "dictConfig"),
    ("import asyncio\nasyncio.to_thread(print)", "to_thread"),
])
def test_banned_constructs_are_named(snippet, what):
    findings = screen_source(PRELUDE + snippet + "\n")
    assert any(what in f.what for f in findings), findings
    assert all(f.why for f in findings)


@pytest.mark.parametrize("snippet", [
    "torch.backends.cuda.matmul.allow_tf32 = True",
    "torch.backends.cudnn.allow_tf32 = True",
    "torch.set_float32_matmul_precision('high')",
    "torch.backends.cuda.matmul.fp32_precision = 'tf32'",
])
def test_tf32_switch_fails_under_fp32_and_names_the_precision_flag(snippet):
    findings = screen_source(PRELUDE + snippet + "\n")
    assert findings and all("--precision tf32" in f.why for f in findings), findings
    assert screen_source(PRELUDE + snippet + "\n", allow_tf32=True) == []


@pytest.mark.parametrize("snippet", [
    "# import gc; os.fork(); sys._getframe(); torch.multiprocessing; /proc/self/environ",
    "x = 1  # subprocess.Popen(['sh']) and pthread_create( and system(",
    '"""A docstring mentioning import ctypes, fork( and /proc/1/environ."""',
    "def f():\n    '''std::thread and popen( in a docstring'''\n    return 1",
    "torch.backends.cudnn.benchmark = True\ntorch.backends.cudnn.deterministic = True",
    "import time\nstart = time.perf_counter()\nelapsed = time.perf_counter() - start",
    "import tempfile\nfolder = tempfile.mkdtemp()\nopen(os.path.join(folder, 'k.cu'), 'w').write('')",
    "x = getattr(F, 'relu')",
    "def f(self, i):\n    return getattr(self, f'conv{i}')",
    "def f(self, i):\n    return getattr(self, 'layer' + str(i))",
    "def f(self, i):\n    return getattr(self, 'block_{}'.format(i))",
    "x = torch.random.fork_rng",
    "vars = [1, 2]\ntotal = sum(v for v in vars)",
    "def f(compile=True):\n    return compile",
])
def test_honest_patterns_pass(snippet):
    assert screen_source(PRELUDE + snippet + "\n") == []


def test_syntax_error_is_a_finding():
    findings = screen_source("def f(:\n")
    assert findings and findings[0].what == "syntax error"
