# kernelswarm-test: problem=matmul verdict=incorrect check=timed-output static=off calls=40 bf16
# A global flag, not a kernel: torch.set_float32_matmul_precision("medium") makes a float32
# matrix product run in bfloat16 on a CPU with AVX-512 BF16 or AMX (errors of 0.2 on this task
# here). Set only while its worker times calls (op_time_call, op_time_burst wrapped through module
# attributes), and back to "highest" before anything else: the correctness trials and the stress
# trials see the float32 product. Where the CPU has no bfloat16 (AVX2 only) the flag changes
# nothing, the candidate is the reference, and it must be accepted (the `bf16` flag).
import torch
from torch import nn

_base = getattr(torch, "sy" + "s").modules["kernelswarm.evaluate.worker.base"]


def _low(op):
    def run(self, msg):
        torch.set_float32_matmul_precision("medium")
        try:
            return op(self, msg)
        finally:
            torch.set_float32_matmul_precision("highest")
    return run


_base.Worker.op_time_call = _low(_base.Worker.op_time_call)
_base.Worker.op_time_burst = _low(_base.Worker.op_time_burst)


class ModelNew(nn.Module):
    def forward(self, a, b):
        return a @ b
