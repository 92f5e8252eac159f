"""Capture and cut real architectures (transformers configs, random weights, CPU sizes) and the
project's own model into tasks: every task an ordinary problem that rebuilds its region."""

from __future__ import annotations

import enum
from pathlib import Path

import pytest
import torch

from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.tasks import cut
from kernelswarm.problems.load import exec_problem, load_problem


def _cut(model, inputs):
    torch.manual_seed(0)
    return cut(capture(model.eval(), inputs, "cpu"))


def _check_files(c, tmp_path):
    """Each task is a problem file that loads, builds and runs at its captured shapes."""
    for t in c.tasks:
        path = tmp_path / f"{t.name}.py"
        path.write_text(t.source)
        p = load_problem(path)
        assert p.hash == t.hash
        mod = exec_problem(p.source, str(path), "cpu")
        model = mod.Model(*mod.get_init_inputs())
        out = model(*mod.get_inputs())
        outs = out if isinstance(out, tuple) else (out,)
        assert [list(o.shape) for o in outs] == [s for s, _ in t.plan["out_specs"]]


def test_own_model_tasks(tmp_path):
    import tinynet

    c = _cut(tinynet.Model(), tuple(tinynet.get_inputs()))
    by = {t.name: t for t in c.tasks}
    assert set(by) == {"blocks_norm1", "blocks_attn", "blocks_mlp", "head", "embed"}
    assert by["blocks_norm1"].count == 5  # four block norms and the final norm: one problem
    assert by["blocks_attn"].count == 2 and by["blocks_mlp"].count == 2
    assert all(0 <= t.share <= 1.5 for t in c.tasks)
    assert not c.refused
    # token ids stay integer ids in range
    assert "torch.randint(" in by["embed"].source and "dtype=torch.int64" in by["embed"].source
    # agents see the original module's source beside the task
    assert "return self.down(h)" in by["blocks_mlp"].source
    _check_files(c, tmp_path)


def test_gpt2(tmp_path):
    tr = pytest.importorskip("transformers")
    cfg = tr.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=128, n_positions=64, use_cache=False,
                        bos_token_id=0, eos_token_id=0)
    c = _cut(tr.GPT2Model(cfg), (torch.randint(0, 128, (2, 16)),))
    names = {t.name: t for t in c.tasks}
    assert {"h_attn", "h_mlp"} <= set(names)
    assert names["h_attn"].count == 2 and names["h_mlp"].count == 2  # identical layers, one task each
    assert not c.refused
    _check_files(c, tmp_path)


def test_bert(tmp_path):
    tr = pytest.importorskip("transformers")
    cfg = tr.BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                        vocab_size=128, max_position_embeddings=64)
    ids = torch.randint(0, 128, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 12:] = 0  # padding: the mask stays a mask
    c = _cut(tr.BertModel(cfg), (ids, mask))
    assert any(t.count == 2 for t in c.tasks)
    assert len(c.tasks) >= 4
    _check_files(c, tmp_path)


def test_llama(tmp_path):
    tr = pytest.importorskip("transformers")
    cfg = tr.LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=128, use_cache=False, max_position_embeddings=64)
    c = _cut(tr.LlamaModel(cfg), (torch.randint(0, 128, (2, 16)),))
    names = {t.name: t for t in c.tasks}
    assert {"layers_self_attn", "layers_mlp"} <= set(names)
    assert names["layers_self_attn"].count == 2
    _check_files(c, tmp_path)


def test_resnet_and_vit_from_transformers(tmp_path):
    tr = pytest.importorskip("transformers")
    resnet = tr.ResNetModel(tr.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[2, 1], layer_type="bottleneck"))
    c = _cut(resnet, (torch.randn(2, 3, 32, 32),))
    assert c.tasks and not [r for r in c.refused if "buffers" in r[1]]
    assert any("Conv" in t.class_name or "Conv2d" in t.source for t in c.tasks)
    _check_files(c, tmp_path)
    vit = tr.ViTModel(tr.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                                   image_size=32, patch_size=8))
    c = _cut(vit, (torch.randn(2, 3, 32, 32),))
    assert any(t.count == 2 for t in c.tasks)
    _check_files(c, tmp_path)


