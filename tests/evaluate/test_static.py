"""The static screen names the banned construct and why, and lets honest kernels through."""

import pytest

from kernelswarm.evaluate.static import screen_source

HONEST = '''
import os
import torch
import torch.nn as nn
import triton
import triton.language as tl
from torch.utils.cpp_extension import load_inline

os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"
torch.backends.cudnn.benchmark = True

@triton.jit
def add_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)

class ModelNew(nn.Module):
    def forward(self, x):
        return torch.relu(x)
'''


def test_honest_kernel_passes():
    assert screen_source(HONEST) == []


@pytest.mark.parametrize("snippet, what", [
    ("import gc", "import gc"),
    ("import inspect", "import inspect"),
    ("import ctypes", "import ctypes"),
    ("import threading", "import threading"),
    ("from multiprocessing import Process", "import multiprocessing"),
    ("import sys\nsys._getframe(1)", "import sys"),
    ("x = eval('1')", "eval()"),
    ("torch.manual_seed(0)", "manual_seed"),
    ("torch.backends.cuda.matmul.allow_tf32 = True", "allow_tf32"),
    ("torch.cuda.Event.elapsed_time = lambda a, b: 0.001", "elapsed_time"),
    ("F.relu = lambda x: x", "assignment to F.relu"),
    ("getattr(os, '_ex' + 'it')(0)", "getattr(os, ...)"),
    ("y = torch.load('cached.pt')", "torch.load"),
    ("src = 'int f() { return open(\"/proc/self/mem\"); }'", "/proc/"),
    ("src = 'void go() { std::thread t(work); }'", "std::thread"),
    ("open('out.txt', 'w')", "open()"),
    ("m = os.sys.modules", "sys"),
])
def test_banned_constructs_are_named(snippet, what):
    findings = screen_source("import os\nimport torch\nimport torch.nn.functional as F\n" + snippet + "\n")
    assert any(what in f.what for f in findings), findings
    assert all(f.why for f in findings)


def test_syntax_error_is_a_finding():
    findings = screen_source("def f(:\n")
    assert findings and findings[0].what == "syntax error"
