"""timm's models (issue 15: "timm: a ResNet and a ViT"), random weights, nothing downloaded:
ResNet-18, ResNet-50 and a two-block ViT of vit_tiny_patch16_224's widths are captured and cut
into tasks (identical blocks one task with a count), each task is a problem file that rebuilds
its region and runs at the captured shapes, and the model with every task's own code swapped
back in (through the custom operators) computes exactly what the original computes, on the CPU
and on CUDA; another batch size runs the original regions. Skipped where timm does not import
(it needs torchvision: not on the project's CPU box; on the GPU machine it does)."""

from __future__ import annotations

import copy
import socket

import pytest
import torch

from kernelswarm.optimize.assemble import Winner, apply_to, assembled_source
from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.tasks import cut
from kernelswarm.problems.load import exec_problem, load_problem

timm = pytest.importorskip("timm")

CUDA = pytest.param("cuda", marks=[pytest.mark.gpu,
                                   pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")])
MODELS = {  # name -> (timm model, keyword arguments, image side)
    "resnet18": ("resnet18", {}, 64),
    "resnet50": ("resnet50", {}, 64),
    "vit": ("vit_tiny_patch16_224", {"depth": 2, "img_size": 64}, 64),
}


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: random weights only, no hub, no cache lookup."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was tried: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _build(name: str, device: str, batch: int = 2):
    arch, kw, side = MODELS[name]
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, **kw).eval().to(device)
    return model, (torch.randn(batch, 3, side, side, device=device),)


def _cut(model, x, device):
    torch.manual_seed(0)
    return cut(capture(copy.deepcopy(model), x, device))


def _self_assembled(model, c):
    """The model with every task's winner being that task's own problem code."""
    plans = [t.plan | {"paths": list(t.paths)} for t in c.tasks]
    wins = [Winner(t.name, t.source.replace("class Model(nn.Module):", "class ModelNew(nn.Module):", 1), "self",
                   1.0, 1.0) for t in c.tasks]
    src = assembled_source("import torch.nn as nn\nclass Model(nn.Module):\n    pass\n", "", plans, wins)
    fast = copy.deepcopy(model)
    return fast, apply_to(fast, src)


@pytest.mark.parametrize("name", list(MODELS))
def test_timm_cut_into_tasks_that_run_alone(name, tmp_path, no_network):
    model, x = _build(name, "cpu")
    c = _cut(model, x, "cpu")
    assert c.tasks and not c.refused, c.refused
    by = {t.name: t for t in c.tasks}
    if name == "vit":
        assert by["blocks_attn"].count == 2 and by["blocks_mlp"].count == 2
        assert by["blocks_norm1"].count == 5  # two norms per block and the final norm: one problem
        # agents see timm's own Attention source beside the task
        assert "class Attention" in by["blocks_attn"].source and "qkv" in by["blocks_attn"].source
    else:
        blocks = [t for t in c.tasks if t.class_name in ("BasicBlock", "Bottleneck")]
        assert sum(t.count for t in blocks) == (8 if name == "resnet18" else 16)
        assert len(blocks) < sum(t.count for t in blocks)  # identical blocks deduplicated
    assert 0 < c.covered_share <= 1
    for t in c.tasks:
        path = tmp_path / f"{t.name}.py"
        path.write_text(t.source)
        p = load_problem(path)
        assert p.hash == t.hash
        mod = exec_problem(p.source, str(path), "cpu")
        out = mod.Model(*mod.get_init_inputs())(*mod.get_inputs())
        outs = out if isinstance(out, tuple) else (out,)
        assert [list(o.shape) for o in outs] == [s for s, _ in t.plan["out_specs"]]
        if t.class_name in ("BasicBlock", "Bottleneck", "Attention", "Mlp", "PatchEmbed"):
            assert "from timm." in t.source  # timm's classes are imported by the task, not copied into it


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("name", list(MODELS))
def test_timm_assembled_exactly(name, device, no_network):
    model, x = _build(name, device)
    c = _cut(model, x, device)
    fast, regions = _self_assembled(model, c)
    with torch.no_grad():
        want, got = model(*x), fast(*x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert sum(r.fast_calls for r in regions) == sum(len(t.paths) for t in c.tasks)
    assert sum(r.fallback_calls for r in regions) == 0
    # another batch size is outside what was verified: the original regions (no winner call), still exact
    ran = sum(r.fast_calls for r in regions)
    y = torch.randn(3, *x[0].shape[1:], device=device)
    with torch.no_grad():
        torch.testing.assert_close(fast(y), model(y), rtol=1e-5, atol=1e-5)
    assert sum(r.fast_calls for r in regions) == ran


@pytest.mark.parametrize("name", ["resnet50", "vit"])
def test_timm_training_gradients(name, no_network):
    """Training mode (drop rates 0, batch norms frozen as when fine-tuning): the assembled model's
    loss and every parameter's gradient are the original's."""
    arch, kw, side = MODELS[name]
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, drop_rate=0.0, drop_path_rate=0.0, **kw).train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    x = (torch.randn(2, 3, side, side),)
    c = cut(capture(copy.deepcopy(model), x, "cpu", train=True))
    assert c.tasks, c.refused
    plans = [t.plan | {"paths": list(t.paths)} for t in c.tasks]
    wins = [Winner(t.name, t.source.replace("class Model(nn.Module):", "class ModelNew(nn.Module):", 1), "self",
                   1.0, 1.0) for t in c.tasks]
    src = assembled_source("import torch.nn as nn\nclass Model(nn.Module):\n    pass\n", "", plans, wins, train=True)
    fast = copy.deepcopy(model)
    regions = apply_to(fast, src)
    labels = torch.tensor([3, 7])
    want = torch.nn.functional.cross_entropy(model(*x), labels)
    want.backward()
    got = torch.nn.functional.cross_entropy(fast(*x), labels)
    got.backward()
    torch.testing.assert_close(got.detach(), want.detach(), rtol=1e-5, atol=1e-6)
    g_want = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    g_got = {k: p.grad for k, p in fast.named_parameters() if p.grad is not None}
    assert set(g_got) == set(g_want) and g_want
    for k, g in g_want.items():
        torch.testing.assert_close(g_got[k], g, rtol=1e-4, atol=1e-6, msg=k)
    assert sum(r.fast_calls for r in regions) == sum(len(t.paths) for t in c.tasks)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_timm_resnet18_optimized_end_to_end_on_cuda(tmp_path, no_network):
    """The whole pipeline on a timm model on the GPU (built-in compile agent, a time budget):
    the result is correct, never slower than the faster of eager and torch.compile, and loads
    onto a fresh instance. Its time budget fits scripts/gpu_batch.sh's default per-test limit (240 s)."""
    import kernelswarm

    model, x = _build("resnet18", "cuda", batch=8)
    opt = kernelswarm.optimize(model, x, device="cuda", agents="compile", db=str(tmp_path / "ks.db"),
                               timeout=120, time_budget=180, jobs=2)
    e = opt.end_to_end
    print("choice", opt.choice, "vs eager", opt.speedup_vs_eager, "vs compile", opt.speedup_vs_compile,
          "tasks", [(t.name, t.count, round(t.share, 3), t.agent, t.speedup) for t in opt.tasks], "notes", e.notes)
    assert opt.correct
    assert opt.tasks and any(t.count > 1 for t in opt.tasks)
    assert e.result_ms <= min(v for v in (e.eager_ms, e.compile_ms) if v is not None)
    opt.save(tmp_path / "out")
    fast = kernelswarm.load(_build("resnet18", "cuda", batch=8)[0], tmp_path / "out")
    with torch.no_grad():
        torch.testing.assert_close(fast(*x), model(*x), rtol=1e-3, atol=1e-3)
