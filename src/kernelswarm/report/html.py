"""The report page: one self-contained HTML file (inline CSS, SVG and a few lines of JS).

Everything that came from a run is escaped on the way in: candidate sources, reasons, notes and
agent names are written by untrusted models, and the page must show them, never run them.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from kernelswarm import redact
from kernelswarm.metrics import FAST_P, Summary
from kernelswarm.records import Selection
from kernelswarm.report import svg
from kernelswarm.report.data import Attempt, ProblemReport, ReportData

_CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--card:#fff;--eager:#2563eb;--best:#d97706}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 24px 64px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:36px 0 10px}h3{font-size:15px;margin:18px 0 8px}
.sub{color:var(--muted);font-size:13px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:22px 0 6px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.tile b{display:block;font-size:22px;font-weight:650}.tile span{color:var(--muted);font-size:12px}
figure{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:14px 0;padding:14px 16px 8px}
figcaption{color:var(--muted);font-size:12px;border-top:1px solid var(--line);margin-top:6px;padding-top:6px}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:10px;
 overflow:hidden;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}
th{background:#f1f5f9;font-weight:600;font-size:12px;color:#374151;white-space:normal}
th.sortable{cursor:pointer}th.sortable:hover{color:var(--eager)}
td.l,th.l{text-align:left}td.reason{text-align:left;white-space:normal;color:#374151;max-width:520px}
tr:last-child td{border-bottom:none}
.chip{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11px;font-weight:600;color:#fff}
.accepted{background:#16a34a}.incorrect{background:#ea580c}.rejected{background:#dc2626}
.compile_error{background:#7c3aed}.runtime_error{background:#db2777}.timeout{background:#64748b}.none{background:#9ca3af}
details.problem{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:10px 0;padding:0 16px}
details.problem>summary{cursor:pointer;padding:12px 0;font-weight:600;list-style-position:outside}
details.problem>summary span{font-weight:400;color:var(--muted);margin-left:10px}
details.src summary{cursor:pointer;color:var(--eager);margin:8px 0}
pre{background:#0f172a;color:#e2e8f0;padding:14px;border-radius:8px;overflow:auto;font-size:12px;line-height:1.45;max-height:560px}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:4px 0 10px;font-size:13px}.facts b{font-weight:600}
.good{color:#15803d}.bad{color:#b91c1c}.flag{background:#ca8a04}.noise{background:#a16207}td.wrap{white-space:normal}
button{font:inherit;font-size:12px;border:1px solid var(--line);background:var(--card);border-radius:6px;padding:3px 10px;cursor:pointer}
"""

# Sorting by a column's data-v (numbers) or text, and opening every problem at once.
_JS = """
(function () {
  document.querySelectorAll("table.sort").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.classList.add("sortable");
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute("data-dir") !== "asc";
        th.setAttribute("data-dir", asc ? "asc" : "desc");
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var u = parseFloat(x.getAttribute("data-v")), v = parseFloat(y.getAttribute("data-v"));
          var c = (!isNaN(u) && !isNaN(v)) ? u - v : x.textContent.localeCompare(y.textContent);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var toggle = document.getElementById("toggle-all");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var all = document.querySelectorAll("details.problem"), open = toggle.textContent === "expand all";
      all.forEach(function (d) { d.open = open; });
      toggle.textContent = open ? "collapse all" : "expand all";
    });
  }
})();
"""


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}×"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g} ms"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.3g}%"


def _ci(ci: tuple[float, float] | None) -> str:
    return "—" if ci is None else f"{ci[0]:.3g}–{ci[1]:.3g}×"


def _num(v: float | None) -> str:
    """The data-v attribute that sorting reads."""
    return "" if v is None else f' data-v="{v:.6g}"'


def _anchor(name: str) -> str:
    return "p-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name)


def versions_line(data: ReportData) -> str:
    v = data.versions
    parts = [v.get("device_name") or data.device, f"device {data.device}", f"driver {v.get('driver') or 'n/a'}",
             f"torch {v.get('torch') or 'n/a'}", f"triton {v.get('triton') or 'n/a'}"]
    if v.get("cuda"):
        parts.insert(3, f"CUDA {v['cuda']}")
    return " · ".join(escape(str(p)) for p in parts)


def _figure(body: str, caption: str, data: ReportData) -> str:
    return f"<figure>{body}<figcaption>{caption}<br>{versions_line(data)}</figcaption></figure>"


