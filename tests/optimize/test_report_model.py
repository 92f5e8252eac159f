"""The report's model section, from an optimized model's manifest."""

from kernelswarm.report.model import model_section, write_model_report

MANIFEST = {
    "model_class": "GPT2Model", "device": "cuda", "choice": "assembled", "correct": True,
    "supports": "inference only",
    "figures": {"eager_ms": 10.0, "compile_ms": 9.0, "result_ms": 8.0, "speedup_vs_eager": 1.25,
                "speedup_vs_compile": 1.125, "covered_share": 0.8, "ceiling": 5.0},
    "tasks": [
        {"name": "h_mlp", "class": "GPT2MLP", "count": 12, "share": 0.5,
         "winner": {"agent": "folder", "candidate_ms": 1.0, "baseline_ms": 2.0}},
        {"name": "h_attn", "class": "GPT2Attention", "count": 12, "share": 0.3, "winner": None},
    ],
    "refused": [{"path": "wte", "reason": "takes a <script> as input"}],
}


def test_model_section_shows_shares_ceiling_and_figures(tmp_path):
    html = model_section(MANIFEST)
    assert "GPT2Model" in html and "h_mlp" in html and "h_attn" in html
    assert "50.0%" in html and "25.0%" in html  # h_mlp's share before, and after its 2x winner
    assert "5.00×" in html and "1.25×" in html  # ceiling, speedup vs eager
    assert "&lt;script&gt;" in html and "<script>" not in html  # reasons are escaped
    path = write_model_report(MANIFEST, tmp_path)
    assert "h_mlp" in path.read_text()


def test_model_section_shows_the_interval_why_and_training_steps():
    m = {**MANIFEST, "mode": "train",
         "figures": {**MANIFEST["figures"], "speedup_ci": [1.2, 1.3], "reason": "assembled won: interval 1.2-1.3x"},
         "steps": {"against": "eager", "passed": True, "detail": "4 steps with SGD and AdamW match", "steps": 4,
                   "optimizers": ["sgd", "adamw"], "speedup": 1.2, "speedup_ci": [1.1, 1.3], "n": 30}}
    html = model_section(m)
    assert "[1.20, 1.30]" in html and "assembled won: interval 1.2-1.3x" in html
    assert "Training steps (4 per optimizer: sgd, adamw): match" in html and "[1.10, 1.30]" in html
    assert "Training steps" not in model_section(MANIFEST)
