"""Writers: Parquet (work dir and default output) and JSONL(.gz), always atomically.

JSON has no bytes: in JSONL output a fixed-size binary value (a perceptual hash) is its hex
string, and any other binary value (an image's bytes) its base64 string."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

try:
    import orjson

    def _dumps(obj) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
except ImportError:  # pragma: no cover
    import json

    def _dumps(obj) -> bytes:
        return json.dumps(obj, ensure_ascii=False, default=str).encode()

__all__ = ["write_parquet", "write_table", "atomic_path", "OUTPUT_SUFFIX"]

OUTPUT_SUFFIX = {"parquet": ".parquet", "jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz"}


def atomic_path(path: Path) -> Path:
    """A temporary sibling of ``path``; rename it onto ``path`` when complete."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_parquet(table: pa.Table | pa.RecordBatch, path: Path) -> None:
    """Write ``table`` to ``path`` atomically (zstd-compressed Parquet)."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    pq.write_table(table, tmp, compression="zstd", compression_level=1)
    os.replace(tmp, path)


def write_ipc(table: pa.Table | pa.RecordBatch, path: Path) -> None:
    """Write ``table`` to ``path`` atomically as an uncompressed Arrow IPC file: for scratch
    data read back once, such as a global op's keys, where decoding Parquet would cost more
    than the bytes saved."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """Write ``table`` in the output format ``fmt`` (parquet, jsonl, jsonl.gz), atomically."""
    if fmt == "parquet":
        write_parquet(table, path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    handle = gzip.GzipFile(tmp, "wb", mtime=0) if fmt == "jsonl.gz" else open(tmp, "wb")
    table = _json_ready(table)
    with handle:
        for batch in table.to_batches(max_chunksize=2048):
            handle.write(b"".join(_dumps(row) + b"\n" for row in batch.to_pylist()))
    os.replace(tmp, path)


def _json_ready(table: pa.Table) -> pa.Table:
    """Binary columns as JSON strings: fixed-size ones (perceptual hashes) in hex, others (image
    bytes) in base64."""
    import base64

    for i, field in enumerate(table.schema):
        if pa.types.is_fixed_size_binary(field.type):
            text = [None if v is None else v.hex() for v in table.column(i).to_pylist()]
        elif pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            text = [None if v is None else base64.b64encode(v).decode("ascii") for v in table.column(i).to_pylist()]
        else:
            continue
        table = table.set_column(i, field.name, pa.array(text, pa.string()))
    return table
