import os, sys, time, subprocess, tempfile
code = r'''
import time; t0=time.perf_counter()
import torch; t1=time.perf_counter()
x=torch.randn(64,64,device="cuda"); torch.cuda.synchronize(); t2=time.perf_counter()
y=(x@x).relu().sum().item(); t3=time.perf_counter()
z=torch.softmax(torch.randn(4096,4096,device="cuda"),-1).sum().item(); t4=time.perf_counter()
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
    (x@x).sum().item()
t5=time.perf_counter()
print(f"import {t1-t0:.2f} init+randn {t2-t1:.2f} matmul {t3-t2:.2f} softmax {t4-t3:.2f} profiler {t5-t4:.2f} arch {torch.cuda.get_arch_list()} lazy={os.environ.get('CUDA_MODULE_LOADING')}")
'''
cache = tempfile.mkdtemp()
for name, env in [("fresh JIT cache", {"CUDA_CACHE_PATH": cache}), ("same cache again", {"CUDA_CACHE_PATH": cache}),
                  ("default", {}), ("EAGER loading", {"CUDA_MODULE_LOADING": "EAGER"})]:
    p = subprocess.run([sys.executable, "-c", "import os\n" + code], env={**os.environ, **env}, capture_output=True, text=True)
    print(name, "|", p.stdout.strip(), p.stderr.strip()[-300:])
