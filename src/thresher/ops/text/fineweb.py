"""``fineweb_quality``: the three custom filters of FineWeb (Penedo et al. 2024, Sec. 3.6)."""

from __future__ import annotations

from operator import methodcaller

import pyarrow as pa

from ...params import Param
from ..base import OpContext, RowOp, RowResult, reason
from ..columns import rows_to_columns, set_columns
from ..registry import register_op
from .words import duplicate_stats, lines

__all__ = ["FineWebQuality"]

#: Sentence-ending marks: ASCII, CJK full-width and the common non-Latin scripts' (Unicode
#: Sentence_Terminal characters). Closing quotes and the ellipsis character are not among them.
TERMINAL_PUNCTUATION = (".", "!", "?", "。", "！", "？", "．", "｡", "؟", "۔", "।", "॥", "።", "፧", "჻",
                        "‼", "⁇", "⁈", "⁉", "܀", "܁", "܂", "߹", "᙮", "᠃", "᠉", "⸮", "꓿", "꘎", "꘏",
                        "꛳", "꛷", "﹒", "﹖", "﹗")


@register_op("fineweb_quality")
class FineWebQuality(RowOp):
    """FineWeb custom rules: line-end punctuation, duplicated line characters, short lines.

    The FineWeb custom quality filters (Penedo et al. 2024, "The FineWeb Datasets: Decanting
    the Web for the Finest Text Data at Scale", Sec. 3.6), the three rules kept after ablation:

    - ``fineweb line punctuation``: remove if the fraction of lines ending with punctuation is
      <= ``line_punct_thr`` (0.12);
    - ``fineweb duplicate line chars``: remove if the fraction of characters in duplicated lines
      is >= ``char_duplicates_ratio`` (0.1);
    - ``fineweb short lines``: remove if the fraction of lines shorter than ``short_line_length``
      (30) characters is >= ``short_line_thr`` (0.67).

    Lines are non-empty stripped lines (:func:`~thresher.ops.text.words.lines`). A line ends with
    punctuation when its last character is a sentence terminator (``.``, ``!``, ``?`` and their
    CJK, Arabic, Devanagari, Ethiopic... forms; see ``TERMINAL_PUNCTUATION``). A duplicated
    line is an occurrence after the first; its characters are divided by the characters of all
    lines. A document without lines has every fraction 0 and so fails the punctuation rule.
    The three measures are always computed and written as ``th_fineweb_line_punct_frac``,
    ``th_fineweb_dup_line_char_frac`` and ``th_fineweb_short_line_frac``; the reason is the
    first rule that fires, in the order above. ``null`` turns a rule off.

    Thresholds and comparisons are those of Sec. 3.6 ("<= 0.12", ">= 0.1", ">= 0.67", "shorter
    than 30"). datatrove's ``FineWebQualityFilter`` differs: it defaults
    ``char_duplicates_ratio`` to 0.01 (the value of the paper's App. E table), uses strict
    ``<``/``>``, counts lines of up to 30 characters (``<=``) as short, does not strip lines,
    divides duplicated characters by the text length without newlines, and adds a fourth
    rule (newlines per word > 0.3) that the paper does not list.

    Examples
    --------
    >>> import pyarrow as pa
    >>> prose = ("Beautiful is better than ugly.\\nExplicit is better than implicit.\\n"
    ...          "Simple is better than complex.\\nComplex is better than complicated.")
    >>> menu = "Home\\nAbout\\nContact\\nBlog\\nShop"
    >>> b = pa.RecordBatch.from_pydict({"id": ["zen", "menu"], "text": [prose, menu]})
    >>> r = FineWebQuality().process(b, OpContext())
    >>> r.reasons
    [None, 'fineweb line punctuation: 0 <= line_punct_thr 0.12']
    >>> r.batch.column("th_fineweb_short_line_frac").to_pylist()
    [0.0, 1.0]
    """

    params = {
        "line_punct_thr": Param(float, 0.12, "remove if the fraction of lines ending with punctuation is <= this",
                                low=0, high=1, nullable=True),
        "char_duplicates_ratio": Param(float, 0.1, "remove if the fraction of characters in duplicated lines "
                                       "is >= this", low=0, high=1, nullable=True),
        "short_line_thr": Param(float, 0.67, "remove if the fraction of short lines is >= this",
                                low=0, high=1, nullable=True),
        "short_line_length": Param(int, 30, "a line shorter than this many characters is short", low=1),
    }
    column_types = (
        ("th_fineweb_line_punct_frac", pa.float64()),
        ("th_fineweb_dup_line_char_frac", pa.float64()),
        ("th_fineweb_short_line_frac", pa.float64()),
    )
    writes = tuple(name for name, _ in column_types)
    thresholds = {"th_fineweb_line_punct_frac": ("line_punct_thr",),
                  "th_fineweb_dup_line_char_frac": ("char_duplicates_ratio",),
                  "th_fineweb_short_line_frac": ("short_line_thr",)}

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        rows = [self.measure(text or "") for text in batch.column("text").to_pylist()]
        reasons = [self._reason(*row) for row in rows]
        return RowResult(set_columns(batch, rows_to_columns(self.column_types, rows)), reasons)

    def measure(self, text: str) -> tuple[float, float, float]:
        """``(punctuated line fraction, duplicated line character fraction, short line fraction)``."""
        rows = lines(text)
        if not rows:
            return 0.0, 0.0, 0.0
        punct = len(list(filter(methodcaller("endswith", TERMINAL_PUNCTUATION), rows)))
        short = sum(1 for line in rows if len(line) < self.short_line_length)
        return punct / len(rows), duplicate_stats(rows)[1], short / len(rows)

    def _reason(self, punct: float, dup_chars: float, short: float) -> str | None:
        if self.line_punct_thr is not None and punct <= self.line_punct_thr:
            return reason("fineweb line punctuation", f"{punct:.4g} <= line_punct_thr {self.line_punct_thr:.4g}")
        if self.char_duplicates_ratio is not None and dup_chars >= self.char_duplicates_ratio:
            return reason("fineweb duplicate line chars",
                          f"{dup_chars:.4g} >= char_duplicates_ratio {self.char_duplicates_ratio:.4g}")
        if self.short_line_thr is not None and short >= self.short_line_thr:
            return reason("fineweb short lines", f"{short:.4g} >= short_line_thr {self.short_line_thr:.4g}")
        return None
