"""Architectures the other tests do not use, as a new user would bring them (issue 15's "Done
means", session 14's walk): a Mistral causal LM (grouped-query attention, a sliding window, an LM
head) and a T5 encoder-decoder called with an attention mask that masks something. Each is cut
into tasks, and the model with every task's own code swapped back in through the custom operators
computes exactly what the original computes, eagerly and under torch.compile; another batch size
runs the original regions."""

from __future__ import annotations

import copy

import pytest
import torch

from kernelswarm.optimize.assemble import Winner, apply_to, assembled_source
from kernelswarm.optimize.capture import capture
from kernelswarm.optimize.tasks import cut

tr = pytest.importorskip("transformers")


def _mistral():
    cfg = tr.MistralConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=256, sliding_window=8, use_cache=False)
    return tr.MistralForCausalLM(cfg).eval(), lambda b: (torch.randint(0, 256, (b, 16)),)


def _t5():
    cfg = tr.T5Config(num_layers=2, num_decoder_layers=2, d_model=64, d_ff=128, num_heads=4, d_kv=16, vocab_size=256,
                      use_cache=False, decoder_start_token_id=0, pad_token_id=0)

    def inputs(b):
        mask = torch.ones(b, 12, dtype=torch.long)
        mask[-1, 9:] = 0  # the last row's padding is masked out
        return torch.randint(1, 256, (b, 12)), mask, torch.randint(1, 256, (b, 8))

    return tr.T5ForConditionalGeneration(cfg).eval(), inputs


@pytest.mark.parametrize("build,regions", [(_mistral, 12), (_t5, 25)], ids=["mistral", "t5"])
def test_a_new_architecture_reassembled_from_its_tasks_computes_the_same(build, regions):
    torch.manual_seed(0)
    model, make = build()
    x = make(2)
    c = cut(capture(copy.deepcopy(model), x, "cpu"))
    assert c.tasks and not c.refused, c.refused
    assert sum(len(t.paths) for t in c.tasks) == regions
    assert any(t.count > 1 for t in c.tasks)  # identical regions are one task
    plans = [t.plan | {"paths": list(t.paths)} for t in c.tasks]
    wins = [Winner(t.name, t.source.replace("class Model(nn.Module):", "class ModelNew(nn.Module):", 1), "self",
                   1.0, 1.0) for t in c.tasks]
    src = assembled_source("import torch.nn as nn\nclass Model(nn.Module):\n    pass\n", "", plans, wins)
    fast = copy.deepcopy(model)
    assert len(apply_to(fast, src)) == regions
    with torch.no_grad():
        want = model(*x).logits
        with torch.profiler.profile() as prof:
            got = fast(*x).logits
        compiled = torch.compile(fast)(*x).logits
        x3 = make(3)  # not verified: the original regions run
        other = fast(*x3).logits, model(*x3).logits
    assert any(ev.name.startswith("kernelswarm::") for ev in prof.events())
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(compiled, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(*other, rtol=0, atol=0)
