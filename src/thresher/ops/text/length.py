"""``length``: keep documents whose size in characters, words and lines is within bounds."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ...params import Param
from ..base import OpContext, RowOp, RowResult, reason
from ..columns import set_columns
from ..registry import register_op
from .words import lines, words

__all__ = ["Length"]

_BOUND = dict(low=0, nullable=True)


@register_op("length")
class Length(RowOp):
    """Drop documents that are too short or too long.

    Counts characters, whitespace-separated words and non-empty lines and writes them as
    ``th_chars``, ``th_words`` and ``th_lines``. Every bound is optional (null = no bound).
    Typical values: Gopher keeps 50-100,000 words (Rae et al. 2021, App. A.1.1); C4 drops pages
    with fewer than 5 sentences (Raffel et al. 2020, Sec. 2.2).

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> rows = [{"id": "zen", "text": "Beautiful is better than ugly. Explicit is better than implicit."},
    ...         {"id": "stub", "text": "Read more..."}]
    >>> t = try_op(Length(min_words=5), rows)
    >>> t
    Trial(kept=['zen'], removed={'stub': 'too few words: 2 < min_words 5'})
    >>> t.column("th_words"), t.column("th_lines")
    ([10, 2], [1, 1])
    """

    params = {
        "min_chars": Param(int, None, "minimum characters", **_BOUND),
        "max_chars": Param(int, None, "maximum characters", **_BOUND),
        "min_words": Param(int, None, "minimum whitespace-separated words", **_BOUND),
        "max_words": Param(int, None, "maximum words", **_BOUND),
        "min_lines": Param(int, None, "minimum non-empty lines", **_BOUND),
        "max_lines": Param(int, None, "maximum non-empty lines", **_BOUND),
    }
    writes = ("th_chars", "th_words", "th_lines")
    thresholds = {f"th_{unit}": (f"min_{unit}", f"max_{unit}") for unit in ("chars", "words", "lines")}

    def validate(self) -> None:
        from ...errors import RecipeError

        for unit in ("chars", "words", "lines"):
            lo, hi = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
            if lo is not None and hi is not None and lo > hi:
                raise RecipeError(f"length.min_{unit} ({lo}) must not exceed length.max_{unit} ({hi}).")

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        texts = batch.column("text")
        n_chars = pc.utf8_length(texts).to_pylist()
        n_words, n_lines = [], []
        for text in texts.to_pylist():
            n_words.append(len(words(text)))
            n_lines.append(len(lines(text)))
        reasons = [self._reason(c, w, n) for c, w, n in zip(n_chars, n_words, n_lines)]
        batch = set_columns(batch, {
            "th_chars": pa.array(n_chars, pa.int64()),
            "th_words": pa.array(n_words, pa.int64()),
            "th_lines": pa.array(n_lines, pa.int64()),
        })
        return RowResult(batch, reasons)

    def _reason(self, chars: int, n_words: int, n_lines: int) -> str | None:
        for unit, value in (("chars", chars), ("words", n_words), ("lines", n_lines)):
            lo, hi = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
            if lo is not None and value < lo:
                return reason(f"too few {unit}", f"{value} < min_{unit} {lo}")
            if hi is not None and value > hi:
                return reason(f"too many {unit}", f"{value} > max_{unit} {hi}")
        return None

