"""gopher_quality and gopher_repetition on real text (GPL-3 preamble, well-known quotations)."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textcases import PREAMBLE, column, rule, run

from thresher.errors import RecipeError
from thresher.ops.text.gopher import GopherQuality, GopherRepetition
from thresher.ops.text.ngrams import ngram_fractions
from thresher.ops.text.words import duplicate_stats

GPL3 = Path("/usr/share/common-licenses/GPL-3")

PROSE = "\n\n".join(PREAMBLE)
SENTENCES = [s.strip() + "." for p in PREAMBLE for s in p.split(". ") if s.strip(".")]
WORDS = PROSE.split()




# --- gopher_quality -----------------------------------------------------------------------------

def test_quality_keeps_the_gpl_preamble():
    result = run(GopherQuality(), [PROSE])
    assert result.reasons == [None]
    assert column(result, "th_gopher_stop_words") == [6]  # all but "be" and "with"


@pytest.mark.skipif(not GPL3.exists(), reason="needs Debian's common-licenses")
def test_quality_keeps_the_whole_gpl3_as_shipped():
    assert run(GopherQuality(), [GPL3.read_text()]).reasons == [None]


HAMLET = "To be, or not to be, that is the question."  # Shakespeare, Hamlet III.1
SHORT_WORDS = "To be or not to be. It is what it is. " * 6
URLS = "The licenses and the notices: " + " ".join(
    ["https://www.gnu.org/licenses/gpl-3.0.html", "https://www.gnu.org/licenses/why-not-lgpl.html"] * 30)
HASHTAGS = " ".join(WORDS[:60] + ["#FreeSoftware", "#GNU", "#copyleft", "#GPL", "#FSF", "#Linux", "#Debian",
                                  "#opensource", "#licensing", "#freedom"])
TRAILING_ELLIPSES = " ".join(w + "..." if i % 5 == 4 else w for i, w in enumerate(WORDS[:101]))
BULLETED = "\n".join("• " + s for s in SENTENCES[:10])
ELLIPSIS_LINES = "\n".join(s[:-1] + "..." for s in SENTENCES[:10])
# A changelog: 40 words of prose, then version numbers and dates (words without a letter).
NUMBERS = " ".join(WORDS[:40] + ["1.0", "1.1", "2.0", "2.1", "3.0", "2007-06-29", "2009", "2011", "2014",
                                 "2016", "2019", "2020", "2021", "2022", "2023", "2024", "2025", "26", "27", "28"])
# Hoffmann von Fallersleben, "Das Lied der Deutschen", third stanza: no English stop word.
GERMAN = ("Einigkeit und Recht und Freiheit für das deutsche Vaterland! Danach lasst uns alle streben "
          "brüderlich mit Herz und Hand! ") * 3


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(PREAMBLE[0], "gopher word count", id="too-few-words"),
    pytest.param(" ".join([PROSE] * (100_000 // len(WORDS) + 1)), "gopher word count", id="too-many-words"),
    pytest.param(SHORT_WORDS, "gopher mean word length", id="short-words"),
    pytest.param(URLS, "gopher mean word length", id="long-words"),
    pytest.param(HASHTAGS, "gopher symbol ratio", id="hashes"),
    pytest.param(TRAILING_ELLIPSES, "gopher symbol ratio", id="ellipses"),
    pytest.param(BULLETED, "gopher bullet lines", id="bullets"),
    pytest.param(ELLIPSIS_LINES, "gopher ellipsis lines", id="ellipsis-lines"),
    pytest.param(NUMBERS, "gopher alphabetic words", id="no-letters"),
    pytest.param(GERMAN, "gopher stop words", id="no-stop-words"),
])
def test_each_quality_rule_fires_alone(text, expected):
    op = GopherQuality()
    assert rule(run(op, [text]).reasons[0]) == expected
    # The document violates that rule only: without it, the document is kept.
    off = {"gopher word count": ("min_words", "max_words"),
           "gopher mean word length": ("min_mean_word_length", "max_mean_word_length"),
           "gopher symbol ratio": ("max_symbol_word_ratio",), "gopher bullet lines": ("max_bullet_lines",),
           "gopher ellipsis lines": ("max_ellipsis_lines",), "gopher alphabetic words": ("min_alpha_words",),
           "gopher stop words": ("min_stop_words",)}[expected]
    assert run(GopherQuality(**dict.fromkeys(off)), [text]).reasons == [None]


def test_quality_reason_names_the_measure_and_threshold():
    assert run(GopherQuality(), [SHORT_WORDS]).reasons[0] == (
        "gopher mean word length: 2.455 < min_mean_word_length 3")
    assert run(GopherQuality(), [HASHTAGS]).reasons[0] == (
        "gopher symbol ratio: '#' per word 0.1429 > max_symbol_word_ratio 0.1")


def test_quality_columns_on_a_hand_computed_example():
    # Words: The cat sat. - on the mat... #tag -> 8 words, 26 characters; "-" has no letter.
    text = "The cat sat.\n- on the mat...\n#tag"
    result = run(GopherQuality(), [text])
    assert column(result, "th_gopher_words") == [8]
    assert column(result, "th_gopher_mean_word_len") == [26 / 8]
    assert column(result, "th_gopher_hash_ratio") == [1 / 8]
    assert column(result, "th_gopher_ellipsis_ratio") == [1 / 8]
    assert column(result, "th_gopher_bullet_lines") == [1 / 3]
    assert column(result, "th_gopher_ellipsis_lines") == [1 / 3]
    assert column(result, "th_gopher_alpha_words") == [7 / 8]
    assert column(result, "th_gopher_stop_words") == [1]  # "The" and "the" are one stop word


@pytest.mark.parametrize("mark", ["...", "\u2026"], ids=["three-dots", "ellipsis-character"])
def test_both_ellipses_count_in_the_ratio_and_the_line_rule(mark):
    # Lines: "I was going to say" + mark, "and then" + mark, "Never mind." -> 2 of 3 end with one.
    text = f"I was going to say{mark}\nand then{mark}\nNever mind."
    result = run(GopherQuality(), [text])
    assert column(result, "th_gopher_ellipsis_lines") == [2 / 3]
    assert column(result, "th_gopher_ellipsis_ratio") == [2 / 9]  # 2 ellipses, 9 words
    long = " ".join(WORDS[:60]) + "\n" + "\n".join(s[:-1] + mark for s in SENTENCES[:10])
    assert rule(run(GopherQuality(max_symbol_word_ratio=None), [long]).reasons[0]) == "gopher ellipsis lines"


def test_stop_words_ignore_case_and_surrounding_punctuation_only():
    op = GopherQuality()
    assert op.measure("(THE) «and», To... 'of' with;")[-1] == 5
    # Inside a word, a stop word does not count: "state-of-the-art" is one word.
    assert op.measure("state-of-the-art therefore other")[-1] == 0


def test_quality_boundaries_are_inclusive_as_in_the_paper():
    # Exactly 10% '#' per word is not "greater than 0.1"; exactly 50 words is "between 50 and 100,000".
    text = " ".join(WORDS[:45] + ["#a", "#b", "#c", "#d", "#e"])
    assert run(GopherQuality(), [text]).reasons == [None]


def test_quality_empty_and_null_texts():
    result = run(GopherQuality(), ["", None])
    assert [rule(r) for r in result.reasons] == ["gopher word count"] * 2
    assert column(result, "th_gopher_mean_word_len") == [0.0, 0.0]


# --- gopher_repetition ---------------------------------------------------------------------------

def test_repetition_keeps_the_gpl_preamble_and_writes_every_measure():
    result = run(GopherRepetition(), [PROSE])
    assert result.reasons == [None]
    assert all(column(result, name)[0] is not None for name in GopherRepetition.writes)


@pytest.mark.skipif(not GPL3.exists(), reason="needs Debian's common-licenses")
def test_repetition_keeps_the_whole_gpl3_as_shipped():
    assert run(GopherRepetition(), [GPL3.read_text()]).reasons == [None]


LONG_LINE = PREAMBLE[2]
# "Buffalo buffalo Buffalo buffalo buffalo buffalo Buffalo buffalo" (Rapaport 1972): a real sentence.
BUFFALO = "Buffalo buffalo Buffalo buffalo buffalo buffalo Buffalo buffalo."
SHINING = "All work and no play makes Jack a dull boy. "  # The Shining (1980)

REPETITION_CASES = [
    # (id, text, earlier rules turned off because the document necessarily breaks them, rule)
    ("lines", "\n".join([HAMLET] * 3 + [PREAMBLE[0]]), (), "gopher duplicate lines"),
    # One short paragraph repeated around a long one: 1/3 of paragraphs but 1/12 of lines.
    ("paragraphs", "\n\n".join([HAMLET, "\n".join(SENTENCES[1:11]), HAMLET]), (), "gopher duplicate paragraphs"),
    # One long line twice among short ones: 1/7 of lines, but 40% of the characters.
    ("line-chars", "\n".join([LONG_LINE, *SENTENCES[:5], LONG_LINE]), (), "gopher duplicate line chars"),
    # A repeated paragraph repeats its lines too, so the line rules are off here.
    ("paragraph-chars", "\n\n".join([LONG_LINE, *PREAMBLE[3:5], PREAMBLE[0], LONG_LINE]),
     ("dup_line_frac", "dup_line_char_frac"), "gopher duplicate paragraph chars"),
    ("top-2-gram", BUFFALO, (), "gopher top 2-gram"),
    ("top-3-gram", SHINING * 4, ("top_2gram_frac",), "gopher top 3-gram"),
    ("top-4-gram", SHINING * 4, ("top_2gram_frac", "top_3gram_frac"), "gopher top 4-gram"),
    *((f"dup-{n}-grams", SHINING * 4, ("top_2gram_frac", "top_3gram_frac", "top_4gram_frac",
                                       *(f"dup_{k}gram_frac" for k in range(5, n))), f"gopher duplicate {n}-grams")
      for n in range(5, 11)),
]


@pytest.mark.parametrize(("text", "off", "expected"), [pytest.param(*c[1:], id=c[0]) for c in REPETITION_CASES])
def test_each_repetition_rule_fires(text, off, expected):
    reason = run(GopherRepetition(**dict.fromkeys(off)), [text]).reasons[0]
    assert rule(reason) == expected


def test_repetition_checks_rules_in_table_order_and_stops_at_the_first():
    result = run(GopherRepetition(), ["\n".join([HAMLET] * 4)])
    assert result.reasons[0] == "gopher duplicate lines: 0.75 > dup_line_frac 0.3"
    assert column(result, "th_rep_dup_line_frac") == [0.75]
    assert all(column(result, name) == [None] for name in GopherRepetition.writes[1:])


def test_a_sentence_repeated_twice_fires_duplicate_5_grams_with_defaults():
    # The first sentence again at the end of paragraphs 3 and 5: 2 x 81 more word characters
    # repeated, on top of the preamble's own repeats ("the GNU General Public License is").
    paragraphs = [p + " " + PREAMBLE[0] if i in (2, 4) else p for i, p in enumerate(PREAMBLE)]
    text = "\n\n".join(paragraphs)
    result = run(GopherRepetition(), [text])
    expected = _naive_duplicate(text.split(), 5)
    assert result.reasons[0] == f"gopher duplicate 5-grams: {expected:.4g} > dup_5gram_frac 0.15"
    assert column(result, "th_rep_dup_5gram_frac") == [pytest.approx(expected)]
    assert column(result, "th_rep_dup_line_frac") == [0.0]
    assert column(result, "th_rep_dup_6gram_frac") == [None]
    # Without the 5- and 6-gram rules, the two copies alone (162 of 1462 characters) fire 9-grams.
    result = run(GopherRepetition(dup_5gram_frac=None, dup_6gram_frac=None), [text])
    assert result.reasons[0] == f"gopher duplicate 9-grams: {162 / 1462:.4g} > dup_9gram_frac 0.11"


def test_repetition_columns_on_hand_computed_examples():
    # 4 lines, the first repeated twice: 2/4 repeated lines, 2 x 42 of 3 x 42 + 97 characters.
    text = "\n".join([HAMLET] * 3 + [PREAMBLE[0]])
    values, _ = GopherRepetition(dup_line_frac=None).measure(text)
    assert values[2] == 2 * 42 / (3 * 42 + 97)
    # Buffalo: "Buffalo buffalo", "buffalo Buffalo" and "buffalo buffalo" occur twice each (the
    # last word is "buffalo."); the first to occur wins: 2 x 14 of 7 x 7 + 8 = 57 word characters.
    values, _ = GopherRepetition().measure(BUFFALO)
    assert values[:4] == [0.0, 0.0, 0.0, 0.0]
    assert values[4] == 2 * 14 / 57


def _fractions(token_lists, top=(), duplicate=()):
    return ngram_fractions(pa.array([" ".join(t) for t in token_lists], pa.string()), tuple(top), tuple(duplicate))


def test_duplicate_ngrams_count_each_word_once():
    # "to be" occurs again at word 4: words 4-5 ("to", "be") are covered, 4 of 13 characters.
    got = _fractions(["to be or not to be".split()], duplicate=(2, 3))
    assert (got["dup_2"][0], got["dup_3"][0]) == (4 / 13, 0.0)
    # Overlapping repeats "a a a a a": bigram repeats at 1, 2, 3 cover words 1-4, once each.
    assert _fractions([["a"] * 5], duplicate=(2,))["dup_2"][0] == 4 / 5


def _naive_duplicate(tokens, n):
    covered = set()
    for i in range(len(tokens) - n + 1):
        gram = tokens[i:i + n]
        if any(tokens[j:j + n] == gram for j in range(i)):
            covered.update(range(i, i + n))
    total = sum(map(len, tokens))
    return sum(len(tokens[i]) for i in covered) / total if total else 0.0


def _naive_top(tokens, n):
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    best = max(grams, key=lambda g: (grams.count(g), -grams.index(g)))
    count = grams.count(best)
    return count * sum(map(len, best)) / sum(map(len, tokens)) if count > 1 else 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "bb", "ccc", "the", "free"]), max_size=40), min_size=1, max_size=4))
def test_ngram_measures_match_their_definitions(docs):
    # Several documents in one batch: n-grams never cross a document boundary.
    got = _fractions(docs, top=(2, 3, 4), duplicate=range(2, 8))
    for i, tokens in enumerate(docs):
        assert [got[f"dup_{n}"][i] for n in range(2, 8)] == pytest.approx([_naive_duplicate(tokens, n)
                                                                           for n in range(2, 8)])
        for n in (2, 3, 4):
            assert got[f"top_{n}"][i] == pytest.approx(_naive_top(tokens, n))


def test_duplicate_stats_counts_occurrences_after_the_first():
    assert duplicate_stats([HAMLET, HAMLET, HAMLET, "x"]) == (0.5, 84 / 127)
    assert duplicate_stats([]) == (0.0, 0.0)


def test_repetition_is_linear_on_a_long_document():
    # 150 paragraphs, each the same 100 lines of 10 distinct 6-character words: 150,000 words.
    # Every line, paragraph and n-gram after the first paragraph repeats one of it, so each
    # duplicate fraction is 149/150 (lines and paragraphs have equal lengths); the most frequent
    # n-gram (the first one) occurs 150 times: n * 6 * 150 / (150,000 * 6) = n / 1000.
    block = "\n".join(" ".join(f"w{line:02d}{word:03d}" for word in range(10)) for line in range(100))
    text = "\n\n".join([block] * 150)
    limits = dict.fromkeys(GopherRepetition.params, 1.0)  # measure everything, remove nothing
    start = time.perf_counter()
    values, why = GopherRepetition(**limits).measure(text)
    seconds = time.perf_counter() - start
    assert why is None
    assert values == pytest.approx([149 / 150] * 4 + [0.002, 0.003, 0.004] + [149 / 150] * 6)
    assert seconds < 20  # a quadratic scan of 150,000 words would take hours


# --- both ops ------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [GopherQuality(), GopherRepetition()], ids=lambda op: op.name)
def test_empty_batch_keeps_the_schema(op):
    full = run(op, [PROSE]).batch
    empty = run(op, []).batch
    assert empty.num_rows == 0
    assert empty.schema == full.schema
    assert all(full.schema.field(name).type in (pa.int64(), pa.float64()) for name in op.writes)


@pytest.mark.parametrize("op", [GopherQuality(), GopherRepetition()], ids=lambda op: op.name)
def test_pickles_and_keeps_working(op):
    clone = pickle.loads(pickle.dumps(op))
    assert clone == op
    assert run(clone, [PROSE]).reasons == [None]


@pytest.mark.parametrize(("cls", "params", "message"), [
    (GopherQuality, {"max_bullet_lines": 1.5}, r"gopher_quality\.max_bullet_lines must be a float in \[0, 1\]"),
    (GopherQuality, {"min_words": "50"}, r"gopher_quality\.min_words must be an int"),
    (GopherQuality, {"min_word": 50}, r"gopher_quality has no parameter 'min_word'\. Did you mean 'min_words'"),
    (GopherQuality, {"min_words": 500, "max_words": 100},
     r"gopher_quality\.min_words \(500\) must not exceed gopher_quality\.max_words \(100\)"),
    (GopherQuality, {"min_mean_word_length": 12},
     r"gopher_quality\.min_mean_word_length \(12\) must not exceed gopher_quality\.max_mean_word_length \(10\)"),
    (GopherQuality, {"stop_words": ["the"], "min_stop_words": 2},
     r"gopher_quality\.min_stop_words \(2\) exceeds .* gopher_quality\.stop_words"),
    (GopherQuality, {"stop_words": "the"}, r"gopher_quality\.stop_words must be a list of strings"),
    (GopherRepetition, {"top_2gram_frac": 2}, r"gopher_repetition\.top_2gram_frac must be a float in \[0, 1\]"),
    (GopherRepetition, {"dup_line_frac": "0.3"}, r"gopher_repetition\.dup_line_frac must be a float"),
    (GopherRepetition, {"dup_11gram_frac": 0.1}, r"gopher_repetition has no parameter 'dup_11gram_frac'"),
])
def test_bad_parameters_name_the_op_and_parameter(cls, params, message):
    with pytest.raises(RecipeError, match=message):
        cls(**params)


def test_whitespace_around_a_document_is_not_a_word():
    padded = _fractions([["\n to", "be", "or", "not", "to", "be \t"], ["  "]], top=(2,), duplicate=(2,))
    plain = _fractions([["to", "be", "or", "not", "to", "be"], []], top=(2,), duplicate=(2,))
    assert padded["top_2"].tolist() == plain["top_2"].tolist() and padded["dup_2"].tolist() == plain["dup_2"].tolist()
