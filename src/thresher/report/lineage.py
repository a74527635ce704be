"""Lineage: why was record X kept or removed? (``thresher explain``), and ``thresher inspect``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import NotFoundError
from ..io.output import output_parts, read_output_file
from ..manifest import load_manifest
from .samples import removed_samples
from .summary import summary_table

__all__ = ["find_record", "lineage", "format_values", "explain", "inspect_output"]


def find_record(out: Path, record_id: str) -> tuple[str, dict] | None:
    """``("kept" | "removed", row)`` for ``record_id`` in a run's output, or None."""
    for where in ("kept", "removed"):
        for path in output_parts(out, where):
            table = read_output_file(path)
            hits = table.filter(pc.equal(table.column("id"), pa.scalar(record_id, pa.string())))
            if hits.num_rows:
                return where, hits.slice(0, 1).to_pylist()[0]
    return None


def lineage(manifest: dict, where: str, row: dict) -> list[dict]:
    """Each step a record met, in order: ``{"step", "status": "passed" | "removed", "values":
    {column: value}, "reason", "dup_of"}``; a removed record's list ends at its step."""
    steps = []
    for step in manifest["steps"]:
        values = {c: row[c] for c in step.get("writes", []) if row.get(c) is not None}
        if where == "removed" and row.get("removed_by") == step["step"]:
            steps.append({"step": step["step"], "status": "removed", "values": values,
                          "reason": row.get("reason"), "dup_of": row.get("dup_of")})
            break
        steps.append({"step": step["step"], "status": "passed", "values": values, "reason": None, "dup_of": None})
    return steps


def format_values(values: dict) -> str:
    return "  ".join(f"{c}={_fmt(v)}" for c, v in values.items())


def explain(out: Path, record_id: str) -> str:
    """Each step the record passed or failed, with the values its steps computed."""
    manifest = load_manifest(out)
    found = find_record(out, record_id)
    if found is None:
        raise NotFoundError(f"no record with id {record_id!r} in {out}/kept or {out}/removed.")
    where, row = found
    verdict = f"removed by {row['removed_by']}" if where == "removed" else "kept"
    lines = [f"record {record_id!r}: {verdict}", f"source: {row.get('th_source', '?')}"]
    width = max([len(s["step"]) for s in manifest["steps"]] + [1])
    pad = " " * width
    for s in lineage(manifest, where, row):
        values = format_values(s["values"])
        if s["status"] == "removed":
            lines.append(f"  {s['step']:<{width}}  REMOVED  {s['reason']}")
            if s["dup_of"]:
                lines.append(f"  {pad}           duplicate of {s['dup_of']!r}")
            if values:
                lines.append(f"  {pad}           {values}")
            lines.append(f"  {pad}  (later steps did not see this record)")
        else:
            lines.append(f"  {s['step']:<{width}}  passed   {values}".rstrip())
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def inspect_output(out: Path, examples: int = 2) -> str:
    """The summary table and a few removed examples per step and reason."""
    out = Path(out)
    manifest = load_manifest(out)
    lines = [summary_table(manifest, out), "", "examples:"]
    for (step, rule), rows in removed_samples(out, per_rule=examples, max_chars=160, manifest=manifest).items():
        lines.append(f"  {step} / {rule}:")
        for r in rows:
            text = r["text"].replace("\n", " ")
            lines.append(f"    {r['id']}: {r['reason']}")
            lines.append(f"      {text[:150]}")
    return "\n".join(lines)
