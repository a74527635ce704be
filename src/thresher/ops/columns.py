"""Column helpers shared by ops."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["set_column", "set_columns"]


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
