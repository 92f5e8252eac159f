"""The hand-written Triton kernels that benchmarks/optimize_models.py brings for whole models
(issue 15), run here under Triton's interpreter: the ResNet conv-layer template filled for each
ResNetConvLayer task of a small ResNet computes what the region computes, from the region's own
weights and statistics (the names the user's weights load by)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

_SCRIPT = r'''
import copy, sys, torch
sys.path.insert(0, "benchmarks")
import optimize_models as om
from pathlib import Path
from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.tasks import cut

torch.manual_seed(0)
m, x = om.build("resnet50", "tiny")
m.eval()
with torch.no_grad():  # statistics and affine terms unlike a fresh batch norm's
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.5); mod.running_var.uniform_(0.5, 2.0)
            mod.weight.normal_(1, 0.2); mod.bias.normal_(0, 0.2)
c = cut(capture(copy.deepcopy(m), x, "cpu"))
tmpl = Path("benchmarks/candidates/resnet50/ResNetConvLayer.template.py").read_text()
done = set()
for t in [t for t in c.tasks if t.class_name == "ResNetConvLayer"]:
    reg = m.get_submodule(t.paths[0])
    ns, task = {}, {}
    exec(compile(om._fill(tmpl, reg), t.name, "exec"), ns)
    new = ns["ModelNew"]()
    assert sorted(new.region.state_dict()) == sorted(reg.state_dict())
    new.region.load_state_dict(reg.state_dict())
    exec(compile(t.source, t.name, "exec"), task)
    xi = task["get_inputs"]()[0]
    with torch.no_grad():
        torch.testing.assert_close(new(xi), reg(xi), rtol=1e-5, atol=1e-5)
    done.add(type(reg.activation).__name__)
    if isinstance(reg.activation, torch.nn.ReLU):  # the folded path, cuDNN's fused call played by conv + ReLU
        calls = []
        ns["_FUSED_ON"] = ("cpu",)
        ns["_CONV_RELU"] = lambda x, w, b, *a: calls.append(1) or torch.relu(torch.nn.functional.conv2d(x, w, b, *a))
        with torch.no_grad():
            torch.testing.assert_close(new(xi), reg(xi), rtol=1e-5, atol=1e-5)
        assert calls, "the folded convolution was not called"
        done.add("folded")
print("checked", sorted(done))
'''


@pytest.mark.slow
def test_resnet_conv_layer_template_under_the_interpreter():
    pytest.importorskip("triton")
    pytest.importorskip("transformers")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT / "src"))
    r = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    # both epilogues (with and without the ReLU), and batch norm folded into the convolution
    assert "checked ['Identity', 'ReLU', 'folded']" in r.stdout


def test_fill_names_every_placeholder():
    import string

    text = (ROOT / "benchmarks/candidates/resnet50/ResNetConvLayer.template.py").read_text()
    names = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)
             if m.group("named") or m.group("braced")}
    assert names == {"in_channels", "out_channels", "kernel_size", "stride", "padding", "relu", "eps"}


_GPT2 = r'''
import torch, transformers as tr
from pathlib import Path
torch.manual_seed(0)
mlp = tr.models.gpt2.modeling_gpt2.GPT2MLP(3072, tr.GPT2Config()).eval()
with torch.no_grad():
    for p in mlp.parameters():
        p.normal_(0, 0.05)
ns = {}
exec(compile(Path("benchmarks/candidates/gpt2/h_mlp.py").read_text(), "h_mlp", "exec"), ns)
new = ns["ModelNew"]()
assert sorted(new.region.state_dict()) == sorted(mlp.state_dict())
new.region.load_state_dict(mlp.state_dict())
x = torch.randn(1, 3, 768) * 2
with torch.no_grad():
    torch.testing.assert_close(new(x), mlp(x), rtol=1e-5, atol=1e-5)
print("checked h_mlp")
'''


@pytest.mark.slow
def test_gpt2_mlp_kernel_under_the_interpreter():
    """GPT-2's MLP task candidate (bias + gelu_new in one Triton pass) against HuggingFace's
    GPT2MLP with the same weights."""
    pytest.importorskip("triton")
    pytest.importorskip("transformers")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT / "src"))
    r = subprocess.run([sys.executable, "-c", _GPT2], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                       check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "checked h_mlp" in r.stdout


_LLAMA_NORM = r'''
import copy, sys, torch
sys.path.insert(0, "benchmarks")
import optimize_models as om
from pathlib import Path
from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.tasks import cut

torch.manual_seed(0)
m, x = om.build("llama", "tiny", train=True)
m.train()
c = cut(capture(copy.deepcopy(m), x, "cpu", train=True))
t = next(t for t in c.tasks if t.class_name == "LlamaRMSNorm")
reg = m.get_submodule(t.paths[0])
with torch.no_grad():
    reg.weight.normal_(1, 0.2)
ns, task = {}, {}
tmpl = Path("benchmarks/train_candidates/llama/LlamaRMSNorm.template.py").read_text()
exec(compile(om._fill(tmpl, reg), t.name, "exec"), ns)
new = ns["ModelNew"]()
assert sorted(new.region.state_dict()) == sorted(reg.state_dict())
new.region.load_state_dict(reg.state_dict())
exec(compile(t.source, t.name, "exec"), task)
xi = task["get_inputs"]()[0].detach()
a, b = xi.clone().requires_grad_(), xi.clone().requires_grad_()
ya, yb = new(a), reg(b)
torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
g = torch.randn_like(ya)
ya.backward(g)
yb.backward(g)
torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
torch.testing.assert_close(new.region.weight.grad, reg.weight.grad, rtol=1e-4, atol=1e-5)
print("checked", t.name, t.count)
'''


@pytest.mark.slow
def test_llama_rms_norm_training_template_under_the_interpreter():
    """Llama's RMSNorm task in training mode (its five norms one task): the Triton forward and
    backward template, filled for the region, against LlamaRMSNorm with the same weight: output,
    the input's gradient and the weight's."""
    pytest.importorskip("triton")
    pytest.importorskip("transformers")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT / "src"))
    r = subprocess.run([sys.executable, "-c", _LLAMA_NORM], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "checked layers_input_layernorm 5" in r.stdout, r.stdout


@pytest.mark.gpu
def test_resnet_conv_layer_template_takes_the_fused_cudnn_call_on_cuda(tmp_path):
    """On CUDA the filled template's ReLU layers run batch norm folded into one cuDNN
    convolution+bias+ReLU call (not the Triton fallback), within float32 error of the region."""
    torch = pytest.importorskip("torch")
    tr = pytest.importorskip("transformers")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import optimize_models as om

    torch.manual_seed(0)
    layer = tr.models.resnet.modeling_resnet.ResNetConvLayer(64, 64, kernel_size=3, stride=1).cuda().eval()
    with torch.no_grad():
        layer.normalization.running_mean.normal_(0, 0.5)
        layer.normalization.running_var.uniform_(0.5, 2.0)
        layer.normalization.weight.normal_(1, 0.2)
    tmpl = (ROOT / "benchmarks/candidates/resnet50/ResNetConvLayer.template.py").read_text()
    # Imported from a file, as the evaluator does: Triton's @jit reads its function's source
    # (exec of a string failed on the H200: "@jit functions should be defined in a Python file").
    path = tmp_path / "conv_layer.py"
    path.write_text(om._fill(tmpl, layer))
    spec = importlib.util.spec_from_file_location("conv_layer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ns = vars(module)
    new = ns["ModelNew"]().cuda()
    new.region.load_state_dict(layer.state_dict())
    x = torch.randn(8, 64, 56, 56, device="cuda")
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # both convolutions in float32
    try:
        with torch.no_grad():
            torch.testing.assert_close(new(x), layer(x), rtol=1e-4, atol=1e-4)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert ns["_CONV_RELU"] is not None, "cuDNN refused the fused call: the Triton epilogue ran instead"
