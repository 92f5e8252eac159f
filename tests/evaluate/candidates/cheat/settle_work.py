# kernelswarm-test: problem=matmul_slow verdict=accepted|rejected|incorrect static=off calls=40 min_timing=20 max_speedup=1.7
# Late-window skipping that does the skipped work where no clock looks. After the first timed
# calls it returns the output it cached for the same base input, rescaled by how much the
# inputs' magnitudes moved (late_rescaled; its magnitude sums at return are within 1e-4, and its
# exact sum comes from (1^T A)(B 1)), and computes the true output only later, in a request whose
# time nobody charged: the `settle` the evaluator sent before each call's inputs (a no-op on a
# CPU, there to pay a device switch outside both measures on a GPU). The random projections of
# each output, asked for with the next call's inputs, are then right; a call kept for a full
# check gets its true output nudged (a millionth) to the fingerprint it reported at return.
# Its claims stay above 20 ms (it spins), so that no bursts are timed. Accepted at 2.30x (this
# 2-core CPU, under load) with every check passed. On a CPU the candidate's worker is no longer
# sent `settle` (it had nothing to wait for there): the true output is computed inside the next
# call's `prepare`, which is charged: 1.14x, its 24 ms claims charged 58.4 ms.
import torch
import torch.nn as nn

_mods = getattr(torch, "sy" + "s").modules
_worker = _mods["__main__"].Worker
_tensors = _mods["kernelswarm.evaluate.worker.tensors"]
_real_call, _real_project, _real_keep = _worker.op_time_call, _worker.op_project, _worker.op_keep
_real_settle = _worker.op_settle
_real_burst = _worker.op_time_burst
_clock = getattr(torch, "sy" + "s").modules["time"].perf_counter
_state = {"timed": 0, "cheat": False, "last": None}
_cache = {}


def _stale(a, b):
    key = tuple((a.reshape(-1)[:48] > 0).tolist())
    if _state["cheat"] and key in _cache:
        start = _clock()
        out, na, nb = _cache[key]
        out = out * ((a.abs().sum() / na) * (b.abs().sum() / nb))
        while _clock() - start < 0.021:  # claims of at least 20 ms: no bursts are timed
            pass
        return out, True
    out = a @ b
    _cache[key] = (out, a.abs().sum(), b.abs().sum())
    return out, False


def _exact_sum(a, b):
    return float(a.double().sum(0) @ b.double().sum(1))


def _nudged(y, fp):
    """The true output, moved by about a millionth so that its fingerprint is `fp`."""
    y = y.clone()
    flat = y.view(-1)
    sample = torch.zeros_like(flat, dtype=torch.bool)
    sample[::7] = True
    flat[sample] *= fp[2] / float(flat[sample].abs().double().sum())
    rest = ~sample
    # The rest's positive and negative parts scaled apart: both its sum and its magnitudes match.
    pos, neg = rest & (flat > 0), rest & (flat < 0)
    mag, signed = fp[1] - fp[2], fp[0] - float(flat[sample].double().sum())
    sp, sq = float(flat[pos].double().sum()), -float(flat[neg].double().sum())
    flat[pos] *= (mag + signed) / (2 * sp)
    flat[neg] *= (mag - signed) / (2 * sq)
    # What float32 rounding left of the sum, spread over many small elements outside the sample
    # (fine rounding there; half on positive ones, half on negative: their magnitudes' sum
    # stays), then the little left on one of them.
    small = rest & (flat.abs() > 1.0) & (flat.abs() < 4.0)
    p_idx = torch.nonzero(small & (flat > 0))[:10000, 0]
    n_idx = torch.nonzero(small & (flat < 0))[:10000, 0]
    d = fp[0] - float(flat.double().sum())
    flat[p_idx] += d / 2 / len(p_idx)
    flat[n_idx] += d / 2 / len(n_idx)
    flat[p_idx[0]] += fp[0] - float(flat.double().sum())
    return y


def _time_call(self, msg):
    _state["timed"] += 1
    _state["cheat"] = _state["timed"] > 12
    reply = _real_call(self, msg)
    a, b, cheated = _state["last"]
    if cheated:
        reply["fingerprint_at_return"][0] = _exact_sum(a, b)
    _state["fp"] = reply["fingerprint_at_return"]
    return reply


def _settle(self, msg):
    last = _state["last"]
    if last is not None and last[2]:  # the last call's true output, computed where no clock looks
        a, b, _ = last
        self.last_outputs = [a @ b]
        _state["last"] = (a, b, False)
    return _real_settle(self, msg)


def _project(self, msg):
    # The last call of a window is projected in a request of its own, as untimed (inside a
    # `prepare` this is charged: only where no settle came first).
    _settle_only(self)
    return _real_project(self, msg)


def _settle_only(self):
    last = _state["last"]
    if last is not None and last[2]:
        a, b, _ = last
        self.last_outputs = [a @ b]
        _state["last"] = (a, b, False)


def _keep(self, msg):
    a, b, cheated = _state["last"]
    if cheated:
        _state["last"] = (a, b, False)
        self.last_outputs = [_nudged(a @ b, _state["fp"])]
    return _real_keep(self, msg)


_worker.op_time_call, _worker.op_settle, _worker.op_keep = _time_call, _settle, _keep
_worker.op_project = _project


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        y, cheated = _stale(a, b)
        _state["last"] = (a, b, cheated)
        return y
