"""Whole-model optimization within a wall budget per model (issue 15): tasks found and after
deduplication, the share of the time they cover, capture/cut/assemble time, eager against
torch.compile of the whole model, then each task's search (hottest first) and the assembled model
judged end to end. The table is rewritten as each stage and each task ends, so a command that runs
out of time still leaves every figure it reached.

On the GPU machine (float32, TF32 off), from the repository root, one model per command:
    PYTHONPATH=src python3 benchmarks/optimize_models.py --models gpt2 --agents cudagraph \\
        --candidates benchmarks/candidates/gpt2 --budget 500 --out OUT/optimize_gpt2
    PYTHONPATH=src python3 benchmarks/optimize_models.py --models resnet50 --agents cudagraph \\
        --candidates benchmarks/candidates/resnet50 --budget 500 --out OUT/optimize_resnet50
On a CPU: --device cpu --size tiny (small configs of the same architectures).

Models: gpt2 (small, batch 8, seq 1024), bert (base, batch 8, seq 512), resnet50 (transformers'
ResNet-50, batch 32, 224), vit (B/16, batch 32), llama (4 layers, hidden 2048, batch 4, seq 1024);
timm's (`timm.create_model(..., pretrained=False)`: nothing is downloaded): timm_resnet50 (batch 32,
224; `resnet50-timm` is the same), timm_resnet18, timm_vit (vit_base_patch16_224, batch 32).
Families: `--models timm` (timm_resnet50,timm_vit), `--models transformers`. Random weights from
configs. timm models on the GPU machine, one per command:
    PYTHONPATH=src python3 benchmarks/optimize_models.py --models timm_resnet50 --agents cudagraph \
        --budget 500 --out OUT/optimize_timm_resnet50

--candidates DIR: DIR/<task name>.py are the folder agent's candidates (only tasks with a file are
searched when the folder is the only agent). DIR/<ClassName>.template.py is a hand-written kernel
for any region of that class: it is filled with the hottest such task's sizes and brought as that
task's candidate (its $placeholders are the region's constructor figures; see _fill).

Budget: `kernelswarm.optimize(time_budget=...)` (optimize/clock.py, the CLI's --time-budget):
before each task, the search stops when the task (estimated by the longest one so far) and the
assembled model's judgement (three whole-model evaluations, overlapped with --jobs > 1, estimated
from the whole model's baselines) would not fit; the assembled model is judged only if it fits.
Tasks under --min-share of the model's time are not searched (they cannot pay for their evaluations).

--mode train (issue 17 item 5): the model in training mode with every dropout of its config at 0,
tasks judged forward plus backward, and the assembled model kept only when a few optimizer steps
(momentum SGD and AdamW) match the original's and its whole steps are faster; the loss is
`lm_loss` (token models: next-token cross entropy over the last hidden state's first 32
features) or `image_loss` (ten-way cross entropy over pooled features). Batch norms run on their
running statistics (frozen, as when fine-tuning a pretrained CNN): a region whose forward updates
them is refused as a task, which would leave ResNet-50 in training mode with 3% of its time
in tasks (measured at --size tiny on the CPU). timm's models need timm (and torchvision); the
others need only transformers. A hand-written training kernel:
benchmarks/train_candidates/llama/LlamaRMSNorm.template.py (Triton forward and backward, fp32
accumulation), filled for Llama's norm task (its five RMSNorms, one task):
    PYTHONPATH=src python3 benchmarks/optimize_models.py --models llama --mode train \
        --agents compile-max-autotune --candidates benchmarks/train_candidates/llama --budget 500 --out OUT
(scripts/gpu_batch.sh: MODE=train MODELS=llama bash scripts/gpu_batch.sh models OUT).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import string
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(name: str, size: str, train: bool = False):
    """(model, example inputs) from a config with random weights; `tiny` for a CPU. `train`: every
    dropout probability of the config set to 0 (a region whose training forward is random is no task)."""
    import torch

    tiny = size == "tiny"
    if name.startswith("timm_") or name == "resnet50-timm":
        return build_timm(name, tiny, train)
    import transformers as tr

    if name == "gpt2":
        cfg = tr.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=512, n_positions=64, use_cache=False) \
            if tiny else tr.GPT2Config(use_cache=False)
        make, x = tr.GPT2Model, torch.randint(0, cfg.vocab_size, (2, 32) if tiny else (8, 1024))
    elif name == "bert":
        cfg = tr.BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                            vocab_size=512) if tiny else tr.BertConfig()
        make, x = tr.BertModel, torch.randint(0, cfg.vocab_size, (2, 32) if tiny else (8, 512))
    elif name == "resnet50":
        cfg = tr.ResNetConfig(depths=[1, 1, 1, 1], hidden_sizes=[32, 64, 128, 256], embedding_size=16) \
            if tiny else tr.ResNetConfig()
        make, x = tr.ResNetModel, torch.randn(2, 3, 64, 64) if tiny else torch.randn(32, 3, 224, 224)
    elif name == "vit":
        cfg = tr.ViTConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                           image_size=32, patch_size=8) if tiny else tr.ViTConfig()
        make = lambda c: tr.ViTModel(c, add_pooling_layer=False)
        x = torch.randn(2, 3, 32, 32) if tiny else torch.randn(32, 3, 224, 224)
    elif name == "llama":
        cfg = tr.LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                             num_key_value_heads=2, vocab_size=512, use_cache=False) if tiny else \
            tr.LlamaConfig(num_hidden_layers=4, hidden_size=2048, intermediate_size=5632, num_attention_heads=16,
                           num_key_value_heads=4, vocab_size=32000, use_cache=False)
        make, x = tr.LlamaModel, torch.randint(0, cfg.vocab_size, (2, 32) if tiny else (4, 1024))
    else:
        raise SystemExit(f"unknown model {name!r}")
    if train:
        for key, value in list(vars(cfg).items()):
            if ("drop" in key) and isinstance(value, float):
                setattr(cfg, key, 0.0)
    return make(cfg), (x,)


# timm's models: name -> (timm model, its keyword arguments at tiny size, input side at tiny size, full size).
TIMM = {
    "timm_resnet18": ("resnet18", {}, 64, 224),
    "timm_resnet50": ("resnet50", {}, 64, 224),
    "timm_vit": ("vit_base_patch16_224", {}, None, 224),  # ViT-B/16; tiny: vit_tiny's widths, 2 blocks
}
FAMILIES = {"timm": "timm_resnet50,timm_vit", "transformers": "gpt2,bert,resnet50,vit,llama"}


def build_timm(name: str, tiny: bool, train: bool):
    """A timm model with random weights: `pretrained=False`, so timm reads no hub and no file
    (tests/optimize/test_timm_models.py checks that no connection is tried). Batch 32 at 224 x
    224; tiny: batch 2, small images, and for the ViT vit_tiny's widths with two blocks."""
    import timm
    import torch

    arch, kw, side, full = TIMM["timm_resnet50" if name == "resnet50-timm" else name]
    kw = dict(kw)
    if name == "timm_vit" and tiny:
        arch, side = "vit_tiny_patch16_224", 32
        kw.update(depth=2, img_size=side, patch_size=8)
    if train:  # a region whose training forward is random is no task
        kw.update(drop_rate=0.0, drop_path_rate=0.0)
    model = timm.create_model(arch, pretrained=False, **kw)
    return model, (torch.randn(2, 3, side, side) if tiny else torch.randn(32, 3, full, full),)


