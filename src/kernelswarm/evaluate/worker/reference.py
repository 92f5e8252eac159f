"""The reference (clean) worker: never imports candidate code. It computes the reference's
outputs and compares the candidate's with them, times the baselines and the calibration calls
beside the candidate's timed calls, and flushes the caches before each of them."""

from __future__ import annotations

import time
from typing import Any

from kernelswarm.evaluate.wire.devfd import DeviceFd
from kernelswarm.evaluate.worker.base import Worker


class ReferenceWorker(Worker):
    """The clean worker (role `reference`)."""

    def compiled_reference(self, msg: dict) -> Any:
        """torch.compile of the reference, compiled here and now: in parallel while its first call
        forces the whole compile, then with every compile pool gone (compilepool.py) before any
        warm-up or timed call; a later recompile compiles in-process."""
        import torch._inductor.config as inductor_config

        from kernelswarm.evaluate.worker import compilepool
        from kernelswarm.evaluate.worker.tensors import make_inputs, perturb

        key = (msg["compile_mode"], msg["weight_seed"])
        if key in self.compiled:  # kept: a compile-only setup comes before the timed one
            return self.compiled[key]
        inductor_config.compile_threads = 1
        model = self.model(msg["weight_seed"])
        compiled = self.torch.compile(model, mode=None if msg["compile_mode"] == "default" else msg["compile_mode"])
        if self.trainer is not None and msg.get("spec") is not None:  # KS-TRAIN: the upstream of a timed call
            self.trainer.spec = msg["spec"]
        seeds = msg.get("pool_seeds") or [0]
        # Inputs made as every warm-up and timed call's are (perturbed copies), so that the guards
        # compiled here are the ones the timed calls pass.
        inputs = perturb(self.pool[0] if self.pool else make_inputs(self.problem, seeds[0], self.device), 10**9 - 1)
        with compilepool.parallel_compile(compilepool.pool_threads()):
            self.bind(compiled, msg["weight_seed"], inputs, 10**9 - 1)()
            self.backend.synchronize()
        self.compiled[key] = compiled
        return compiled

    def op_flush(self, msg: dict) -> dict:
        """Clean worker only: flush the caches for the candidate's next timed call (its process is
        stopped meanwhile), with this process's own objects, which no candidate code can reach."""
        if self.role != "reference":
            raise PermissionError("the flush before a candidate's timed call is the clean worker's")
        start = time.perf_counter()
        self.backend.flush_cache()
        self.backend.synchronize()
        return {"flush_ms": 1000.0 * (time.perf_counter() - start)}

    def op_check(self, msg: dict, blob: bytes) -> dict:
        """Reference side: recompute the expected outputs for the candidate's inputs and compare."""
        from kernelswarm.evaluate.worker.compare import compare
        from kernelswarm.evaluate.worker.structured import judged
        from kernelswarm.evaluate.worker.tensors import (
            as_outputs, clone_inputs, from_blob, make_inputs, perturb, to_device, trial_inputs)

        if "pool_index" in msg:
            base = make_inputs(self.problem, msg["pool_seed"], self.device)
            inputs = perturb(base, msg["key"])
        else:
            inputs = trial_inputs(self.problem, msg, self.device)
        try:
            # On the device at once: compared there, and fingerprinted there as at return, not on
            # the host (a CPU's float64 sums are the slow part of a fingerprint: fingerprints._host_sums).
            if isinstance(blob, DeviceFd):  # left on the device by the candidate's worker: copied here
                from kernelswarm.evaluate.worker import devmem

                cands = devmem.receive(blob, self.device)
            else:
                cands = to_device(from_blob(blob), self.device)
        except Exception as e:
            return {"match": False, "detail": f"unreadable outputs ({e.__class__.__name__})", "rel_error": None}
        model = self.model(msg["weight_seed"])
        key = msg["key"] if "pool_index" in msg else msg["input_seed"]
        refs = as_outputs(self.bind(model, msg["weight_seed"], clone_inputs(inputs), key)())
        refs64, fp64_note = self._fp64_reference(model, clone_inputs(inputs), msg["weight_seed"], key)
        nudge = self._nudged_reference(model, msg, inputs, key) if msg.get("structured") else []
        if len(cands) != len(refs):
            return {"match": False, "detail": f"{len(cands)} outputs, expected {len(refs)}", "rel_error": None}
        worst, details = 0.0, []
        names = [s.get("name", f"output {i}") for i, s in enumerate(self.trainer.spec)] if self.trainer else []
        ref_rel = allowed = 0.0
        roles = [s.get("role", "output") for s in self.trainer.spec] if self.trainer else []
        skipped = 0
        for i, (c, r) in enumerate(zip(cands, refs)):
            r64 = refs64[i] if refs64 is not None else None
            c, r, r64 = c.to(r.device), r.detach(), r64.detach() if r64 is not None else None
            if msg.get("structured"):  # what the structured trial judges: structured.py
                parts = None if i < len(roles) and roles[i] == "grad" else judged(c, r, r64, nudge[i].detach() if i < len(nudge) else None)
                if parts is None:
                    skipped += 1
                    continue
                c, r, r64 = parts
            result = compare(c, r, r64, msg["precision"])
            worst = max(worst, result.rel_error)
            ref_rel, allowed = max(ref_rel, result.ref_rel), max(allowed, result.allowed_norm)
            if not result.ok:
                name = names[i] if i < len(names) else f"output {i}"
                unset = " (never set: its .grad stayed None)" if name in msg.get("missing_grads", []) else ""
                where = f"{name}{unset}: " if len(refs) > 1 else ""
                return {"match": False, "detail": where + result.detail, "rel_error": result.rel_error}
            details.append(result.detail)
        if "fingerprint_at_return" in msg:
            from kernelswarm.evaluate.worker.fingerprints import fingerprint, same_fingerprint

            if not same_fingerprint(msg["fingerprint_at_return"], fingerprint(cands)):
                return {"match": False, "detail": "outputs changed after the call returned (work finished in the background)", "rel_error": worst}
        if skipped:
            details.append(f"{skipped} integer outputs or gradients not judged on structured inputs")
        return {"match": True, "detail": "; ".join(details) + fp64_note, "rel_error": worst, "ref_rel": ref_rel,
                "allowed_norm": allowed}

    def op_fingerprints(self, msg: dict) -> dict:
        """Reference side: every timed (and sampled burst) call's expected output, against the
        magnitudes the candidate reported at return and the projections it gave once it learned
        their seed (fingerprints.projection_parts; the bound is compare.projection_allowance)."""
        from kernelswarm.evaluate.worker.compare import projection_allowance, projection_error
        from kernelswarm.evaluate.worker.fingerprints import expected_checks, fingerprint, magnitudes, same_fingerprint
        from kernelswarm.evaluate.worker.tensors import as_outputs, make_inputs, perturb

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
            projected = call.get("projections") is not None
            # One float64 pass over the expected output gives its projections, norms and magnitudes.
            if projected:
                expected, norms, mags = expected_checks(want, call["project_seed"])
            else:
                expected, norms, mags = [], [], magnitudes(fingerprint(want))
            if not same_fingerprint(mags, magnitudes(got), rel=msg["tolerance"]):
                return {"match": False, "detail": f"{label}: output magnitudes {magnitudes(got)} do not match the "
                                                  f"expected {mags} (a stale or skipped result)"}
            if not projected:
                continue
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
                                         f"of the norm (bound {bound:.2g})", "worst": worst, "bound": bound}

    def _nudged_reference(self, model: Any, msg: dict, inputs: list[Any], key: int) -> list[Any]:
        """The structured trial's float32 reference on inputs nudged by an ulp (structured.judged);
        none where it cannot be had (the trial is then judged against the reference alone)."""
        from kernelswarm.evaluate.worker.structured import nudged
        from kernelswarm.evaluate.worker.tensors import as_outputs

        try:
            return as_outputs(self.bind(model, msg["weight_seed"], nudged(inputs, key), key)())
        except Exception:
            return []

    def _fp64_reference(self, model: Any, inputs: list[Any], seed: int = 0, key: int = 0) -> tuple[list[Any] | None, str]:
        import copy

        from kernelswarm.evaluate.worker.tensors import as_outputs

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
