"""Whole-model optimization on the GPU at real sizes (issue 15): tasks found and after
deduplication, the share of the time they cover, end-to-end speedups against eager and
torch.compile, and the time spent capturing, cutting and assembling.

Run from the repository root on the GPU machine (float32, TF32 off):
    PYTHONPATH=src python benchmarks/optimize_models.py --models gpt2,resnet50 --agents cudagraph,compile \
        --out benchmarks/results/optimize_models.json
and GPT-2 again with the hand-written Triton kernel for its MLP task (benchmarks/candidates/gpt2/h_mlp.py):
    PYTHONPATH=src python benchmarks/optimize_models.py --models gpt2 --agents cudagraph \
        --candidates benchmarks/candidates/gpt2 --out benchmarks/results/optimize_gpt2_triton.json
Models: gpt2 (small, batch 8, seq 1024), bert (base, batch 8, seq 512), resnet50 (batch 32, 224),
vit (B/16, batch 32), llama (4 layers, hidden 2048, batch 4, seq 1024). Random weights from
configs; transformers is needed (timm is used for resnet50 when importable).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def build(name: str):
    import torch
    import transformers as tr

    if name == "gpt2":
        m = tr.GPT2Model(tr.GPT2Config(use_cache=False))
        return m, (torch.randint(0, 50257, (8, 1024)),)
    if name == "bert":
        return tr.BertModel(tr.BertConfig()), (torch.randint(0, 30522, (8, 512)),)
    if name == "resnet50":
        try:
            import timm

            return timm.create_model("resnet50", pretrained=False), (torch.randn(32, 3, 224, 224),)
        except ImportError:
            return tr.ResNetModel(tr.ResNetConfig()), (torch.randn(32, 3, 224, 224),)
    if name == "vit":
        return tr.ViTModel(tr.ViTConfig(), add_pooling_layer=False), (torch.randn(32, 3, 224, 224),)
    if name == "llama":
        cfg = tr.LlamaConfig(num_hidden_layers=4, hidden_size=2048, intermediate_size=5632, num_attention_heads=16,
                             num_key_value_heads=4, vocab_size=32000, use_cache=False)
        return tr.LlamaModel(cfg), (torch.randint(0, 32000, (4, 1024)),)
    raise SystemExit(f"unknown model {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="gpt2")
    ap.add_argument("--agents", default="cudagraph")
    ap.add_argument("--candidates", default=None, help="hand-written kernels: DIR/<task name>.py")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--db", default="/tmp/kernelswarm-optimize-bench.db")
    ap.add_argument("--out", default="benchmarks/results/optimize_models.json")
    args = ap.parse_args()

    import torch

    import kernelswarm

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for name in args.models.split(","):
        torch.manual_seed(0)
        model, inputs = build(name)
        model = model.eval().to(args.device)
        t = time.monotonic()
        opt = kernelswarm.optimize(model, inputs, device=args.device, agents=args.agents, candidates=args.candidates,
                                   db=args.db, timeout=600)
        row = {
            "model": name, "choice": opt.choice, "correct": opt.correct,
            "tasks": len(opt.tasks), "regions": sum(len(t.paths) for t in opt.tasks),
            "covered_share": opt.covered_share, "ceiling": opt.ceiling,
            "eager_ms": opt.end_to_end.eager_ms, "compile_ms": opt.end_to_end.compile_ms,
            "assembled_ms": opt.end_to_end.assembled_ms, "compiled_assembled_ms": opt.end_to_end.compiled_assembled_ms,
            "speedup_vs_eager": opt.speedup_vs_eager, "speedup_vs_compile": opt.speedup_vs_compile,
            "seconds": opt.seconds, "wall_s": time.monotonic() - t,
            "refused": opt.refused,
            "per_task": [{"name": x.name, "count": x.count, "share": x.share, "baseline_ms": x.baseline_ms,
                          "best_ms": x.best_ms, "speedup": x.speedup, "agent": x.agent} for x in opt.tasks],
            "versions": opt.versions,
        }
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("model", "tasks", "regions", "covered_share", "eager_ms", "compile_ms",
                                              "assembled_ms", "speedup_vs_eager", "speedup_vs_compile", "seconds")},
                         default=str), flush=True)
        del model, opt
        torch.cuda.empty_cache()
        # After each model, so that a caller's time limit keeps the models already done.
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
