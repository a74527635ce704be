from pathlib import Path

import pytest
import yaml

from thresher import Recipe
from thresher.errors import RecipeError
from thresher.ops import Length


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_yaml_round_trip_keeps_resolved_defaults(tmp_path):
    path = _write(tmp_path, "input: {path: d.jsonl}\noutput: {path: out}\nsteps:\n  - length: {min_words: 5}\n")
    recipe = Recipe.from_yaml(path)
    again = Recipe.from_dict(yaml.safe_load(recipe.to_yaml()), base_dir=tmp_path)
    assert again.to_dict() == recipe.to_dict()
    assert recipe.steps[0].op == Length(min_words=5)
    assert recipe.output_dir == (tmp_path / "out").resolve()


def test_repeated_ops_get_unique_step_names():
    r = Recipe(input="d.jsonl", output="o", steps=[Length(), Length(min_words=3)])
    assert [s.name for s in r.steps] == ["length", "length_2"]


@pytest.mark.parametrize("body, message", [
    ("steps:\n  - lenght: {}\n", r"recipe step 1 \(lenght\): unknown op 'lenght'\. Did you mean 'length'\?"),
    ("steps:\n  - length: {min_word: 3}\n", r"recipe step 1 \(length\): length has no parameter 'min_word'"),
    ("steps:\n  - language: {min_score: 1.5}\n",
     r"recipe step 1 \(language\): language\.min_score must be a float in \[0, 1\], got 1\.5\."),
    ("steps:\n  - length: {min_words: -1}\n", r"length\.min_words must be an int in \[0, inf\) or null, got -1"),
    ("steps:\n  - length: {min_words: 9, max_words: 2}\n", r"length\.min_words \(9\) must not exceed"),
    ("steps: [length]\n", r"recipe step 1: expected one `op_name: \{params\}` mapping"),
    ("executor: {workers: 0}\n", r"executor\.workers must be an int >= 1 or 'auto', got 0"),
    ("stepz: []\n", r"unknown recipe section 'stepz'\. Did you mean 'steps'\?"),
    ("input: {path: d.jsonl, on_error: skip}\n", r"input\.on_error must be one of 'raise', 'quarantine', got 'skip'"),
    ("steps:\n  - filter: {expr: 'len(text) >'}\n", r"filter\.expr is not a valid expression"),
    ("steps:\n  - filter: {expr: '__import__(\"os\")'}\n", r"filter\.expr: call .* is not allowed"),
])
def test_bad_recipes_name_step_op_parameter_and_allowed(tmp_path, body, message):
    text = body
    if not body.startswith("input"):
        text = "input: {path: d.jsonl}\n" + text
    text = "output: {path: out}\n" + text
    with pytest.raises(RecipeError, match=message):
        Recipe.from_yaml(_write(tmp_path, text))


def test_missing_and_invalid_recipe_files(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        Recipe.from_yaml(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="not valid YAML"):
        Recipe.from_yaml(_write(tmp_path, "input: [unclosed\n"))
    with pytest.raises(RecipeError, match="no 'output' section"):
        Recipe.from_yaml(_write(tmp_path, "input: {path: d.jsonl}\n"))
