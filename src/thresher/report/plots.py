"""Inline SVG for the report: score histograms with thresholds, and before/after distributions.

Hand-written SVG instead of a bundled plotting library: the plots are bars and lines, a few
hundred bytes each, they need no script to render, and every label goes through
``html.escape`` like the rest of the page.
"""

from __future__ import annotations

import html

__all__ = ["histogram_svg", "distribution_table"]

_W, _H, _PAD = 300, 120, 22


def _axis_value(value: float, log: bool) -> float:
    import math

    return math.log10(1 + max(value, 0)) if log else value


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def histogram_svg(h: dict) -> str:
    """Stacked bars per bin: passed (blue) and removed by this step (red); thresholds dashed."""
    e = html.escape
    edges, passed, removed = h["edges"], h["passed"], h["removed"]
    lo, hi, n = edges[0], edges[-1], len(passed)
    top = max([p + r for p, r in zip(passed, removed)] + [1])
    bar_w = (_W - 2 * _PAD) / n
    y0 = _H - _PAD
    parts = []
    for i, (p, r) in enumerate(zip(passed, removed)):
        x = _PAD + i * bar_w
        hp, hr = (y0 - 8) * p / top, (y0 - 8) * r / top
        if p:
            parts.append(f"<rect class=bar x={x:.1f} y={y0 - hp:.1f} width={max(bar_w - 1, 1):.1f} height={hp:.1f}>"
                         f"<title>{_label(_bin_start(edges, i, h['log']))}…: {p:,} passed</title></rect>")
        if r:
            parts.append(f"<rect class=rm x={x:.1f} y={y0 - hp - hr:.1f} width={max(bar_w - 1, 1):.1f} "
                         f"height={hr:.1f}><title>{_label(_bin_start(edges, i, h['log']))}…: {r:,} removed"
                         "</title></rect>")
    for t in h["thresholds"] or []:
        at = _axis_value(t, h["log"])
        pos = min(max(at, lo), hi)
        x = _PAD + (_W - 2 * _PAD) * (pos - lo) / ((hi - lo) or 1)
        mark = "→ " if at > hi else "← " if at < lo else ""  # beyond the axis: drawn at its edge
        anchor = " text-anchor=end" if x > _W - 2 * _PAD else ""
        parts.append(f"<line class=thr x1={x:.1f} x2={x:.1f} y1=8 y2={y0}></line>"
                     f"<text class=thr x={x + (-2 if anchor else 2):.1f} y=16{anchor}>{mark}{e(_label(t))}</text>")
    first, last = _bin_start(edges, 0, h["log"]), _bin_start(edges, n, h["log"])
    parts.append(f"<text x={_PAD} y={_H - 6}>{e(_label(first))}</text>"
                 f"<text x={_W - _PAD} y={_H - 6} text-anchor=end>{e(_label(last))}"
                 f"{' (log)' if h['log'] else ''}</text>")
    beyond = f", {h['outside']:,} beyond a threshold" if h["thresholds"] and h["outside"] else ""
    caption = (f"<figcaption title='{e(h['column'])} ({e(h['step'])})'><b>{e(h['column'])}</b> <small>"
               f"{e(h['step'])}, {h['values']:,} records{beyond}</small></figcaption>")
    return (f"<figure class=hist>{caption}<svg width={_W} height={_H} role=img aria-label='"
            f"{e(h['column'])} histogram'>{''.join(parts)}</svg></figure>")


def _bin_start(edges: list[float], i: int, log: bool) -> float:
    return 10 ** edges[i] - 1 if log else edges[i]


def distribution_table(name: str, before: dict, after: dict, top: int = 12) -> str:
    """Counts and shares before and after curation, with a bar for each share."""
    e = html.escape
    total_b, total_a = sum(before.values()) or 1, sum(after.values()) or 1
    rows = []
    for key, n in sorted(before.items(), key=lambda kv: -kv[1])[:top]:
        a = after.get(key, 0)
        rows.append(f"<tr><td>{e(str(key))}</td><td class=n>{n:,}</td><td>{_share_bar(n / total_b, 'bar')}</td>"
                    f"<td class=n>{a:,}</td><td>{_share_bar(a / total_a, 'bar')}</td></tr>")
    more = len(before) - top
    tail = f"<tr><td colspan=5><small>and {more:,} more</small></td></tr>" if more > 0 else ""
    return (f"<table class=dist><tr><th>{e(name)}</th><th>before</th><th>share</th><th>after (kept)</th>"
            f"<th>share</th></tr>{''.join(rows)}{tail}</table>")


def _share_bar(share: float, cls: str) -> str:
    return (f"<svg width=120 height=12 role=img aria-label='{share:.1%}'><rect class={cls} x=0 y=1 "
            f"width={80 * share:.1f} height=10></rect><text x=84 y=10>{share:.0%}</text></svg>")
