"""The language op's codes: the static list is the model's, and bad codes are refused."""

import pytest

from thresher.errors import RecipeError
from thresher.ops.text.language import LID176_CODES, Language, load_lid_model


def test_static_codes_are_the_models_labels():
    labels, _ = load_lid_model().predict("any text", k=-1, threshold=-1.0)
    assert LID176_CODES == {label[len("__label__"):] for label in labels}
    assert len(LID176_CODES) == 176


@pytest.mark.parametrize("given, hint", [("english", "'en'"), ("French", "'fr'"), ("en-US", "'en'"),
                                         ("eng", "'en'"), ("zzz", "")])
def test_names_locales_and_typos_are_refused_with_a_suggestion(given, hint):
    with pytest.raises(RecipeError, match="language.keep: .* not a language code") as exc:
        Language(keep=["en", given])
    assert hint in str(exc.value)


def test_codes_are_matched_case_insensitively():
    op = Language(keep=["EN", " Fr "])
    assert op.keep == ["en", "fr"] and op.config()["keep"] == ["en", "fr"]
