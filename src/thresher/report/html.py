"""``report.html``: one self-contained file (no network): the funnel, counts by step and reason,
the largest duplicate clusters, what global ops recorded (cluster sizes, balanced sampling,
class counts), samples of kept and removed records with a search box, time
and memory per stage.

Every piece of dataset content (text, ids, reasons, column names) goes through ``html.escape``
and the search script reads ``textContent`` only, so a record's text is data, never markup.
Plots are plain inline SVG bars built here: no plotting library to bundle for a handful of bars.
"""

from __future__ import annotations

import html
from pathlib import Path

from .samples import duplicate_clusters, kept_samples, removed_samples
from .steps import step_details
from .summary import removed_rows

__all__ = ["write_report", "render_report"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}td,th{padding:.25rem .5rem;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
.text{white-space:pre-wrap;font:12px/1.35 ui-monospace,monospace;max-height:12em;overflow:auto;margin:0}
.bar{fill:#4a7bd0}.rm{fill:#d06a4a}small{color:#777}input{padding:.3rem;width:20rem}
"""

_JS = """
document.getElementById('q').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('tr.rec').forEach(function (tr) {
    tr.style.display = tr.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def write_report(out: Path, manifest: dict) -> Path:
    path = Path(out) / "report.html"
    path.write_text(render_report(Path(out), manifest), encoding="utf-8")
    return path


def render_report(out: Path, manifest: dict) -> str:
    e = html.escape
    counts = manifest["counts"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>thresher report</title><style>{_CSS}</style></head><body>",
        "<h1>thresher report</h1>",
        f"<p>{counts['input']:,} records in, <b>{counts['kept']:,} kept</b>, {counts['removed']:,} removed, "
        f"in {manifest['seconds']:.1f} s. <small>thresher {e(manifest['thresher_version'])}, seed "
        f"{manifest['seed']}</small></p>",
        "<h2>Funnel</h2>", _funnel(manifest),
        "<h2>Removed by step and reason</h2>", _reasons(manifest),
        _clusters(out),
        step_details(manifest),
        "<h2>Samples</h2><p><input id=q placeholder='search by id or text'></p>",
        _samples(out, manifest),
        "<h2>Stages</h2>", _stages(manifest),
        f"<script>{_JS}</script></body></html>",
    ]
    return "\n".join(parts)


def _funnel(manifest: dict) -> str:
    steps = manifest["steps"]
    top = max([s["in"] for s in steps] + [1])
    width, row = 640, 26
    rows = []
    for i, s in enumerate(steps):
        y = i * row
        kept_w = width * s["out"] / top
        removed_w = width * (s["in"] - s["out"]) / top
        rows.append(
            f"<text x=0 y={y + 17}>{html.escape(s['step'])}</text>"
            f"<rect class=bar x=180 y={y + 4} width={kept_w:.1f} height=18></rect>"
            f"<rect class=rm x={180 + kept_w:.1f} y={y + 4} width={removed_w:.1f} height=18></rect>"
            f"<text x={186 + kept_w + removed_w:.1f} y={y + 17}>{s['out']:,} / {s['in']:,}</text>")
    height = row * len(steps) + 4
    return f"<svg width={width + 330} height={height} role=img aria-label=funnel>{''.join(rows)}</svg>"


def _reasons(manifest: dict) -> str:
    e = html.escape
    rows = [f"<tr><td>{e(step)}</td><td>{e(rule)}</td><td class=n>{n:,}</td></tr>"
            for step, rule, n in removed_rows(manifest)]
    if not rows:
        return "<p>Nothing was removed.</p>"
    return "<table><tr><th>step</th><th>reason</th><th>records</th></tr>" + "".join(rows) + "</table>"


def _samples(out: Path, manifest: dict) -> str:
    e = html.escape
    rows = []
    for (step, _rule), recs in removed_samples(out, manifest=manifest).items():
        for r in recs:
            extra = f"<br><small>dup of {e(r['dup_of'])}</small>" if r.get("dup_of") else ""
            rows.append(f"<tr class=rec><td>removed</td><td>{e(r['id'])}</td><td>{e(step)}<br>"
                        f"<small>{e(r['reason'])}</small>{extra}</td>"
                        f"<td><pre class=text>{e(r['text'])}</pre></td></tr>")
    for r in kept_samples(out):
        rows.append(f"<tr class=rec><td>kept</td><td>{e(r['id'])}</td><td></td>"
                    f"<td><pre class=text>{e(r['text'])}</pre></td></tr>")
    head = "<table><tr><th></th><th>id</th><th>step / reason</th><th>text</th></tr>"
    return head + "".join(rows) + "</table>"


def _clusters(out: Path) -> str:
    """The largest duplicate clusters per dedup step: the kept record beside removed copies."""
    e = html.escape
    sections = []
    for step, clusters in duplicate_clusters(out).items():
        rows = []
        for c in clusters:
            copies = "".join(
                f"<p><small>{e(m['id'])}" + (f", similarity {m['score']:.2f}" if m["score"] is not None else "")
                + f"</small></p><pre class=text>{e(m['text'])}</pre>" for m in c["members"])
            rows.append(f"<tr class=rec><td class=n>{c['size']:,}</td><td><small>{e(c['rep']['id'])}</small>"
                        f"<pre class=text>{e(c['rep']['text'])}</pre></td><td>{copies}</td></tr>")
        sections.append(f"<h3>{e(step)}</h3><table><tr><th>cluster</th><th>kept</th><th>removed copies "
                        "(a few)</th></tr>" + "".join(rows) + "</table>")
    return "<h2>Duplicate clusters</h2>" + "".join(sections) if sections else ""


def _stages(manifest: dict) -> str:
    e = html.escape
    rows = [f"<tr><td>{s['index']}</td><td>{e(s['stage'])}</td><td>{e(s['status'])}</td>"
            f"<td class=n>{(s['rows_in'] or 0):,}</td><td class=n>{(s['kept'] or 0):,}</td>"
            f"<td class=n>{(s['seconds'] or 0):.2f} s</td>"
            f"<td class=n>{(s['peak_rss_bytes'] or 0) / 2**20:.0f} MiB</td></tr>" for s in manifest["stages"]]
    return ("<table><tr><th>#</th><th>stage</th><th>status</th><th>in</th><th>kept</th><th>time</th>"
            "<th>peak worker RSS</th></tr>" + "".join(rows) + "</table>")
