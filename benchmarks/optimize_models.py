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
ResNet-50, batch 32, 224), resnet50-timm (timm's), vit (B/16, batch 32), llama (4 layers, hidden
2048, batch 4, seq 1024). Random weights from configs.

--candidates DIR: DIR/<task name>.py are the folder agent's candidates (only tasks with a file are
searched when the folder is the only agent). DIR/<ClassName>.template.py is a hand-written kernel
for any region of that class: it is filled with the hottest such task's sizes and brought as that
task's candidate (its $placeholders are the region's constructor figures; see _fill).

Budget: before each task, the search stops when the task (estimated by the longest one so far)
and the assembled model's judgement (three whole-model evaluations, overlapped with --jobs > 1,
estimated from the whole model's baselines) would not fit; the assembled model is judged only if it fits. Tasks under
--min-share of the model's time are not searched (they cannot pay for their evaluations).
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


def build(name: str, size: str):
    """(model, example inputs) from a config with random weights; `tiny` for a CPU."""
    import torch
    import transformers as tr

    tiny = size == "tiny"
    if name == "gpt2":
        cfg = tr.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=512, n_positions=64, use_cache=False) \
            if tiny else tr.GPT2Config(use_cache=False)
        return tr.GPT2Model(cfg), (torch.randint(0, cfg.vocab_size, (2, 32) if tiny else (8, 1024)),)
    if name == "bert":
        cfg = tr.BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                            vocab_size=512) if tiny else tr.BertConfig()
        return tr.BertModel(cfg), (torch.randint(0, cfg.vocab_size, (2, 32) if tiny else (8, 512)),)
    if name == "resnet50":
        cfg = tr.ResNetConfig(depths=[1, 1, 1, 1], hidden_sizes=[32, 64, 128, 256], embedding_size=16) \
            if tiny else tr.ResNetConfig()
        return tr.ResNetModel(cfg), (torch.randn(2, 3, 64, 64) if tiny else torch.randn(32, 3, 224, 224),)
    if name == "resnet50-timm":
        import timm

        return timm.create_model("resnet50", pretrained=False), (torch.randn(32, 3, 224, 224),)
    if name == "vit":
        cfg = tr.ViTConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                           image_size=32, patch_size=8) if tiny else tr.ViTConfig()
        return tr.ViTModel(cfg, add_pooling_layer=False), (torch.randn(2, 3, 32, 32) if tiny else torch.randn(32, 3, 224, 224),)
    if name == "llama":
        cfg = tr.LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                             num_key_value_heads=2, vocab_size=512, use_cache=False) if tiny else \
            tr.LlamaConfig(num_hidden_layers=4, hidden_size=2048, intermediate_size=5632, num_attention_heads=16,
                           num_key_value_heads=4, vocab_size=32000, use_cache=False)
        return tr.LlamaModel(cfg), (torch.randint(0, cfg.vocab_size, (2, 32) if tiny else (4, 1024)),)
    raise SystemExit(f"unknown model {name!r}")


def _fill(template: str, module) -> str:
    """A class template filled with one region's constructor figures: the first convolution's
    in/out channels, kernel size, stride and padding, and whether the region ends in a ReLU."""
    from torch import nn

    conv = next(m for m in module.modules() if isinstance(m, nn.Conv2d))
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
    head = ("| model | state | tasks (regions) | covered | ceiling | eager ms | compile ms | result | result ms "
            "| vs eager | vs compile | capture s | cut s | baselines s | search s | assemble s | verify s | wall s |")
    lines = [head, "| --- " * 18 + "|"]
    for r in rows:
        s = r.get("seconds", {})
        lines.append(f"| {r['model']} | {r['state']} | {r.get('tasks', '-')} ({r.get('regions', '-')}) "
                     f"| {_f(r.get('covered_share'), '.1%')} | {_f(r.get('ceiling'), '.2f')} | {_f(r.get('eager_ms'))} "
                     f"| {_f(r.get('compile_ms'))} | {r.get('choice', '-')} | {_f(r.get('result_ms'))} "
                     f"| {_f(r.get('speedup_vs_eager'), '.3f')} | {_f(r.get('speedup_vs_compile'), '.3f')} "
                     + " ".join(f"| {_f(s.get(k), '.1f')}" for k in ("capture", "cut", "baselines", "search",
                                                                    "assemble", "verify"))
                     + f" | {_f(r.get('wall_s'), '.0f')} |")
    for r in rows:
        lines += ["", f"{r['model']}: {r.get('reason', '')}"]
        lines += [f"- note: {n}" for n in r.get("notes", [])]
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


