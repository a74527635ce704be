"""What the report plots, read back from a run's output: score histograms (passed vs removed by
the step that computed the score, with the step's thresholds), and language and class
distributions before and after curation.

Histograms come from an evenly strided sample of at most ``sample`` records, so a run of ten
million records reads a few columns and bins a few hundred thousand values.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..io.output import output_columns, output_parts, read_output_file

__all__ = ["score_histograms", "distributions", "output_distributions", "eval_label", "LANGUAGE_COLUMN"]

LANGUAGE_COLUMN = "th_language"

#: Columns that describe where records come from or under which terms (matched case-insensitively).
PROVENANCE = ("license", "licence", "licenses", "source", "url", "domain", "origin", "dataset", "provenance",
              "publisher", "author", "path")


def _parts(out: Path) -> list[tuple[str, Path]]:
    return [(where, p) for where in ("kept", "removed") for p in output_parts(out, where)]


def _numeric(table: pa.Table, name: str) -> bool:
    kind = table.schema.field(name).type
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


def score_histograms(out: Path, manifest: dict, sample: int = 200_000, bins: int = 40) -> list[dict]:
    """For every score column a step declared thresholds for: ``{"step", "column", "edges",
    "passed", "removed", "thresholds", "log", "values"}`` (counts per bin of the sample)."""
    wanted = [(s["step"], col, vals) for s in manifest["steps"] for col, vals in (s.get("thresholds") or {}).items()]
    if not wanted:
        return []
    stride = max(1, math.ceil(manifest["counts"]["input"] / sample))
    values: dict[str, list[np.ndarray]] = {col: [] for _, col, _ in wanted}
    removed: dict[str, list[np.ndarray]] = {col: [] for _, col, _ in wanted}
    step_of = {col: step for step, col, _ in wanted}
    for where, path in _parts(out):
        names = set(output_columns(path))
        columns = [c for c in values if c in names] + (["removed_by"] if where == "removed" else [])
        if not any(c in values for c in columns):
            continue
        table = read_output_file(path, columns)
        table = table.take(pa.array(np.arange(0, table.num_rows, stride)))
        for col in (c for c in columns if c in values and _numeric(table, c)):
            valid = pc.is_valid(table.column(col)).to_numpy(zero_copy_only=False)
            values[col].append(table.column(col).to_numpy(zero_copy_only=False)[valid].astype(np.float64))
            by = (table.column("removed_by").to_numpy(zero_copy_only=False)[valid] == step_of[col]
                  if where == "removed" else np.zeros(valid.sum(), bool))
            removed[col].append(np.asarray(by, bool))
    found = []
    for step, col, thresholds in wanted:
        if not values[col]:
            continue
        x, gone = np.concatenate(values[col]), np.concatenate(removed[col])
        if x.size == 0:
            continue
        found.append({"step": step, "column": col, "thresholds": thresholds, "values": int(x.size),
                      "outside": _outside(x, gone, thresholds or []), **_binned(x, gone, bins, thresholds or [])})
    return found


def _outside(x: np.ndarray, gone: np.ndarray, thresholds: list[float]) -> int:
    """Removed records whose value lies beyond a threshold, on the side no passed record is on:
    those the threshold removed (or would have, had an earlier rule of the step not fired)."""
    passed, removed = x[~gone], x[gone]
    if passed.size == 0:
        return int(removed.size)
    beyond = np.zeros(removed.size, bool)
    for t in thresholds:
        if passed.min() >= t:
            beyond |= (removed < t) | ((removed == t) & (passed.min() > t))
        elif passed.max() <= t:
            beyond |= (removed > t) | ((removed == t) & (passed.max() < t))
    return int(beyond.sum())


def _binned(x: np.ndarray, gone: np.ndarray, bins: int, thresholds: list[float] = ()) -> dict:
    """Counts of passed and removed values per bin; a log10(1 + x) axis for long-tailed counts,
    else a linear one from the 0.5th to the 99.5th percentile (outliers go to the end bins).
    The axis always reaches the thresholds."""
    lo, mid, hi = np.percentile(x, [0.5, 50, 99.5])
    log = bool(x.min() >= 0 and hi > 50 * max(mid, 1.0))
    if log:
        lo, hi = 0.0, float(np.log10(1 + x.max()))
        hi = max([hi] + [np.log10(1 + t) for t in thresholds if 0 <= np.log10(1 + t) <= 2 * hi])
    else:  # reach the thresholds that lie near the data; far ones are drawn at the edge
        near = [t for t in thresholds if lo - (hi - lo) <= t <= hi + (hi - lo)]
        lo, hi = min([lo, *near]), max([hi, *near])
    if hi <= lo:
        lo, hi = float(x.min()) - 0.5, float(x.max()) + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    pos = np.log10(1 + x) if log else x
    index = np.clip(np.searchsorted(edges, pos, side="right") - 1, 0, bins - 1)
    return {"edges": edges.tolist(), "log": log,
            "passed": np.bincount(index[~gone], minlength=bins).tolist(),
            "removed": np.bincount(index[gone], minlength=bins).tolist()}


def distributions(out: Path, label: str | None = None, more: list[str] = ()) -> dict[str, dict]:
    """``{"th_language": {"before": {...}, "after": {...}}, <label>: {...}, ...}``: counts over every
    record that has the column (before) and over the kept records (after), most frequent first."""
    result: dict[str, dict[str, Counter]] = {}
    for column in dict.fromkeys([LANGUAGE_COLUMN] + ([label] if label else []) + list(more)):
        before, after = Counter(), Counter()
        for where, path in _parts(out):
            if column not in output_columns(path):
                continue
            counts = pc.value_counts(pc.cast(read_output_file(path, [column]).column(column), pa.string())
                                     .combine_chunks().drop_null())
            pairs = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
            before.update(pairs)
            if where == "kept":
                after.update(pairs)
        if before:
            result[column] = {"before": dict(before.most_common()), "after": dict(after.most_common())}
    return result


def eval_label(manifest: dict) -> str | None:
    """The label column of the run's evaluation, if one ran."""
    return (manifest.get("eval") or {}).get("config", {}).get("label")


def output_distributions(out: Path, manifest: dict) -> dict[str, dict]:
    """``distributions`` of the language, the evaluation's label and the provenance columns: what
    the report and the card show, read once for both."""
    parts = output_parts(out, "kept")
    names = output_columns(parts[0]) if parts else []
    return distributions(out, eval_label(manifest), [n for n in names if n.lower() in PROVENANCE])
