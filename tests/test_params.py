import pytest

from thresher.errors import RecipeError
from thresher.params import Param, validate_params


def test_range_message_names_owner_parameter_and_range():
    with pytest.raises(RecipeError, match=r"^op\.threshold must be a float in \(0, 1\], got 1\.5\.$"):
        validate_params("op", {"threshold": Param(float, 0.5, low=0, high=1, low_open=True)}, {"threshold": 1.5})


def test_unknown_key_suggests_closest_and_lists_allowed():
    with pytest.raises(RecipeError, match=r"no parameter 'min_word'\. Did you mean 'min_words'\?.*Allowed: min_words"):
        validate_params("length", {"min_words": Param(int, 1)}, {"min_word": 3})


def test_bool_is_not_an_int_and_ints_widen_to_float():
    declared = {"n": Param(int, 1), "x": Param(float, 1.0)}
    with pytest.raises(RecipeError, match="must be an int"):
        validate_params("op", declared, {"n": True})
    assert validate_params("op", declared, {"x": 2}) == {"n": 1, "x": 2.0}


def test_choices_and_list_items():
    declared = {"mode": Param(str, "a", choices=("a", "b")), "keep": Param(list, [], item=str)}
    with pytest.raises(RecipeError, match=r"mode must be one of 'a', 'b', got 'c'"):
        validate_params("op", declared, {"mode": "c"})
    with pytest.raises(RecipeError, match="keep must be a list of strings"):
        validate_params("op", declared, {"keep": ["en", 3]})