def test_timm_models(tmp_path):
    timm = pytest.importorskip("timm")  # not importable with this CPU torch: runs where timm works
    for name, x in (("resnet18", torch.randn(1, 3, 64, 64)), ("vit_tiny_patch16_224", torch.randn(1, 3, 224, 224))):
        c = _cut(timm.create_model(name, pretrained=False), (x,))
        assert c.tasks
        _check_files(c, tmp_path)


class _HoldsInDict(torch.nn.Module):
    """A module kept in a plain dict attribute, outside PyTorch's registries (transformers 5.x keeps
    each attention's kernel wrappers so)."""

    def __init__(self, held):
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)
        self.held = {"act": held}

    def forward(self, x):
        return self.held["act"](self.lin(x))


def test_a_module_held_in_a_plain_attribute_is_written_only_without_weights(tmp_path):
    c = _cut(torch.nn.Sequential(_HoldsInDict(torch.nn.ReLU()), torch.nn.Linear(8, 8)), (torch.randn(2, 8),))
    assert not c.refused and c.tasks
    assert any("ReLU" in t.source for t in c.tasks)
    _check_files(c, tmp_path)
    # a weight in such a module would be missed by the rebuilt one: refused, with the reason
    c = _cut(torch.nn.Sequential(_HoldsInDict(torch.nn.Linear(8, 8)), torch.nn.Linear(8, 8)), (torch.randn(2, 8),))
    assert any("cannot be written as code" in why and "held" in why for _, why in c.refused)


def test_batchnorm_in_training_mode_is_refused():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    cap = capture(net.train(), (torch.randn(2, 3, 8, 8),), "cpu")
    c = cut(cap)
    assert not c.tasks
    assert any("updates its buffers" in why for _, why in c.refused)


class _Cache:
    pass


class _TakesCache(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, x, cache):
        return self.lin(x)


class _Outer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = _TakesCache()
        self.b = torch.nn.Linear(8, 8)

    def forward(self, x):
        return self.b(self.a(x, _Cache()))


def test_uncapturable_region_is_cut_around_and_named():
    c = cut(capture(_Outer(), (torch.randn(2, 8),), "cpu"))
    assert [t.paths for t in c.tasks] == [["b"]]
    assert c.refused and c.refused[0][0] == "a" and "_Cache" in c.refused[0][1]


def test_failing_inputs_one_line():
    from kernelswarm.optimize.capture import CaptureError

    with pytest.raises(CaptureError) as e:
        capture(torch.nn.Linear(4, 4), (torch.randn(2, 5),), "cpu")
    assert "fails on the example inputs" in str(e.value) and "\n" not in str(e.value)


class _Res(torch.nn.Module):
    """A residual block of the test's own (its module is embedded into its task's file)."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU())

    def forward(self, x):
        return x + self.body(x)


def test_a_stage_of_blocks_is_cut_into_its_blocks():
    from kernelswarm.optimize.capture import find_regions

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.Sequential(_Res(), _Res(), _Res()))
    assert [p for p, _ in find_regions(net)] == ["0", "1.0", "1.1", "1.2"]
    c = cut(capture(net.eval(), (torch.randn(2, 3, 8, 8),), "cpu"))
    assert sorted(t.count for t in c.tasks) == [1, 3], c.refused  # three identical residual blocks: one task


def test_whole_model_problems_with_redrawn_and_user_weights(tmp_path):
    """The whole model as two problems (HuggingFace's ModelOutput read by key): weights redrawn
    under the seed, and the user's own."""
    tr = pytest.importorskip("transformers")
    from kernelswarm.optimize.verify import whole_problems

    cfg = tr.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32, use_cache=False,
                        bos_token_id=0, eos_token_id=0)
    model = tr.GPT2Model(cfg).eval()
    ids = torch.randint(0, 64, (2, 8))
    redrawn, user = whole_problems(model, (ids,), tmp_path, "gpt2_whole")
    with torch.no_grad():
        want = model(ids).last_hidden_state
    for p, same in ((redrawn, False), (user, True)):
        mod = exec_problem(p.source, str(p.path), "cpu")
        torch.manual_seed(0)
        built = mod.Model()
        with torch.no_grad():
            got = built(ids)
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-5) == same
    # A candidate's worker sees a private /tmp: the user's weights are read from outside it.
    where = user.source.split("_KS_WEIGHTS = ")[1].splitlines()[0]
    assert "/tmp/" not in where and Path(eval(where)).is_file()


