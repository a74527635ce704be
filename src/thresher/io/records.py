"""What every reader shares: the read options, a bad record, the check of an input's columns."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ..errors import InputError
from .reserved import SOURCE_COLUMN, reserved_clash

__all__ = ["ReadOptions", "BadRecord", "Chunk", "QUARANTINE_HINT", "bad_record", "check_reserved"]

QUARANTINE_HINT = "(Set input.on_error: quarantine to set such records aside.)"


@dataclass(frozen=True)
class ReadOptions:
    """How to map an input's fields: which one is the text, which the id; what to do on errors;
    the declared column types (``input.columns`` as pairs); ``reserved``: refuse every column
    thresher writes (the run's input), not only those the reader itself writes (side files);
    ``image_field``: the field holding each record's image (a record then needs no text)."""

    text_field: str = "text"
    id_field: str | None = None
    on_error: str = "raise"
    batch_rows: int = 10_000
    columns: tuple[tuple[str, str], ...] = ()
    reserved: bool = False
    #: Tables: the field holding each record's image; a record then needs no text (``""``).
    image_field: str | None = None


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be read; it goes to removed/ with ``reason``."""

    id: str
    text: str
    source: str
    reason: str


Chunk = tuple[pa.RecordBatch | None, list[BadRecord]]


def bad_record(where: str, raw: bytes | str, problem: str, opts: ReadOptions, bad: list[BadRecord]) -> None:
    """A record that cannot be read (``where`` is ``file:line``): an ``InputError``, or with
    ``on_error: quarantine`` a ``BadRecord`` appended to ``bad``."""
    if opts.on_error != "quarantine":
        raise InputError(f"{where}: {problem}. {QUARANTINE_HINT}")
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    bad.append(BadRecord(id=where, text=text.rstrip("\n"), source=where, reason=f"invalid input: {problem}"))
    return None


def check_reserved(keys: list[str], rel: str, opts: ReadOptions) -> None:
    """An input column that clashes with one thresher writes: every reserved one for the run's
    input, the text, id and ``th_source`` for the files that ops read."""
    names = keys if opts.reserved else [k for k in keys if k in ("text", "id", SOURCE_COLUMN)]
    clash = reserved_clash(names, text_field=opts.text_field, id_field=opts.id_field)
    if clash:
        raise InputError(f"{rel}: {clash}")
