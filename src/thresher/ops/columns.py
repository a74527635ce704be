"""Column helpers shared by ops."""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa

__all__ = ["set_column", "set_columns", "rows_to_columns"]


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    """Return ``batch`` with column ``name`` added, or replaced where it exists."""
    index = batch.schema.get_field_index(name)
    if index >= 0:
        return batch.set_column(index, name, values)
    return batch.append_column(name, values)


def set_columns(batch: pa.RecordBatch, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    """``set_column`` for several columns, in order."""
    for name, values in columns.items():
        batch = set_column(batch, name, values)
    return batch


def rows_to_columns(specs: Sequence[tuple[str, pa.DataType]], rows: Sequence[Sequence[Any]]) -> dict[str, pa.Array]:
    """Per-row measurement tuples to typed Arrow columns (a 0-row batch keeps the types)."""
    values = list(zip(*rows)) if rows else [()] * len(specs)
    return {name: pa.array(list(vals), typ) for (name, typ), vals in zip(specs, values)}
