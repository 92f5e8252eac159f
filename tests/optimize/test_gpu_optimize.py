"""On a GPU: GPT-2 (small config) with the hand-written Triton kernel for its MLP task brought as a
candidate; the assembled model runs the kernel, stays correct, and is never slower than the
faster of eager and torch.compile. Run on the GPU machine: pytest -m gpu tests/optimize."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CANDIDATES = Path(__file__).parents[2] / "benchmarks" / "candidates" / "gpt2"


def _cuda() -> bool:
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_gpt2_with_a_triton_mlp_kernel(tmp_path):
    tr = pytest.importorskip("transformers")
    pytest.importorskip("triton")
    import kernelswarm

    cfg = tr.GPT2Config(n_layer=2, use_cache=False)  # GPT-2 small's widths (the kernel's sizes), two layers
    torch.manual_seed(0)
    model = tr.GPT2Model(cfg).eval().cuda()
    ids = torch.randint(0, cfg.vocab_size, (4, 512), device="cuda")
    opt = kernelswarm.optimize(model, (ids,), device="cuda", agents="folder", candidates=CANDIDATES,
                               db=str(tmp_path / "ks.db"), timeout=600)
    assert opt.correct
    mlp = next(t for t in opt.tasks if t.name == "h_mlp")
    assert mlp.count == 2 and mlp.agent == "folder", opt.tasks
    e = opt.end_to_end
    assert e.result_ms <= min(x for x in (e.eager_ms, e.compile_ms) if x is not None)
    opt.save(tmp_path / "out")
    fast = kernelswarm.load(tr.GPT2Model(cfg).eval().cuda(), tmp_path / "out")
    if opt.choice in ("assembled", "compile(assembled)"):  # else torch.compile alone was faster end to end
        with torch.no_grad(), torch.profiler.profile() as prof:
            fast(ids)
        assert any("_bias_gelu_new" in ev.name for ev in prof.events())
