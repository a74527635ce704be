"""The plain-text summary a run ends with (and ``thresher inspect`` prints)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["summary_table", "removed_rows"]


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
    width = max([len(f"{s}  {r}") for s, r, _ in removed_rows(manifest)] + [24])
    lines = [
        f"{'records in':<{width}} {counts['input']:>10,}",
        f"{'kept':<{width}} {counts['kept']:>10,}  ({100 * counts['kept'] / total:.1f}%)",
        f"{'removed':<{width}} {counts['removed']:>10,}  ({100 * counts['removed'] / total:.1f}%)",
    ]
    for step, rule, n in removed_rows(manifest):
        lines.append(f"  {step + '  ' + rule:<{width - 2}} {n:>10,}")
    reused = sum(1 for s in manifest["stages"] if s["status"] == "reused")
    lines.append(f"{'time':<{width}} {manifest['seconds']:>10.1f} s"
                 + (f"  ({reused} of {len(manifest['stages'])} stages reused)" if reused else ""))
    lines.append(f"{'peak memory':<{width}} {manifest['peak_rss_bytes'] / 2**20:>10.0f} MiB")
    lines.append(f"kept:    {output_dir / 'kept'}")
    lines.append(f"removed: {output_dir / 'removed'}")
    lines.append(f"report:  {output_dir / 'report.html'}")
    return "\n".join(lines)
