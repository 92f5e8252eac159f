"""The candidate's worker: sandboxes itself (op_sandbox), then imports one candidate and runs
what the parent asks; its replies are raw outputs and times, judged by the parent."""

from __future__ import annotations

import sys
import types
from typing import Any

from kernelswarm.evaluate.worker import support
from kernelswarm.evaluate.worker.base import Worker, _Unusable


class CandidateWorker(Worker):
    """The candidate's worker (role `candidate`)."""

    def _candidate_model(self, seed: int) -> Any:
        from kernelswarm.evaluate.worker.tensors import seed_all

        ref = self.reference_model(seed)
        seed_all(seed)
        new = self.candidate.ModelNew(*self.init_inputs)
        if hasattr(new, "to"):
            new = new.to(self.device)
        support.load_matching_state(ref, new)
        if self.trainer is not None:  # KS-TRAIN: ModelNew's parameter for each of the reference's
            self.trainer.adopt(seed, ref, new)
        return new

    def import_candidate(self, source: str, path: str) -> None:
        from kernelswarm.evaluate.worker.labels import ExtensionTracer, kernel_names

        self.tracer = ExtensionTracer()  # every device: which timed calls called its own kernels
        self.kernel_names = kernel_names(source)
        module = types.ModuleType("kernelswarm_candidate")
        module.__file__ = path
        sys.modules["kernelswarm_candidate"] = module  # triton needs the defining module importable
        exec(compile(source, path, "exec"), module.__dict__)
        if self.device.type == "cuda":
            self.tracer.watch_triton(module)
            self.tracer.watch_cupy(module)
        if not hasattr(module, "ModelNew"):
            raise _Unusable("the candidate defines no `ModelNew`")
        self.candidate = module

    def op_sandbox(self, msg: dict) -> dict:
        """Before the candidate's code is imported: from now on this process and its children may
        write only inside this worker's folder (see sandbox.py)."""
        if self.role != "candidate":
            raise PermissionError("only the candidate's worker is sandboxed (the clean one writes the caches)")
        from kernelswarm.evaluate.worker import sandbox

        return {"sandbox": sandbox.candidate_sandbox(self.device_name)}

    def op_import(self, msg: dict) -> dict:
        from kernelswarm.evaluate.worker.tensors import poison_free_memory

        poison_free_memory(self.device)
        self.import_candidate(msg["source"], msg["path"])
        return {}
