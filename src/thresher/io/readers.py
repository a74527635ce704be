"""Readers: every supported input becomes a stream of Arrow batches with ``id``, ``text``,
the input's other columns (metadata, carried unchanged) and ``th_source`` (``file:record``).

A bad record raises an ``InputError`` naming the file and line, or, with
``on_error="quarantine"``, comes back as a ``BadRecord`` that the executor writes to removed/.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from .declared import cast_declared
from .decode import DECOMPRESS_ERRORS, UTF8_BOM, check_text_head, decompress_error, open_binary
from .files import detect_format, is_hf_dataset_dir
from .images import attach_images, read_webdataset
from .output import output_columns, output_parts, read_output_file  # their home; imported from here too
from .records import QUARANTINE_HINT, BadRecord, Chunk, ReadOptions, bad_record, check_reserved
from .reserved import SOURCE_COLUMN
from .tables import read_arrow, read_csv, read_hf_dataset, read_parquet

try:  # orjson is ~5x faster than json on these lines; both give the same values
    import orjson

    _loads = orjson.loads
    _JSONError: tuple = (orjson.JSONDecodeError,)
except ImportError:  # pragma: no cover
    _loads = json.loads
    _JSONError = (json.JSONDecodeError, UnicodeDecodeError)

__all__ = ["BadRecord", "ReadOptions", "read_batches", "read_output_file", "output_columns", "output_parts",
           "SOURCE_COLUMN"]

#: Uncompressed JSONL files larger than this are read in ranges of this many bytes, in parallel.
RANGE_BYTES = 16 << 20


@dataclass(frozen=True)
class Span:
    """A byte range of an uncompressed JSONL file that starts at a line: ``first_line`` is its number."""

    start: int
    end: int
    first_line: int


def jsonl_spans(path: Path, range_bytes: int = RANGE_BYTES) -> list[Span] | None:
    """Ranges of about ``range_bytes`` that split an uncompressed JSONL file at line ends, with
    the number of each range's first line; None for a file read whole (small, compressed, or
    another format). The ranges depend only on the file, not on the number of workers."""
    if path.is_dir() or detect_format(path) != "jsonl" or path.name.lower().endswith((".gz", ".zst")):
        return None
    size = path.stat().st_size
    if size <= range_bytes:
        return None
    spans, start, line = [], 0, 1
    with open(path, "rb") as f:
        while start < size:
            f.seek(min(start + range_bytes, size))
            if start + range_bytes < size:
                f.readline()  # to the end of the line that crosses the boundary
            end = min(f.tell(), size)
            f.seek(start)
            newlines = 0
            left = end - start
            while left > 0:
                block = f.read(min(left, 1 << 22))
                newlines += block.count(b"\n")
                left -= len(block)
            spans.append(Span(start, end, line))
            start, line = end, line + newlines
    return spans


def read_batches(path: Path, rel: str, opts: ReadOptions, span: Span | None = None) -> Iterator[Chunk]:
    """Yield ``(batch, bad_records)`` chunks of at most ``opts.batch_rows`` records from ``path``
    (or from one ``span`` of an uncompressed JSONL file).

    ``rel`` is the path relative to the input root, used in derived ids (``rel:N``, N counting
    records from 1, or the line number for JSONL/CSV) and in messages.
    """
    if span is not None:
        yield from _read_jsonl(path, rel, opts, span)
        return
    if is_hf_dataset_dir(path):
        reader = read_hf_dataset(path, rel, opts)
    else:
        fmt = detect_format(path)
        if path.stat().st_size == 0:
            raise InputError(f"{rel}: the file is empty; remove it from the input or add records.")
        reader = {"jsonl": _read_jsonl, "parquet": read_parquet, "csv": read_csv, "arrow": read_arrow,
                  "webdataset": read_webdataset}[fmt](path, rel, opts)
    any_records = False
    for batch, bad in reader:
        if opts.columns and batch is not None:
            batch, bad = _declared_types(batch, bad, opts)
        if opts.image_field and batch is not None and batch.num_rows:
            batch, bad = attach_images(batch, bad, opts.image_field, path.parent if path.is_file() else path, opts)
        any_records = any_records or bool(bad) or (batch is not None and batch.num_rows > 0)
        yield batch, bad
    if not any_records:
        raise InputError(f"{rel}: the file holds no records; remove it from the input or add records.")


# --- JSONL ---------------------------------------------------------------------------------


def _read_jsonl(path: Path, rel: str, opts: ReadOptions, span: Span | None = None) -> Iterator[Chunk]:
    data, first_line = None, 1
    if span is not None:
        with open(path, "rb") as f:
            f.seek(span.start)
            data = f.read(span.end - span.start)
        first_line = span.first_line
    elif not path.name.lower().endswith((".gz", ".zst")):  # small (a large one comes in spans)
        data = path.read_bytes()
    if data is not None:
        check_text_head(data, rel)
        if first_line == 1 and data.startswith(UTF8_BOM):
            data = data[len(UTF8_BOM):]
        offset = 0
        for batch, offset, line in _arrow_jsonl(data, rel, opts, first_line):  # noqa: B007 (used after)
            yield batch, []
        if offset:
            data, first_line = data[offset:], line
    yield from _read_jsonl_lines(io.BytesIO(data) if data is not None else _open_text_stream(path, rel), rel,
                                 opts, first_line)


def _open_text_stream(path: Path, rel: str) -> io.BufferedIOBase:
    """A compressed JSONL file's decompressed stream, checked for UTF-16, past a UTF-8 BOM."""
    handle = open_binary(path, rel)
    try:
        head = handle.peek(4096)[:4096]
        check_text_head(head, rel)
        if head.startswith(UTF8_BOM):
            handle.read(len(UTF8_BOM))
    except DECOMPRESS_ERRORS as exc:
        handle.close()
        raise decompress_error(exc, rel, path) from None
    except InputError:
        handle.close()
        raise
    return handle


