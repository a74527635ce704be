"""``gopher_quality`` and ``gopher_repetition``: the MassiveText rules of Rae et al. (2021), App. A.1.1.

Both use the shared definitions of :mod:`thresher.ops.text.words`: a word is a whitespace token
(punctuation stays attached), a line is a non-empty stripped line, a paragraph is a non-empty
block between blank lines.
"""

from __future__ import annotations

import re
from itertools import filterfalse
from operator import methodcaller

import numpy as np
import pyarrow as pa

from ...errors import RecipeError
from ...params import Param
from ..base import OpContext, RowOp, RowResult, reason
from ..columns import rows_to_columns, set_columns
from ..registry import register_op
from .ngrams import ngram_fractions
from .words import duplicate_stats, lines, paragraphs, words

__all__ = ["GopherQuality", "GopherRepetition"]

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
#: Characters that start a bulleted line. En and em dashes are left out: they open dialogue lines.
BULLETS = ("•", "‣", "◦", "⁃", "∙", "●", "○", "▪", "▫", "■", "□", "►", "▸", "➢", "➤", "-", "*")
ELLIPSES = ("...", "…")
#: A letter: a word character that is neither a digit nor "_" (str.isalpha, plus numeric
#: symbols such as "½").
_LETTER = re.compile(r"[^\W\d_]")
def _ratio(count: int, total: int) -> float:
    return count / total if total else 0.0


def _fmt(value: float) -> str:
    return f"{value:.4g}"


