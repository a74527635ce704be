"""Checks made when a recipe is planned, before any work: every column a step reads (``needs``)
is in the input or written by an earlier step, filter expressions compare like with like, and
``eval.label`` names a column that the output will hold.

The input's columns are read cheaply from its first files: a Parquet or Arrow schema, the keys
of the first JSONL records, a CSV header. When they cannot be read (an unreadable file is
reported by the ingest, with its line), only what the steps write is known and nothing is
checked against the input.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ..errors import RecipeError
from ..params import closest
from ..recipe import Recipe

__all__ = ["check_prerequisites", "input_columns"]

#: Files and JSONL records sampled for the input's columns.
_FILES, _RECORDS = 8, 1000


def check_prerequisites(recipe: Recipe, paths: list[Path]) -> None:
    """Raise a ``RecipeError`` naming the step, the parameter and the missing column (and the op
    that writes it) when a step reads a column that nothing before it provides."""
    from ..ops.filter import Filter, check_types

    columns = _image_columns(recipe) if recipe.input.format == "images" else \
        input_columns(paths, recipe.input.text_field, recipe.input.id_field)
    if columns is None:
        return
    if recipe.input.image_field is not None:
        columns.update(_image_columns(recipe))
    columns.update({c: pa.type_for_alias(t) for c, t in recipe.input.columns.items() if c in columns})
    for index, step in enumerate(recipe.steps, 1):
        where = f"step {index} ({step.name})"
        for column, param in step.op.needs().items():
            if column not in columns:
                raise RecipeError(_missing(recipe, index, column, param, columns))
        if isinstance(step.op, Filter):
            check_types(step.op.expr, columns, f"{where}.expr")
        columns.update({c: columns.get(c) for c in step.op.writes})
    _check_eval(recipe, columns)


def _image_columns(recipe: Recipe) -> dict[str, pa.DataType | None]:
    """The columns of image records (``io.images``): the reader's and the signals'."""
    from ..image.signals import SIGNAL_SCHEMA
    from ..io.images import IMAGE_COLUMNS
    from ..io.reserved import SOURCE_COLUMN

    label = {"label": pa.string()} if recipe.input.label_from else {}
    return {"id": pa.string(), "text": pa.string(), **label, **dict.fromkeys(IMAGE_COLUMNS),
            **{f.name: f.type for f in SIGNAL_SCHEMA}, SOURCE_COLUMN: pa.string()}


def _missing(recipe: Recipe, index: int, column: str, param: str | None, columns: dict) -> str:
    step = recipe.steps[index - 1]
    who = f"step {index} ({step.name})" + (f".{param}" if param else "")
    later = next((j for j, s in enumerate(recipe.steps, 1) if j > index and column in s.op.writes), None)
    if later is not None:
        return (f"{who} needs column {column}, which step {later} ({recipe.steps[later - 1].name}) writes after it: "
                f"move step {later} before step {index}.")
    if column.startswith("th_image"):  # written by the image reader, not by a step
        return (f"{who} needs image records (column {column}): read images with input.format: images, or "
                "name the column that holds each record's image with input.image_field.")
    makers = _makers().get(column)
    if makers:
        return f"{who} needs column {column}, made by {' or '.join(makers)}: add it before this step."
    return (f"{who}: no column {column!r} in the input or written by an earlier step.{closest(column, columns)} "
            f"Available columns (the input's, read from its first records, then the steps'): {', '.join(columns)}.")


def _makers() -> dict[str, list[str]]:
    from ..ops.registry import all_ops

    makers: dict[str, list[str]] = {}
    for name, cls in all_ops().items():
        for column in cls.writes:
            makers.setdefault(column, []).append(name)
    return makers


def _check_eval(recipe: Recipe, columns: dict) -> None:
    if recipe.eval is None:
        return
    label = recipe.eval.label
    if label not in columns:
        raise RecipeError(f"eval.label: no column {label!r} in the input or written by a step."
                          f"{closest(label, columns)} Available columns: {', '.join(columns)}.")
    test = Path(recipe.eval.test) if recipe.eval.test else None
    if test is not None and test.is_file():
        test_columns = _file_columns(test)
        if test_columns is not None and label not in test_columns:
            raise RecipeError(f"eval.test: the test file {test} has no column {label!r} (eval.label); "
                              f"its columns: {', '.join(test_columns)}.")


def input_columns(paths: list[Path], text_field: str = "text",
                  id_field: str | None = None) -> dict[str, pa.DataType | None] | None:
    """``{column: Arrow type or None}`` of the records after ingest (``id``, ``text``,
    ``th_source`` and the input's other columns), from the first files; None when unknown."""
    from ..io.reserved import SOURCE_COLUMN

    found: dict[str, pa.DataType | None] = {}
    for path in paths[:_FILES]:
        columns = _file_columns(path)
        if columns is None:
            return None
        for name, dtype in columns.items():
            found[name] = found.get(name) or dtype
    if not found:
        return None
    skip = {text_field, id_field or "id"}
    return {"id": pa.string(), "text": pa.string(), SOURCE_COLUMN: pa.string(),
            **{n: t for n, t in found.items() if n not in skip and n != SOURCE_COLUMN}}


def _file_columns(path: Path) -> dict[str, pa.DataType | None] | None:
    """The columns of one input file, or None when they cannot be read cheaply (any failure:
    the ingest reports unreadable files with the file and line)."""
    from ..io.probe import file_columns

    try:
        return file_columns(path, records=_RECORDS)
    except Exception:  # noqa: BLE001 - reading the schema is best effort; the ingest names the problem
        return None
