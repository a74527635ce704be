"""CSV input, read by Arrow: every value is the string written in the file (no type guessing:
ids ``007`` and ``1e3``, ``01234``, ``NA`` and empty fields stay as written; ``input.columns``
declares types), and a malformed row (a wrong number of fields) is named by its row number.

Rows are numbered from the header, row 1; that is the line number unless blank lines (skipped)
or quoted fields spanning lines come before. A malformed row raises an ``InputError``, or with
``on_error: quarantine`` is returned as ``(row, text, problem)`` and the rest of the file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa

from ..errors import InputError
from .decode import DECOMPRESS_ERRORS, decompress_error, open_binary, read_head

__all__ = ["csv_batches", "BLOCK_BYTES"]

#: Arrow parses the file in blocks of this size; a single row (or an unclosed quote) must fit.
BLOCK_BYTES = 4 << 20


class _RowNumbers:
    """The row numbers of the records Arrow returns: 2, 3, ... without the malformed rows'."""

    def __init__(self) -> None:
        self.skipped: list[int] = []
        self.bad: list[tuple[int, str, str]] = []
        self.next = 2
        self._k = 0

    def invalid(self, row) -> None:
        self.skipped.append(row.number)
        self.bad.append((row.number, row.text, f"malformed CSV row: expected {row.expected_columns} fields, "
                                                f"found {row.actual_columns}"))

    def take(self, n: int) -> list[int]:
        numbers = []
        while len(numbers) < n:
            if self._k < len(self.skipped) and self.skipped[self._k] == self.next:
                self._k += 1
            else:
                numbers.append(self.next)
            self.next += 1
        return numbers

    def pop_bad(self) -> list[tuple[int, str, str]]:
        bad, self.bad = self.bad, []
        return bad


def csv_batches(path: Path, rel: str, *, quarantine: bool, hint: str
                ) -> Iterator[tuple[pa.RecordBatch | None, list[int], list[tuple[int, str, str]]]]:
    """``(batch of string columns, row numbers, malformed rows)`` for the CSV file ``path``.
    ``hint`` ends the message of a malformed row when not ``quarantine``."""
    import pyarrow.csv as pcsv

    read_head(path, rel)  # a truncated or mislabeled compressed file, UTF-16: named before Arrow's errors
    rows = _RowNumbers()

    def on_invalid(row) -> str:
        rows.invalid(row)
        return "skip" if quarantine else "error"

    read = pcsv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES)  # single-threaded: rows get numbers
    parse = pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid)
    try:
        with _source(path, rel) as probe:
            names = pcsv.open_csv(probe, read_options=read, parse_options=pcsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=lambda row: "skip")).schema.names
        convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False)
        with _source(path, rel) as handle:
            for batch in pcsv.open_csv(handle, read_options=read, parse_options=parse, convert_options=convert):
                yield batch, rows.take(batch.num_rows), rows.pop_bad()
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, rows, rel, hint) from None
    except DECOMPRESS_ERRORS as exc:
        raise decompress_error(exc, rel, path) from None
    if rows.bad:
        yield None, [], rows.pop_bad()


def _source(path: Path, rel: str):
    """Arrow's own file for a plain CSV (faster), the checked decompressing stream otherwise."""
    return open_binary(path, rel) if path.name.lower().endswith((".gz", ".zst")) else pa.OSFile(str(path))


def _csv_error(exc: pa.ArrowInvalid, rows: _RowNumbers, rel: str, hint: str) -> InputError:
    if rows.bad:
        number, text, problem = rows.bad[0]
        shown = text if len(text) <= 200 else text[:200] + "…"
        return InputError(f"{rel}:{number}: {problem}: {shown!r}. {hint}")
    if "straddl" in str(exc):
        return InputError(f"{rel}: malformed CSV after row {rows.next - 1}: a row longer than "
                          f"{BLOCK_BYTES >> 20} MiB, most likely an unclosed quote (\") that runs to the end of "
                          "the file; close the quote.")
    return InputError(f"{rel}: malformed CSV ({exc}).")
