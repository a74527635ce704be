"""fineweb_quality on real text: the GPL-3 preamble as shipped, the Zen of Python, Python's docs."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest
from textcases import column, rule, run

from thresher.errors import RecipeError
from thresher.ops.text.fineweb import FineWebQuality

# The GPL-3 preamble as Debian ships it, hard-wrapped: most lines end mid-sentence.
GPL_WRAPPED = """\
  The GNU General Public License is a free, copyleft license for
software and other kinds of works.

  The licenses for most software and other practical works are designed
to take away your freedom to share and change the works.  By contrast,
the GNU General Public License is intended to guarantee your freedom to
share and change all versions of a program--to make sure it remains free
software for all its users.  We, the Free Software Foundation, use the
GNU General Public License for most of our software; it applies also to
any other work released this way by its authors.  You can apply it to
your programs, too.

  When we speak of free software, we are referring to freedom, not
price.  Our General Public Licenses are designed to make sure that you
have the freedom to distribute copies of free software (and charge for
them if you wish), that you receive source code or can get it if you
want it, that you can change the software or use pieces of it in new
free programs, and that you know you can do these things.
"""
# Chapter titles of the Python Library Reference: long lines without end punctuation.
TITLES = ["Numeric and Mathematical Modules", "Functional Programming Modules", "Data Compression and Archiving",
          "Generic Operating System Services", "Networking and Interprocess Communication",
          "Structured Markup Processing Tools", "Graphical User Interfaces with Tk",
          "Software Packaging and Distribution"]
SHORT_TITLES = ["Built-in Functions", "Built-in Constants", "Built-in Types", "Built-in Exceptions",
                "Text Processing Services", "Binary Data Services", "Data Types", "File and Directory Access",
                "Data Persistence", "File Formats", "Cryptographic Services", "Concurrent Execution",
                "Internet Data Handling", "Multimedia Services"]
# The Zen of Python (PEP 20), lines shorter than 30 characters, and one of exactly 30.
ZEN_SHORT = ["Flat is better than nested.", "Sparse is better than dense.", "Readability counts.",
             "Unless explicitly silenced.", "Now is better than never."]
ZEN_30 = "Beautiful is better than ugly."
SENTENCES = [
    "The GNU General Public License is a free, copyleft license for software and other kinds of works.",
    "When we speak of free software, we are referring to freedom, not price.",
    "To protect your rights, we need to prevent others from denying you these rights.",
    "Therefore, you have certain responsibilities if you distribute copies of the software.",
    "You must make sure that they, too, receive or can get the source code.",
    "And you must show them these terms so they know their rights.",
]




def test_hard_wrapped_license_prose_is_kept():
    result = run(FineWebQuality(), [GPL_WRAPPED, "\n".join(SENTENCES)])
    assert result.reasons == [None, None]
    assert column(result, "th_fineweb_line_punct_frac") == [3 / 16, 1.0]  # 16 lines, 3 end a sentence


@pytest.mark.parametrize(("text", "expected", "off"), [
    pytest.param("\n".join(TITLES), "fineweb line punctuation", "line_punct_thr", id="no-punctuation"),
    pytest.param("\n".join([*SENTENCES, SENTENCES[0]]), "fineweb duplicate line chars", "char_duplicates_ratio",
                 id="duplicated-line"),
    pytest.param("\n".join([*ZEN_SHORT, ZEN_30]), "fineweb short lines", "short_line_thr", id="short-lines"),
])
def test_each_rule_fires_alone(text, expected, off):
    assert rule(run(FineWebQuality(), [text]).reasons[0]) == expected
    assert run(FineWebQuality(**{off: None}), [text]).reasons == [None]


def test_thresholds_are_inclusive_as_in_the_paper():
    # Exactly 3 of 25 lines (0.12) end with punctuation: "<= 0.12" removes it (datatrove keeps it).
    text = "\n".join(TITLES + SHORT_TITLES[:14] + ZEN_SHORT[:3])
    assert run(FineWebQuality(), [text]).reasons == ["fineweb line punctuation: 0.12 <= line_punct_thr 0.12"]
    # Exactly 2 of 3 lines short is 0.667 < 0.67: kept; the 30-character line is not short.
    text = "\n".join([ZEN_SHORT[0], ZEN_SHORT[1], ZEN_30])
    result = run(FineWebQuality(), [text])
    assert result.reasons == [None]
    assert column(result, "th_fineweb_short_line_frac") == [2 / 3]


def test_columns_on_a_hand_computed_example():
    # Lines: 30 chars with ".", 19 with ".", the same 19 again, "Home" (4): 3 short, 3 punctuated,
    # 19 of 30 + 19 + 19 + 4 = 72 characters repeated.
    text = "\n".join([ZEN_30, "Readability counts.", "  Readability counts.", "Home"])
    result = run(FineWebQuality(), [text])
    assert column(result, "th_fineweb_line_punct_frac") == [0.75]
    assert column(result, "th_fineweb_dup_line_char_frac") == [19 / 72]
    assert column(result, "th_fineweb_short_line_frac") == [0.75]
    assert result.reasons == [f"fineweb duplicate line chars: {19 / 72:.4g} >= char_duplicates_ratio 0.1"]


def test_terminal_punctuation_of_other_scripts_counts():
    text = "\n".join(["自由ソフトウェアとは、ユーザーの自由を尊重するソフトウェアのことです。",
                      "هل البرمجيات الحرة مجانية؟", "मुक्त सॉफ्टवेयर स्वतंत्रता का विषय है।"])
    assert column(run(FineWebQuality(), [text]), "th_fineweb_line_punct_frac") == [1.0]


def test_empty_and_null_texts_fail_the_punctuation_rule():
    result = run(FineWebQuality(), ["", None, "\n \n"])
    assert [rule(r) for r in result.reasons] == ["fineweb line punctuation"] * 3
    assert column(result, "th_fineweb_short_line_frac") == [0.0] * 3


def test_empty_batch_keeps_the_schema():
    full = run(FineWebQuality(), [GPL_WRAPPED]).batch
    empty = run(FineWebQuality(), []).batch
    assert empty.num_rows == 0
    assert empty.schema == full.schema
    assert all(empty.schema.field(name).type == pa.float64() for name in FineWebQuality.writes)


def test_pickles():
    clone = pickle.loads(pickle.dumps(FineWebQuality(short_line_length=40)))
    assert clone == FineWebQuality(short_line_length=40)
    assert rule(run(clone, [GPL_WRAPPED]).reasons[0]) is None


@pytest.mark.parametrize(("params", "message"), [
    ({"line_punct_thr": 1.2}, r"fineweb_quality\.line_punct_thr must be a float in \[0, 1\] or null, got 1\.2"),
    ({"short_line_thr": "0.67"}, r"fineweb_quality\.short_line_thr must be a float"),
    ({"short_line_length": 0}, r"fineweb_quality\.short_line_length must be an int in \[1, inf\), got 0"),
    ({"char_duplicate_ratio": 0.1},
     r"fineweb_quality has no parameter 'char_duplicate_ratio'\. Did you mean 'char_duplicates_ratio'"),
])
def test_bad_parameters_name_the_op_and_parameter(params, message):
    with pytest.raises(RecipeError, match=message):
        FineWebQuality(**params)