def _level_table(levels: list[Summary], vs_best: bool) -> str:
    head = "".join(f"<th>fast<sub>{p:g}</sub></th>" for p in FAST_P)
    rows = []
    for s in levels:
        g, md, mn = ((s.geomean_vs_best, s.median_vs_best, s.mean_vs_best) if vs_best
                     else (s.geomean_vs_eager, s.median_vs_eager, s.mean_vs_eager))
        fp = s.fast_p_vs_best if vs_best else s.fast_p_vs_eager
        cells = "".join(f"<td{_num(fp.get(p))}>{_pct(fp.get(p))}</td>" for p in FAST_P)
        rows.append(f'<tr><td class="l">{escape(s.label)}</td><td>{s.n}</td><td{_num(s.correct_share)}>'
                    f"{_pct(s.correct_share)}</td><td{_num(g)}>{_x(g)}</td><td{_num(md)}>{_x(md)}</td>"
                    f"<td{_num(mn)}>{_x(mn)}</td>{cells}</tr>")
    return (f'<table class="sort"><thead><tr><th class="l">level</th><th>problems</th><th>correct</th>'
            f"<th>geomean</th><th>median</th><th>mean</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _agents_table(data: ReportData) -> str:
    rows = []
    for a in data.agents():
        rows.append(
            f'<tr><td class="l">{escape(a.agent)}</td><td>{a.attempts}</td><td{_num(a.correct_share)}>'
            f"{_pct(a.correct_share)}</td><td>{a.lies}</td><td>{a.noise_rejections}</td>"
            f"<td{_num(a.best_share)}>{_pct(a.best_share)}</td><td{_num(a.geomean_speedup)}>{_x(a.geomean_speedup)}</td><td{_num(a.tokens_in)}>{a.tokens_in:,}</td>"
            f"<td{_num(a.tokens_out)}>{a.tokens_out:,}</td><td{_num(a.cost_usd)}>${a.cost_usd:.2f}</td></tr>")
    return ('<table class="sort"><thead><tr><th class="l">agent</th><th>candidates</th><th>accepted (of evaluated)</th>'
            "<th>rejected: caught lying</th><th>rejected: noise-sensitive</th><th>result on (share of problems)</th><th>geomean speedup vs eager (problems it solved, flagged ones left out)</th>"
            "<th>tokens in</th><th>tokens out</th><th>cost</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _arms_table(data: ReportData) -> str:
    rows = []
    for a in data.arms():
        rows.append(
            f'<tr><td class="l">{escape(a.arm)}</td><td>{a.attempts}</td><td{_num(a.correct_share)}>'
            f"{_pct(a.correct_share)}</td><td>{a.problems}</td><td>{a.solved}</td>"
            f"<td{_num(a.geomean_speedup)}>{_x(a.geomean_speedup)}</td></tr>")
    return ('<table class="sort"><thead><tr><th class="l">context arm</th><th>candidates</th><th>correct</th>'
            "<th>problems tried</th><th>problems solved</th><th>geomean best speedup (solved)</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _problems_table(data: ReportData) -> str:
    rows = []
    for p in data.problems:
        won = p.selection is Selection.WIN if p.selection else (p.speedup_vs_best or 0) > 1.0
        cls = "good" if won and not p.flags else ""
        low = p.interval[0] if p.interval else None
        rows.append(
            f'<tr><td class="l"><a href="#{_anchor(p.name)}">{escape(p.name)}</a>{_flag_chip(p)}</td>'
            f"<td{_num(p.level)}>{p.level if p.level is not None else '—'}</td>"
            f"<td{_num(p.eager_ms)}>{_ms(p.eager_ms)}</td><td{_num(p.compile_ms)}>{_ms(p.compile_ms)}</td>"
            f"<td{_num(p.result_ms)}>{_ms(p.result_ms)}</td><td{_num(p.speedup_vs_eager)}>{_x(p.speedup_vs_eager)}</td>"
            f'<td{_num(p.speedup_vs_best)} class="{cls}">{_x(p.speedup_vs_best)}</td>'
            f"<td{_num(low)}>{_ci(p.interval)}</td>"
            f"<td{_num(p.fraction_of_sol)}>{_pct(p.fraction_of_sol)}</td>"
            f'<td class="l wrap">{escape(p.result_from)}</td>'
            f'<td class="l" title="{escape(p.why)}">{escape(p.selection.value if p.selection else "")}</td></tr>')
    return ('<table class="sort"><thead><tr><th class="l">problem</th><th>level</th><th>eager</th>'
            "<th>torch.compile</th><th>result</th><th>vs eager</th><th>vs best baseline</th>"
            "<th>interval vs best baseline</th><th>of speed of light</th>"
            f'<th class="l">from</th><th class="l">why</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _flag_chip(p: ProblemReport) -> str:
    """A mark on a problem the screen flagged (its speedup stays out of the headline figures)."""
    if not p.flags:
        return ""
    return f' <span class="chip flag" title="{escape("; ".join(p.flags))}">flagged</span>'


def _flagged_note(levels: list[Summary]) -> str:
    """Flagged problems, counted apart from the level figures, with their own geometric means; and
    problems never measured, counted apart."""
    lines = [f"{escape(s.label)}: {s.n_flagged} flagged problem(s) kept out of the figures above; on them, geomean "
             f"{_x(s.flagged_geomean_vs_eager)} vs eager, {_x(s.flagged_geomean_vs_best)} vs best baseline"
             for s in levels if s.n_flagged]
    lines += [f"{escape(s.label)}: {s.n_unmeasured} problem(s) never measured (the run stopped before them) kept out "
              "of the figures above" for s in levels if s.n_unmeasured]
    return f'<p class="sub">{"<br>".join(lines)}</p>' if lines else ""


def _chip(verdict: str | None) -> str:
    v = verdict or "none"
    label = verdict or "no code"
    return f'<span class="chip {escape(v) if re.fullmatch(r"[a-z_]+", v) else "none"}">{escape(label)}</span>'


def _verdict(a: Attempt) -> str:
    """A noise-sensitive rejection looks apart from a candidate caught lying."""
    if a.verdict is None and a.has_code:  # the run stopped before judging it
        return '<span class="chip none">not evaluated</span>'
    if a.rejected_for_noise:
        return ('<span class="chip noise" title="a timing bound the machine\'s load could have tripped; '
                'an identical proposal is judged again">rejected (noise-sensitive)</span>')
    return _chip(a.verdict)


def _why(p: ProblemReport) -> str:
    """Why this problem's result stands, and what was rejected for what."""
    lines = [f"<b>why:</b> {escape(p.why)}"] if p.why else []
    if p.lies or p.noise_rejections:
        lines.append(f"<b>rejected:</b> {p.lies} caught lying (a check no load explains), {p.noise_rejections} "
                     "noise-sensitive (a timing bound the machine's load could have tripped)")
    return f'<p>{"<br>".join(lines)}</p>' if lines else ""


def _problem_details(p: ProblemReport) -> str:
    bars = svg.time_bars([("eager", p.eager_ms, svg.EAGER), ("compile", p.compile_ms, svg.BEST),
                          ("result", p.result_ms, "#16a34a")], p.sol_ms)
    facts = [f"<span>level <b>{p.level if p.level is not None else '—'}</b></span>",
             f"<span>vs eager <b>{_x(p.speedup_vs_eager)}</b></span>",
             f"<span>vs best baseline <b>{_x(p.speedup_vs_best)}</b> (interval {_ci(p.interval)})</span>",
             f"<span>speed of light <b>{_ms(p.sol_ms)}</b> ({_pct(p.fraction_of_sol)} reached)</span>",
             (f"<span>result from <b>{escape(p.result_from)}</b>"
             f"{' (' + escape(p.best_kind) + ', ' + escape(p.best_language or '') + ')' if p.best_kind else ''}</span>")]
    parts = [(f'<details class="problem" id="{_anchor(p.name)}"><summary>{escape(p.name)}{_flag_chip(p)}'
             f"<span>{_x(p.speedup_vs_best)} vs best baseline{' · ' + escape(p.selection.value) if p.selection else ''}"
             f" · {len(p.attempts)} attempts</span></summary>"),
             f'<div class="facts">{"".join(facts)}</div>', _why(p), bars]
    if p.baseline_error:
        parts.append(f'<p class="bad">baselines could not be measured: {escape(p.baseline_error)}</p>')
    if p.flags:
        items = "".join(f"<li>{escape(f)}</li>" for f in p.flags)
        parts.append('<p class="bad">flagged by the screen (as `kernelswarm problems check` does): a speedup here '
                     f"does not show a faster kernel, and it is kept out of the headline figures.</p><ul>{items}</ul>")
    if p.best_source:
        parts.append(f'<details class="src"><summary>winning source ({escape(p.best_agent or "")})</summary>'
                     f"<pre><code>{escape(p.best_source)}</code></pre></details>")
    if p.attempts:
        placed = any(a.timed_on for a in p.attempts)  # a run spread over GPUs or nodes says where
        rows = "".join(
            f"<tr><td>{a.round}</td><td class='l'>{escape(a.agent)}</td><td class='l'>{escape(a.language)}</td>"
            f"<td class='l'>{escape(a.arm)}</td><td class='l'>{_verdict(a)}</td>"
            f"<td{_num(a.candidate_ms)}>{_ms(a.candidate_ms)}</td><td{_num(a.speedup_vs_eager)}>"
            f"{_x(a.speedup_vs_eager)}</td><td>{_ci(a.speedup_ci)}</td>" + (f"<td class='l'>{escape(a.timed_on)}</td>" if placed else "")
            + f"<td class='reason'>{escape(a.reason)}{_waited(a)}</td></tr>"
            for a in p.attempts)
        parts.append('<h3>attempts</h3><table class="sort"><thead><tr><th>round</th><th class="l">agent</th>'
                     '<th class="l">language</th><th class="l">context</th><th class="l">verdict</th><th>time</th>'
                     '<th>vs eager</th><th>interval</th>' + ('<th class="l">timed on</th>' if placed else "")
                     + f'<th class="l">reason</th></tr></thead><tbody>{rows}</tbody></table>')
        logs = "".join(f'<details class="src"><summary>candidate output: round {a.round}, {escape(a.agent)}'
                       f' ({escape(a.verdict or "not evaluated")})</summary><pre><code>{escape(a.log)}</code></pre></details>'
                       for a in p.attempts if a.log)
        if logs:  # what the candidate printed: a build error it caught, a sandbox denial
            parts.append(f"<h3>candidate output</h3>{logs}")
    parts.append("<p></p></details>")
    return "".join(parts)


def render_html(data: ReportData) -> str:
    """The whole page as one string."""
    overall = data.overall()
    total_cost = sum(c for _, _, c in data.costs.values())
    fair = [p for p in data.problems if not p.flags]
    tiles = [
        (str(len(data.problems)), "problems"),
        *([(str(overall.n_flagged), "flagged by the screen (kept out of the means)")] if overall.n_flagged else []),
        (_pct(overall.correct_share), "with a correct candidate"),
        (_x(overall.geomean_vs_eager), "geomean vs eager"),
        (_x(overall.geomean_vs_best), "geomean vs best baseline"),
        (_pct(overall.fast_p_vs_best.get(1.0)), "fast₁ vs best baseline"),
        (f"${total_cost:.2f}", "model cost"),
    ]
    eager_pts = [(p.name, p.speedup_vs_eager) for p in fair if p.speedup_vs_eager]
    best_pts = [(p.name, p.speedup_vs_best) for p in fair if p.speedup_vs_best]
    dist = svg.speedup_distribution([("against eager PyTorch", svg.EAGER, eager_pts),
                                     ("against the faster of eager and torch.compile", svg.BEST, best_pts)])
    # Unsolved problems count in fast_p's denominator but never above a threshold.
    curve = svg.fast_p_curve([("vs eager", svg.EAGER, [p.speedup_vs_eager if p.correct else None for p in fair]),
                              ("vs best baseline", svg.BEST, [p.speedup_vs_best if p.correct else None for p in fair])],
                             n=len(fair))
    arms = data.arms()
    when = escape(data.started_at) + (f" – {escape(data.finished_at)}" if data.finished_at else "")
    body = [
        f"<h1>{escape(data.title)}</h1>",
        f'<div class="sub">{escape(data.status or "")} · {when} · report generated {escape(data.generated_at)}</div>',
        f'<div class="sub">{versions_line(data)}</div>',
        f'<div class="sub">outcomes: {escape(data.outcome_line())}</div>',
        f'<div class="sub">rejections: {escape(data.rejections_line())}</div>',
        f'<div class="sub">device: {escape(data.device_line())}</div>',
        f'<div class="sub">timed on (evaluations): {escape(data.places_line())}</div>' if data.places_line() else "",
        '<div class="tiles">' + "".join(f'<div class="tile"><b>{v}</b><span>{escape(k)}</span></div>' for v, k in tiles) + "</div>",
        "<h2>Speedup over problems</h2>",
        _figure(dist, "Speedup of each problem's result (log scale): its best correct candidate, or the faster "
                      "baseline when none beat it. Solid line: median; dashed: mean; dotted: 1×. Problems flagged by the screen are left out.", data),
        _figure(curve, "fast<sub>p</sub>: share of all problems whose result is correct and more than p times faster.", data),
        "<h2>Per level</h2><h3>against eager PyTorch</h3>", _level_table(data.levels(), vs_best=False),
        "<h3>against the faster of eager and torch.compile</h3>", _level_table(data.levels(), vs_best=True),
        _flagged_note(data.levels()),
        "<h2>Per agent</h2>", _agents_table(data),
    ]
    if len(arms) > 1:
        body += ["<h2>Context arms</h2>", ('<p class="sub">What each agent was shown when it proposed a candidate. '
                 "Round 0 never has feedback, so arms with feedback are also later rounds.</p>"), _arms_table(data)]
    body += ["<h2>Problems</h2>", _problems_table(data),
             '<h2>Details <button id="toggle-all" type="button">expand all</button></h2>']
    body += [_problem_details(p) for p in data.problems]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(data.title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(body)}</main><script>{_JS}</script></body></html>")


def write_report(data: ReportData, out_dir: str | Path) -> Path:
    """Write `out_dir/index.html` and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(redact.scrub(render_html(data)), encoding="utf-8")  # the store's text is scrubbed; so is the page
    return path


def _waited(a: Attempt) -> str:
    """An attempt's wait for another kernelswarm process's hold on the device, after its reason."""
    return f" <span class='sub'>({escape(a.lock_wait)})</span>" if a.lock_wait else ""
