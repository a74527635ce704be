"""Try ops on a few records, as a run would: the op docstrings' Examples use it.

Examples
--------
>>> from thresher.ops import build_op
>>> rows = [{"id": "a", "text": "Beautiful is better than ugly."}, {"id": "b", "text": "Ugly."}]
>>> t = try_op(build_op("length", {"min_words": 2}), rows)
>>> t
Trial(kept=['a'], removed={'b': 'too few words: 1 < min_words 2'})
>>> t.column("th_words")
[5, 1]
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from .base import GlobalOp, Op, OpContext

__all__ = ["try_op", "Trial"]


@dataclass
class Trial:
    """What ops did to some records: the kept ids, the removed ones with their reasons, and
    every record as it left (``column``), in input order; ``info`` holds what global ops
    reported (cluster sizes, caps...), by op name."""

    kept: list[str]
    removed: dict[str, str]
    rows: dict[str, dict] = field(repr=False)
    info: dict[str, dict] = field(repr=False, default_factory=dict)

    def column(self, name: str) -> list:
        """The values of ``name`` for every record (kept or removed), None where it has none."""
        return [row.get(name) for row in self.rows.values()]


def try_op(ops: Op | list[Op], rows: list[dict], *, seed: int = 0) -> Trial:
    """Run ``ops`` in turn on ``rows`` (dicts with ``id`` and ``text``) in one batch, as the
    steps of a run: a record removed by one op is not seen by the next. Caches and scratch
    files go to a temporary directory, deleted before returning."""
    ops = ops if isinstance(ops, list) else [ops]
    batch = pa.RecordBatch.from_pylist(rows)
    out = {row["id"]: {} for row in rows}
    removed, info = {}, {}
    with tempfile.TemporaryDirectory(prefix="thresher-try-") as tmp:
        for op in ops:
            ctx = OpContext(seed=seed, step=op.name, work_dir=Path(tmp) / op.name, cache_dir=Path(tmp) / "cache")
            ctx.work_dir.mkdir()
            if isinstance(op, GlobalOp):
                result = op.apply(batch, op.decide(op.keys(batch, ctx), ctx), ctx)
            else:
                result = op.process(batch, ctx)
            info[op.name] = ctx.info
            reasons = _pylist(result.reasons) if result.reasons is not None else [None] * result.batch.num_rows
            extras = {name: _pylist(values) for name, values in result.extras.items()}
            for i, row in enumerate(result.batch.to_pylist()):
                if reasons[i] is not None:
                    removed[row["id"]] = reasons[i]
                    out[row["id"]] = {**row, **{name: values[i] for name, values in extras.items()}}
            batch = result.batch.filter(pa.array([r is None for r in reasons], pa.bool_()))
    for row in batch.to_pylist():
        out[row["id"]] = row
    return Trial([i for i in out if i not in removed], {i: removed[i] for i in out if i in removed}, out, info)


def _pylist(values) -> list:
    return values.to_pylist() if hasattr(values, "to_pylist") else list(values)