@register_op("gopher_quality")
class GopherQuality(RowOp):
    """Gopher quality rules: word count and length, symbols, bullets, ellipses, letters, stop words.

    The MassiveText quality filter (Rae et al. 2021, "Scaling Language Models: Methods,
    Analysis & Insights from Training Gopher", App. A.1.1, "Quality filtering").

    A document is removed when any rule fails, checked in the paper's order:

    - ``gopher word count``: fewer than ``min_words`` (50) or more than ``max_words`` (100,000) words;
    - ``gopher mean word length``: mean word length (characters) outside
      [``min_mean_word_length``, ``max_mean_word_length``] = [3, 10];
    - ``gopher symbol ratio``: "a symbol-to-word ratio greater than 0.1 for either the hash
      symbol or the ellipsis": ``#`` count / words > ``max_symbol_word_ratio``, or ellipsis count
      (``...`` and ``…``) / words > ``max_symbol_word_ratio``; each symbol is its own ratio;
    - ``gopher bullet lines``: more than ``max_bullet_lines`` (90%) of lines start with a bullet
      (``•``, ``‣``, ``◦``, ``⁃``, ``∙``, ``●``, ``○``, ``▪``, ``■``, ``►``, ``➢``, ``-``, ``*`` ...);
    - ``gopher ellipsis lines``: more than ``max_ellipsis_lines`` (30%) of lines end with ``...``
      or ``…``;
    - ``gopher alphabetic words``: fewer than ``min_alpha_words`` (80%) of words contain a letter;
    - ``gopher stop words``: fewer than ``min_stop_words`` (2) distinct words of ``stop_words``
      (the, be, to, of, and, that, have, with) appear. This check alone is case-insensitive and
      strips punctuation around each word (``"The,"`` counts as *the*).

    Any rule can be turned off with ``null``. Every measure is written, also for kept rows:
    ``th_gopher_words``, ``th_gopher_mean_word_len``, ``th_gopher_hash_ratio``,
    ``th_gopher_ellipsis_ratio``, ``th_gopher_bullet_lines``, ``th_gopher_ellipsis_lines``,
    ``th_gopher_alpha_words`` (fractions) and ``th_gopher_stop_words`` (distinct stop words
    found). An empty document has 0 words and all fractions 0.

    Words are whitespace tokens (the paper does not define them; Dolma's reimplementation splits
    on whitespace too), so punctuation stays attached (``works.``) and a bare ``-`` or ``=`` is a
    word without a letter. A letter is a word character that is neither a digit nor ``_``.
    datatrove's ``GopherQualityFilter`` uses a spaCy/NLTK word tokenizer instead, which splits
    punctuation into tokens of their own: that inflates its no-letter fraction on technical text
    (every ``(``, ``)``, ``:`` is a word) while it drops punctuation-only tokens from its word
    count and mean length; it matches stop words case-sensitively and only counts bullets ``•``
    and ``-``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> text = ("The licenses for most software and other practical works are designed to take "
    ...         "away your freedom to share and change the works. ") * 3
    >>> b = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": [text, "#### ... ####"]})
    >>> r = GopherQuality().process(b, OpContext())
    >>> r.reasons[0], r.reasons[1]
    (None, 'gopher word count: 3 < min_words 50')
    >>> r.batch.column("th_gopher_words").to_pylist(), r.batch.column("th_gopher_stop_words").to_pylist()
    ([66, 3], [3, 0])
    """

    params = {
        "min_words": Param(int, 50, "minimum number of words", low=0, nullable=True),
        "max_words": Param(int, 100_000, "maximum number of words", low=0, nullable=True),
        "min_mean_word_length": Param(float, 3, "minimum mean word length in characters", low=0, nullable=True),
        "max_mean_word_length": Param(float, 10, "maximum mean word length in characters", low=0, nullable=True),
        "max_symbol_word_ratio": Param(float, 0.1, "maximum '#' per word, and maximum ellipses per word",
                                       low=0, nullable=True),
        "max_bullet_lines": Param(float, 0.9, "maximum fraction of lines starting with a bullet",
                                  low=0, high=1, nullable=True),
        "max_ellipsis_lines": Param(float, 0.3, "maximum fraction of lines ending with an ellipsis",
                                    low=0, high=1, nullable=True),
        "min_alpha_words": Param(float, 0.8, "minimum fraction of words that contain a letter",
                                 low=0, high=1, nullable=True),
        "min_stop_words": Param(int, 2, "minimum number of distinct stop words present", low=0, nullable=True),
        "stop_words": Param(list, list(STOP_WORDS), "the stop words (matched case-insensitively)", item=str),
    }
    column_types = (
        ("th_gopher_words", pa.int64()),
        ("th_gopher_mean_word_len", pa.float64()),
        ("th_gopher_hash_ratio", pa.float64()),
        ("th_gopher_ellipsis_ratio", pa.float64()),
        ("th_gopher_bullet_lines", pa.float64()),
        ("th_gopher_ellipsis_lines", pa.float64()),
        ("th_gopher_alpha_words", pa.float64()),
        ("th_gopher_stop_words", pa.int64()),
    )
    writes = tuple(name for name, _ in column_types)
    thresholds = {
        "th_gopher_words": ("min_words", "max_words"),
        "th_gopher_mean_word_len": ("min_mean_word_length", "max_mean_word_length"),
        "th_gopher_hash_ratio": ("max_symbol_word_ratio",),
        "th_gopher_ellipsis_ratio": ("max_symbol_word_ratio",),
        "th_gopher_bullet_lines": ("max_bullet_lines",),
        "th_gopher_ellipsis_lines": ("max_ellipsis_lines",),
        "th_gopher_alpha_words": ("min_alpha_words",),
        "th_gopher_stop_words": ("min_stop_words",),
    }

    def validate(self) -> None:
        for lo, hi in (("min_words", "max_words"), ("min_mean_word_length", "max_mean_word_length")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise RecipeError(f"gopher_quality.{lo} ({_fmt(a)}) must not exceed gopher_quality.{hi} ({_fmt(b)}).")
        stops = {w.lower() for w in self.stop_words if w.strip()}
        if self.min_stop_words is not None and self.min_stop_words > len(stops):
            raise RecipeError(
                f"gopher_quality.min_stop_words ({self.min_stop_words}) exceeds the {len(stops)} distinct "
                "gopher_quality.stop_words: no document could pass; lower min_stop_words or add stop words.")
        self._stops = stops

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        rows = [self.measure(text or "") for text in batch.column("text").to_pylist()]
        reasons = [self._reason(row) for row in rows]
        return RowResult(set_columns(batch, rows_to_columns(self.column_types, rows)), reasons)

    def measure(self, text: str) -> tuple:
        """The measures of one document, in the order of ``column_types``."""
        tokens = words(text)
        n = len(tokens)
        rows = lines(text)
        bullets = len(list(filter(methodcaller("startswith", BULLETS), rows)))
        ellipsis_lines = len(list(filter(methodcaller("endswith", ELLIPSES), rows)))
        # Words without a letter: the few that are not all letters and hold no letter.
        no_letter = len(list(filterfalse(_LETTER.search, filterfalse(str.isalpha, tokens))))
        mean_len, hashes, ellipses, alpha = (
            _ratio(sum(map(len, tokens)), n), _ratio(text.count("#"), n),
            _ratio(text.count("...") + text.count("…"), n), _ratio(n - no_letter, n))
        bullets, ellipsis_lines = _ratio(bullets, len(rows)), _ratio(ellipsis_lines, len(rows))
        return n, mean_len, hashes, ellipses, bullets, ellipsis_lines, alpha, self._count_stop_words(text)

    def _count_stop_words(self, text: str) -> int:
        """Distinct stop words among the words, compared without case and surrounding punctuation."""
        pattern = getattr(self, "_cache_stop_re", None)
        if pattern is None:
            alternatives = "|".join(re.escape(w) for w in sorted(self._stops, key=len, reverse=True))
            # A whole whitespace token, allowing punctuation (neither word character nor space) around it.
            pattern = self._cache_stop_re = re.compile(rf"(?<!\S)[^\w\s]*({alternatives})[^\w\s]*(?!\S)", re.I)
        return len({m.lower() for m in pattern.findall(text)} & self._stops)

    def _reason(self, row: tuple) -> str | None:
        n, mean_len, hashes, ellipses, bullets, ellipsis_lines, alpha, stops = row
        checks = (
            ("gopher word count", n, "min_words", -1),
            ("gopher word count", n, "max_words", 1),
            ("gopher mean word length", mean_len, "min_mean_word_length", -1),
            ("gopher mean word length", mean_len, "max_mean_word_length", 1),
            ("gopher symbol ratio", hashes, "max_symbol_word_ratio", 1, "'#' per word "),
            ("gopher symbol ratio", ellipses, "max_symbol_word_ratio", 1, "ellipses per word "),
            ("gopher bullet lines", bullets, "max_bullet_lines", 1),
            ("gopher ellipsis lines", ellipsis_lines, "max_ellipsis_lines", 1),
            ("gopher alphabetic words", alpha, "min_alpha_words", -1),
            ("gopher stop words", stops, "min_stop_words", -1),
        )
        for rule, value, param, side, *label in checks:
            limit = getattr(self, param)
            if limit is None:
                continue
            if side < 0 and value < limit:
                return reason(rule, f"{''.join(label)}{_fmt(value)} < {param} {_fmt(limit)}")
            if side > 0 and value > limit:
                return reason(rule, f"{''.join(label)}{_fmt(value)} > {param} {_fmt(limit)}")
        return None


TOP_NGRAM_THRESHOLDS = {2: 0.20, 3: 0.18, 4: 0.16}
DUPLICATE_NGRAM_THRESHOLDS = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
# (parameter and column suffix, rule name, Table A1 threshold, what is measured)
_REPETITION_RULES = (
    ("dup_line_frac", "gopher duplicate lines", 0.30, "fraction of lines that repeat an earlier line"),
    ("dup_para_frac", "gopher duplicate paragraphs", 0.30, "fraction of paragraphs that repeat an earlier one"),
    ("dup_line_char_frac", "gopher duplicate line chars", 0.20, "fraction of line characters in repeated lines"),
    ("dup_para_char_frac", "gopher duplicate paragraph chars", 0.20,
     "fraction of paragraph characters in repeated paragraphs"),
    *((f"top_{n}gram_frac", f"gopher top {n}-gram", t,
       f"fraction of word characters in the most frequent {n}-gram") for n, t in TOP_NGRAM_THRESHOLDS.items()),
    *((f"dup_{n}gram_frac", f"gopher duplicate {n}-grams", t,
       f"fraction of word characters covered by repeated {n}-grams") for n, t in DUPLICATE_NGRAM_THRESHOLDS.items()),
)
DUPLICATE_NGRAMS = tuple(DUPLICATE_NGRAM_THRESHOLDS)


@register_op("gopher_repetition")
class GopherRepetition(RowOp):
    """Gopher repetition rules: duplicate lines, paragraphs and n-grams (Rae et al. 2021, Table A1).

    The MassiveText repetition filter (Rae et al. 2021, "Scaling Language Models: Methods,
    Analysis & Insights from Training Gopher", App. A.1.1 "Repetition removal", Table A1). A
    document is removed when a measure exceeds its threshold; rules are checked in the order
    of the table and the first that fires is the reason (later measures are then not computed):

    - ``dup_line_frac`` 0.30: lines that repeat an earlier line / lines;
    - ``dup_para_frac`` 0.30: the same for paragraphs;
    - ``dup_line_char_frac`` 0.20: characters of repeated lines / characters of all lines;
    - ``dup_para_char_frac`` 0.20: the same for paragraphs;
    - ``top_2gram_frac`` 0.20, ``top_3gram_frac`` 0.18, ``top_4gram_frac`` 0.16: top n-gram
      character fraction;
    - ``dup_5gram_frac`` 0.15, ``dup_6gram_frac`` 0.14, ``dup_7gram_frac`` 0.13,
      ``dup_8gram_frac`` 0.12, ``dup_9gram_frac`` 0.11, ``dup_10gram_frac`` 0.10: duplicate
      n-gram character fraction.

    Definitions. Lines and paragraphs are those of :mod:`~thresher.ops.text.words` (stripped,
    non-empty); a *repeated* line is an occurrence after the first, so three equal lines out of
    four give 2/4. N-grams are over whitespace words; characters are the words' own characters
    (whitespace is not counted) and the denominator is the characters of all words.
    *Top n-gram fraction*: the most frequent n-gram's word characters times its count, over all
    word characters, only when it occurs more than once (ties: the first to occur). *Duplicate
    n-gram fraction*: the characters of every word covered by an occurrence of an n-gram that
    already occurred earlier in the document, each word counted once even when overlapping
    n-grams cover it, over all word characters. N-grams of the whole batch are hashed and
    grouped at once with numpy (:mod:`~thresher.ops.text.ngrams`): no per-document dicts, no
    pairwise comparisons.

    Writes one float column per rule, named ``th_rep_<parameter>`` (``th_rep_dup_line_frac``,
    ``th_rep_top_2gram_frac``, ``th_rep_dup_5gram_frac``...); a value is null when its rule is
    turned off (``null``) or was not reached because an earlier rule fired, so kept rows
    have every enabled measure.

    datatrove's ``GopherRepetitionFilter`` differs: it divides character counts by the length
    of the whole text (whitespace included), counts the spaces inside a top n-gram as its
    characters, tokenizes words with spaCy/NLTK, checks paragraphs before lines, and its
    duplicate n-gram scan jumps ``n`` words after each duplicate instead of taking the union.

    Examples
    --------
    >>> import pyarrow as pa
    >>> line = "Everyone is permitted to copy and distribute verbatim copies of this license document."
    >>> text = "\\n".join([line] * 3 + ["But changing it is not allowed."])
    >>> b = pa.RecordBatch.from_pydict({"id": ["a"], "text": [text]})
    >>> r = GopherRepetition().process(b, OpContext())
    >>> r.reasons[0]
    'gopher duplicate lines: 0.5 > dup_line_frac 0.3'
    >>> r.batch.column("th_rep_dup_line_frac")[0].as_py(), r.batch.column("th_rep_dup_para_frac")[0].as_py()
    (0.5, None)
    """

    params = {key: Param(float, default, doc, low=0, high=1, nullable=True)
              for key, _, default, doc in _REPETITION_RULES}
    column_types = tuple((f"th_rep_{key}", pa.float64()) for key, *_ in _REPETITION_RULES)
    writes = tuple(name for name, _ in column_types)
    thresholds = {f"th_rep_{key}": (key,) for key, *_ in _REPETITION_RULES}

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        columns, reasons = self._decide(self._measures(batch.column("text")))
        return RowResult(set_columns(batch, columns), reasons)

    def measure(self, text: str) -> tuple[list[float | None], str | None]:
        """The measures of one document (``None`` where not reached) and the removal reason."""
        columns, reasons = self._decide(self._measures(pa.array([text], pa.string())))
        return [column[0].as_py() for column in columns.values()], reasons[0]

    def _measures(self, texts: pa.Array) -> list[np.ndarray]:
        """One array per rule (table order) of its value for every document."""
        py_texts = [t or "" for t in texts.to_pylist()]
        line_stats = np.array([duplicate_stats(lines(t)) for t in py_texts], dtype=float).reshape(-1, 2)
        para_stats = np.array([duplicate_stats(paragraphs(t)) for t in py_texts], dtype=float).reshape(-1, 2)
        grams = ngram_fractions(texts, tuple(TOP_NGRAM_THRESHOLDS), DUPLICATE_NGRAMS)
        return [line_stats[:, 0], para_stats[:, 0], line_stats[:, 1], para_stats[:, 1],
                *(grams[f"top_{n}"] for n in TOP_NGRAM_THRESHOLDS),
                *(grams[f"dup_{n}"] for n in DUPLICATE_NGRAM_THRESHOLDS)]

    def _decide(self, measured: list[np.ndarray]) -> tuple[dict[str, pa.Array], list[str | None]]:
        """Check the rules in table order; a value after the rule that fired stays null."""
        n = len(measured[0])
        fired = np.full(n, len(_REPETITION_RULES))  # index of the first rule that fired
        for i, (key, *_ignored) in enumerate(_REPETITION_RULES):
            limit = getattr(self, key)
            if limit is not None:
                fired[(fired == len(_REPETITION_RULES)) & (measured[i] > limit)] = i
        columns = {}
        for i, (name, _) in enumerate(self.column_types):
            unreached = fired < i if getattr(self, _REPETITION_RULES[i][0]) is not None else np.ones(n, bool)
            columns[name] = pa.array(measured[i], pa.float64(), mask=unreached)
        reasons: list[str | None] = [None] * n
        for doc in np.flatnonzero(fired < len(_REPETITION_RULES)).tolist():
            key, rule, *_ = _REPETITION_RULES[fired[doc]]
            reasons[doc] = reason(rule, f"{_fmt(measured[fired[doc]][doc])} > {key} {_fmt(getattr(self, key))}")
        return columns, reasons
