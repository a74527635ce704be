"""c4_quality on real text: the GPL-3 preamble, web boilerplate, Python's str.format docs."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest
from textcases import PREAMBLE as GPL_PREAMBLE
from textcases import column, run

from thresher.errors import RecipeError
from thresher.ops.text.c4 import C4Quality, count_sentences

# The preamble of the GNU GPL version 3, one paragraph per line (its second paragraph left out).
PREAMBLE = [GPL_PREAMBLE[0], *GPL_PREAMBLE[2:]]
PAGE = "\n".join(PREAMBLE)  # 1 + 2 + 2 + 3 = 8 sentences
QUOTE = "He said, “Free software is a matter of liberty, not price.”"
# Python documentation, str.format: a real sentence with a brace.
FORMAT_DOC = ("The string on which this method is called can contain literal text or replacement fields "
              "delimited by braces {}.")
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt."


def test_prose_is_kept_unchanged():
    result = run(C4Quality(), [PAGE])
    assert result.reasons == [None]
    assert column(result, "text") == [PAGE]
    assert column(result, "th_c4_lines_removed") == [0]
    assert column(result, "th_c4_sentences") == [8]


def test_blank_lines_go_and_are_not_counted_as_removed():
    result = run(C4Quality(), ["\n\n".join(PREAMBLE) + "\n"])
    assert column(result, "text") == [PAGE]
    assert column(result, "th_c4_lines_removed") == [0]


def test_line_rules_clean_a_web_page():
    page = "\n".join([
        "Skip to main content",                                   # no end mark
        "Home | About | Licenses | Contact",                      # no end mark
        PREAMBLE[0] + "[1]",                                      # citation marker stripped
        "This site uses cookies to give you the best experience.",  # policy notice
        "Please enable JavaScript to view the comments powered by Disqus.",  # javascript
        PREAMBLE[1],
        "Click here to read the rest of the story...",            # ellipsis
        "Posted by admin.",                                       # fewer than 5 words
        PREAMBLE[2] + " [citation needed]",                       # marker stripped, then the space
        QUOTE,                                                    # ends with a closing quote
    ])
    result = run(C4Quality(), [page])
    assert result.reasons == [None]
    assert column(result, "text") == ["\n".join([*PREAMBLE[:3], QUOTE])]
    assert column(result, "th_c4_lines_removed") == [6]
    assert column(result, "th_c4_sentences") == [1 + 2 + 2 + 1]


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(PAGE + "\n" + LOREM, "c4 lorem ipsum: the page contains 'lorem ipsum'", id="lorem-ipsum"),
    pytest.param(PAGE + "\n" + FORMAT_DOC, "c4 curly bracket: the page contains '{'", id="curly-bracket"),
    pytest.param(PREAMBLE[0] + "\nShare this page\nTweet", "c4 too few sentences: 1 < min_sentences 3",
                 id="too-few-sentences"),
])
def test_page_rules_remove_the_page_and_keep_its_text(text, expected):
    result = run(C4Quality(), [text])
    assert result.reasons == [expected]
    assert column(result, "text") == [text]


def test_page_rules_only_look_at_lines_that_survive_the_line_rules():
    # As in TFDS: a brace or "lorem ipsum" on a line dropped anyway does not remove the page.
    text = "\n".join([PAGE, "function init() {", "lorem ipsum", "}"])
    result = run(C4Quality(), [text])
    assert result.reasons == [None]
    assert column(result, "text") == [PAGE]


def test_each_page_rule_can_be_turned_off():
    op = C4Quality(filter_lorem_ipsum=False, filter_curly_bracket=False, min_sentences=None)
    result = run(op, [PAGE + "\n" + LOREM, PAGE + "\n" + FORMAT_DOC, PREAMBLE[0]])
    assert result.reasons == [None, None, None]


def test_each_line_rule_can_be_turned_off():
    notices = ["Home | About | Licenses | Contact", "Please enable JavaScript to view the comments.",
               "This site uses cookies to give you the best experience.", "Posted by admin."]
    text = "\n".join([PAGE, *notices])
    keep_all = C4Quality(filter_no_terminal_punct=False, filter_javascript=False, filter_policy=False,
                         min_words_per_line=None)
    assert column(run(keep_all, [text]), "text") == [text]
    assert column(run(C4Quality(), [text]), "th_c4_lines_removed") == [4]


def test_citations_stay_when_asked():
    text = PAGE[:-1] + "[2]."  # "... their rights[2]."
    assert column(run(C4Quality(remove_citations=False), [text]), "text") == [text]
    assert column(run(C4Quality(), [text]), "text") == [PAGE]
    # A marker after the period hides the end mark unless it is removed.
    assert column(run(C4Quality(remove_citations=False), [PAGE + "[2]"]), "th_c4_lines_removed") == [1]


def test_lines_with_a_very_long_word_go():
    blob = "The page embeds the logo as data:image/png;base64," + "iVBORw0KGgo" * 100 + " inline."
    result = run(C4Quality(), [PAGE + "\n" + blob])
    assert column(result, "text") == [PAGE]
    assert column(run(C4Quality(max_word_length=None), [PAGE + "\n" + blob]), "th_c4_lines_removed") == [0]


def test_bad_words_from_a_file(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("copyleft\n\ngratis\n")
    result = run(C4Quality(bad_words_file=str(words)), [PAGE, PREAMBLE[1] + "\n" + PREAMBLE[2]])
    assert result.reasons == ["c4 bad words: the page contains 'copyleft'", None]
    # Only whole words count: "copylefts" is not "copyleft".
    text = PAGE.replace("copyleft", "copylefts").replace("gratis", "free")
    assert run(C4Quality(bad_words_file=str(words)), [text]).reasons == [None]


def test_bad_words_file_must_exist_and_hold_words(tmp_path):
    with pytest.raises(RecipeError, match=r"c4_quality\.bad_words_file: no such file"):
        C4Quality(bad_words_file=str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(RecipeError, match=r"c4_quality\.bad_words_file .* holds no words"):
        C4Quality(bad_words_file=str(tmp_path / "empty.txt"))


def test_sentence_count():
    assert count_sentences(PREAMBLE[3]) == 3
    assert count_sentences(QUOTE) == 1
    assert count_sentences('It is free. "Is it?" Yes! Really.') == 4


def test_null_text_is_removed_and_stays_null():
    result = run(C4Quality(), [None])
    assert result.reasons == ["c4 too few sentences: 0 < min_sentences 3"]
    assert column(result, "text") == [None]


def test_empty_batch_keeps_the_schema():
    full = run(C4Quality(), [PAGE]).batch
    empty = run(C4Quality(), []).batch
    assert empty.num_rows == 0
    assert empty.schema == full.schema
    assert empty.schema.field("th_c4_lines_removed").type == pa.int64()


def test_pickles_with_its_bad_words(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("copyleft\n")
    clone = pickle.loads(pickle.dumps(C4Quality(bad_words_file=str(words))))
    assert run(clone, [PAGE]).reasons == ["c4 bad words: the page contains 'copyleft'"]


@pytest.mark.parametrize(("params", "message"), [
    ({"min_sentences": -1}, r"c4_quality\.min_sentences must be an int in \[0, inf\) or null, got -1"),
    ({"min_words_per_line": 2.5}, r"c4_quality\.min_words_per_line must be an int"),
    ({"filter_curly_bracket": "yes"}, r"c4_quality\.filter_curly_bracket must be a bool"),
    ({"max_word_length": 0}, r"c4_quality\.max_word_length must be an int in \[1, inf\)"),
    ({"min_sentence": 5}, r"c4_quality has no parameter 'min_sentence'\. Did you mean 'min_sentences'"),
])
def test_bad_parameters_name_the_op_and_parameter(params, message):
    with pytest.raises(RecipeError, match=message):
        C4Quality(**params)
