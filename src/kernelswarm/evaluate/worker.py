"""A worker process: `python -m kernelswarm.evaluate.worker ROLE READ_FD WRITE_FD`.

ROLE is `candidate` (imports one candidate, runs what the parent asks, reports raw outputs
and times) or `reference` (never sees candidate code: computes reference outputs, compares,
times the baselines). Only the standard library, torch and this package's small worker-side
modules are imported here. The parent decides every verdict.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable

from kernelswarm.evaluate import support
from kernelswarm.evaluate.protocol import Channel, ChannelClosed


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
        self.kernel_names: set[str] = set()
        self.candidate: types.ModuleType | None = None
        # The least device memory seen free around the model's runs: libraries pick algorithms on
        # a first call (cuDNN falls back to one with a smaller workspace when memory is short, and
        # keeps that choice), so a timing made while others held the memory may be unfairly slow.
        self.min_free_share = 1.0
        # KS-TRAIN: in training mode every model call is forward plus backward (evaluate/train.py).
        self.trainer = None
        self.timed_seed = 0  # weight seed of the timed model
        if init.get("mode") == "train":
            from kernelswarm.evaluate.train import Trainer

            self.trainer = Trainer(self.problem, self.device)

    def bind(self, model: Any, seed: int, args: list[Any], key: int) -> Callable[[], Any]:
        """One call of the model built under `seed` on `args`, ready to run: the forward, or in
        training mode forward plus backward from an upstream gradient drawn from `key`."""
        if self.trainer is None:
            return lambda: model(*args)
        return self.trainer.bind(model, seed, args, key)

    # -- building modules -------------------------------------------------------------------
    def reference_model(self, seed: int) -> Any:
        from kernelswarm.evaluate.tensors import seed_all

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

    def _candidate_model(self, seed: int) -> Any:
        from kernelswarm.evaluate.tensors import seed_all

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
        from kernelswarm.evaluate.labels import ExtensionTracer, kernel_names

        if self.device.type == "cpu":
            self.tracer = ExtensionTracer()
        self.kernel_names = kernel_names(source)
        module = types.ModuleType("kernelswarm_candidate")
        module.__file__ = path
        sys.modules["kernelswarm_candidate"] = module  # triton needs the defining module importable
        exec(compile(source, path, "exec"), module.__dict__)
        if not hasattr(module, "ModelNew"):
            raise _Unusable("the candidate defines no `ModelNew`")
        self.candidate = module

    # -- ops ----------------------------------------------------------------------------------
    def op_spec(self, msg: dict) -> dict:
        """Output shapes and dtypes from a throwaway input, and the work for the speed-of-light floor."""
        from kernelswarm.evaluate.tensors import as_outputs, make_inputs, spec_of

        model = self.reference_model(msg["seed"])
        inputs = make_inputs(self.problem, msg["seed"], self.device)
        if self.trainer is not None:  # KS-TRAIN
            from kernelswarm.evaluate.train import NothingToTrain

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
            work = support.cached_work(msg.get("work_key"), lambda: sol.count_work(model, inputs))
            peaks = sol.cached_peaks(self.device_name)
            reply["floor_ms"] = sol.floor_ms(work, peaks, msg.get("precision", "fp32"))
            reply["sol_ms"] = sol.sol_ms(work, peaks, msg.get("precision", "fp32"))
            reply["work"] = {"flops": work.flops, "bytes": work.bytes}
        except Exception as e:  # the floor is a plausibility check; without it the rest still holds
            reply["floor_error"] = f"{e.__class__.__name__}: {e}"
        return reply

    def op_sandbox(self, msg: dict) -> dict:
        """Before the candidate's code is imported: from now on this process and its children may
        write only inside this worker's folder (see sandbox.py)."""
        if self.role != "candidate":
            raise PermissionError("only the candidate's worker is sandboxed (the clean one writes the caches)")
        from kernelswarm.evaluate import sandbox

        return {"sandbox": sandbox.candidate_sandbox(self.device_name)}

    def op_import(self, msg: dict) -> dict:
        from kernelswarm.evaluate.tensors import poison_free_memory

        poison_free_memory(self.device)
        self.import_candidate(msg["source"], msg["path"])
        return {}

    def op_run(self, msg: dict) -> tuple[dict, bytes]:
        """One correctness trial: fresh inputs, poisoned memory, outputs returned raw."""
        from kernelswarm.evaluate.tensors import (
            as_outputs, clone_inputs, fingerprint, make_inputs, output_problems, poison, same_fingerprint, to_blob)

        from kernelswarm.evaluate.train import TrainContract

        try:
            model = self.model(msg["weight_seed"])
            inputs = make_inputs(self.problem, msg["input_seed"], self.device, msg.get("scale", 1.0), msg.get("mixed"))
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
        return reply, to_blob(outputs)

    def op_label(self, msg: dict) -> dict:
        from kernelswarm.evaluate.labels import profile_call
        from kernelswarm.evaluate.tensors import clone_inputs

        model = self.model(msg["weight_seed"])
        inputs = clone_inputs(self.pool[0] if self.pool else [])
        share, ran = profile_call(self.bind(model, msg["weight_seed"], inputs, 0), self.device, self.kernel_names, self.tracer)
        return {"custom_share": share, "ran": ran, "defined": sorted(self.kernel_names)}

    def op_time_setup(self, msg: dict) -> dict:
        """Build the timing input pool and warm up (absorbs compilation and autotuning).

        With `calibrate` (the clean worker only), also the empty outputs: the parent times empty
        calls here, beside a candidate's timed calls in the other worker, and with a `weight_seed`
        the reference itself, paired call by call with the candidate's. With `slot`, the model is
        kept under that name beside the others and the pool is left as it is (eager and
        torch.compile timed alternately in one window)."""
        from kernelswarm.evaluate.tensors import make_inputs

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

        from kernelswarm.evaluate.tensors import perturb

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

    def compiled_reference(self, msg: dict) -> Any:
        import torch._inductor.config as inductor_config

        # Compile in this process: a pool of compile workers starting up in the background would
        # share the cores with the timed calls (the built-in compile candidates do the same).
        inductor_config.compile_threads = 1
        key = (msg["compile_mode"], msg["weight_seed"])
        if key not in self.compiled:  # kept: a compile-only setup comes before the timed one
            model = self.model(msg["weight_seed"])
            self.compiled[key] = self.torch.compile(model, mode=None if msg["compile_mode"] == "default" else msg["compile_mode"])
        return self.compiled[key]

    def op_prepare(self, msg: dict) -> dict:
        """Before a timed call (timing._timed_loop): the previous call's outputs projected on
        vectors whose seed arrives only now, after that call returned; then this call's inputs.
        The clean worker flushes the caches next, and `time_call` with `prepared` times the call."""
        from kernelswarm.evaluate.tensors import perturb

        earlier = self.op_project({"seed": msg["project_seed"]}) if "project_seed" in msg else {}
        self.prepared = perturb(self.pool[msg["pool_index"]], msg["key"])
        self.prepared_key = int(msg["key"])
        self.backend.synchronize()
        return earlier

    def op_time_call(self, msg: dict) -> dict:
        from kernelswarm.evaluate.tensors import fingerprint, perturb

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
        if msg.get("flush", True):  # see timing.flush_outside: the candidate's is done by the clean worker
            self.backend.flush_cache()
        ms, result = self.backend.time_call(fn)
        threads = self.candidate_threads()
        from kernelswarm.evaluate.tensors import as_outputs

        self.last_outputs = as_outputs(result)
        return {"ms": ms, "fingerprint_at_return": fingerprint(self.last_outputs), "python_threads": threads}

    def op_flush(self, msg: dict) -> dict:
        """Clean worker only: flush the caches for the candidate's next timed call (its process is
        stopped meanwhile), with this process's own objects, which no candidate code can reach."""
        if self.role != "reference":
            raise PermissionError("the flush before a candidate's timed call is the clean worker's")
        start = time.perf_counter()
        self.backend.flush_cache()
        self.backend.synchronize()
        return {"flush_ms": 1000.0 * (time.perf_counter() - start)}

    def op_project(self, msg: dict) -> dict:
        """The last timed call's outputs projected on random vectors drawn from `seed`."""
        from kernelswarm.evaluate.tensors import projections

        return {"projections": projections(self.last_outputs, int(msg["seed"]))}

    def op_time_burst(self, msg: dict) -> dict:
        """Calls one after another, timed only by the parent's wall clock around this request: each
        on its own keyed inputs, started on an idle device and waited for, as a timed call is (so
        the burst measures the same latency the claims do, launches included), and fingerprinted
        on the device as it returns. No cache flush: there is none for a hostile worker to skip.
        With `null`, the empty function (in the clean worker). See timing.burst_check."""
        from kernelswarm.evaluate.tensors import as_outputs, fingerprint_parts, perturb, projection_parts

        torch = self.torch
        if msg.get("null") and self.role != "reference":
            raise PermissionError("calibration calls are timed in the clean worker only")
        null = bool(msg.get("null"))
        empty = self.null_outputs if null else []
        model = None if null else self.timed_models["main"]
        sync = self.backend.synchronize
        if msg.get("flush", True):  # on a CPU the clean worker's, before the request (timing.burst_check)
            self.backend.flush_cache()
        sync()
        parts: list[Any] = []
        projected: list[list[Any]] = []
        counts: list[int] = []
        seed = int(msg.get("project_seed", 0))
        for n, (j, key) in enumerate(msg["calls"]):
            args = perturb(self.pool[j], key)
            call = None if null else self.bind(model, self.timed_seed, args, key)
            if null and self.trainer is not None:  # KS-TRAIN: an empty call draws its upstream too
                self.trainer.upstream(key)
            sync()
            out = as_outputs([o.clone() for o in empty] if null else call())
            sync()
            p = fingerprint_parts(out)
            parts.extend(p)
            counts.append(len(p))
            projected.append(projection_parts(out, seed + n))
            del out, args
        flat = torch.stack(parts).tolist() if parts else []  # the fingerprints, read once
        fps, at = [], 0
        for n in counts:
            fps.append(flat[at:at + n])
            at += n
        return {"fingerprints": fps, "projections": [[p.tolist() for p in ps] for ps in projected],
                "python_threads": self.candidate_threads()}

    def op_keep(self, msg: dict) -> dict:
        """Keep the last timed call's outputs, as they are, to be copied out after the timing: in
        `slot` (replacing what was kept there: the parent keeps a uniform sample of all calls)."""
        slot = int(msg.get("slot", len(self.kept)))
        if 0 <= slot < len(self.kept):
            self.kept[slot] = self.last_outputs
        else:
            self.kept.append(self.last_outputs)
        return {}

    def op_kept_outputs(self, msg: dict) -> tuple[dict, bytes]:
        from kernelswarm.evaluate.tensors import output_problems, to_blob

        index = int(msg["index"])
        outputs, self.kept[index] = self.kept[index], None  # each is sent once, then freed
        if outputs is None:
            return {"bad_output": "these outputs were already sent"}, b""
        problem = output_problems(outputs, [], self.device)
        if problem:
            return {"bad_output": problem}, b""
        return {}, to_blob(outputs)

    def op_integrity(self, msg: dict) -> dict:
        """Timing primitives still the originals, and no Python threads left behind."""
        changed = [name for name, (owner, attr, original) in self.primitives.items() if getattr(owner, attr, None) is not original]
        return {"patched": changed, "python_threads": self.candidate_threads()}

    def candidate_threads(self) -> int:
        """Threads other than this one that are running, or about to run, the candidate's own code.

        Idle pool threads that libraries (inductor's compile pool) leave behind are not counted.
        """
        if self.candidate is None:
            return 0
        path = self.candidate.__file__
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

    def op_check(self, msg: dict, blob: bytes) -> dict:
        """Reference side: recompute the expected outputs for the candidate's inputs and compare."""
        from kernelswarm.evaluate.compare import compare
        from kernelswarm.evaluate.tensors import as_outputs, clone_inputs, from_blob, make_inputs, perturb

        if "pool_index" in msg:
            base = make_inputs(self.problem, msg["pool_seed"], self.device)
            inputs = perturb(base, msg["key"])
        else:
            inputs = make_inputs(self.problem, msg["input_seed"], self.device, msg.get("scale", 1.0), msg.get("mixed"))
        try:
            cands = from_blob(blob)
        except Exception as e:
            return {"match": False, "detail": f"unreadable outputs ({e.__class__.__name__})", "rel_error": None}
        model = self.model(msg["weight_seed"])
        key = msg["key"] if "pool_index" in msg else msg["input_seed"]
        refs = as_outputs(self.bind(model, msg["weight_seed"], clone_inputs(inputs), key)())
        refs64, fp64_note = self._fp64_reference(model, clone_inputs(inputs), msg["weight_seed"], key)
        if len(cands) != len(refs):
            return {"match": False, "detail": f"{len(cands)} outputs, expected {len(refs)}", "rel_error": None}
        worst, details = 0.0, []
        names = [s.get("name", f"output {i}") for i, s in enumerate(self.trainer.spec)] if self.trainer else []
        ref_rel = allowed = 0.0
        for i, (c, r) in enumerate(zip(cands, refs)):
            r64 = refs64[i] if refs64 is not None else None
            result = compare(c.to(r.device), r.detach(), r64.detach() if r64 is not None else None, msg["precision"])
            worst = max(worst, result.rel_error)
            ref_rel, allowed = max(ref_rel, result.ref_rel), max(allowed, result.allowed_norm)
            if not result.ok:
                name = names[i] if i < len(names) else f"output {i}"
                unset = " (never set: its .grad stayed None)" if name in msg.get("missing_grads", []) else ""
                where = f"{name}{unset}: " if len(refs) > 1 else ""
                return {"match": False, "detail": where + result.detail, "rel_error": result.rel_error}
            details.append(result.detail)
        if "fingerprint_at_return" in msg:
            from kernelswarm.evaluate.tensors import fingerprint, same_fingerprint

            if not same_fingerprint(msg["fingerprint_at_return"], fingerprint(cands)):
                return {"match": False, "detail": "outputs changed after the call returned (work finished in the background)", "rel_error": worst}
        return {"match": True, "detail": "; ".join(details) + fp64_note, "rel_error": worst, "ref_rel": ref_rel,
                "allowed_norm": allowed}

    def op_fingerprints(self, msg: dict) -> dict:
        """Reference side: every timed (and sampled burst) call's expected output, against the
        magnitudes the candidate reported at return and the projections it gave once it learned
        their seed (tensors.projection_parts; the bound is compare.projection_allowance)."""
        from kernelswarm.evaluate.compare import projection_allowance, projection_error
        from kernelswarm.evaluate.tensors import (
            as_outputs, fingerprint, frobenius, magnitudes, make_inputs, perturb, projections, same_fingerprint)

        model = self.model(msg["weight_seed"])
        bound = projection_allowance(float(msg.get("allowed_norm", 0.0)), float(msg.get("ref_rel", 0.0)))
        bases: dict[int, list[Any]] = {}
        worst = 0.0
        for call in msg["calls"]:  # timing.CheckedCall as a dict
            j, label = call["pool_index"], call["label"]
            if j not in bases:
                bases[j] = make_inputs(self.problem, msg["pool_seeds"][j], self.device)
            want = as_outputs(self.bind(model, msg["weight_seed"], perturb(bases[j], call["key"]), call["key"])())
            got = call["fingerprint"]
            if not same_fingerprint(magnitudes(fingerprint(want)), magnitudes(got), rel=msg["tolerance"]):
                return {"match": False, "detail": f"{label}: output magnitudes {magnitudes(got)} do not match the "
                                                  f"expected {magnitudes(fingerprint(want))} (a stale or skipped result)"}
            if call.get("projections") is None:
                continue
            expected = projections(want, call["project_seed"])
            norms = frobenius(want)
            if len(call["projections"]) != len(expected):
                return {"match": False, "detail": f"{label}: projections of {len(call['projections'])} outputs, "
                                                  f"expected {len(expected)}"}
            for k, (g, w, norm) in enumerate(zip(call["projections"], expected, norms)):
                err = projection_error(g, w, norm)
                worst = max(worst, err)
                if err > bound:
                    where = f"output {k}: " if len(expected) > 1 else ""
                    return {"match": False, "detail": f"{label}: {where}random projections of the output are "
                                                      f"{err:.3g} of its norm away from the reference's (bound {bound:.3g}): "
                                                      "a wrong, stale or lower-precision result"}
        return {"match": True, "detail": f"{len(msg['calls'])} timed outputs; projections within {worst:.2g} "
                                         f"of the norm (bound {bound:.2g})"}

    def _fp64_reference(self, model: Any, inputs: list[Any], seed: int = 0, key: int = 0) -> tuple[list[Any] | None, str]:
        import copy

        from kernelswarm.evaluate.tensors import as_outputs

        torch = self.torch
        try:
            if self.trainer is not None:  # KS-TRAIN: forward and backward in float64
                outs = self.trainer.fp64(model, seed, inputs, key)
                if all(o.dtype == torch.float64 for o in outs if o.is_floating_point()):
                    return outs, ""
                return None, " (no float64 reference: compared against float32 with a wider floor)"
            m64 = copy.deepcopy(model).double()
            x64 = [x.double() if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs]
            previous = torch.get_default_dtype()
            torch.set_default_dtype(torch.float64)
            try:
                outs = as_outputs(m64(*x64))
            finally:
                torch.set_default_dtype(previous)
            if all(o.dtype == torch.float64 for o in outs if o.is_floating_point()):
                return outs, ""
            return None, " (no float64 reference: compared against float32 with a wider floor)"
        except Exception as e:
            return None, f" (no float64 reference: {e.__class__.__name__}; compared against float32 with a wider floor)"