def model_names(spec: str) -> list[str]:
    """--models: a comma list of names and families (`timm`, `transformers`)."""
    return [n for part in spec.split(",") if part for n in FAMILIES.get(part, part).split(",")]


# Training losses (--mode train). Each is sent to the step processes as its own source: self-contained.
def lm_loss(output, ids):
    """Next-token cross entropy over the last hidden state's first 32 features (a base model has
    no head; its gradients reach every parameter but the pooler's)."""
    import torch

    h = output["last_hidden_state"] if isinstance(output, dict) else output[0]
    logits = h[:, :-1, :32].float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 32), ids[:, 1:].reshape(-1) % 32)


def image_loss(output, images):
    """Ten-way cross entropy from the pooled features, against labels drawn from the images themselves."""
    import torch

    h = output if isinstance(output, torch.Tensor) else \
        (output["last_hidden_state"] if isinstance(output, dict) else output[0])
    pooled = h.flatten(2).mean(-1) if h.dim() == 4 else (h[:, 0] if h.dim() == 3 else h)
    labels = (images.flatten(1).sum(1).abs() * 100).long() % 10
    return torch.nn.functional.cross_entropy(pooled[:, :10].float(), labels)


def loss_for(name: str):
    return lm_loss if name in ("gpt2", "bert", "llama") else image_loss


