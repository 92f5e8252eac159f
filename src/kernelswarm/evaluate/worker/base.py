"""The worker's shared base: what the reference (clean) worker and the candidate's worker both do.

A worker process (`python -m kernelswarm.evaluate.worker ROLE READ_FD WRITE_FD`, or forked from the
zygote) is one of two classes over this base: `ReferenceWorker` (reference.py: never sees
candidate code; computes reference outputs, compares, times the baselines and the calibration
calls, flushes caches) or `CandidateWorker` (candidate.py: sandboxes itself, imports one
candidate, runs what the parent asks, reports raw outputs and times). Only the standard library,
torch and the worker side's own modules are imported here; the parent decides every verdict.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any, Callable

from kernelswarm.evaluate.wire.protocol import Channel
from kernelswarm.evaluate.worker import support


class Worker:
    def __init__(self, role: str, chan: Channel, init: dict[str, Any]) -> None:
        import torch

        from kernelswarm.backends import get_backend
        from kernelswarm.problems.load import exec_problem

        self.torch = torch
        self.role = role
        self.chan = chan
        self.device_name = init["device"]
        if init.get("cpu_threads"):
            torch.set_num_threads(int(init["cpu_threads"]))  # equal for reference and candidate
        self.backend = get_backend(self.device_name)
        self.device = self.backend.device
        if role == "reference":
            # As the candidate's worker does before its import (CandidateWorker.op_import): the
            # poisoned block stays in this process's allocator cache and later allocations are
            # carved from it, so the reference's tensors sit in the same kind of memory as the
            # candidate's, and a copy of the reference runs alike in both.
            from kernelswarm.evaluate.worker.tensors import poison_free_memory

            poison_free_memory(self.device)
        # The reference runs with TF32 off: the fp32 answer, not a faster approximation of it.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_grad_enabled(False)
        self.problem = exec_problem(init["problem_source"], init["problem_path"], self.device_name)
        self.init_inputs = list(self.problem.get_init_inputs())
        self.models: dict[int, Any] = {}  # weight seed -> module under evaluation
        self.pool: list[list[Any]] = []  # timing input sets
        self.null_outputs: list[Any] = []  # for calibration calls of an empty function (clean worker)
        self.compiled: dict[tuple[str, int], Any] = {}  # (mode, weight seed) -> compiled reference
        self.timed_models: dict[str, Any] = {}  # what timed calls run: "main", or a named slot
        self.last_outputs: list[Any] = []
        self.prepared: list[Any] = []  # the next timed call's inputs (op_prepare)...
        self.prepared_key = 0  # ...and their key
        self.kept: list[list[Any] | None] = []  # timed outputs sampled for a full check, copied out later
        self.primitives = self.backend.timing_primitives()
        self.threads_at_start = threading.active_count()
        self.tracer = None
        self.timed_ext = [0, 0]  # timed calls that called the candidate's extension (tracer), of all
        self.timed_ext_ns = [0, 0]  # ns inside its extension calls during timed calls, of the calls' claimed ns
        self.kernel_names: set[str] = set()
        self.candidate: types.ModuleType | None = None
        # The least device memory seen free around the model's runs: libraries pick algorithms on
        # a first call (cuDNN falls back to one with a smaller workspace when memory is short, and
        # keeps that choice), so a timing made while others held the memory may be unfairly slow.
        self.min_free_share = 1.0
        # KS-TRAIN: in training mode every model call is forward plus backward (evaluate/worker/train.py).
        self.trainer = None
        self.timed_seed = 0  # weight seed of the timed model
        if init.get("mode") == "train":
            from kernelswarm.evaluate.worker.train import Trainer

            self.trainer = Trainer(self.problem, self.device)

    def bind(self, model: Any, seed: int, args: list[Any], key: int) -> Callable[[], Any]:
        """One call of the model built under `seed` on `args`, ready to run: the forward, or in
        training mode forward plus backward from an upstream gradient drawn from `key`."""
        if self.trainer is None:
            return lambda: model(*args)
        return self.trainer.bind(model, seed, args, key)

    # -- building modules -------------------------------------------------------------------
    def reference_model(self, seed: int) -> Any:
        from kernelswarm.evaluate.worker.tensors import seed_all

        seed_all(seed)
        return self.problem.Model(*self.init_inputs).to(self.device)

    def model(self, seed: int) -> Any:
        """The module under evaluation with weights drawn under `seed` (cached per seed)."""
        if seed not in self.models:
            self.models.clear()  # one instance at a time keeps memory bounded
            self.models[seed] = self.reference_model(seed) if self.role == "reference" else self._candidate_model(seed)
            if self.trainer is not None and self.role == "reference":  # KS-TRAIN
                self.trainer.adopt(seed, self.models[seed], self.models[seed])
        return self.models[seed]

    # -- ops ----------------------------------------------------------------------------------
    def op_spec(self, msg: dict) -> dict:
        """`_spec`'s reply, and whether this worker may take descriptors from the evaluator, where it
        asks (wire/devfd.probe: "" if so, else why)."""
        reply = self._spec(msg)
        probe = msg.get("fd_probe")
        if isinstance(probe, dict) and self.role == "reference":
            from kernelswarm.evaluate.wire import devfd

            reply["fd_probe"] = devfd.probe(int(probe["pid"]), int(probe["fd"]))
        return reply

    def _spec(self, msg: dict) -> dict:
        """Output shapes and dtypes from a throwaway input, and the work for the speed-of-light floor."""
        from kernelswarm.evaluate.worker.tensors import as_outputs, make_inputs, spec_of

        model = self.reference_model(msg["seed"])
        inputs = make_inputs(self.problem, msg["seed"], self.device)
        if self.trainer is not None:  # KS-TRAIN
            from kernelswarm.evaluate.worker.train import NothingToTrain

            try:
                self.trainer.adopt(msg["seed"], model, model)
            except NothingToTrain as e:
                return {"train_error": str(e)}
            self.trainer.spec = None
        outputs = as_outputs(self.bind(model, msg["seed"], inputs, msg["seed"])())
        reply: dict[str, Any] = {"spec": spec_of(outputs), "versions": self.backend.info()}
        if self.trainer is not None:  # names and roles of outputs and gradients; upstream shapes
            reply["spec"] = self.trainer.spec = self.trainer.describe(reply["spec"], self.trainer.last_diff)
        try:
            from kernelswarm import sol

            if not msg.get("measure_peaks", True) and sol.peaks_if_cached(self.device_name) is None:
                # Measuring peaks is timing: the parent asks again holding the device exclusively.
                return {"peaks_missing": True}
            if msg.get("defer_work") and not support.work_cached(msg.get("work_key")):
                sol.cached_peaks(self.device_name)  # measured now where they must be, not during the trials
                return {**reply, "work_deferred": True}  # the parent asks for the count later (op_work)
        except Exception as e:  # the floor is a plausibility check; without it the rest still holds
            return {**reply, "floor_error": f"{e.__class__.__name__}: {e}"}
        return {**reply, **self._floor(model, inputs, msg)}

    def op_work(self, msg: dict) -> dict:
        """The floor, from the FLOPs and bytes counted now: `spec` deferred it, since the FLOP
        counter's first count in a process loads torch._dynamo and sympy (5 s on the H200 host, 14 s
        on the loaded 2-core CPU), and the parent asks while the candidate's trials run."""
        from kernelswarm.evaluate.worker.tensors import make_inputs

        model, inputs = self.reference_model(msg["seed"]), make_inputs(self.problem, msg["seed"], self.device)
        return self._floor(model, inputs, msg, measure=False)

    def _floor(self, model: Any, inputs: list[Any], msg: dict, measure: bool = True) -> dict:
        """The speed-of-light floor and time, and the work they come from; or why there is none.
        Without `measure`, the peaks `spec` left cached (none are measured while the trials run)."""
        try:
            from kernelswarm import sol

            work = support.cached_work(msg.get("work_key"), lambda: sol.count_work(model, inputs))
            peaks = (None if measure else sol.peaks_if_cached(self.device_name)) or sol.cached_peaks(self.device_name)
            return {"floor_ms": sol.floor_ms(work, peaks, msg.get("precision", "fp32")),
                    "sol_ms": sol.sol_ms(work, peaks, msg.get("precision", "fp32")),
                    "work": {"flops": work.flops, "bytes": work.bytes}}
        except Exception as e:  # the floor is a plausibility check; without it the rest still holds
            return {"floor_error": f"{e.__class__.__name__}: {e}"}

    def op_run(self, msg: dict) -> tuple[dict, bytes]:
        """One correctness trial: fresh inputs, poisoned memory, outputs returned raw."""
        from kernelswarm.evaluate.worker.fingerprints import fingerprint, same_fingerprint
        from kernelswarm.evaluate.worker.tensors import (
            as_outputs, clone_inputs, output_problems, poison, trial_inputs)

        from kernelswarm.evaluate.worker.train import TrainContract

        try:
            model = self.model(msg["weight_seed"])
            inputs = trial_inputs(self.problem, msg, self.device)
            before = fingerprint(inputs)
            given = clone_inputs(inputs)
            if self.trainer is not None:  # KS-TRAIN
                self.trainer.spec = msg.get("spec")
            call = self.bind(model, msg["weight_seed"], given, msg["input_seed"])
            poison(msg.get("spec", []), self.device, msg.get("poison", float("nan")))
            self.backend.synchronize()
            outputs = as_outputs(call())
        except TrainContract as e:  # the parent judges it incorrect, with this reason
            return {"bad_train": str(e)}, b""
        threads = self.candidate_threads()  # right on return, before anything else
        self.backend.synchronize()
        reply: dict[str, Any] = {"fingerprint_at_return": fingerprint(outputs), "python_threads": threads}
        if self.trainer is not None and self.trainer.missing:
            reply["missing_grads"] = self.trainer.missing
        problem = output_problems(outputs, given, self.device)
        if problem:
            return {"bad_output": problem}, b""
        if not same_fingerprint(before, fingerprint(given), rel=0.0):
            reply["inputs_mutated"] = True
        return reply, self.outputs_out(outputs, msg)

    def outputs_out(self, outputs: list[Any], msg: dict) -> Any:
        """Outputs for the clean worker: left on the device where the parent allows it and they are
        all there (worker/devmem.py), else laid out raw through the host (rawblob.py)."""
        from kernelswarm.evaluate.wire import sealed
        from kernelswarm.evaluate.worker.tensors import to_blob

        if msg.get("device_outputs") is True:
            from kernelswarm.evaluate.worker import devmem

            if devmem.usable(outputs) and sum(t.numel() * t.element_size() for t in outputs) >= sealed.min_sealed():
                try:
                    return devmem.export(outputs)
                except devmem.DeviceMemError:  # a driver without shareable memory: through the host
                    pass
        return to_blob(outputs)

    def op_label(self, msg: dict) -> dict:
        from kernelswarm.evaluate.worker.labels import profile_call
        from kernelswarm.evaluate.worker.tensors import clone_inputs

        model = self.model(msg["weight_seed"])
        inputs = clone_inputs(self.pool[0] if self.pool else [])
        share, ran = profile_call(self.bind(model, msg["weight_seed"], inputs, 0), self.device, self.kernel_names, self.tracer)
        reply = {"custom_share": share, "ran": ran, "defined": sorted(self.kernel_names)}
        if self.timed_ext[1] and self.tracer is not None and self.tracer.loaded:
            # the share of timed calls that called its extension or Triton kernels (ExtensionTracer)
            reply["timed_ext_share"] = self.timed_ext[0] / self.timed_ext[1]
        if self.timed_ext_ns[1] > 0 and self.tracer is not None and self.tracer.loaded and self.device.type == "cpu":
            # where the timed calls' time went: a CPU extension call is its own work (a GPU's is a launch)
            reply["timed_ext_time_share"] = min(1.0, self.timed_ext_ns[0] / self.timed_ext_ns[1])
        return reply

    def op_time_setup(self, msg: dict) -> dict:
        """Build the timing input pool and warm up (absorbs compilation and autotuning).

        With `calibrate` (the clean worker only), also the empty outputs: the parent times empty
        calls here, beside a candidate's timed calls in the other worker, and with a `weight_seed`
        the reference itself, paired call by call with the candidate's. With `slot`, the model is
        kept under that name beside the others and the pool is left as it is (eager and
        torch.compile timed alternately in one window)."""
        from kernelswarm.evaluate.worker.tensors import make_inputs

        if msg.get("calibrate"):
            if self.role != "reference":
                raise PermissionError("calibration calls are timed in the clean worker only")
            torch = self.torch
            # Outputs of the problem's shapes, for the empty function to copy.
            self.null_outputs = [torch.empty(tuple(s["shape"]), dtype=getattr(torch, s["dtype"]), device=self.device)
                                 for s in msg.get("spec", [])]
            if "weight_seed" not in msg:
                self.pool = []
                self.pool = [make_inputs(self.problem, s, self.device) for s in msg["pool_seeds"]]
                return {}
        model = self.compiled_reference(msg) if msg.get("compile_mode") else self.model(msg["weight_seed"])
        self.timed_seed = msg["weight_seed"]
        if self.trainer is not None:  # KS-TRAIN
            self.trainer.spec = msg.get("spec")
        settled_ms = self.backend.settle() if msg.get("warmup_ms", 100.0) > 0 else 0.0  # not before a compile-only setup
        slot = msg.get("slot")
        if slot is None or not self.pool:
            self.pool = []  # free the previous pool first
            self.pool = [make_inputs(self.problem, s, self.device) for s in msg["pool_seeds"]]
        self.timed_models[slot or "main"] = model
        return {**self._warm_up(model, msg.get("warmup_ms", 100.0)), "settled_ms": settled_ms}

    def _warm_up(self, model: Any, warmup_ms: float) -> dict:
        """At least ~`warmup_ms` of calls (compilation, autotuning, caches), in growing batches."""
        import time

        from kernelswarm.evaluate.worker.tensors import perturb

        clock = time.perf_counter
        spent, calls, batch = 0.0, 0, 1
        while calls < 3 or (spent < warmup_ms and calls < 2000):
            args = [perturb(self.pool[(calls + i) % len(self.pool)], 10**9 + calls + i) for i in range(min(batch, 3))]
            start = clock()
            for i in range(batch):
                self.bind(model, self.timed_seed, args[i % len(args)], i)()
            self.backend.synchronize()
            spent += 1000.0 * (clock() - start)
            calls += batch
            batch = min(2 * batch, 256)
        return {"warmup_calls": calls, "warmup_ms": spent}

    def op_settle(self, msg: dict) -> dict:
        """Wait until work other processes queued on the device has drained."""
        return {"settled_ms": self.backend.settle()}

    def note_memory(self) -> None:
        self.min_free_share = min(self.min_free_share, self.backend.free_share())

    def op_memory(self, msg: dict) -> dict:
        """The least share of device memory seen free before or after an op that ran the model."""
        return {"min_free_share": self.min_free_share}

    def op_drop_pool(self, msg: dict) -> dict:
        """Free the timing pool (after calibration, before the checks need the memory)."""
        self.pool, self.null_outputs, self.timed_models = [], [], {}
        return {}

    def op_prepare(self, msg: dict) -> dict:
        """Before a timed call (timed_loop.timed_loop): the previous call's outputs projected on
        vectors whose seed arrives only now, after that call returned; then this call's inputs.
        The clean worker flushes the caches next, and `time_call` with `prepared` times the call."""
        from kernelswarm.evaluate.worker.tensors import perturb

        self._keep_first(msg)
        earlier = self.op_project({"seed": msg["project_seed"]}) if "project_seed" in msg else {}
        self.prepared = perturb(self.pool[msg["pool_index"]], msg["key"])
        self.prepared_key = int(msg["key"])
        self.backend.synchronize()
        return earlier

    def op_time_call(self, msg: dict) -> dict:
        from kernelswarm.evaluate.worker.fingerprints import fingerprint
        from kernelswarm.evaluate.worker.tensors import perturb

        if msg.get("prepared"):
            args, key, self.prepared = self.prepared, self.prepared_key, []
        else:
            args, key = perturb(self.pool[msg["pool_index"]], msg["key"]), msg["key"]
        if msg.get("null"):
            empty = self.null_outputs
            fn: Callable[[], Any] = lambda: [o.clone() for o in empty]  # noqa: E731
            if self.trainer is not None:  # KS-TRAIN: the upstream a real call draws, outside its timing
                self.trainer.upstream(key)
        else:
            fn = self.bind(self.timed_models[msg.get("slot") or "main"], self.timed_seed, args, key)
        if msg.get("flush", True):  # a baseline's only; a timed call's never (request_order.TIMED_FLUSH)
            self.backend.flush_cache()
        ext_before = self.tracer.calls if self.tracer is not None else 0
        ext_ns_before = self.tracer.ext_ns if self.tracer is not None else 0
        ms, result = self.backend.time_call(fn)
        threads = self.candidate_threads()
        if self.tracer is not None and not msg.get("null"):
            self.timed_ext[0] += self.tracer.calls > ext_before
            self.timed_ext[1] += 1
            self.timed_ext_ns[0] += self.tracer.ext_ns - ext_ns_before
            self.timed_ext_ns[1] += max(0, int(ms * 1e6))
        from kernelswarm.evaluate.worker.tensors import as_outputs

        self.last_outputs = as_outputs(result)
        return {"ms": ms, "fingerprint_at_return": fingerprint(self.last_outputs), "python_threads": threads}

    def op_project(self, msg: dict) -> dict:
        """The last timed call's outputs projected on random vectors drawn from `seed`."""
        from kernelswarm.evaluate.worker.fingerprints import projections

        self._keep_first(msg)
        return {"projections": projections(self.last_outputs, int(msg["seed"]))}

    def _keep_first(self, msg: dict) -> None:
        """A `keep_slot` in a `prepare` or `project`: the last call's outputs kept first (op_keep),
        inside a request the parent charges (timed_loop.timed_loop)."""
        if "keep_slot" in msg:
            self.op_keep({"slot": msg.pop("keep_slot")})

    def op_time_burst(self, msg: dict) -> dict:
        """Calls one after another, timed only by the parent's wall clock around this request: each
        on its own keyed inputs, started on an idle device and waited for, as a timed call is (so
        the burst measures the same latency the claims do, launches included), and fingerprinted
        on the device as it returns. No cache flush: there is none for a hostile worker to skip.
        With `null`, the empty function (in the clean worker). See timing.burst_check.

        Each call's inputs are keyed by the previous call's fingerprint as well (wire/chain.py),
        read back as that call returns: no call can start before the one before it is done."""
        from kernelswarm.evaluate.wire import chain
        from kernelswarm.evaluate.worker.fingerprints import fingerprint_parts, projection_parts
        from kernelswarm.evaluate.worker.tensors import as_outputs, perturb

        torch = self.torch
        if msg.get("null") and self.role != "reference":
            raise PermissionError("calibration calls are timed in the clean worker only")
        null = bool(msg.get("null"))
        empty = self.null_outputs if null else []
        model = None if null else self.timed_models["main"]
        sync = self.backend.synchronize
        if msg.get("flush", True):  # never asked: the flush worker's, before the request (TIMED_FLUSH)
            self.backend.flush_cache()
        sync()
        fps: list[list[float]] = []
        projected: list[list[Any]] = []
        seed = int(msg.get("project_seed", 0))
        for n, (j, key) in enumerate(msg["calls"]):
            # The chained key draws everything of the call: its inputs and, in training mode, its
            # upstream gradients, as the clean worker redraws them to check it (op_fingerprints).
            key = chain.chain_key(key, fps[-1]) if fps else key
            args = perturb(self.pool[j], key)
            call = None if null else self.bind(model, self.timed_seed, args, key)
            if null and self.trainer is not None:  # KS-TRAIN: an empty call draws its upstream too
                self.trainer.upstream(key)
            sync()
            out = as_outputs([o.clone() for o in empty] if null else call())
            sync()
            p = fingerprint_parts(out)
            fps.append(torch.stack(p).tolist() if p else [])  # the next call's key needs it now
            projected.append(projection_parts(out, seed + n))
            del out, args
        return {"fingerprints": fps, "projections": [[p.tolist() for p in ps] for ps in projected],
                "python_threads": self.candidate_threads()}

    def op_keep(self, msg: dict) -> dict:
        """Keep the last timed call's outputs, as they are, to be copied out after the timing: in
        `slot` (replacing what was kept there: the parent keeps a uniform sample of all calls)."""
        slot = int(msg.get("slot", len(self.kept)))
        outputs = support.unshared(self.last_outputs)
        if 0 <= slot < len(self.kept):
            self.kept[slot] = outputs
        else:
            self.kept.append(outputs)
        return {}

    def op_kept_outputs(self, msg: dict) -> tuple[dict, bytes]:
        from kernelswarm.evaluate.worker.tensors import output_problems

        index = int(msg["index"])
        outputs, self.kept[index] = self.kept[index], None  # each is sent once, then freed
        if outputs is None:
            return {"bad_output": "these outputs were already sent"}, b""
        problem = output_problems(outputs, [], self.device)
        if problem:
            return {"bad_output": problem}, b""
        return {}, self.outputs_out(outputs, msg)

    def op_integrity(self, msg: dict) -> dict:
        """Timing primitives still the originals, and no Python threads left behind."""
        changed = [name for name, (owner, attr, original) in self.primitives.items() if getattr(owner, attr, None) is not original]
        return {"patched": changed, "python_threads": self.candidate_threads()}

    def candidate_threads(self) -> int:
        """Threads other than this one that are running, or about to run, the candidate's own code.

        Idle pool threads that libraries (inductor's compile pool) leave behind are not counted.
        The clean worker walks its threads the same way, for the reference's own module: the walk
        is inside every timed request's wall time, 0.1 ms of it with eight idle threads here, and
        the reference's requests must cost what the candidate's do (issue 13: on the H200 a copy's
        unclaimed time per call ran 0.05-0.12 ms above the reference's in 8 of 8 runs, and the
        paired check charged copies of a 0.47 ms call to 0.73-0.86x).
        """
        module = self.candidate if self.candidate is not None else self.problem
        path = getattr(module, "__file__", None)
        if not path:
            return 0
        main = threading.get_ident()
        busy = set()
        frames = sys._current_frames()
        # This thread's own frame must not stay referenced from here: the cycle it would make keeps
        # every caller's locals (the timed inputs and outputs) alive until a full garbage collection.
        frames.pop(main, None)
        frame = None
        for ident, frame in frames.items():
            while frame is not None:
                if frame.f_code.co_filename == path:
                    busy.add(ident)
                    break
                frame = frame.f_back
        del frames, frame
        for t in threading.enumerate():
            code = getattr(getattr(t, "_target", None), "__code__", None)
            if t.ident != main and code is not None and code.co_filename == path:
                busy.add(t.ident)
        return len(busy)


class _Unusable(Exception):
    """The candidate file is not a usable candidate (no ModelNew)."""
