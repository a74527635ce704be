"""Plan-time checks of an input file, before any stage runs: it opens (and decompresses), a
text file is UTF-8, and the columns of its header, schema or first record neither clash with
thresher's own (``reserved``) nor lack a declared one (``input.columns``). ``file_columns``
reads those columns (with their types) for the plan's other checks (``exec.prerequisites``).

The readers check every record again; this is what lets ``thresher plan`` and the start of a
run fail in a second instead of after the stages before the first bad batch.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from ..errors import InputError
from .decode import UTF8_BOM, open_binary, read_head
from .files import detect_format, is_hf_dataset_dir
from .reserved import reserved_clash

__all__ = ["probe_input", "file_columns", "text_columns"]

#: ``{column: Arrow type, or None where the start of the file does not tell}``.
Columns = dict[str, "pa.DataType | None"]
_JSON_TYPES = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}


def probe_input(path: Path, rel: str, *, text_field: str, id_field: str | None, columns: dict) -> None:
    """Raise an ``InputError`` naming ``rel`` for what can be told from the file's start."""
    if is_hf_dataset_dir(path) or path.stat().st_size == 0:  # the reader names an empty file
        return
    fmt = detect_format(path)
    if fmt in ("jsonl", "csv"):
        head = read_head(path, rel)  # opens, decompresses and checks the encoding
        names = text_columns(io.BytesIO(head), fmt, records=1)
    else:
        names = _schema_columns(path, fmt)
    if names is None:
        return
    clash = reserved_clash(list(names), text_field=text_field, id_field=id_field)
    if clash:
        raise InputError(f"{rel}: {clash}")
    missing = [c for c in columns if c not in names]
    if missing and fmt != "jsonl":  # a JSONL record may leave out a column that others have
        raise InputError(f"{rel}: input.columns declares {missing[0]!r}, which the file does not have; "
                         f"its columns: {', '.join(list(names)[:30])}.")


def file_columns(path: Path, records: int = 1) -> Columns | None:
    """The columns of an input file with their Arrow types where known: an HF dataset's,
    Parquet's or Arrow's schema, a CSV header (strings), or the keys of the first ``records``
    JSONL records (typed by their first non-null value); None where the start cannot tell."""
    if is_hf_dataset_dir(path):
        state = json.loads((path / "state.json").read_text())
        return _types(pa.ipc.open_stream(path / state["_data_files"][0]["filename"]).schema)
    fmt = detect_format(path)
    if fmt in ("jsonl", "csv"):
        with open_binary(path, path.name) as handle:
            return text_columns(handle, fmt, records)
    return _schema_columns(path, fmt)


def text_columns(lines: BinaryIO, fmt: str, records: int) -> Columns | None:
    """The columns of a CSV (its header) or JSONL stream (the keys of its first ``records``
    records); None when the first lines are not records."""
    if fmt == "csv":
        text = io.TextIOWrapper(lines, encoding="utf-8-sig", errors="replace", newline="")
        try:
            header = next(csv.reader(text), None)
        finally:
            text.detach()  # the caller closes its stream
        return dict.fromkeys(header, pa.string()) if header is not None else None
    columns: Columns = {}
    seen = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.removeprefix(UTF8_BOM) if seen == 0 else raw)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        for key, value in record.items():
            columns[key] = columns.get(key) or _JSON_TYPES.get(type(value))
        seen += 1
        if seen >= records:
            break
    return columns or None


def _schema_columns(path: Path, fmt: str) -> Columns | None:
    """The columns of a Parquet or Arrow file's schema; None when it cannot be read."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return _types(pq.read_schema(path))
        with pa.memory_map(str(path)) as source:
            try:
                return _types(pa.ipc.open_stream(source).schema)
            except pa.ArrowInvalid:
                return _types(pa.ipc.open_file(source).schema)
    except (pa.ArrowInvalid, OSError):
        return None


def _types(schema: pa.Schema) -> Columns:
    return {f.name: f.type for f in schema}