def _fill(template: str, module) -> str:
    """A class template filled with one region's constructor figures. A convolution block: its
    first convolution's in/out channels, kernel size, stride and padding, whether it ends in a
    ReLU, the batch norm's eps. A norm (RMSNorm): `hidden` (its weight's size) and `eps`."""
    from torch import nn

    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        eps = getattr(module, "variance_epsilon", getattr(module, "eps", 1e-6))
        return string.Template(template).substitute({"hidden": module.weight.shape[0], "eps": eps})
    bn = next((m for m in module.modules() if isinstance(m, nn.BatchNorm2d)), None)
    relu = any(isinstance(m, nn.ReLU) for m in module.modules())
    return string.Template(template).substitute({"in_channels": conv.in_channels, "out_channels": conv.out_channels,
                                "kernel_size": conv.kernel_size[0], "stride": conv.stride[0],
                                "padding": conv.padding[0], "relu": relu, "eps": bn.eps if bn else 1e-5})


class Table:
    """One model's row, rewritten (JSON and markdown) after every stage and task."""

    def __init__(self, out: Path, rows: list[dict], row: dict) -> None:
        self.out, self.rows, self.row = out, rows, row
        rows.append(row)

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name, text in (("optimize_models.json", json.dumps(self.rows, indent=1, default=str) + "\n"),
                           ("optimize_models.md", markdown(self.rows))):
            tmp = self.out / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(self.out / name)


def _f(x, fmt: str = ".3g") -> str:
    return "-" if x is None else format(x, fmt)


def markdown(rows: list[dict]) -> str:
    head = ("| model | state | tasks (regions) | covered | ceiling | eager ms | compile ms | assembled ms | judged "
            "| result | result ms | vs eager | vs compile | capture s | cut s | baselines s | search s | assemble s "
            "| verify s | wall s |")
    lines = [head, "| --- " * 20 + "|"]
    for r in rows:
        s = r.get("seconds", {})
        compile_ms = _f(r.get("compile_ms")) if not r.get("compile_missing") else r["compile_missing"].split(" (")[0]
        lines.append(f"| {r['model']} | {r['state']} | {r.get('tasks', '-')} ({r.get('regions', '-')}) "
                     f"| {_f(r.get('covered_share'), '.1%')} | {_f(r.get('ceiling'), '.2f')} | {_f(r.get('eager_ms'))} "
                     f"| {compile_ms} | {_f(r.get('assembled_ms'))} | {judged(r)} "
                     f"| {r.get('choice', '-')} | {_f(r.get('result_ms'))} "
                     f"| {_f(r.get('speedup_vs_eager'), '.3f')} | {_f(r.get('speedup_vs_compile'), '.3f')} "
                     + " ".join(f"| {_f(s.get(k), '.1f')}" for k in ("capture", "cut", "baselines", "search",
                                                                    "assemble", "verify"))
                     + f" | {_f(r.get('wall_s'), '.0f')} |")
    for r in rows:
        lines += ["", f"{r['model']} ({r.get('mode', 'inference')}): {r.get('reason', '')}"]
        lines += [f"- note: {n}" for n in r.get("notes", [])]
        st = r.get("steps")
        if st:
            lines.append(f"- training steps ({', '.join(st['optimizers'])}): {'match' if st['passed'] else 'DIFFER'}, "
                         f"{st['detail']}; whole step {_f(st.get('baseline_ms'))} ms ({st['against']}) -> "
                         f"{_f(st.get('candidate_ms'))} ms, {_f(st.get('speedup'), '.3f')}x")
        if r.get("error"):
            lines.append(f"- failed: {r['error']}")
        head = ("| task | class | count | share | searched | baseline ms | compile ms | result | ms | speedup "
                "| saves (share x (1 - 1/speedup)) |")
        lines += ["", head, "| --- " * 11 + "|"]
        for t in r.get("per_task", []):
            sp = t.get("speedup")
            saves = t["share"] * (1 - 1 / sp) if sp and t.get("agent") else None
            lines.append(f"| {t['name']} | {t['class']} | {t['count']} | {t['share']:.1%} | {t['state']} "
                         f"| {_f(t.get('baseline_ms'))} | {_f(t.get('compile_ms'))} | {t.get('agent') or '-'} "
                         f"| {_f(t.get('best_ms'))} | {_f(sp, '.3f')} | {_f(saves, '.2%')} |")
    return "\n".join(lines) + "\n"


