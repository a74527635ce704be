"""The files Arrow reads whole: Parquet, CSV (``csvfile``), Arrow IPC and HF ``datasets``
directories, as record batches of ``id``, ``text``, the other columns and ``th_source``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from .records import QUARANTINE_HINT, BadRecord, Chunk, ReadOptions, bad_record, check_reserved
from .reserved import SOURCE_COLUMN

__all__ = ["read_parquet", "read_csv", "read_arrow", "read_hf_dataset"]


def read_parquet(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{rel}: not a readable Parquet file ({exc}).") from None
    yield from _finish_batches(pfile.iter_batches(batch_size=opts.batch_rows), rel, opts)


_ROW = "\0row"  # a CSV batch's row numbers while it is rebatched


def read_csv(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """CSV values as strings (``csvfile``); malformed rows named by their row number."""
    from .csvfile import csv_batches

    malformed: list[BadRecord] = []

    def numbered():
        for batch, numbers, bad in csv_batches(path, rel, quarantine=opts.on_error == "quarantine",
                                               hint=QUARANTINE_HINT):
            for number, text, problem in bad:
                bad_record(f"{rel}:{number}", text, problem, opts, malformed)
            if batch is not None:
                yield batch.append_column(_ROW, pa.array(numbers, pa.int64()))

    for batch in _rebatch(numbered(), opts.batch_rows):
        numbers = batch.column(_ROW).to_pylist()
        records, bad = _finish_batch(batch.drop_columns([_ROW]), rel, opts, numbers)
        yield records, bad + malformed
        malformed.clear()
    if malformed:
        yield None, malformed


def read_arrow(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    try:
        reader = pa.ipc.open_stream(path)
    except pa.ArrowInvalid:
        try:
            reader = pa.ipc.open_file(path)
            reader = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid as exc:
            raise InputError(f"{rel}: not a readable Arrow file ({exc}).") from None
    yield from _finish_batches(_rebatch(reader, opts.batch_rows), rel, opts)


def read_hf_dataset(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    state = json.loads((path / "state.json").read_text())
    files = [path / f["filename"] for f in state.get("_data_files", [])]
    if not files:
        raise InputError(f"{rel}: HF dataset directory lists no data files in state.json.")

    def batches():
        for file in files:
            yield from pa.ipc.open_stream(file)

    yield from _finish_batches(_rebatch(batches(), opts.batch_rows), rel, opts)


def _rebatch(batches, rows: int) -> Iterator[pa.RecordBatch]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks().to_batches()[0]
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _finish_batches(batches, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    start = 1
    for batch in batches:
        yield _finish_batch(batch, rel, opts, range(start, start + batch.num_rows))
        start += batch.num_rows


def _finish_batch(batch: pa.RecordBatch, rel: str, opts: ReadOptions, rows) -> Chunk:
    """A batch of an Arrow-read file as records; ``rows`` are the records' numbers in the file."""
    names = batch.schema.names
    if opts.text_field not in names and opts.image_field is not None:  # an image's record needs no text
        batch = batch.append_column(opts.text_field, pa.array([""] * batch.num_rows, pa.string()))
        names = batch.schema.names
    if opts.text_field not in names:
        raise InputError(f"{rel}: no column {opts.text_field!r}; is `text_field` correct? Columns: {names}")
    text = batch.column(opts.text_field)
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        raise InputError(f"{rel}: column {opts.text_field!r} must hold strings, got {text.type}.")
    numbers = [f"{rel}:{n}" for n in rows]
    ids = _arrow_ids(batch, numbers, rel, opts)
    cols = {"id": ids, "text": text.cast(pa.string())}
    skip = {opts.text_field, opts.id_field or "id"}
    for name in names:
        if name not in skip:
            cols[name] = batch.column(name)
    check_reserved([n for n in names if n not in skip], rel, opts)
    cols[SOURCE_COLUMN] = pa.array(numbers, pa.string())
    out = pa.RecordBatch.from_pydict(cols)
    null_rows = [i for i, v in enumerate(text.is_null().to_pylist()) if v] if text.null_count else []
    if not null_rows:
        return out, []
    problem = f"text field {opts.text_field!r} is null"
    if opts.on_error != "quarantine":
        raise InputError(f"{numbers[null_rows[0]]}: {problem}. {QUARANTINE_HINT}")
    bad = [BadRecord(ids[i].as_py(), "", numbers[i], f"invalid input: {problem}") for i in null_rows]
    return out.filter(pc.invert(text.is_null())), bad


def _arrow_ids(batch: pa.RecordBatch, numbers: list[str], rel: str, opts: ReadOptions) -> pa.Array:
    field = opts.id_field or ("id" if "id" in batch.schema.names else None)
    if field is None:
        return pa.array(numbers, pa.string())
    if field not in batch.schema.names:
        raise InputError(f"{rel}: no column {field!r}; is `id_field` correct? Columns: {batch.schema.names}")
    ids = batch.column(field)
    if ids.null_count:
        first = ids.is_null().to_pylist().index(True)
        raise InputError(f"{numbers[first]}: id field {field!r} is null.")
    if not (pa.types.is_string(ids.type) or pa.types.is_integer(ids.type) or pa.types.is_large_string(ids.type)):
        raise InputError(f"{rel}: id column {field!r} must hold strings or integers, got {ids.type}.")
    return ids.cast(pa.string())
