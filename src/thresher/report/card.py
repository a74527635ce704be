"""``card.md``: a dataset card after Datasheets for Datasets (Gebru et al. 2021) and Data Cards
(Pushkarna et al. 2022): sources and their fingerprints, licenses and provenance columns, every
step with its parameters and effect, counts, languages and classes, the evaluation, known
limitations, how to reproduce."""

from __future__ import annotations

from pathlib import Path

import yaml

from .stats import LANGUAGE_COLUMN, eval_label, output_distributions
from .summary import removed_rows

__all__ = ["write_card", "render_card"]


def write_card(out: Path, manifest: dict, stats: dict | None = None) -> Path:
    """``stats``: ``output_distributions(out, manifest)`` when the caller has it already."""
    path = Path(out) / "card.md"
    path.write_text(render_card(manifest, out, stats), encoding="utf-8")
    return path


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def render_card(manifest: dict, out: Path | None = None, stats: dict | None = None) -> str:
    c = manifest["counts"]
    result = manifest.get("eval")
    label = eval_label(manifest)
    if stats is None:
        stats = output_distributions(Path(out), manifest) if out else {}
    lines = ["# Dataset card", "",
             f"Curated with thresher {manifest['thresher_version']} (seed {manifest['seed']}): "
             f"{c['kept']:,} of {c['input']:,} input records kept, {c['removed']:,} removed "
             "(every removed record is in `removed/` with the step and the reason).", "",
             "## Sources", "", "| file | bytes | mtime_ns |", "|---|---:|---:|"]
    lines += [f"| {_md(f['path'])} | {f['bytes']:,} | {f['mtime_ns']} |" for f in manifest["inputs"]]
    lines += ["", f"Output fingerprint (input files, steps, parameters, seed, version): "
              f"`{manifest.get('final_fingerprint', '?')}`."]
    for column, d in stats.items():
        title = {LANGUAGE_COLUMN: "Languages (fastText lid.176)"}.get(column, f"`{column}`")
        if column == label:
            title = f"Classes (`{column}`)"
        elif column != LANGUAGE_COLUMN and len(d["before"]) > 50:  # an id-like column: too many to list
            lines += ["", f"## Provenance: `{column}`", "", f"{len(d['before']):,} distinct values in the input, "
                      f"{len(d['after']):,} among the kept records."]
            continue
        elif column != LANGUAGE_COLUMN:
            title = f"Provenance: `{column}`"
        lines += ["", f"## {title}", "", "| value | input | kept |", "|---|---:|---:|"]
        lines += [f"| {_md(k)} | {n:,} | {d['after'].get(k, 0):,} |" for k, n in list(d["before"].items())[:15]]
        if len(d["before"]) > 15:
            lines.append(f"| ({len(d['before']) - 15:,} more) | | |")
    lines += ["", "## Steps", "", "| step | parameters | in | out |", "|---|---|---:|---:|"]
    for step in manifest["steps"]:
        cfg = ", ".join(f"{k}={v}" for k, v in step.get("params", {}).items() if v is not None)
        lines.append(f"| {_md(step['step'])} | {_md(cfg)} | {step['in']:,} | {step['out']:,} |")
    lines += ["", "## Removed, by step and reason", "", "| step | reason | records |", "|---|---|---:|"]
    lines += [f"| {_md(s)} | {_md(r)} | {n:,} |" for s, r, n in removed_rows(manifest)]
    if result:
        from ..evaluation import eval_line, eval_table

        lines += ["", "## Evaluation", "", eval_line(result).removeprefix("eval: ").capitalize() + ".", "",
                  "| training set | records | accuracy | macro-F1 | worst-class recall |", "|---|---:|---:|---:|---:|"]
        lines += ["| " + " | ".join(_md(x) for x in row) + " |" for row in eval_table(result)]
    lines += ["", "## Known limitations", ""] + [f"- {x}" for x in _limitations(manifest, stats, label)]
    lines += ["", "## How to reproduce", "", "Run `thresher run recipe.yaml` with this recipe (paths resolved):", "",
              "```yaml", yaml.safe_dump(manifest["recipe"], sort_keys=False).rstrip(), "```", "",
              f"thresher {manifest['thresher_version']}, Python {manifest['python']}, "
              f"pyarrow {manifest['pyarrow']}.", ""]
    return "\n".join(lines)


def _limitations(manifest: dict, stats: dict, label: str | None) -> list[str]:
    ops = {s.get("op") for s in manifest["steps"]}
    notes = ["Heuristic filters encode the thresholds of the papers they cite; they were tuned on web text "
             "and can remove good technical or non-English documents. Check `removed/` per reason."]
    if not ops & {"dedup_minhash", "dedup_semantic"}:
        notes.append("Only exact duplicates are removed: no fuzzy or semantic dedup step ran.")
    langs = stats.get(LANGUAGE_COLUMN, {}).get("after", {})
    if langs and len(langs) <= 2:
        notes.append(f"The kept records are in {', '.join(langs)} only; other languages were removed.")
    if label and label in stats:
        lost = [k for k in stats[label]["before"] if not stats[label]["after"].get(k)]
        if lost:
            notes.append(f"Classes of `{label}` with no kept record: {', '.join(map(str, lost[:10]))}.")
    result = manifest.get("eval")
    if result and not result["helped"]:
        notes.append("The evaluation found no gain over random subsets of the same size; see above.")
    return notes
