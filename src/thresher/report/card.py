"""``card.md``: a dataset card after Datasheets for Datasets (Gebru et al. 2021): sources and
their fingerprints, every step with its parameters and effect, counts, how to reproduce."""

from __future__ import annotations

from pathlib import Path

import yaml

from .summary import removed_rows

__all__ = ["write_card", "render_card"]


def write_card(out: Path, manifest: dict) -> Path:
    path = Path(out) / "card.md"
    path.write_text(render_card(manifest), encoding="utf-8")
    return path


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def render_card(manifest: dict) -> str:
    c = manifest["counts"]
    lines = ["# Dataset card", "",
             f"Curated with thresher {manifest['thresher_version']} (seed {manifest['seed']}): "
             f"{c['kept']:,} of {c['input']:,} input records kept, {c['removed']:,} removed "
             "(every removed record is in `removed/` with the step and the reason).", "",
             "## Sources", "", "| file | bytes | mtime_ns |", "|---|---:|---:|"]
    lines += [f"| {_md(f['path'])} | {f['bytes']:,} | {f['mtime_ns']} |" for f in manifest["inputs"]]
    lines += ["", "## Steps", "", "| step | parameters | in | out |", "|---|---|---:|---:|"]
    for step in manifest["steps"]:
        cfg = ", ".join(f"{k}={v}" for k, v in step.get("params", {}).items() if v is not None)
        lines.append(f"| {_md(step['step'])} | {_md(cfg)} | {step['in']:,} | {step['out']:,} |")
    lines += ["", "## Removed, by step and reason", "", "| step | reason | records |", "|---|---|---:|"]
    lines += [f"| {_md(s)} | {_md(r)} | {n:,} |" for s, r, n in removed_rows(manifest)]
    lines += ["", "## Known limitations", "",
              "- Heuristic filters encode the thresholds of the papers they cite; they were tuned on web text "
              "and can remove good technical or non-English documents. Check `removed/` per reason.",
              "- Only exact duplicates are removed unless a fuzzy or semantic dedup step is listed above.",
              "", "## How to reproduce", "", "```yaml", yaml.safe_dump(manifest["recipe"], sort_keys=False).rstrip(),
              "```", "", f"Python {manifest['python']}, pyarrow {manifest['pyarrow']}.", ""]
    return "\n".join(lines)
