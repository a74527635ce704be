"""Score a deduplication against ground truth: precision, recall and F1 of the removed set
(``thresher dedup-eval OUT TRUTH``), so a threshold can be tuned on one's own data.

Truth is a JSONL file of either pairs, ``{"id": ..., "dup_of": ..., "jaccard": 0.83}``
(``jaccard`` optional), or clusters, ``{"cluster": [id, id, ...]}``. The pairs' connected
components are the true duplicate clusters. A cluster of ``s`` records should lose exactly
``s - 1`` of them, whichever they are: with ``r`` of its members removed it counts
``min(r, s-1)`` true positives, ``max(0, r-(s-1))`` false positives (the whole cluster gone)
and ``s-1-min(r, s-1)`` false negatives. A removed record outside every cluster is a false
positive.

With ``min_jaccard``, only pairs at least that similar make clusters; a record whose every
pair is below it is left out of the score (removing it is neither right nor wrong), and when
such a record is kept, it may stand for its cluster: removing all ``s`` members is then right.

Examples
--------
>>> truth = [{"id": "b", "dup_of": "a"}, {"id": "c", "dup_of": "a"}, {"id": "e", "dup_of": "d"}]
>>> s = score(["b", "c", "x"], truth)
>>> (s.tp, s.fp, s.fn), round(s.precision, 3), round(s.recall, 3)
((2, 1, 1), 0.667, 0.667)
>>> weak = truth + [{"id": "w", "dup_of": "a", "jaccard": 0.5}]
>>> s = score(["a", "b", "c"], weak, min_jaccard=0.8)  # "w" is kept for the cluster {a, b, c}
>>> (s.tp, s.fp, s.fn, s.ignored)
(2, 0, 1, 0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import orjson
import pyarrow.compute as pc

from .errors import InputError, NotFoundError

__all__ = ["Scores", "score", "evaluate", "load_truth", "removed_ids", "format_scores"]


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int
    clusters: int
    ignored: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"precision": self.precision, "recall": self.recall, "f1": self.f1}


def load_truth(path: Path) -> list[dict]:
    """The truth file's records (pairs or clusters), or an error naming the bad line."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"truth file {path} does not exist.")
    rows = []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc}).") from None
            if not isinstance(row, dict) or not (("id" in row and "dup_of" in row) or "cluster" in row):
                raise InputError(f"{path}:{lineno}: expected {{\"id\": ..., \"dup_of\": ...}} or "
                                 f"{{\"cluster\": [...]}}, got {line[:80]!r}.")
            rows.append(row)
    if not rows:
        raise InputError(f"{path}: no truth pairs or clusters.")
    return rows


def score(removed: Iterable[str], truth: list[dict], min_jaccard: float | None = None) -> Scores:
    """Precision/recall counts of the ``removed`` ids against ``truth`` rows (see module doc)."""
    strong, every = _UnionFind(), _UnionFind()
    for row in truth:
        members = [str(m) for m in row["cluster"]] if "cluster" in row else [str(row["id"]), str(row["dup_of"])]
        every.link(members)
        if min_jaccard is None or row.get("jaccard", 1.0) >= min_jaccard:
            strong.link(members)
    removed = set(map(str, removed))
    groups, outer = strong.groups(), every.groups()
    tp = fp = fn = ignored = 0
    for rid in removed:
        if rid not in strong.parent:
            if rid in every.parent:
                ignored += 1
            else:
                fp += 1
    for root, members in groups.items():
        size, hits = len(members), sum(m in removed for m in members)
        # a record only weakly similar to the cluster (below min_jaccard) may stand for it
        others = outer[every.find(root)]
        allowed = size if any(m not in removed and m not in strong.parent for m in others) else size - 1
        tp += min(hits, size - 1)
        fp += max(0, hits - allowed)
        fn += size - 1 - min(hits, size - 1)
    return Scores(tp=tp, fp=fp, fn=fn, clusters=len(groups), ignored=ignored)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def link(self, members: list[str]) -> None:
        for m in members:
            a, b = self.find(members[0]), self.find(m)
            if a != b:
                self.parent[max(a, b)] = min(a, b)

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        return out


def removed_ids(out: Path, steps: Iterable[str] | None = None) -> list[str]:
    """Ids removed from a run's output by ``steps`` (default: every dedup step)."""
    from .io.output import output_parts, read_output_file
    from .manifest import load_manifest

    out = Path(out)
    manifest = load_manifest(out)
    if steps is None:
        steps = [s["step"] for s in manifest["steps"] if s["op"].startswith("dedup")]
    steps = list(steps)
    known = {s["step"] for s in manifest["steps"]}
    unknown = [s for s in steps if s not in known]
    if unknown:
        raise NotFoundError(f"no step {unknown[0]!r} in {out}; its steps are {sorted(known)}.")
    ids: list[str] = []
    for path in output_parts(out, "removed"):
        table = read_output_file(path, columns=["id", "removed_by"])
        mask = pc.is_in(table.column("removed_by"), value_set=_strings(steps))
        ids.extend(table.filter(mask).column("id").to_pylist())
    return ids


def evaluate(out_or_removed: Path | Iterable[str], truth_path: Path, min_jaccard: float | None = None,
             steps: Iterable[str] | None = None) -> Scores:
    """Score a run's output directory (or an iterable of removed ids) against a truth file."""
    if isinstance(out_or_removed, (str, Path)):
        out_or_removed = removed_ids(Path(out_or_removed), steps)
    return score(out_or_removed, load_truth(truth_path), min_jaccard)


def format_scores(rows: dict[str, Scores]) -> str:
    """A small table: one line per label."""
    width = max(len(k) for k in rows)
    lines = [f"{'':<{width}}  precision  recall     F1      TP      FP      FN"]
    for label, s in rows.items():
        lines.append(f"{label:<{width}}  {s.precision:9.4f}  {s.recall:6.4f}  {s.f1:6.4f}  "
                     f"{s.tp:6d}  {s.fp:6d}  {s.fn:6d}")
    return "\n".join(lines)


def _strings(values: list[str]):
    import pyarrow as pa

    return pa.array(values, pa.string())