# Ops that run the model (and so may make a library's first, lasting choice of algorithm).
_MODEL_OPS = frozenset({"spec", "run", "label", "time_setup", "check", "fingerprints"})


class _Unusable(Exception):
    """The candidate file is not a usable candidate (no ModelNew)."""


def main() -> None:
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), os.getppid())


def serve(role: str, read_fd: int, write_fd: int, peer_pid: int) -> None:
    """Answer the parent's requests until it closes the channel. `peer_pid`: the process whose
    sealed files this one opens (the evaluator; its parent, unless forked by a zygote)."""
    chan = Channel(read_fd, write_fd, peer_pid=peer_pid)
    worker: Worker | None = None
    while True:
        try:
            msg, blob = chan.recv()
        except ChannelClosed:
            return
        op = msg.get("op")
        re = {"re": msg.get("id")}  # every reply names the request it answers (replies.py)
        started = time.perf_counter()
        try:
            if op == "init":
                worker = Worker(role, chan, msg)
                reply, out_blob = {}, b""
            elif op == "quit":
                chan.send({"ok": True, **re})
                os._exit(0)
            else:
                if op == "import" and role != "candidate":
                    raise PermissionError("the reference worker never imports candidate code")
                handler = getattr(worker, f"op_{op}")
                if op in _MODEL_OPS:
                    worker.note_memory()
                result = handler(msg, blob) if op == "check" else handler(msg)
                if op in _MODEL_OPS:
                    worker.note_memory()
                reply, out_blob = result if isinstance(result, tuple) else (result, b"")
            chan.send({"ok": True, **reply, **re, "op_s": time.perf_counter() - started}, out_blob)
        except _Unusable as e:
            chan.send({"ok": False, "kind": "compile_error", "error": str(e), **re})
        except BaseException as e:  # report every failure to the parent, which decides what it means
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-6000:]
            kind = "compile_error" if op == "import" else support.classify(e)  # failing to load is failing to build
            chan.send({"ok": False, "kind": kind, "error": f"{e.__class__.__name__}: {e}"[:2000], "traceback": tb, **re})


if __name__ == "__main__":
    main()