def _arrow_jsonl(data: bytes, rel: str, opts: ReadOptions,
                 first_line: int) -> Iterator[tuple[pa.RecordBatch, int, int]]:
    """The JSONL path's batches (``opts.batch_rows`` lines each), parsed by Arrow's JSON reader
    (3-4x faster than a Python loop), each with the byte offset and line number after it. It
    stops at the first run of lines that it cannot read exactly as ``_read_jsonl_lines`` would
    (a blank or bad line, nested or ambiguous values...): that path reads the rest."""
    import numpy as np

    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    if len(data) and data[-1] != 10:
        ends = np.append(ends, len(data))
    start = 0
    for k in range(0, len(ends), opts.batch_rows):
        lines = min(opts.batch_rows, len(ends) - k)
        end = int(ends[k + lines - 1])
        batch = _arrow_batch(data[start:end], lines, rel, opts, first_line)
        if batch is None:
            return
        start, first_line = end, first_line + lines
        yield batch, start, first_line


_ARROW_SAFE_TYPES = (pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.null())


def _arrow_batch(chunk: bytes, lines: int, rel: str, opts: ReadOptions, first_line: int) -> pa.RecordBatch | None:
    """``lines`` JSONL lines as ``_rows_to_batch`` would build them, or None when Arrow's reading
    could differ: a line that is blank or not a valid record, a text that is not a string, an id
    that is not a string or integer, a metadata column that is nested, or a number column that
    Python would not read as double (integers past 2**53)."""
    import pyarrow.json as pj

    table = _arrow_json(chunk, pj.ParseOptions())
    if table is not None and any(pa.types.is_temporal(f.type) for f in table.schema):  # dates stay strings
        strings = pa.schema([pa.field(f.name, pa.string()) for f in table.schema if pa.types.is_temporal(f.type)])
        table = _arrow_json(chunk, pj.ParseOptions(explicit_schema=strings))
    if table is None or table.num_rows != lines:  # a blank line is skipped by Arrow: counts differ
        return None
    names = table.schema.names
    text_field, id_field = opts.text_field, opts.id_field or "id"
    numbers = pa.array([f"{rel}:{n}" for n in range(first_line, first_line + lines)], pa.string())
    if text_field not in names or text_field == id_field or (opts.id_field is not None and id_field not in names):
        return None
    text = table.column(text_field)
    ids = table.column(id_field) if id_field in names else numbers  # no id field: the line numbers
    if text.type != pa.string() or text.null_count or ids.type not in (pa.string(), pa.int64()) or ids.null_count:
        return None
    keys = [n for n in names if n not in (text_field, id_field)]
    for key in keys:
        column = table.column(key)
        if column.type not in _ARROW_SAFE_TYPES:
            return None
        if column.type == pa.float64() and len(column) > column.null_count and \
                pc.max(pc.abs(column)).as_py() >= 2.0 ** 53:
            return None
    check_reserved(keys, rel, opts)
    arrays = {"id": ids.cast(pa.string()), "text": text, **{key: table.column(key) for key in keys},
              SOURCE_COLUMN: numbers}
    return pa.Table.from_pydict(arrays).combine_chunks().to_batches()[0]