class Clock:
    """The per-model budget: what the search may still start, and whether the judgement fits."""

    def __init__(self, budget: float, jobs: int) -> None:
        self.start, self.budget, self.jobs = time.monotonic(), budget, jobs
        self.whole_s = 0.0  # the whole model's baselines' wall time
        self.task_s = 0.0  # the longest task so far
        self.task_start: dict[str, float] = {}
        self.searched = False

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def reserve(self) -> float:
        """Three whole-model evaluations (user's weights, redrawn, compiled): each about as long as
        the baselines' window, which timed eager and torch.compile; overlapped (--jobs > 1), their
        starts, compiles and checks run together and only their timings take turns."""
        return (3.0 if self.jobs < 2 else 2.0) * self.whole_s

    def should_stop(self) -> bool:
        need = self.reserve() + (0.0 if self.searched else max(self.task_s, 0.25 * self.whole_s))
        return self.elapsed() + need > self.budget


def task_rows(tasks, searchable: set[str]) -> list[dict]:
    return [{"name": t.name, "class": t.class_name, "count": t.count, "share": t.share, "paths": list(t.paths)[:4],
             "state": "queued" if t.name in searchable else "not searched"} for t in tasks]


def one_model(name: str, args, table: Table, cand_dir: Path | None) -> None:
    import torch

    import kernelswarm
    from kernelswarm.runconfig import Event

    row, clock = table.row, Clock(args.budget, args.jobs)
    torch.manual_seed(0)
    model, inputs = build(name, args.size)
    model = model.eval().to(args.device)
    row["config"] = f"{type(model).__name__} {args.size}, inputs {[tuple(x.shape) for x in inputs]}"
    by_name: dict[str, dict] = {}

    def on_stage(st) -> None:
        row["seconds"] = {k: round(v, 2) for k, v in st.seconds.items()}
        row["wall_s"] = clock.elapsed()
        if st.name == "cut":
            if cand_dir is not None:
                _templates(args.candidates, cand_dir, st.tasks, model)
            searchable = {t.name for t in st.tasks if t.share >= args.min_share and
                          (args.agents != "folder" or (cand_dir / f"{t.name}.py").is_file())}
            row.update(state="cut", tasks=len(st.tasks), regions=sum(len(t.paths) for t in st.tasks),
                       covered_share=st.covered_share, ceiling=1 / (1 - st.covered_share) if st.covered_share < 0.999
                       else None, refused=st.refused[:20], per_task=task_rows(st.tasks, searchable))
            by_name.update({t["name"]: t for t in row["per_task"]})
        elif st.name == "baselines" and st.end_to_end is not None:
            e = st.end_to_end
            clock.whole_s = st.seconds.get("baselines", 0.0)
            row.update(state="baselines", eager_ms=e.eager_ms, compile_ms=e.compile_ms, choice=e.choice,
                       result_ms=e.result_ms, speedup_vs_eager=e.speedup_vs_eager,
                       speedup_vs_compile=e.speedup_vs_compile, reason=e.reason)
        elif st.name == "searched":
            clock.searched = True
            row["state"] = "searched"
        table.write()

    def on_event(e: Event) -> None:
        t = by_name.get(e.problem)
        if t is None:
            return
        if e.kind == "problem":
            clock.task_start[e.problem] = time.monotonic()
            t["state"] = "searching"
        elif e.kind == "done" and e.result is not None:
            r = e.result
            secs = time.monotonic() - clock.task_start.get(e.problem, clock.start)
            clock.task_s = max(clock.task_s, secs)
            t.update(state="done", seconds=round(secs, 1), baseline_ms=r.eager_ms, compile_ms=r.compile_ms,
                     best_ms=r.result_ms, agent=r.best.agent if r.best else None, speedup=r.speedup_vs_eager,
                     reason=r.reason[:200])
            table.write()
        elif e.kind == "note" and "stopped before" in e.message:
            t["state"] = "not reached (budget)"
            table.write()

    opt = kernelswarm.optimize(model, inputs, device=args.device, agents=args.agents,
                               candidates=str(cand_dir) if cand_dir else None, db=args.db, timeout=args.timeout,
                               jobs=args.jobs, should_stop=clock.should_stop, search_below=args.min_share,
                               on_stage=on_stage,
                               on_event=on_event)
    e = opt.end_to_end
    row.update(state="done", choice=opt.choice, correct=opt.correct, result_ms=e.result_ms,
               assembled_ms=e.assembled_ms, compiled_assembled_ms=e.compiled_assembled_ms,
               speedup_vs_eager=opt.speedup_vs_eager, speedup_vs_compile=opt.speedup_vs_compile,
               speedup_ci=opt.speedup_ci, reason=e.reason, notes=e.notes, seconds=opt.seconds,
               wall_s=clock.elapsed(), versions=opt.versions,
               evaluations=[(label, ev.verdict.value, ev.reason[:200]) for label, ev in e.evaluations])
    for t in by_name.values():
        if t["state"] in ("queued", "searching"):
            t["state"] = "not reached (budget)"
    for t in opt.tasks:
        if t.name in by_name and t.agent:
            by_name[t.name].update(agent=t.agent, speedup=t.speedup, speedup_ci=t.speedup_ci, best_ms=t.best_ms)
    table.write()


