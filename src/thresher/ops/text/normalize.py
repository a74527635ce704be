"""``normalize``: Unicode normal form, control characters and whitespace."""

from __future__ import annotations

import pyarrow as pa

from ...params import Param
from ..base import OpContext, RowOp, RowResult
from ..columns import set_column
from ..registry import register_op
from .words import normalize_text

__all__ = ["Normalize"]


@register_op("normalize")
class Normalize(RowOp):
    """Normalize text in place: Unicode normal form (NFC by default, as CCNet and most web
    pipelines do before hashing or filtering), line endings to ``\\n``, control characters
    removed, runs of spaces collapsed, at most one blank line in a row, ends stripped.

    It never lowercases the text: dedup ops lowercase their keys only. Removes nothing; a
    record whose text changed has ``th_normalized = true``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> b = pa.RecordBatch.from_pydict({"id": ["a"], "text": ["  Caf\\u0065\\u0301   au\\r\\n\\n\\n\\nlait "]})
    >>> Normalize().process(b, OpContext()).batch.column("text")[0].as_py()
    'Café au\\n\\nlait'
    """

    params = {
        "form": Param(str, "NFC", "Unicode normal form", choices=("NFC", "NFKC", "NFD", "NFKD", "none")),
        "whitespace": Param(bool, True, "collapse spaces, strip lines, at most one blank line"),
        "strip_control": Param(bool, True, "remove control characters other than tab and newline"),
    }
    writes = ("th_normalized",)

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        form = None if self.form == "none" else self.form
        old = batch.column("text").to_pylist()
        new = [normalize_text(t, form=form, whitespace=self.whitespace, strip_control=self.strip_control) for t in old]
        batch = set_column(batch, "text", pa.array(new, pa.string()))
        batch = set_column(batch, "th_normalized", pa.array([a != b for a, b in zip(old, new)], pa.bool_()))
        return RowResult(batch)