def _arrow_json(chunk: bytes, parse) -> pa.Table | None:
    import pyarrow.json as pj

    try:  # one block: the column types are inferred over the whole chunk, as pa.array does
        table = pj.read_json(pa.BufferReader(chunk), read_options=pj.ReadOptions(use_threads=False,
                             block_size=len(chunk) + 1), parse_options=parse)
        table.validate(full=True)  # the reader does not check UTF-8
        return table
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None


def _read_jsonl_lines(handle, rel: str, opts: ReadOptions, first_line: int) -> Iterator[Chunk]:
    """JSONL line by line: each line is checked, and a bad one named by its file and line."""
    rows: list[dict] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    text_field, id_field = opts.text_field, opts.id_field
    with handle:
        try:
            for lineno, raw in enumerate(handle, first_line):
                obj = _quick_parse(raw, text_field, id_field)  # a well-formed record, or None
                if obj is None:  # blank, or anything to check and explain: the full path
                    if not raw.strip():
                        continue
                    obj = _parse_line(raw, rel, lineno, opts, bad)
                if obj is not None:
                    rows.append(obj)
                    lines.append(lineno)
                if len(rows) + len(bad) >= opts.batch_rows:
                    yield _rows_to_batch(rows, lines, rel, opts, bad), bad
                    rows, lines, bad = [], [], []
        except DECOMPRESS_ERRORS as exc:  # a truncated or corrupt gzip/zstd file
            raise decompress_error(exc, rel, Path(rel)) from None
    if rows or bad:
        yield _rows_to_batch(rows, lines, rel, opts, bad), bad


def _quick_parse(raw: bytes, text_field: str, id_field: str | None) -> dict | None:
    """The record on a line that is a JSON object with a string text and a valid id field;
    None for anything else (which ``_parse_line`` then checks and explains)."""
    try:
        obj = _loads(raw)
    except _JSONError:
        return None
    if type(obj) is dict and type(obj.get(text_field)) is str and (
            id_field is None or type(obj.get(id_field)) in (str, int)):  # bool is not int here
        return obj
    return None


def _parse_line(raw: bytes, rel: str, lineno: int, opts: ReadOptions, bad: list[BadRecord]) -> dict | None:
    where = f"{rel}:{lineno}"
    try:
        obj = _loads(raw)
    except _JSONError as exc:
        try:
            raw.decode("utf-8")
            problem = f"malformed JSON ({exc})"
        except UnicodeDecodeError as uexc:
            problem = f"invalid UTF-8 at byte {uexc.start} of the line"
        return bad_record(where, raw, problem, opts, bad)
    if not isinstance(obj, dict):
        return bad_record(where, raw, f"expected a JSON object, got {type(obj).__name__}", opts, bad)
    if opts.image_field is not None and opts.text_field not in obj:  # an image's record needs no text
        obj[opts.text_field] = ""
    problem = _check_fields(obj, opts)
    if problem:
        return bad_record(where, raw, problem, opts, bad)
    return obj


