"""Reading a run's output back: its ``kept/`` and ``removed/`` parts (Parquet or JSONL[.gz]).

``read_output(out, "kept")`` is the public way (``thresher.read_output``); the part-level
helpers serve the report, the audit and the evaluation, which stream part by part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pyarrow as pa

from ..errors import NotFoundError

__all__ = ["read_output", "read_output_file", "output_parts", "output_columns", "OUTPUT_FOLDERS"]

#: The folders of an output directory that hold records.
OUTPUT_FOLDERS = ("kept", "removed")


def read_output(out: str | Path, which: str = "kept", columns: Sequence[str] | None = None) -> pa.Table:
    """The ``kept`` (or ``removed``) records of a run's output directory, every part, sorted by id.

    ``columns``: only these (``id`` is read too, to sort); a column that some parts lack is null
    there. Raises ``NotFoundError`` when ``out`` has no such folder or no such column.
    """
    if which not in OUTPUT_FOLDERS:
        raise ValueError(f"`which` must be one of {OUTPUT_FOLDERS}, got {which!r}")
    folder = Path(out) / which
    if not folder.is_dir():
        raise NotFoundError(f"{folder} does not exist: is {out} the output directory of a finished run?")
    wanted = None if columns is None else list(dict.fromkeys(["id", *columns]))
    parts = [_read_part(path, wanted) for path in output_parts(out, which)]
    if not parts:
        return pa.table({c: pa.array([], pa.string() if c == "id" else pa.null()) for c in wanted or ["id"]})
    table = pa.concat_tables(parts, promote_options="permissive")
    missing = [c for c in wanted or [] if c not in table.column_names]
    if missing:
        raise NotFoundError(f"{folder} has no column {missing[0]!r}; its columns: {table.column_names}")
    table = table.sort_by("id")
    return table if columns is None else table.select(list(columns))


def _read_part(path: Path, wanted: list[str] | None) -> pa.Table:
    if wanted is None:
        return read_output_file(path)
    names = output_columns(path) if path.suffix == ".parquet" else None
    table = read_output_file(path, [c for c in wanted if c in names]) if names is not None else read_output_file(path)
    return table.select([c for c in wanted if c in table.column_names])


def read_output_file(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read back one of thresher's own output files (Parquet or JSONL[.gz]) as they are."""
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        return pq.read_table(path, columns=columns)
    compression = "gzip" if path.name.endswith(".gz") else None
    with pa.input_stream(path, compression=compression) as stream:
        data = stream.read()
    if not data.strip():  # a shard whose records were all removed: Arrow rejects an empty JSON file
        return pa.table({c: pa.chunked_array([], pa.string() if c == "id" else pa.null()) for c in columns or ["id"]})
    table = pjson.read_json(pa.BufferReader(data))
    return table.select(columns) if columns else table


def output_parts(out: Path, where: str) -> list[Path]:
    """The files of a run's ``kept`` or ``removed`` folder, in order."""
    return sorted((Path(out) / where).glob("part-*"))


def output_columns(path: Path) -> list[str]:
    """The column names of one of thresher's own output files (Parquet: without reading data)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path).names
    return read_output_file(path).column_names
