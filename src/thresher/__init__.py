"""thresher: turn a raw dataset into a smaller, better, documented one, and prove it.

>>> from thresher import Recipe
>>> from thresher.ops import Length
>>> Recipe(input="data.jsonl", output="out", steps=[Length(min_words=3)]).steps[0].name
'length'
"""

from ._version import __version__
from .errors import (
    InputError,
    InvariantError,
    MissingDependencyError,
    NotFoundError,
    RecipeError,
    ResourceError,
    ThresherError,
)

__all__ = [
    "__version__", "Recipe", "Step", "run", "RunResult", "read_output", "ThresherError", "RecipeError", "InputError",
    "ResourceError", "MissingDependencyError", "InvariantError", "NotFoundError",
]

#: Imported on first use, so that ``import thresher.cli`` is quick (the command line catches
#: Ctrl-C from its first moments, not after a second of imports).
_LAZY = {"Recipe": "recipe", "Step": "recipe", "run": "runner", "RunResult": "runner", "read_output": "io.output"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
