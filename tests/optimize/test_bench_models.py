"""benchmarks/optimize_models.py's models at --size tiny (issue 15 and issue 17 item 5), before the
GPU run spends device time on them: each model is captured and cut, every task's own code is
swapped back in as its winner (through the custom operators), and the assembled model computes
what the original computes; in training mode (the benchmark's losses, dropout off, batch norms
frozen) its loss and every parameter's gradient too. timm's ResNet-50 and ViT need torchvision
(skipped where timm does not import)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

from kernelswarm.optimize.assemble import Winner, apply_to, assembled_source
from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.tasks import cut

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
pytest.importorskip("transformers")
import optimize_models as om  # noqa: E402

MODELS = ["gpt2", "bert", "resnet50", "vit", "llama", "timm_resnet50", "timm_vit"]


def _model(name: str, train: bool):
    if name.startswith("timm_"):
        pytest.importorskip("timm")
    torch.manual_seed(0)
    m, x = om.build(name, "tiny", train)
    if train:
        m.train()
        om._freeze_batchnorm(m)
    else:
        m.eval()
    return m, x


def _self_assembled(m, x, train: bool):
    """The model with every task's winner being that task's own problem code."""
    c = cut(capture(copy.deepcopy(m), x, "cpu", train=train))
    assert c.tasks, c.refused
    plans = [t.plan | {"paths": list(t.paths)} for t in c.tasks]
    wins = [Winner(t.name, t.source.replace("class Model(nn.Module):", "class ModelNew(nn.Module):", 1), "self",
                   1.0, 1.0) for t in c.tasks]
    src = assembled_source("import torch.nn as nn\nclass Model(nn.Module):\n    pass\n", "", plans, wins, train=train)
    fast = copy.deepcopy(m)
    return c, fast, apply_to(fast, src)


def _first(out):
    if isinstance(out, torch.Tensor):
        return out
    return out["last_hidden_state"] if isinstance(out, dict) else out[0]


@pytest.mark.parametrize("name", MODELS)
def test_inference_cut_and_assembly(name):
    m, x = _model(name, train=False)
    c, fast, regions = _self_assembled(m, x, train=False)
    with torch.no_grad():
        want, got = _first(m(*x)), _first(fast(*x))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert sum(r.fast_calls for r in regions) == sum(len(t.paths) for t in c.tasks)
    assert sum(r.fallback_calls for r in regions) == 0


@pytest.mark.parametrize("name", MODELS)
def test_training_cut_assembly_and_gradients(name):
    m, x = _model(name, train=True)
    c, fast, regions = _self_assembled(m, x, train=True)
    loss_fn = om.loss_for(name)
    want = loss_fn(m(*x), *x)
    want.backward()
    got = loss_fn(fast(*x), *x)
    got.backward()
    torch.testing.assert_close(got.detach(), want.detach(), rtol=1e-5, atol=1e-6)
    g_want = {k: p.grad for k, p in m.named_parameters() if p.grad is not None}
    g_got = {k: p.grad for k, p in fast.named_parameters() if p.grad is not None}
    assert set(g_got) == set(g_want) and g_want
    for k in g_want:
        torch.testing.assert_close(g_got[k], g_want[k], rtol=1e-4, atol=1e-6, msg=k)
    assert sum(r.fast_calls for r in regions) == sum(len(t.paths) for t in c.tasks)
    if name.startswith("resnet"):  # frozen batch norms: their statistics as they were
        assert all(not mod.training for mod in fast.modules() if isinstance(mod, torch.nn.BatchNorm2d))


@pytest.mark.slow
def test_compiled_assembly_gpt2():
    """torch.compile of the assembled GPT-2 (what `compile(assembled)` times on the GPU): the
    custom operators trace, the winners run inside the compiled graph, the outputs are the
    original's. Except attention's: under torch.compile transformers passes an explicit causal mask
    tensor (2x1x32x32) where eager passes None, a call unlike the verified one, so the original
    attention runs there (the fallback working as it should; a known gap for compile(assembled))."""
    m, x = _model("gpt2", train=False)
    c, fast, regions = _self_assembled(m, x, train=False)
    compiled = torch.compile(fast)
    with torch.no_grad(), torch._inductor.config.patch(compile_threads=1):
        got = _first(compiled(*x))
        want = _first(m(*x))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    ran = {r.module: r.fast_calls for r in regions}
    attn = {m2 for name, m2 in fast.named_modules() if name.endswith(".attn")}
    assert attn and all(ran[a] == 0 for a in attn)
    assert all(n == 1 for mod, n in ran.items() if mod not in attn), ran


def test_model_families():
    assert om.model_names("timm") == ["timm_resnet50", "timm_vit"]
    assert om.model_names("gpt2,timm") == ["gpt2", "timm_resnet50", "timm_vit"]
    assert om.model_names("transformers") == ["gpt2", "bert", "resnet50", "vit", "llama"]
    assert set(om.TIMM) == {"timm_resnet18", "timm_resnet50", "timm_vit"}
