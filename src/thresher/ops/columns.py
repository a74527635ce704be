"""Column helpers shared by ops."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError

__all__ = ["set_column", "set_columns", "rows_to_columns", "float_matrix", "seeded_id_hashes"]


def seeded_id_hashes(ids: Sequence[str], seed: int) -> np.ndarray:
    """A seeded 64-bit hash of each id (uint64): a random order that depends only on the ids and
    the seed, never on sharding or record order."""
    import xxhash

    return np.fromiter((xxhash.xxh64_intdigest(f"{seed}\0{i}".encode("utf-8", "surrogatepass")) for i in ids),
                       np.uint64, len(ids))


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


def float_matrix(values: pa.Array | pa.ChunkedArray, what: str) -> np.ndarray:
    """A list column of numbers (vectors, probabilities, logits) as an ``(n, d)`` float64
    array; ``what`` names the column in the error when it is not a list of numbers, has nulls,
    ragged or empty rows, or NaN/infinite values."""
    if not (pa.types.is_list(values.type) or pa.types.is_fixed_size_list(values.type)
            or pa.types.is_large_list(values.type)) or not (pa.types.is_floating(values.type.value_type)
                                                            or pa.types.is_integer(values.type.value_type)):
        raise InputError(f"{what} must be a list of numbers, got {values.type}.")
    if values.null_count:
        raise InputError(f"{what} has {values.null_count} null rows.")
    if not len(values):
        return np.zeros((0, 0))
    lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
    if lengths.min() != lengths.max() or lengths.min() == 0:
        raise InputError(f"{what}: the lists must all have the same, non-zero length; found lengths "
                         f"{sorted(set(lengths.tolist()))[:5]}.")
    flat = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.float64)
    if not np.isfinite(flat).all():
        raise InputError(f"{what} holds NaN or infinite values.")
    return flat.reshape(len(values), int(lengths[0]))
