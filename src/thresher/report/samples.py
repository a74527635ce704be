"""Small samples of kept and removed records for the report and ``thresher inspect``."""

from __future__ import annotations

from pathlib import Path

from ..io.readers import read_output_file

__all__ = ["removed_samples", "kept_samples"]


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*"))


def removed_samples(out: Path, per_rule: int = 5, max_chars: int = 600) -> dict[tuple[str, str], list[dict]]:
    """Up to ``per_rule`` removed records for each (step, rule), texts cut to ``max_chars``."""
    found: dict[tuple[str, str], list[dict]] = {}
    for path in _parts(out / "removed"):
        table = read_output_file(path)
        names = [n for n in ("id", "text", "removed_by", "reason", "dup_of") if n in table.column_names]
        for batch in table.select(names).to_batches(max_chunksize=4096):
            for row in batch.to_pylist():
                key = (row["removed_by"], row["reason"].split(": ", 1)[0])
                bucket = found.setdefault(key, [])
                if len(bucket) < per_rule:
                    row["text"] = _cut(row.get("text") or "", max_chars)
                    bucket.append(row)
    return found


def kept_samples(out: Path, n: int = 20, max_chars: int = 600) -> list[dict]:
    """The first ``n`` kept records, texts cut to ``max_chars``."""
    rows: list[dict] = []
    for path in _parts(out / "kept"):
        for batch in read_output_file(path, ["id", "text"]).to_batches(max_chunksize=n):
            rows.extend({"id": r["id"], "text": _cut(r["text"], max_chars)} for r in batch.to_pylist())
            if len(rows) >= n:
                return rows[:n]
    return rows


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …"