def judged(row: dict) -> str:
    """Whether the assembled model was judged end to end, and what the evaluations said."""
    evs = row.get("evaluations") or []
    if not evs:
        if row.get("state") != "done" or row.get("winners"):
            return "not judged"
        searched = any(t.get("state") == "done" for t in row.get("per_task", []))
        return "no winner" if searched else "nothing searched"
    return ", ".join(f"{'compiled' if 'compile' in label else ('redrawn' if 'redrawn' in label else 'user')} "
                     f"{verdict}" for label, verdict, _ in evs)


def task_rows(tasks, searchable: set[str]) -> list[dict]:
    return [{"name": t.name, "class": t.class_name, "count": t.count, "share": t.share, "paths": list(t.paths)[:4],
             "state": "queued" if t.name in searchable else "not searched"} for t in tasks]


def one_model(name: str, args, table: Table, cand_dir: Path | None, agents: str, budget: float,
              compile_limit: float | None, cand_src: Path | None, min_share: float = 0.01,
              top: int | None = None) -> None:
    import torch

    import kernelswarm
    from kernelswarm.runconfig import Event

    row, start, begun = table.row, time.monotonic(), {}
    train = args.mode == "train"
    torch.manual_seed(0)
    model, inputs = build(name, args.size, train)
    model = (model.train() if train else model.eval()).to(args.device)
    frozen = _freeze_batchnorm(model) if train else 0
    row["config"] = (f"{type(model).__name__} {args.size}, inputs {[tuple(x.shape) for x in inputs]}, {args.mode}"
                     + (f", {frozen} batch norms frozen (eval statistics)" if frozen else ""))
    by_name: dict[str, dict] = {}

    def on_stage(st) -> None:
        row["seconds"] = {k: round(v, 2) for k, v in st.seconds.items()}
        row["wall_s"] = time.monotonic() - start
        if st.name == "cut":
            if cand_dir is not None:
                _templates(cand_src, cand_dir, st.tasks, model)
            hot = sorted((t for t in st.tasks if t.share >= min_share and
                          (agents != "folder" or (cand_dir / f"{t.name}.py").is_file())), key=lambda t: -t.share)
            searchable = {t.name for t in hot[:top]}
            row.update(state="cut", tasks=len(st.tasks), regions=sum(len(t.paths) for t in st.tasks),
                       covered_share=st.covered_share, ceiling=1 / (1 - st.covered_share) if st.covered_share < 0.999
                       else None, refused=st.refused[:20], per_task=task_rows(st.tasks, searchable))
            by_name.update({t["name"]: t for t in row["per_task"]})
        elif st.name == "baselines" and st.end_to_end is not None:
            e = st.end_to_end
            row.update(state="baselines", eager_ms=e.eager_ms, compile_ms=e.compile_ms, choice=e.choice,
                       result_ms=e.result_ms, speedup_vs_eager=e.speedup_vs_eager,
                       speedup_vs_compile=e.speedup_vs_compile, reason=e.reason,
                       compile_missing=e.compile_missing, window_s=e.window_s)
        elif st.name == "searched":
            row["state"] = "searched"
        table.write()

    def on_event(e: Event) -> None:
        t = by_name.get(e.problem)
        if t is None:
            return
        if e.kind == "problem":
            begun[e.problem] = time.monotonic()
            t["state"] = "searching"
        elif e.kind == "done" and e.result is not None:
            r = e.result
            t.update(state="done", seconds=round(time.monotonic() - begun.get(e.problem, start), 1),
                     baseline_ms=r.eager_ms, compile_ms=r.compile_ms, best_ms=r.result_ms,
                     agent=r.best.agent if r.best else None, speedup=r.speedup_vs_eager, reason=r.reason[:200])
            table.write()
        elif e.kind == "note" and "stopped before" in e.message:
            t["state"] = "not reached (budget)"
            table.write()

    row.update(agents=agents, budget_s=budget, compile_limit_s=compile_limit, top=top)
    opt = kernelswarm.optimize(model, inputs, device=args.device, agents=agents,
                               candidates=str(cand_dir) if cand_dir else None, db=args.db, timeout=args.timeout,
                               jobs=args.jobs, time_budget=budget, compile_limit=compile_limit,
                               search_below=min_share, search_top=top,
                               assemble_accepted=name in args.assemble_accepted.split(","),
                               on_stage=on_stage, on_event=on_event, mode=args.mode,
                               loss_fn=loss_for(name) if train else None)
    e = opt.end_to_end
    row.update(state="done", choice=opt.choice, correct=opt.correct, result_ms=e.result_ms,
               assembled_ms=e.assembled_ms, compiled_assembled_ms=e.compiled_assembled_ms,
               speedup_vs_eager=opt.speedup_vs_eager, speedup_vs_compile=opt.speedup_vs_compile,
               speedup_ci=opt.speedup_ci, reason=e.reason, notes=e.notes, seconds=opt.seconds,
               wall_s=time.monotonic() - start, versions=opt.versions, steps=_steps(e.steps),
               evaluations=[(label, ev.verdict.value, ev.reason[:200]) for label, ev in e.evaluations],
               compile_missing=e.compile_missing, winners=[w.task for w in opt.winners])
    for t in by_name.values():
        if t["state"] in ("queued", "searching"):
            t["state"] = "not reached (budget)"
    for t in opt.tasks:
        if t.name in by_name and t.agent:
            by_name[t.name].update(agent=t.agent, speedup=t.speedup, speedup_ci=t.speedup_ci, best_ms=t.best_ms)
    table.write()


