"""The report's "Step details": what global ops recorded about their work (``info`` in the
manifest): cluster sizes, balanced sampling before/after, class counts, cache hits, sweeps."""

from __future__ import annotations

import html

from .plots import distribution_table

__all__ = ["step_details"]


def step_details(manifest: dict) -> str:
    sections = []
    for step in manifest["steps"]:
        info = step.get("info")
        if not info:
            continue
        parts = [f"<h3>{html.escape(step['step'])} <small>({html.escape(step.get('op', ''))})</small></h3>"]
        if "leaf_sizes" in info:
            parts.append(_rank_size(info["leaf_sizes"]))
        if "classes_before" in info:
            parts.append(distribution_table("class", info["classes_before"], info["classes_after"]))
        if "sweep" in info:
            parts.append(_sweep(info["sweep"]))
        scalars = {k: v for k, v in info.items()
                   if k not in ("leaf_sizes", "classes_before", "classes_after", "sweep", "weight_by_class")}
        parts.append("<table>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>"
                                         for k, v in scalars.items()) + "</table>")
        sections.append("".join(parts))
    return "".join(sections)


def _fmt(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _rank_size(sizes: dict) -> str:
    """Leaf cluster sizes, largest first, before (grey) and after (blue) sampling: a flat blue
    line means a balanced sample."""
    width, height, pad = 640, 180, 30
    top = max(sizes["before"] + [1])
    last = max(sizes["rank"] + [1])

    def line(values: list[int], cls: str) -> str:
        pts = " ".join(f"{pad + (width - pad) * r / last:.1f},{height - pad - (height - 2 * pad) * v / top:.1f}"
                       for r, v in zip(sizes["rank"], values))
        return f"<polyline class={cls} fill=none stroke-width=2 points='{pts}'></polyline>"

    return (f"<svg width={width + 40} height={height} role=img aria-label='leaf cluster sizes'>"
            "<style>.before{stroke:#aaa}.after{stroke:#4a7bd0}</style>"
            f"{line(sizes['before'], 'before')}{line(sizes['after'], 'after')}"
            f"<text x={pad} y=14>records per leaf cluster (max {top:,}), clusters by size: "
            "grey before, blue after sampling</text></svg>")


def _sweep(rows: list[dict]) -> str:
    body = "".join(f"<tr><td class=n>{r['eps']:g}</td><td class=n>{r['threshold']:g}</td>"
                   f"<td class=n>{r['removed']:,}</td><td class=n>{r['fraction']:.2%}</td></tr>" for r in rows)
    return ("<table><tr><th>eps</th><th>cosine above</th><th>would remove</th><th>fraction</th></tr>"
            + body + "</table>")
