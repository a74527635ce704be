"""Plan-time checks of an input file, before any stage runs: it opens (and decompresses), a
text file is UTF-8, and the columns of its header, schema or first record neither clash with
thresher's own (``reserved``) nor lack a declared one (``input.columns``).

The readers check every record again; this is what lets ``thresher plan`` and the start of a
run fail in a second instead of after the stages before the first bad batch.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa

from ..errors import InputError
from .decode import UTF8_BOM, read_head
from .files import detect_format, is_hf_dataset_dir
from .reserved import reserved_clash

__all__ = ["probe_input"]


def probe_input(path: Path, rel: str, *, text_field: str, id_field: str | None, columns: dict) -> None:
    """Raise an ``InputError`` naming ``rel`` for what can be told from the file's start."""
    if is_hf_dataset_dir(path) or path.stat().st_size == 0:  # the reader names an empty file
        return
    fmt = detect_format(path)
    names = _column_names(path, rel, fmt)
    if names is None:
        return
    clash = reserved_clash(names, text_field=text_field, id_field=id_field)
    if clash:
        raise InputError(f"{rel}: {clash}")
    missing = [c for c in columns if c not in names]
    if missing and fmt != "jsonl":  # a JSONL record may leave out a column that others have
        raise InputError(f"{rel}: input.columns declares {missing[0]!r}, which the file does not have; "
                         f"its columns: {', '.join(names[:30])}.")


def _column_names(path: Path, rel: str, fmt: str) -> list[str] | None:
    """The header (CSV), the schema (Parquet, Arrow) or the first record's keys (JSONL); None
    where that cannot be told here (the reader then says what is wrong)."""
    if fmt in ("jsonl", "csv"):
        head = read_head(path, rel)
        text = head.removeprefix(UTF8_BOM).decode("utf-8", errors="replace")
        if fmt == "csv":
            return next(csv.reader(io.StringIO(text)), None)
        line = text.lstrip("\r\n").split("\n", 1)[0]
        try:
            record = json.loads(line)
        except ValueError:
            return None
        return list(record) if isinstance(record, dict) else None
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_schema(path).names
        with pa.memory_map(str(path)) as source:
            try:
                return pa.ipc.open_stream(source).schema.names
            except pa.ArrowInvalid:
                return pa.ipc.open_file(source).schema.names
    except (pa.ArrowInvalid, OSError):
        return None