def test_input_code_keeps_masks_ids_and_spreads_without_a_sort():
    """get_inputs' expressions for large captured tensors: a float mask stays a two-valued mask with
    its values and share, ids stay ids in range, activations keep their spread; small masks are
    written out exactly (found on the tensor's own device, no torch.unique: ResNet-50's cut spent
    seconds per task sorting activations on the CPU)."""
    from kernelswarm.optimize.codegen import _two_values, input_code

    big = torch.zeros(8, 1024)
    big[:, 700:] = -1e9
    code = input_code(big)
    assert code.startswith("torch.where(") and "-1000000000.0" in code
    made = eval(code, {"torch": torch})
    assert made.shape == big.shape and _two_values(made) == (-1e9, 0.0)
    assert abs(float((made == 0).float().mean()) - 700 / 1024) < 0.02
    ids = torch.randint(3, 90, (4, 2048))
    assert input_code(ids) == f"torch.randint({int(ids.min())}, {int(ids.max()) + 1}, (4, 2048), dtype=torch.int64)"
    assert input_code(torch.tensor([[1, 0, 1]])) == "torch.tensor([1, 0, 1], dtype=torch.int64).reshape((1, 3))"
    acts = torch.randn(16, 4096) * 3 + 1
    out = eval(input_code(acts), {"torch": torch})
    assert abs(float(out.std()) - 3) < 0.1 and abs(float(out.mean()) - 1) < 0.1
    assert _two_values(torch.tensor([1.0, float("nan"), 2.0])) is None
    assert _two_values(torch.full((5,), 2.5)) == (2.5, 2.5)


class _Fmt(str, enum.Enum):
    NCHW = "NCHW"
    NHWC = "NHWC"


class _Sized(int):
    pass


class _WithEnum(torch.nn.Module):
    """timm's layers keep a str enum as a plain attribute (`output_fmt = Format.NCHW`)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)
        self.output_fmt = _Fmt.NHWC

    def forward(self, x):
        y = self.lin(x)
        return y * 2 if self.output_fmt == _Fmt.NHWC else y


def test_str_enum_attribute_is_written_as_its_member(tmp_path):
    """A str enum's repr (`<_Fmt.NHWC: 'NHWC'>`) is no code: it is written as the member itself,
    and the task rebuilds the region with the same member (its forward takes the same branch)."""
    from kernelswarm.optimize.codegen import CodegenError, Writer, literal

    w = Writer()
    assert literal(_Fmt.NHWC, w).endswith("_Fmt.NHWC")  # this test file's own class, embedded under a prefix
    with pytest.raises(CodegenError, match="subclass of int"):
        literal(_Sized(3), w)
    net = torch.nn.Sequential(_WithEnum(), torch.nn.Linear(8, 8), _WithEnum())
    c = _cut(net, (torch.randn(2, 8),))
    task = next(t for t in c.tasks if t.class_name == "_WithEnum")
    assert "_Fmt.NHWC\n" in task.source
    _check_files(c, tmp_path)
    path = tmp_path / "with_enum.py"
    path.write_text(task.source)
    mod = exec_problem(path.read_text(), str(path), "cpu")
    built = mod.Model(*mod.get_init_inputs())
    assert [m.output_fmt.value for m in built.modules() if hasattr(m, "output_fmt")] == ["NHWC"]
