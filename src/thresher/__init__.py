"""thresher: turn a raw dataset into a smaller, better, documented one, and prove it.

>>> from thresher import Recipe
>>> from thresher.ops import Length
>>> Recipe(input="data.jsonl", output="out", steps=[Length(min_words=3)]).steps[0].name
'length'
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    InputError,
    InvariantError,
    MissingDependencyError,
    NotFoundError,
    RecipeError,
    ResourceError,
    ThresherError,
)
from .recipe import Recipe, Step  # noqa: E402
from .runner import RunResult, run  # noqa: E402

__all__ = [
    "__version__", "Recipe", "Step", "run", "RunResult", "ThresherError", "RecipeError", "InputError",
    "ResourceError", "MissingDependencyError", "InvariantError", "NotFoundError",
]