def _freeze_batchnorm(model) -> int:
    """Batch norms in eval mode (running statistics, affine parameters still trained), as a
    pretrained CNN is fine-tuned: a region whose forward updates its statistics is no task
    (optimize refuses it, naming why), which would leave a ResNet in training mode without tasks."""
    from torch import nn

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.eval()
    return len(norms)


def _steps(s) -> dict | None:
    """Training mode: the whole optimizer steps' check and their paired timing."""
    if s is None:
        return None
    return {"passed": s.passed, "detail": s.detail, "against": s.against, "optimizers": list(s.optimizers),
            "baseline_ms": s.baseline_ms, "candidate_ms": s.candidate_ms, "speedup": s.speedup,
            "speedup_ci": s.speedup_ci, "n": s.n}


def _templates(src: str, dst: Path, tasks, model) -> None:
    """DIR/<ClassName>.template.py, filled for the hottest task of that class, as dst/<task>.py."""
    for tmpl in Path(src).glob("*.template.py"):
        cls = tmpl.name.removesuffix(".template.py")
        hot = next((t for t in tasks if t.class_name == cls), None)  # tasks come hottest first
        if hot is not None and not (dst / f"{hot.name}.py").exists():
            (dst / f"{hot.name}.py").write_text(_fill(tmpl.read_text(), model.get_submodule(hot.paths[0])))


def _per_model(spec: str | None, names: list[str], what: str, positive: bool = True) -> list[float | None]:
    """A number for every model: one for all, or a comma list in --models' order."""
    if spec is None:
        return [None] * len(names)
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        raise ValueError(f"{what} {spec!r}: seconds, or a comma list of seconds (one per model)") from None
    if len(values) == 1:
        values *= len(names)
    if len(values) != len(names) or any(v <= 0 if positive else v < 0 for v in values):
        raise ValueError(f"{what} {spec!r}: one {'positive' if positive else 'non-negative'} number, or one per model "
                         f"({len(names)}: {', '.join(names)})")
    return values


def top_plan(names: list[str], spec: str | None) -> dict[str, int | None]:
    """--top: per model, how many of its hottest tasks are searched (None: all)."""
    values = _per_model(spec, names, "--top", positive=False)
    if any(v is not None and v != int(v) for v in values):
        raise ValueError(f"--top {spec!r}: a whole number of tasks, or one per model ({', '.join(names)})")
    return {n: int(v) if v else None for n, v in zip(names, values)}


