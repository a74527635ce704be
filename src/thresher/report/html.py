"""``report.html``: one self-contained file (no network): the funnel, counts by step and reason,
score histograms with the thresholds, language and class distributions before/after, the
evaluation, the largest duplicate clusters, what global ops recorded (cluster sizes, balanced
sampling, class counts), samples of kept and removed records with their lineage and a search
box, time and memory per stage.

Every piece of dataset content (text, ids, reasons, column names) goes through ``html.escape``
and the search script reads ``textContent`` only, so a record's text is data, never markup; a
Content-Security-Policy forbids anything but the inline style and script. Plots are inline SVG
(see :mod:`.plots`).
"""

from __future__ import annotations

import html
from pathlib import Path

from .lineage import format_values, lineage
from .plots import distribution_table, histogram_svg
from .samples import duplicate_clusters, kept_samples, removed_samples
from .stats import LANGUAGE_COLUMN, eval_label, output_distributions, score_histograms
from .steps import step_details
from .summary import removed_rows, time_text

__all__ = ["write_report", "render_report"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}td,th{padding:.25rem .5rem;border-bottom:1px solid #eee;
text-align:left;vertical-align:top;overflow-wrap:anywhere}td.n{text-align:right;font-variant-numeric:tabular-nums}
.text{white-space:pre-wrap;overflow-wrap:anywhere;font:12px/1.35 ui-monospace,monospace;max-height:12em;
overflow:auto;margin:0}details.full span{display:block;max-height:8em;overflow:auto}
.bar{fill:#4a7bd0}.rm{fill:#d06a4a}small{color:#777}input{padding:.3rem;width:20rem}
svg text{font:11px system-ui,sans-serif;fill:#444}line.thr{stroke:#222;stroke-dasharray:3 2}
.hists{display:grid;grid-template-columns:repeat(auto-fill,310px);gap:.6rem 1.2rem}figure{margin:0}
figcaption{font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
details summary{cursor:pointer;color:#4a7bd0}table.lin td{border:0;padding:0 .5rem 0 0;font-size:12px}
.removed{color:#b0442a;font-weight:600}
table.dist{width:auto;display:inline-table;margin:0 2rem 1rem 0;vertical-align:top}
.verdict{font-size:1.05rem}nav a{margin-right:.8rem}
"""

_JS = """
document.getElementById('q').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase().trim(), shown = 0;
  document.querySelectorAll('#samples tr.rec').forEach(function (tr) {
    var hit = tr.textContent.toLowerCase().indexOf(q) >= 0;
    tr.style.display = hit ? '' : 'none';
    if (hit) { shown += 1; }
    var d = tr.querySelector('details:not(.full)');
    if (d) { d.open = hit && q.length > 0 && shown <= 3; }
  });
  document.getElementById('nohit').style.display = shown ? 'none' : '';
});
"""


def write_report(out: Path, manifest: dict, stats: dict | None = None) -> Path:
    """``stats``: ``output_distributions(out, manifest)`` when the caller has it already."""
    path = Path(out) / "report.html"
    path.write_text(render_report(Path(out), manifest, stats), encoding="utf-8")
    return path


def render_report(out: Path, manifest: dict, stats: dict | None = None) -> str:
    e = html.escape
    counts = manifest["counts"]
    stats = output_distributions(out, manifest) if stats is None else stats
    shown = {c: d for c, d in stats.items() if c in (LANGUAGE_COLUMN, eval_label(manifest))}
    sections = [
        ("funnel", "Funnel", _funnel(manifest)),
        ("reasons", "Removed by step and reason", _reasons(manifest)),
        ("scores", "Scores and thresholds", _histograms(out, manifest)),
        ("distributions", "Languages and classes, before and after", _distributions(shown)),
        ("evaluation", "Evaluation: did curation help?", _evaluation(manifest.get("eval"))),
        ("clusters", "Duplicate clusters", _clusters(out)),
        ("details", "Step details", step_details(manifest)),
        ("samples", "Samples and lineage", _samples(out, manifest)),
        ("stages", "Stages: time and memory", _stages(manifest)),
    ]
    sections = [(key, title, body) for key, title, body in sections if body]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>thresher report</title><style>{_CSS}</style></head><body>",
        "<h1>thresher report</h1>",
        f"<p>{counts['input']:,} records in, <b>{counts['kept']:,} kept</b>, {counts['removed']:,} removed, "
        f"in {e(time_text(manifest))}. <small>thresher {e(manifest['thresher_version'])}, seed "
        f"{manifest['seed']}</small></p>",
        "<nav>" + "".join(f"<a href='#{key}'>{e(title.split(':')[0])}</a>" for key, title, _ in sections) + "</nav>",
    ]
    parts += [f"<section id={key}><h2>{e(title)}</h2>{body}</section>" for key, title, body in sections]
    parts.append(f"<script>{_JS}</script></body></html>")
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
            extra = f"<br><small>dup of {_value(r['dup_of'])}</small>" if r.get("dup_of") else ""
            rows.append(f"<tr class=rec><td class=removed>removed</td><td>{_value(r['id'])}</td><td>{e(step)}<br>"
                        f"<small>{e(r['reason'])}</small>{extra}</td>"
                        f"<td><pre class=text>{e(r['text'])}</pre>{_lineage(manifest, 'removed', r)}</td></tr>")
    for r in kept_samples(out):
        rows.append(f"<tr class=rec><td>kept</td><td>{_value(r['id'])}</td><td></td>"
                    f"<td><pre class=text>{e(r['text'])}</pre>{_lineage(manifest, 'kept', r)}</td></tr>")
    head = ("<p><input id=q type=search placeholder='search by id or text' aria-label='search samples'> "
            "<small>a few records per reason and the first kept ones; for any other record run "
            "<code>thresher explain OUT ID</code></small></p>"
            "<p id=nohit style='display:none'>No sample matches. <code>thresher explain OUT ID</code> "
            "shows the lineage of any record.</p>"
            "<table><tr><th></th><th>id</th><th>step / reason</th><th>text and lineage</th></tr>")
    return head + "".join(rows) + "</table>"


def _value(text: str, limit: int = 80) -> str:
    """An id or a value, escaped; a long one cut, with the whole value one click away (and
    still found by the search)."""
    if len(text) <= limit:
        return html.escape(text)
    return (f"<details class=full><summary>{html.escape(text[:limit])}…</summary>"
            f"<span>{html.escape(text)}</span></details>")


def _lineage(manifest: dict, where: str, row: dict) -> str:
    """A collapsed table: each step the record met, passed or removed, with its values."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(s['step'])}</td><td class={'removed' if s['status'] == 'removed' else 'ok'}>{s['status']}"
        f"</td><td>{e(s['reason'] or '')}{' ' if s['reason'] else ''}<small>{e(format_values(s['values']))}"
        "</small></td></tr>" for s in lineage(manifest, where, row))
    return f"<details><summary>lineage</summary><table class=lin>{rows}</table></details>"


def _histograms(out: Path, manifest: dict) -> str:
    hists = score_histograms(out, manifest)
    if not hists:
        return ""
    shown = [h for h in hists if h["outside"] or h["thresholds"] == []]  # [] marks a score without thresholds
    quiet = [h for h in hists if h not in shown]
    more = (f"<details><summary>{len(quiet)} more measures whose thresholds removed nothing or are not set</summary>"
            "<div class=hists>" + "".join(histogram_svg(h) for h in quiet) + "</div></details>") if quiet else ""
    return ("<p><small>Blue: records that passed the step; red: records it removed (for any of its rules); "
            "dashed: the step's thresholds. Counts from a sample of at most 200,000 records.</small></p>"
            "<div class=hists>" + "".join(histogram_svg(h) for h in shown) + "</div>" + more)


def _distributions(stats: dict) -> str:
    names = {LANGUAGE_COLUMN: "language"}
    return "".join(distribution_table(names.get(col, col), d["before"], d["after"]) for col, d in stats.items())


def _evaluation(result: dict | None) -> str:
    if not result:
        return ""
    from ..evaluation import eval_table

    e = html.escape
    cfg = result["config"]
    rows = "".join("<tr>" + "".join(f"<td{' class=n' if i else ''}>{e(c)}</td>" for i, c in enumerate(r)) + "</tr>"
                   for r in eval_table(result))
    verdict = (f"<p class=verdict><b>{e(result['verdict'])}</b>: macro-F1 {result['margin']:+.3f} against random "
               f"subsets of the same size.</p>")
    return (verdict + "<table><tr><th>training set</th><th>records</th><th>accuracy</th><th>macro-F1</th>"
            f"<th>worst-class recall</th></tr>{rows}</table><p><small>Logistic regression on "
            f"{e(cfg['features'] if cfg['features'] == 'tfidf' else 'embeddings (' + cfg['model'] + ')')}, "
            f"label <code>{e(cfg['label'])}</code>; test set: {e(result['test']['source'])}, "
            f"{result['test']['records']:,} records, {result['test']['classes']} classes.</small></p>")


def _clusters(out: Path) -> str:
    """The largest duplicate clusters per dedup step: the kept record beside removed copies."""
    e = html.escape
    sections = []
    for step, clusters in duplicate_clusters(out).items():
        rows = []
        for c in clusters:
            copies = "".join(
                f"<p><small>{_value(m['id'])}" + (f", similarity {m['score']:.2f}" if m["score"] is not None else "")
                + f"</small></p><pre class=text>{e(m['text'])}</pre>" for m in c["members"])
            rows.append(f"<tr class=rec><td class=n>{c['size']:,}</td><td><small>{_value(c['rep']['id'])}</small>"
                        f"<pre class=text>{e(c['rep']['text'])}</pre></td><td>{copies}</td></tr>")
        sections.append(f"<h3>{e(step)}</h3><table><tr><th>cluster</th><th>kept</th><th>removed copies "
                        "(a few)</th></tr>" + "".join(rows) + "</table>")
    return "".join(sections)


def _stages(manifest: dict) -> str:
    e = html.escape
    rows = [f"<tr><td>{s['index']}</td><td>{e(s['stage'])}</td><td>{e(s['status'])}</td>"
            f"<td class=n>{(s['rows_in'] or 0):,}</td><td class=n>{(s['kept'] or 0):,}</td>"
            f"<td class=n>{(s['seconds'] or 0):.2f} s</td>"
            f"<td class=n>{(s['peak_rss_bytes'] or 0) / 2**20:.0f} MiB</td></tr>" for s in manifest["stages"]]
    return ("<table><tr><th>#</th><th>stage</th><th>status</th><th>in</th><th>kept</th><th>time</th>"
            "<th>peak worker RSS</th></tr>" + "".join(rows) + "</table>")
