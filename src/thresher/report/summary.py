"""The plain-text summary a run ends with (and ``thresher inspect`` prints)."""

from __future__ import annotations

from pathlib import Path

from ..manifest import reused_stages

__all__ = ["summary_table", "removed_rows", "time_text", "reuse_note"]


def time_text(manifest: dict) -> str:
    """How long the output took: this invocation's seconds and, when it reused stages, what
    computing them took (each stage keeps the seconds of the run that computed it)."""
    note = reuse_note(manifest)
    return f"{manifest['seconds']:.1f} s" + (f" this run ({note})" if note else "")


def reuse_note(manifest: dict) -> str:
    """``"N of M stages reused; computing every stage took S s"``, or "" when none was reused."""
    stages = manifest["stages"]
    reused = reused_stages(manifest)
    if not reused:
        return ""
    compute = sum(s.get("seconds") or 0.0 for s in stages)
    return f"{reused} of {len(stages)} stages reused; computing every stage took {compute:.1f} s"


def removed_rows(manifest: dict) -> list[tuple[str, str, int]]:
    """``(step, rule, count)`` for every rule that removed records, in step order."""
    rows = []
    for step in manifest["steps"]:
        for rule, n in sorted(step["removed"].items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append((step["step"], rule, n))
    return rows


def summary_table(manifest: dict, output_dir: Path) -> str:
    counts = manifest["counts"]
    total = max(1, counts["input"])
    rows = removed_rows(manifest)
    width = max([len(rule) + 4 for _, rule, _ in rows] + [len(s["step"]) + 2 for s in manifest["steps"]] + [24])

    def line(label: str, n: int, pct: bool = False) -> str:
        return f"{label:<{width}} {n:>10,}" + (f"  ({100 * n / total:.1f}%)" if pct else "")

    lines = [line("records in", counts["input"]), line("kept", counts["kept"], True),
             line("removed", counts["removed"], True)]
    for step in manifest["steps"]:
        removed = sum(step["removed"].values())
        if removed:
            lines.append(line(f"  {step['step']}", removed))
            lines.extend(line(f"    {rule}", n) for s, rule, n in rows if s == step["step"])
    note = reuse_note(manifest)
    lines.append(f"{'time':<{width}} {manifest['seconds']:>10.1f} s" + (f"  (this run; {note})" if note else ""))
    counted = manifest.get("peak_rss_counts", "peak RSS of one process")  # manifests before it was defined
    lines.append(f"{'peak memory':<{width}} {manifest['peak_rss_bytes'] / 2**20:>10.0f} MiB  ({counted})")
    lines.append(f"kept:    {output_dir / 'kept'}")
    lines.append(f"removed: {output_dir / 'removed'}")
    lines.append(f"report:  {output_dir / 'report.html'}")
    if manifest.get("eval"):
        from ..evaluation import eval_line

        lines.append(eval_line(manifest["eval"]))
    return "\n".join(lines)