def model_plan(names: list[str], args) -> dict[str, tuple[str, float, float | None, Path | None, float]]:
    """Per model: (agents, budget s, compile limit s or None, candidates folder or None, min share)."""
    budgets = _per_model(args.budget, names, "--budget")
    limits = _per_model(args.compile_limit, names, "--compile-limit")
    shares = _per_model(getattr(args, "min_share", "0.01"), names, "--min-share", positive=False)
    if "=" in args.agents:
        given = dict(part.split("=", 1) for part in args.agents.split(";") if part.strip())
        unknown = set(given) - set(names)
        if unknown:
            raise ValueError(f"--agents names models not in --models: {', '.join(sorted(unknown))}")
    plan = {}
    for name, budget, limit, share in zip(names, budgets, limits, shares):
        agents = given.get(name, "cudagraph") if "=" in args.agents else args.agents
        cand = None
        if args.candidates == "auto":
            auto = HERE / ("train_candidates" if args.mode == "train" else "candidates") / name
            cand = auto if auto.is_dir() else None
        elif args.candidates:
            cand = Path(args.candidates)
            if not cand.is_dir():
                raise ValueError(f"--candidates {args.candidates}: no such folder")
        if cand is not None and "folder" not in agents.split(","):
            agents += ",folder"
        plan[name] = (agents, budget, limit, cand, share)
    return plan


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="gpt2",
                    help="comma list: gpt2, bert, resnet50, vit, llama, timm_resnet18, timm_resnet50, timm_vit; "
                         "families: timm, transformers")
    ap.add_argument("--agents", default="cudagraph",
                    help="comma list; 'folder' alone: only the candidates. Per model: 'resnet50=folder;bert=cudagraph' "
                         "(models not named get cudagraph)")
    ap.add_argument("--candidates", default=None,
                    help="hand-written kernels: DIR/<task name>.py, DIR/<Class>.template.py; 'auto': "
                         "benchmarks/candidates/<model> for each model that has one")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", choices=("full", "tiny"), default="full", help="tiny: small configs for a CPU")
    ap.add_argument("--mode", choices=("inference", "train"), default="inference",
                    help="train: forward plus backward, a loss per model, optimizer steps checked (issue 17)")
    ap.add_argument("--budget", default="500",
                    help="wall seconds per model, everything included (optimize's time_budget); a comma list: "
                         "one per model, in --models' order")
    ap.add_argument("--compile-limit", default=None,
                    help="seconds for the whole model's eager and torch.compile window (past it: 'not measured in "
                         "time', eager alone); default 40%% of the budget; a comma list: one per model")
    ap.add_argument("--assemble-accepted", default="",
                    help="comma list of models whose tasks are assembled with their fastest correct candidate even "
                         "where it did not clear the task's bar (the whole model's judgement decides)")
    ap.add_argument("--total", type=float, default=None,
                    help="wall seconds for the whole command: a model's budget is cut to what is left of it "
                         "(less 15 s for its build), and a model with under a minute left is skipped")
    ap.add_argument("--min-share", default="0.01",
                    help="tasks under this share are not searched; a comma list: one per model")
    ap.add_argument("--top", default=None,
                    help="only the N hottest tasks (of those over --min-share) are searched; a comma list: one per "
                         "model (0: all)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per evaluation")
    ap.add_argument("--jobs", type=int, default=3, help="evaluations at once (timings one at a time)")
    ap.add_argument("--db", default=None, help="default: a fresh store under OUT")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/optimize_models"))
    args = ap.parse_args()
    names = model_names(args.models)
    try:
        plan = model_plan(names, args)
        tops = top_plan(names, args.top)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    args.out.mkdir(parents=True, exist_ok=True)
    args.db = args.db or str(args.out / "optimize_models.db")
    rows: list[dict] = []
    began = time.monotonic()
    for name in names:
        agents, budget, limit, cand_src, share = plan[name]
        top = tops[name]
        if args.total is not None:  # what an earlier model overran comes out of this one's budget
            budget = min(budget, args.total - (time.monotonic() - began) - 15.0)
            if budget < 60.0:
                Table(args.out, rows, {"model": name, "state": "skipped: no time left", "budget_s": budget,
                                       "mode": args.mode}).write()
                continue
        table = Table(args.out, rows, {"model": name, "state": "building", "budget_s": budget, "mode": args.mode})
        table.write()
        cand_dir = None
        if cand_src is not None:  # a copy: templates are filled in beside the task files
            cand_dir = Path(tempfile.mkdtemp(prefix=f"ks-cands-{name}-"))
            for f in cand_src.glob("*.py"):
                if not f.name.endswith(".template.py"):
                    shutil.copy(f, cand_dir / f.name)
        try:
            one_model(name, args, table, cand_dir, agents, budget, limit, cand_src, share, top)
        except Exception as e:  # the next model still runs; this row says what stopped it
            table.row.update(state="failed", error=f"{type(e).__name__}: {e}"[:500])
            table.write()
        finally:
            if cand_dir is not None:
                shutil.rmtree(cand_dir, ignore_errors=True)
        print(markdown([table.row]), flush=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights from configs: no hub, ever
    sys.exit(main())
