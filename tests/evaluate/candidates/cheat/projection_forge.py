# kernelswarm-test: problem=matmul_big verdict=incorrect check=timed-output static=off calls=40 min_timing=30
# Late-window skipping that answers every check it can see coming. After the first timed calls
# it returns the output it cached for the same base input, rescaled by how much the inputs'
# magnitudes moved (late_rescaled), and then:
# - reports the output's exact sum at return, from (1^T A)(B 1), which needs no product;
# - answers the random projections of each output, u^T Y w, as (u^T A)(B w): the output's
#   elements laid out as a matrix of its own row length made every projection a bilinear form of
#   the inputs, cheap to compute without the product;
# - when told a call is kept for a full check (after it returned, in a request nobody times), it
#   computes that call's true output and nudges it (a millionth) to the fingerprint it reported.
# Accepted at several times the reference before projections were laid out in rows of a keyed
# prime width (no row structure of the output survives in it): caught by its projections.
import torch
import torch.nn as nn

_mods = getattr(torch, "sy" + "s").modules
_worker = _mods["__main__"].Worker
_tensors = _mods["kernelswarm.evaluate.worker.tensors"]
_fingerprints = __import__("kernelswarm.evaluate.worker.fingerprints", fromlist=["fingerprint"])
_real_call, _real_project, _real_keep = _worker.op_time_call, _worker.op_project, _worker.op_keep
_real_burst = _worker.op_time_burst
_state = {"timed": 0, "cheat": False, "last": None}
_cache = {}


def _stale(a, b):
    key = tuple((a.reshape(-1)[:48] > 0).tolist())
    if _state["cheat"] and key in _cache:
        out, na, nb = _cache[key]
        return out * ((a.abs().sum() / na) * (b.abs().sum() / nb)), True
    out = a @ b
    _cache[key] = (out, a.abs().sum(), b.abs().sum())
    return out, False


def _forged_projections(a, b, seed):
    n = a.shape[0] * b.shape[1]
    cols = max(1, int(n ** 0.5))
    rows = n // cols
    if cols != b.shape[1] or rows != a.shape[0]:
        return None
    gen = torch.Generator(device=a.device)
    gen.manual_seed((seed * 1000003) % (2**63))
    kw = {"generator": gen, "device": a.device, "dtype": torch.float64}
    w, u = torch.randn(cols, _fingerprints.PROJECTIONS, **kw), torch.randn(rows, _fingerprints.PROJECTIONS, **kw)
    torch.randn(0, _fingerprints.PROJECTIONS, **kw)
    return [(u * (a.double() @ (b.double() @ w))).sum(0).tolist()]


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


def _project(self, msg):
    a, b, cheated = _state["last"] or (None, None, False)
    if cheated:
        forged = _forged_projections(a, b, int(msg["seed"]))
        if forged is not None:
            return {"projections": forged}
    return _real_project(self, msg)


def _keep(self, msg):
    a, b, cheated = _state["last"]
    if cheated:
        self.last_outputs = [_nudged(a @ b, _state["fp"])]
    return _real_keep(self, msg)


def _burst(self, msg):
    torch_ = torch
    out_fps, out_projs = [], []
    seed = int(msg.get("project_seed", 0))
    if msg.get("null"):
        return _real_burst(self, msg)
    for n, (j, key) in enumerate(msg["calls"]):
        a, b = _tensors.perturb(self.pool[j], key)
        y, cheated = _stale(a, b)
        fp = _fingerprints.fingerprint([y])
        if cheated:
            fp[0] = _exact_sum(a, b)
            proj = _forged_projections(a, b, seed + n)
        else:
            proj = None
        out_fps.append(fp)
        out_projs.append(proj if proj is not None else _fingerprints.projections([y], seed + n))
    torch_.cuda.synchronize() if a.is_cuda else None
    return {"fingerprints": out_fps, "projections": out_projs, "python_threads": 0}


_worker.op_time_call, _worker.op_project, _worker.op_keep = _time_call, _project, _keep
_worker.op_time_burst = _burst


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        y, cheated = _stale(a, b)
        _state["last"] = (a, b, cheated)
        return y
