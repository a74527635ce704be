"""The keep rule shared by the dedup ops: in each group, keep the first by ``(priority, id)``."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa

from ...errors import InputError
from ...params import Param

__all__ = ["KEEP_PARAMS", "representatives", "ranked", "verified_representatives", "priority_column"]

KEEP_PARAMS = {
    "priority": Param(str, None, "numeric column ranking which duplicate to keep (null: keep the smallest id)",
                      nullable=True),
    "prefer": Param(str, "highest", "keep the highest or lowest priority", choices=("highest", "lowest")),
}


def priority_column(op_name: str, column: str, batch: pa.RecordBatch) -> pa.Array:
    """The priority values of ``batch`` as float64, or an error naming the op and column."""
    if column not in batch.schema.names:
        raise InputError(f"{op_name}.priority: no column {column!r}; columns: {batch.schema.names}")
    values = batch.column(column)
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise InputError(f"{op_name}.priority: column {column!r} must be numeric, got {values.type}.")
    return values.cast(pa.float64())


def representatives(groups: np.ndarray, ids: pa.Array | pa.ChunkedArray, priority=None,
                    prefer: str = "highest") -> np.ndarray:
    """For each row, the row index of its group's representative: the highest (or lowest)
    ``priority`` (nulls last), ties broken by the smallest id. Deterministic whatever the
    row order."""
    n = len(groups)
    rows = ranked(groups, ids, priority, prefer)
    g = groups[rows]
    starts = np.r_[True, g[1:] != g[:-1]] if n else np.array([], bool)
    leaders = rows[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    rep = np.empty(n, dtype=np.int64)
    rep[rows] = leaders
    return rep


def ranked(groups: np.ndarray, ids: pa.Array | pa.ChunkedArray, priority=None, prefer: str = "highest") -> np.ndarray:
    """The row indices ordered by group, then by the keep rule (the first of a group is its
    representative)."""
    columns = {"g": pa.array(groups), "row": pa.array(np.arange(len(groups))), "id": ids}
    order = [("g", "ascending")]
    if priority is not None:
        columns["p"] = priority
        order.append(("p", "descending" if prefer == "highest" else "ascending"))
    order.append(("id", "ascending"))
    return pa.table(columns).sort_by(order).column("row").to_numpy()


def verified_representatives(groups: np.ndarray, order: np.ndarray,
                             similar: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """For each row, the row it is a duplicate of (itself when kept), such that every row is
    ``similar`` to its representative and no two kept rows of a group are: in keep-rule
    ``order`` (as ``ranked`` gives), a row goes to the first kept row of its group it is
    ``similar`` to, and is kept when there is none. Rounds over all groups at once: each round
    keeps every group's first unassigned row and assigns the rows similar to it."""
    rep = np.arange(len(groups))
    left = order
    while len(left):
        g = groups[left]
        first = np.r_[True, g[1:] != g[:-1]]
        centre = left[np.flatnonzero(first)][np.cumsum(first) - 1]
        rows, centre = left[~first], centre[~first]
        near = similar(rows, centre).astype(bool)
        rep[rows[near]] = centre[near]
        left = rows[~near]
    return rep
