"""Inline SVG figures, drawn by hand: no plotting library, no network, nothing to load.

Each function returns an `<svg>` element as a string. Every text that came from a run (problem
names, agents) is escaped: candidate code and reasons are written by untrusted models.
"""

from __future__ import annotations

import math
from html import escape

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
EAGER = "#2563eb"  # series against eager PyTorch
BEST = "#d97706"  # series against the faster of eager and torch.compile
FONT = "font-family:inherit;font-size:11px"


def _fmt_x(x: float) -> str:
    return f"{x:g}×" if x >= 0.1 else f"{x:.2g}×"


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering [lo, hi]."""
    ticks = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            t = m * 10.0**e
            if lo <= t * 1.0001 and t <= hi * 1.0001:
                ticks.append(t)
    return ticks


def _log_range(values: list[float]) -> tuple[float, float]:
    return min([0.5] + values) / 1.25, max([2.0] + values) * 1.25


def speedup_distribution(panels: list[tuple[str, str, list[tuple[str, float]]]], width: int = 760) -> str:
    """Histograms of speedups on one shared log axis, one panel per baseline.

    panels: (title, colour, [(problem, speedup)]). Each panel marks 1x, the median (solid) and the
    mean (dashed), and draws one tick per problem under the bars (hover for its name).
    """
    values = [v for _, _, pts in panels for _, v in pts if v and v > 0]
    lo, hi = _log_range(values) if values else (0.5, 2.5)
    left, right, panel_h, gap, top = 44, 16, 120, 46, 8
    height = top + (len(panels) - 1) * (panel_h + gap) + panel_h + 16
    plot_w = width - left - right

    def x_of(v: float) -> float:
        return left + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    # Bins of width 10^0.1 (about 1.26x), aligned so that 1.0 is a bin edge.
    step = 0.1
    first = math.floor(math.log10(lo) / step)
    nbins = math.ceil(math.log10(hi) / step) - first
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
           f'role="img" aria-label="speedup distribution" style="{FONT}">']
    for i, (title, colour, pts) in enumerate(panels):
        y0 = top + i * (panel_h + gap) + 16  # top of the plot area
        base = y0 + panel_h - 30  # bar baseline
        xs = [v for _, v in pts if v and v > 0]
        counts = [0] * nbins
        for v in xs:
            counts[min(nbins - 1, max(0, math.floor(math.log10(v) / step) - first))] += 1
        cmax = max(counts + [1])
        out.append(f'<text x="{left}" y="{y0 - 4}" fill="{INK}" font-weight="600">{escape(title)} '
                   f'<tspan fill="{MUTED}" font-weight="400">({len(xs)} problems)</tspan></text>')
        for t in _log_ticks(lo, hi):
            x = x_of(t)
            out.append(f'<line x1="{x:.1f}" y1="{y0 + 4}" x2="{x:.1f}" y2="{base}" stroke="{GRID}"/>')
            out.append(f'<text x="{x:.1f}" y="{base + 26}" fill="{MUTED}" text-anchor="middle">{_fmt_x(t)}</text>')
        for b, c in enumerate(counts):
            if c:
                x1, x2 = x_of(10 ** ((first + b) * step)), x_of(10 ** ((first + b + 1) * step))
                h = (base - y0 - 18) * c / cmax
                out.append(f'<rect x="{x1 + 1:.1f}" y="{base - h:.1f}" width="{max(1.0, x2 - x1 - 2):.1f}" '
                           f'height="{h:.1f}" fill="{colour}" fill-opacity="0.75" rx="2">'
                           f'<title>{c} problem{"s" if c != 1 else ""} in '
                           f'{_fmt_x(10 ** ((first + b) * step))}-{_fmt_x(10 ** ((first + b + 1) * step))}</title></rect>')
        out.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="{INK}"/>')
        for name, v in pts:
            if v and v > 0:
                x = x_of(v)
                out.append(f'<line x1="{x:.1f}" y1="{base + 3}" x2="{x:.1f}" y2="{base + 12}" stroke="{colour}" '
                           f'stroke-width="1.5"><title>{escape(name)}: {v:.3g}×</title></line>')
        x1 = x_of(1.0)
        out.append(f'<line x1="{x1:.1f}" y1="{y0}" x2="{x1:.1f}" y2="{base}" stroke="{MUTED}" stroke-dasharray="2 3"/>')
        if xs:
            med = sorted(xs)[len(xs) // 2] if len(xs) % 2 else 0.5 * sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1])
            mean = sum(xs) / len(xs)
            # The smaller of the two is labelled on its left, the larger on its right: never overlapping.
            left_first = med <= mean
            for label, v, dash in (("median", med, ""), ("mean", mean, ' stroke-dasharray="6 3"')):
                x = x_of(v)
                on_left = (label == "median") == left_first
                anchor, dx = ("end", -4) if on_left else ("start", 4)
                out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{base}" stroke="{INK}" stroke-width="1.5"{dash}/>')
                out.append(f'<text x="{x + dx:.1f}" y="{y0 + 8}" fill="{INK}" text-anchor="{anchor}">'
                           f'{label} {v:.3g}×</text>')
    out.append("</svg>")
    return "".join(out)


def fast_p_curve(series: list[tuple[str, str, list[float | None]]], n: int, width: int = 760, height: int = 230) -> str:
    """fast_p against p on a log axis: the share of all n problems solved correctly and more than p
    times faster. series: (label, colour, per-problem speedups, None for unsolved)."""
    left, right, top, bottom = 44, 16, 14, 40
    values = [v for _, _, xs in series for v in xs if v]
    lo = 0.5
    hi = max([4.0] + values) * 1.25
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(v: float) -> float:
        return left + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    def y_of(share: float) -> float:
        return top + plot_h * (1 - share)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
           f'role="img" aria-label="fast_p curve" style="{FONT}">']
    for s in (0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(s)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" fill="{MUTED}" text-anchor="end">{int(s * 100)}%</text>')
    for t in _log_ticks(lo, hi):
        x = x_of(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{GRID}"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" fill="{MUTED}" text-anchor="middle">{_fmt_x(t)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" fill="{MUTED}" text-anchor="middle">'
               f'p: speedup threshold</text>')
    for i, (label, colour, xs) in enumerate(series):
        solved = sorted(v for v in xs if v)
        # A step function: share of problems with speedup > p, falling at each problem's speedup.
        pts = [(lo, sum(v > lo for v in solved) / max(n, 1))]
        for v in solved:
            if lo < v < hi:
                share_before = sum(w >= v for w in solved) / max(n, 1)
                share_after = sum(w > v for w in solved) / max(n, 1)
                pts += [(v, share_before), (v, share_after)]
        pts.append((hi, 0.0))
        path = " ".join(f"{'M' if j == 0 else 'L'}{x_of(p):.1f},{y_of(s):.1f}" for j, (p, s) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<rect x="{width - right - 190}" y="{top + 6 + 16 * i}" width="12" height="3" fill="{colour}"/>')
        out.append(f'<text x="{width - right - 172}" y="{top + 11 + 16 * i}" fill="{INK}">{escape(label)}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="{INK}"/>')
    out.append("</svg>")
    return "".join(out)


def time_bars(rows: list[tuple[str, float | None, str]], sol_ms: float | None, width: int = 420) -> str:
    """Horizontal bars of times (eager, compile, best), with the speed-of-light time as a line."""
    rows = [(label, ms, colour) for label, ms, colour in rows if ms]
    if not rows:
        return ""
    left, right, bar_h = 70, 70, 14
    height = 8 + len(rows) * (bar_h + 6) + (14 if sol_ms else 0)
    tmax = max(ms for _, ms, _ in rows)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'role="img" aria-label="times" style="{FONT}">']
    for i, (label, ms, colour) in enumerate(rows):
        y = 4 + i * (bar_h + 6)
        w = max(1.0, (width - left - right) * ms / tmax)
        out.append(f'<text x="{left - 6}" y="{y + 11}" fill="{INK}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}" rx="2"/>')
        out.append(f'<text x="{left + w + 4:.1f}" y="{y + 11}" fill="{MUTED}">{ms:.4g} ms</text>')
    if sol_ms:
        x = left + (width - left - right) * min(sol_ms, tmax) / tmax
        out.append(f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{height - 12}" stroke="#dc2626" stroke-dasharray="3 2"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 2}" fill="#dc2626" text-anchor="start">speed of light {sol_ms:.3g} ms</text>')
    out.append("</svg>")
    return "".join(out)
