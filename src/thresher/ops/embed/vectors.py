"""What the ops that work on embeddings share: their key column and their vectors, by id."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...errors import InputError
from ..base import KeyParts, OpContext
from .cache import EmbeddingCache, keys_from_hex
from .embed import EMBEDDING_KEY

__all__ = ["embedding_keys", "vectors_for", "vectors_by_id", "EMBEDDING_KEY", "EmbeddingKeys"]


def embedding_keys(batch: pa.RecordBatch, op_name: str) -> pa.Array:
    """The batch's ``th_embedding_key`` column, or an error that says to embed first."""
    if EMBEDDING_KEY not in batch.schema.names:
        raise InputError(f"{op_name} works on embeddings, but the records have no {EMBEDDING_KEY} column: add an "
                         "`- embed: {model: minilm}` step (or `{precomputed: <column>}`) before it.")
    return batch.column(EMBEDDING_KEY)


def vectors_for(ctx: OpContext, keys: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    """The float32 vectors of ``keys`` from the run's embedding cache (``ctx.cache_dir``), in
    their order: ``keys`` is a ``th_embedding_key`` column (hex) or an array of binary keys."""
    if not isinstance(keys, np.ndarray):
        keys = keys_from_hex(keys)
    return EmbeddingCache(ctx.cache_dir).get(keys)


def vectors_by_id(keys: KeyParts | pa.Table, ctx: OpContext,
                  columns: list[str] | None = None) -> tuple[pa.Table, np.ndarray]:
    """Every record's key columns and float32 vector, sorted by id: the order, hence every
    result computed from it, does not depend on how the records were sharded."""
    table = KeyParts.of(keys).read_by_id(columns)
    if not table.num_rows:
        return table, np.zeros((0, 0), np.float32)
    return table, vectors_for(ctx, table.column(EMBEDDING_KEY))


class EmbeddingKeys:
    """For global ops over embeddings: their keys are the id and the embedding key."""

    name: str

    def holds(self) -> str:
        return "id, embedding key and the vector per record"

    def key_columns(self) -> list[str]:
        return ["id", EMBEDDING_KEY]

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        return pa.table({"id": batch.column("id"), EMBEDDING_KEY: embedding_keys(batch, self.name)})
