"""The report's model section (kernelswarm optimize): each task's share of the model's time before
and after, the Amdahl ceiling, the end-to-end figures. A block of its own, written from an
optimized model's manifest (optimize/manifest.py), so the rest of the report is untouched."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

_COLORS = ("#2563eb", "#d97706", "#16a34a", "#7c3aed", "#db2777", "#0891b2", "#ea580c", "#64748b")


def _x(v: float | None) -> str:
    return f"{v:.2f}×" if v else "–"


def _ms(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "–"


def _ci(ci: Any) -> str:
    """' [low, high]' of an interval in a manifest, '' when none."""
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""


def _steps(st: Any) -> str:
    """Training mode: the optimizer steps' check and the whole steps' paired figure, in words."""
    if not isinstance(st, dict):
        return ""
    timed = (f" Whole training steps against {escape(str(st.get('against')))}: {_x(st.get('speedup'))}"
             f"{_ci(st.get('speedup_ci'))} over {st.get('n', 0)} paired steps." if st.get("speedup") else "")
    return (f" Training steps ({st.get('steps')} per optimizer: {escape(', '.join(st.get('optimizers') or []))}): "
            f"{'match' if st.get('passed') else 'DIFFER'}: {escape(str(st.get('detail', '')))}.{timed}")


def _bar(label: str, parts: list[tuple[str, float]], rest: float) -> str:
    """A horizontal bar: one segment per task (share of the model's eager time), then the rest."""
    segs = "".join(f'<div title="{escape(n)}: {100 * s:.1f}%" style="width:{100 * s:.2f}%;background:{_COLORS[i % len(_COLORS)]}"></div>'
                   for i, (n, s) in enumerate(parts) if s > 0)
    segs += f'<div title="outside the tasks: {100 * rest:.1f}%" style="width:{100 * rest:.2f}%;background:#cbd5e1"></div>'
    return (f'<div style="display:flex;align-items:center;gap:10px;margin:6px 0"><span style="width:60px">{label}</span>'
            f'<div style="display:flex;flex:1;height:18px;border-radius:4px;overflow:hidden">{segs}</div></div>')


def model_section(m: dict[str, Any]) -> str:
    """HTML for one optimized model, from its manifest."""
    f = m["figures"]
    tasks = m["tasks"]
    eager = f.get("eager_ms")
    before = [(t["name"], min(1.0, t["share"])) for t in tasks]
    after = []
    for t in tasks:
        w = t.get("winner")
        speedup = (w["baseline_ms"] / w["candidate_ms"]) if w and w.get("candidate_ms") else 1.0
        after.append((t["name"], min(1.0, t["share"]) / speedup))
    rest = max(0.0, 1.0 - sum(s for _, s in before))
    result = f.get("result_ms")
    scale = (result / eager) if result and eager else 1.0  # the whole bar after, in eager's units
    tiles = [(_ms(eager), "eager ms"), (_ms(f.get("compile_ms")), "torch.compile ms"), (_ms(result), f"result ms ({m['choice']})"),
             (_x(f.get("speedup_vs_eager")) + _ci(f.get("speedup_ci")), "vs eager (99% interval)"),
             (_x(f.get("speedup_vs_compile")) + _ci(f.get("speedup_vs_compile_ci")), "vs torch.compile"),
             (f"{100 * f.get('covered_share', 0):.0f}%", "time in tasks"), (_x(f.get("ceiling")) if f.get("ceiling") else "∞", "Amdahl ceiling")]
    rows = []
    for t, (_, a) in zip(tasks, after):
        w = t.get("winner")
        rows.append(f'<tr><td class="l">{escape(t["name"])}</td><td class="l">{escape(t["class"])}</td><td>{t["count"]}</td>'
                    f'<td>{100 * t["share"]:.1f}%</td><td>{100 * a:.1f}%</td>'
                    f'<td class="l">{escape(w["agent"]) if w else "baseline"}</td>'
                    f'<td>{_x(w["baseline_ms"] / w["candidate_ms"]) if w else "–"}</td></tr>')
    refused = "".join(f"<li><b>{escape(r['path'])}</b>: {escape(r['reason'])}</li>" for r in m.get("refused", []))
    return "".join([
        f"<h2>Model: {escape(m['model_class'])} on {escape(m['device'])}</h2>",
        f'<p class="sub">{escape(m.get("supports", ""))}. '
        f'{"correct" if m.get("correct") else "NOT correct: the assembled model failed its end-to-end check"}.'
        f'{(" " + escape(f["reason"]) + ".") if f.get("reason") else ""}{_steps(m.get("steps"))}</p>',
        '<div class="tiles">' + "".join(f'<div class="tile"><b>{v}</b><span>{escape(k)}</span></div>' for v, k in tiles) + "</div>",
        "<figure>", _bar("before", before, rest), _bar("after", [(n, s * 1.0) for n, s in after], rest),
        f"<figcaption>Share of the model's eager time per task, before and with the winners (the rest, grey, is "
        f"outside the tasks). End to end the result takes {100 * scale:.0f}% of eager's time.</figcaption></figure>",
        '<table class="sort"><thead><tr><th class="l">task</th><th class="l">class</th><th>count</th><th>share before</th>'
        '<th>share after</th><th class="l">winner</th><th>task speedup</th></tr></thead><tbody>', "".join(rows),
        "</tbody></table>",
        f"<h3>Not cut into tasks</h3><ul>{refused}</ul>" if refused else "",
    ])


def write_model_report(manifest: dict[str, Any], out_dir: str | Path, run_page: str | None = None) -> Path:
    """`out_dir/index.html`: the model section, above the run's own report when there is one."""
    section = model_section(manifest)
    if run_page and "<h2>" in run_page:
        page = run_page.replace("<h2>", section + "<h2>", 1)
    else:
        from kernelswarm.report.html import _CSS

        page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(manifest["model_class"])}</title>'
                f"<style>{_CSS}</style></head><body><main>{section}</main></body></html>")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
