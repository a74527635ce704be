"""The target set of a goal-directed selection: a labelled evaluation file, read and (for
embedding features) embedded the way the records were, or a slice of the data chosen by an
expression in ``filter``'s language."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError, NotFoundError, RecipeError
from ...io.readers import ReadOptions, read_batches
from ..base import OpContext
from ..embed.cache import keys_from_binary, keys_from_hex
from ..embed.embed import EMBEDDING_KEY, Embed
from ..embed.vectors import vectors_for
from ..filter import compile_expression

__all__ = ["embed_step", "slice_mask", "read_target_file", "check_embedding_keys", "embed_target"]


def embed_step(op) -> Embed:
    """The embed step described by ``op.embed`` (its parameters), checked."""
    try:
        return Embed(**(op.embed or {}))
    except RecipeError as exc:
        raise RecipeError(f"{op.name}.embed: {exc}") from None


def slice_mask(op, batch: pa.RecordBatch) -> pa.Array:
    """``op.target_where`` over the batch: true for the target slice (null counts as false)."""
    mask = compile_expression(op.target_where)(batch)
    if isinstance(mask, pa.Scalar):
        mask = pa.array([mask.as_py()] * batch.num_rows, pa.bool_())
    if not pa.types.is_boolean(mask.type):
        raise InputError(f"{op.name}.target_where must give true/false, got {mask.type} from {op.target_where!r}.")
    return pc.fill_null(mask, False)


def _label_column(op) -> str:
    return op.target_label or op.label


def read_target_file(op, extra: list[str] = ()) -> pa.Table:
    """The target file's ``text``, ``label`` (as strings; rows without one dropped) and the
    ``extra`` columns, or an error naming the file and what is missing."""
    path = Path(op.target)
    if not path.exists():
        raise NotFoundError(f"{op.name}.target: the target file {path} does not exist (a JSONL, Parquet or CSV "
                            f"file of labelled records, relative to the recipe).")
    batches = [b for b, _ in read_batches(path, path.name, ReadOptions(text_field=op.target_text)) if b is not None]
    table = pa.Table.from_batches(batches) if batches else pa.table({"text": pa.array([], pa.string())})
    column = _label_column(op)
    if column not in table.column_names:
        raise InputError(f"{op.name}.target_label: the target file {path} has no label column {column!r} (columns: "
                         f"{[c for c in table.column_names if c != 'th_source']}); set target_label to it.")
    missing = [c for c in extra if c not in table.column_names]
    if missing:
        raise InputError(f"{op.name}.target: the target file {path} has no column {missing[0]!r}, which the embed "
                         f"step reads; columns: {table.column_names}")
    labels = pc.cast(table.column(column), pa.string())
    table = pa.table({"text": table.column("text"), "label": labels, **{c: table.column(c) for c in extra}})
    return table.filter(pc.is_valid(labels))


def check_embedding_keys(op, batch: pa.RecordBatch) -> None:
    """The batch's first ``th_embedding_key`` must be what ``op.embed`` would write for that
    record: the target file is embedded by that model, so the two must agree."""
    if not batch.num_rows or EMBEDDING_KEY not in batch.schema.names:
        return
    step = embed_step(op)
    expected = step.content_keys_of(batch.slice(0, 1))
    if not np.array_equal(expected, keys_from_hex(batch.column(EMBEDDING_KEY).slice(0, 1))):
        raise RecipeError(f"{op.name}.embed: the records were embedded with other parameters than {op.embed or {}} "
                          f"(model {step.model_id!r} gives another key for record "
                          f"{batch.column('id')[0].as_py()!r}); give influence.embed the embed step's parameters "
                          "(model, pca_dims, dtype or precomputed), so that the target file is embedded the same way.")


def embed_target(op, table: pa.Table, ctx: OpContext) -> np.ndarray:
    """The target file's vectors: encoded by ``op.embed``'s model into the embedding cache
    (nothing is encoded twice), read back in row order."""
    step = embed_step(op)
    columns = {"id": pa.array([f"target:{i}" for i in range(table.num_rows)], pa.string()), "text": table["text"]}
    if step.precomputed:
        columns[step.precomputed] = table[step.precomputed]
    batch = pa.Table.from_pydict(columns).combine_chunks().to_batches()[0] if table.num_rows else None
    if batch is None:
        return np.zeros((0, 0), np.float32)
    sub = OpContext(seed=ctx.seed, step=f"{ctx.step or op.name} (target)", cache_dir=ctx.cache_dir,
                    work_dir=ctx.work_dir)
    keys = step.keys(batch, sub)
    step.decide(keys, sub)
    return vectors_for(ctx, keys_from_binary(keys.column("key")))
