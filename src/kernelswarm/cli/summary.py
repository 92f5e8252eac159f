"""The terminal summary of a run (`kernelswarm run`'s end, and `kernelswarm report`): the HTML
report's figures from the same records (report.data), so that the two never disagree. Per problem
it says why its result stands: the selection, and the interval against the faster baseline that
the selection rests on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernelswarm.cli.common import console

if TYPE_CHECKING:
    from kernelswarm.report.data import ProblemReport, ReportData

def _x(v: float | None) -> str:
    return f"{v:.2f}x" if v is not None else "-"


def _pct(v: float | None) -> str:
    return f"{100 * v:.0f}%" if v is not None else "-"


def _ms(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "-"


def _ci(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"


def _rejections(p: ProblemReport) -> str:
    """Rejections of one problem, lies apart from noise-sensitive ones."""
    if not p.lies and not p.noise_rejections:
        return "-"
    return f"{p.lies} lying, {p.noise_rejections} noise"


def print_summary(data: ReportData) -> None:
    """Per problem, then per level, then per agent: the figures DESIGN.md's Metrics section names."""
    _problems(data)
    _levels(data)
    _agents(data)


def _problems(data: ReportData) -> None:
    from rich.table import Table
    from rich.text import Text

    state = "" if data.status == "finished" else f", {data.status}"
    where = data.versions.get("device_name", "")
    where = f" ({where})" if where else ""
    t = Table(title=f"{data.title} on {data.device}{where}{state}", title_justify="left")
    for col in ("problem", "level", "eager ms", "compile ms", "result", "ms", "vs eager", "vs best baseline",
                "interval vs best baseline", "why", "rejected"):
        t.add_column(col, justify="right" if "ms" in col or col.startswith(("vs", "interval")) else "left")
    for p in data.problems:
        name = f"{p.name} [flagged]" if p.flags else p.name
        why = p.selection.value if p.selection else ""
        t.add_row(Text(name, style="yellow" if p.flags else ""), str(p.level or ""), _ms(p.eager_ms),
                  _ms(p.compile_ms), p.result_from, _ms(p.result_ms), _x(p.speedup_vs_eager),
                  _x(p.speedup_vs_best), _ci(p.interval), why, _rejections(p))
    console.print(t)
    for p in data.problems:  # the selection in words: the margin, and what the interval says
        if p.why:
            console.print(f"  {p.name}: {p.why}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"outcomes: {data.outcome_line()}", markup=False)
    console.print(f"rejections: {data.rejections_line()}", markup=False)
    console.print(f"device: {data.device_line()}", markup=False)
    if data.places_line():
        console.print(f"timed on (evaluations): {data.places_line()}", markup=False, soft_wrap=True)
    for p in data.problems:
        if p.flags:
            more = f" (and {len(p.flags) - 1} more)" if len(p.flags) > 1 else ""
            console.print(Text(f"[flagged] {p.name}: {p.flags[0]}{more}", style="yellow"))


def _levels(data: ReportData) -> None:
    from rich.table import Table

    from kernelswarm.metrics import FAST_P

    s = Table(title="summary (result = best candidate whose interval clears the margin, else the faster baseline)",
              title_justify="left")
    for col in ("level", "n", "against", "geomean", "median", "mean", *[f"fast_{p}" for p in FAST_P], "correct"):
        s.add_column(col)
    levels = data.levels()
    for lv in levels:
        for against, g, md, mn, fp in (
            ("eager", lv.geomean_vs_eager, lv.median_vs_eager, lv.mean_vs_eager, lv.fast_p_vs_eager),
            ("best baseline", lv.geomean_vs_best, lv.median_vs_best, lv.mean_vs_best, lv.fast_p_vs_best),
        ):
            first = against == "eager"
            s.add_row(lv.label if first else "", str(lv.n) if first else "", against, _x(g), _x(md), _x(mn),
                      *[_pct(fp[p]) for p in FAST_P], _pct(lv.correct_share) if first else "")
    console.print(s)
    for lv in levels:
        if lv.n_flagged:
            console.print(f"{lv.label}: {lv.n_flagged} flagged problem(s) kept out of the figures above; on them, "
                          f"geomean {_x(lv.flagged_geomean_vs_eager)} vs eager, {_x(lv.flagged_geomean_vs_best)} "
                          "vs best baseline (`kernelswarm problems check` says why)", highlight=False, markup=False)
    for lv in levels:
        if lv.n_unmeasured:
            console.print(f"{lv.label}: {lv.n_unmeasured} problem(s) never measured (the run stopped before them) "
                          "kept out of the figures above", highlight=False, markup=False)
    for lv in levels:
        shares = ", ".join(f"{a} {_pct(v)}" for a, v in lv.best_agent_share.items())
        console.print(f"best agent, {lv.label}: {shares}", highlight=False, markup=False)


def _agents(data: ReportData) -> None:
    from rich.table import Table

    agents = data.agents()
    if not agents:
        return
    t = Table(title="agents (geomean: geometric mean over the problems each agent solved, flagged ones left out)",
              title_justify="left")
    for col in ("agent", "candidates", "accepted (of evaluated)", "rejected: lying", "rejected: noise",
                "result on (share of problems)", "geomean speedup vs eager", "tokens in", "tokens out", "cost USD"):
        t.add_column(col, justify="left" if col == "agent" else "right")
    for a in agents:
        t.add_row(a.agent, str(a.attempts), _pct(a.correct_share), str(a.lies), str(a.noise_rejections),
                  _pct(a.best_share), _x(a.geomean_speedup), str(a.tokens_in), str(a.tokens_out), f"{a.cost_usd:.4f}")
    console.print(t)
    arms = data.arms()
    if len(arms) > 1:
        t = Table(title="context arms", title_justify="left")
        for col in ("context arm", "candidates", "accepted", "problems tried", "problems solved",
                    "geomean best speedup (solved)"):
            t.add_column(col, justify="left" if col == "context arm" else "right")
        for arm in arms:
            t.add_row(arm.arm, str(arm.attempts), _pct(arm.correct_share), str(arm.problems), str(arm.solved),
                      _x(arm.geomean_speedup))
        console.print(t)