def _check_fields(obj: dict, opts: ReadOptions) -> str | None:
    text = obj.get(opts.text_field)
    if text is None:
        keys = ", ".join(list(obj)[:20])
        missing = "missing" if opts.text_field not in obj else "null"
        return f"text field {opts.text_field!r} is {missing}; is `text_field` correct? Available keys: [{keys}]"
    if not isinstance(text, str):
        return f"text field {opts.text_field!r} must be a string, got {type(text).__name__}"
    id_field = opts.id_field
    if id_field is not None:
        if obj.get(id_field) is None:
            return f"id field {id_field!r} is missing or null; is `id_field` correct?"
        if not isinstance(obj[id_field], (str, int)) or isinstance(obj[id_field], bool):
            return f"id field {id_field!r} must be a string or an integer, got {type(obj[id_field]).__name__}"
    return None


def _rows_to_batch(rows: list[dict], lines: list[int], rel: str, opts: ReadOptions,
                   bad: list[BadRecord]) -> pa.RecordBatch | None:
    if not rows:
        return None
    if opts.id_field is not None:  # checked on every line: a string or an integer
        ids = [str(obj[opts.id_field]) for obj in rows]
    else:
        ids = [_record_id(obj, rel, n, opts) for obj, n in zip(rows, lines)]
    columns: dict[str, Any] = {"id": ids, "text": [obj[opts.text_field] for obj in rows]}
    keys = _ordered_keys(rows, skip={opts.text_field, opts.id_field or "id"})  # the id is not metadata too
    arrays = {"id": pa.array(columns["id"], pa.string()), "text": pa.array(columns["text"], pa.string())}
    keep = list(range(len(rows)))
    for key in keys:
        arrays[key], conflicts = _column_array(key, [obj.get(key) for obj in rows], rel, lines)
        if conflicts:
            if opts.on_error != "quarantine":
                i, problem = conflicts[0]
                raise InputError(f"{rel}:{lines[i]}: {problem}. {QUARANTINE_HINT}")
            for i, problem in conflicts:
                raw = json.dumps(rows[i], ensure_ascii=False)
                bad.append(BadRecord(f"{rel}:{lines[i]}", raw, f"{rel}:{lines[i]}", f"invalid input: {problem}"))
            drop = {i for i, _ in conflicts}
            keep = [i for i in keep if i not in drop]
            return _rows_to_batch([rows[i] for i in keep], [lines[i] for i in keep], rel, opts, bad)
    arrays[SOURCE_COLUMN] = pa.array([f"{rel}:{n}" for n in lines], pa.string())
    check_reserved(keys, rel, opts)
    return pa.RecordBatch.from_pydict(arrays)


def _ordered_keys(rows: list[dict], skip: set) -> list[str]:
    """Every key of the rows, in order of first appearance, but those in ``skip``."""
    return [key for key in dict.fromkeys(chain.from_iterable(rows)) if key not in skip]


def _column_array(key: str, values: list, rel: str, lines: list[int]) -> tuple[pa.Array | None, list]:
    """Build one metadata column; on mixed types return the rows whose type differs from the first."""
    try:
        return pa.array(values), []
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        first = next(i for i, v in enumerate(values) if v is not None)
        kind = _json_kind(values[first])
        conflicts = [
            (i, f"column {key!r} is {_json_kind(v)} here but {kind} at line {lines[first]}; "
                "a column must keep one type")
            for i, v in enumerate(values)
            if v is not None and _json_kind(v) != kind
        ]
        if not conflicts:  # nested values of differing shapes: keep them as JSON text
            return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values]), []
        return None, conflicts


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _record_id(obj: dict, rel: str, n: int, opts: ReadOptions) -> str:
    if opts.id_field is not None:
        return str(obj[opts.id_field])
    if "id" in obj and isinstance(obj["id"], (str, int)) and not isinstance(obj["id"], bool):
        return str(obj["id"])
    return f"{rel}:{n}"


def _declared_types(batch: pa.RecordBatch, bad: list[BadRecord], opts: ReadOptions) -> Chunk:
    """Cast the declared columns; a value that does not fit is a bad record (or an error)."""
    cast, failed = cast_declared(batch, opts.columns)
    bad = list(bad)
    for row, problem in failed:
        bad_record(batch.column(SOURCE_COLUMN)[row].as_py(), batch.column("text")[row].as_py(), problem, opts, bad)
    return cast, bad
