"""Declared column types (``input.columns: {year: int64}``): the Arrow types a recipe may give
its input's columns, checked when the recipe is built, and the cast of each batch to them that
names the records whose value does not fit.

In a declared column of another type than ``string``, an empty string is null (a CSV's empty
field); any other value must read as the type (``NA`` in an ``int64`` column does not).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RecipeError

__all__ = ["TYPE_NAMES", "check_column_types", "cast_declared"]

TYPE_NAMES = ("string", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float32", "float64", "date32", "timestamp[s]", "timestamp[ms]", "timestamp[us]")


def check_column_types(columns: dict, *, text_field: str, id_field: str | None) -> dict[str, str]:
    """``columns`` (column -> type name) if every name is allowed, else a ``RecipeError`` naming
    ``input.columns.<column>``. The text and the id are always strings and cannot be declared.

    >>> check_column_types({"year": "int64"}, text_field="text", id_field=None)
    {'year': 'int64'}
    >>> check_column_types({"year": "integer"}, text_field="text", id_field=None)
    Traceback (most recent call last):
    ...
    thresher.errors.RecipeError: input.columns.year must be an Arrow type name, one of string, bool, int8, \
int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, date32, timestamp[s], timestamp[ms], \
timestamp[us]; got 'integer'.
    """
    for column, name in columns.items():
        if not isinstance(column, str):
            raise RecipeError(f"input.columns: column names must be strings, got {column!r}.")
        if column in (text_field, id_field or "id"):
            what = "text" if column == text_field else "id"
            raise RecipeError(f"input.columns.{column}: the {what} is always read as a string (exactly as "
                              "written); remove it from input.columns.")
        if name not in TYPE_NAMES:
            raise RecipeError(f"input.columns.{column} must be an Arrow type name, one of {', '.join(TYPE_NAMES)}; "
                              f"got {name!r}.")
    return dict(columns)


def cast_declared(batch: pa.RecordBatch, columns: tuple[tuple[str, str], ...]
                  ) -> tuple[pa.RecordBatch, list[tuple[int, str]]]:
    """``batch`` with its declared columns cast, and ``(row, problem)`` for the rows whose value
    does not read as its column's type (those rows are left out of the returned batch)."""
    declared = [(name, type_name, batch.schema.get_field_index(name)) for name, type_name in columns]
    declared = [d for d in declared if d[2] >= 0]
    cast: dict[int, pa.Array] = {}
    bad: dict[int, str] = {}
    for name, type_name, index in declared:
        try:
            cast[index] = _cast(batch.column(index), pa.type_for_alias(type_name))
        except _CAST_ERRORS:
            for row, problem in _failures(batch.column(index), name, type_name):
                bad.setdefault(row, problem)
    if len(cast) < len(declared):  # a column failed: the good rows only, cast again
        batch = batch.filter(pa.array([i not in bad for i in range(batch.num_rows)]))
        cast = {index: _cast(batch.column(index), pa.type_for_alias(type_name)) for _, type_name, index in declared}
    for name, _, index in declared:
        batch = batch.set_column(index, name, cast[index])
    return batch, sorted(bad.items())


_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def _cast(values: pa.Array, target: pa.DataType) -> pa.Array:
    if values.type == target:
        return values
    if (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) and not pa.types.is_string(target):
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)
    return pc.cast(values, target)


def _failures(values: pa.Array, name: str, type_name: str) -> list[tuple[int, str]]:
    """``(row, problem)`` for each value of a column that does not cast as a whole."""
    target = pa.type_for_alias(type_name)
    failures = []
    for row in range(len(values)):
        try:
            _cast(values.slice(row, 1), target)
        except _CAST_ERRORS:
            failures.append((row, f"column {name!r}: cannot read {values[row].as_py()!r} as {type_name}"))
    return failures