def _templates(src: str, dst: Path, tasks, model) -> None:
    """DIR/<ClassName>.template.py, filled for the hottest task of that class, as dst/<task>.py."""
    for tmpl in Path(src).glob("*.template.py"):
        cls = tmpl.name.removesuffix(".template.py")
        hot = next((t for t in tasks if t.class_name == cls), None)  # tasks come hottest first
        if hot is not None and not (dst / f"{hot.name}.py").exists():
            (dst / f"{hot.name}.py").write_text(_fill(tmpl.read_text(), model.get_submodule(hot.paths[0])))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="gpt2")
    ap.add_argument("--agents", default="cudagraph", help="comma list; 'folder' alone: only the candidates")
    ap.add_argument("--candidates", default=None, help="hand-written kernels: DIR/<task name>.py, DIR/<Class>.template.py")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", choices=("full", "tiny"), default="full", help="tiny: small configs for a CPU")
    ap.add_argument("--budget", type=float, default=500.0, help="seconds per model, everything included")
    ap.add_argument("--min-share", type=float, default=0.01, help="tasks under this share are not searched")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per evaluation")
    ap.add_argument("--jobs", type=int, default=3, help="evaluations at once (timings one at a time)")
    ap.add_argument("--db", default=None, help="default: a fresh store under OUT")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/optimize_models"))
    args = ap.parse_args()
    if args.candidates and not Path(args.candidates).is_dir():
        print(f"--candidates {args.candidates}: no such folder", file=sys.stderr)
        return 2
    if args.candidates and "folder" not in args.agents.split(","):
        args.agents += ",folder"

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    args.out.mkdir(parents=True, exist_ok=True)
    args.db = args.db or str(args.out / "optimize_models.db")
    rows: list[dict] = []
    for name in args.models.split(","):
        table = Table(args.out, rows, {"model": name, "state": "building", "budget_s": args.budget})
        table.write()
        cand_dir = None
        if args.candidates:  # a copy: templates are filled in beside the task files
            cand_dir = Path(tempfile.mkdtemp(prefix=f"ks-cands-{name}-"))
            for f in Path(args.candidates).glob("*.py"):
                if not f.name.endswith(".template.py"):
                    shutil.copy(f, cand_dir / f.name)
        try:
            one_model(name, args, table, cand_dir)
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
    sys.exit(main())
