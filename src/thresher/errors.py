"""The error hierarchy: every failure a user can cause is a ``ThresherError``.

Each subclass carries the CLI exit code that scripts can rely on (see ``thresher --help``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "require",
    "ThresherError",
    "RecipeError",
    "InputError",
    "ResourceError",
    "MissingDependencyError",
    "InvariantError",
    "NotFoundError",
]


class ThresherError(Exception):
    """Base class of thresher's errors; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class RecipeError(ThresherError):
    """A recipe (YAML or Python) is invalid: unknown op, unknown parameter, bad value."""

    exit_code = 2


class InputError(ThresherError):
    """Input data is invalid: malformed line, missing field, wrong type, duplicate id."""

    exit_code = 3


class ResourceError(ThresherError):
    """The plan does not fit the machine (memory or disk)."""

    exit_code = 4


class MissingDependencyError(ThresherError):
    """An optional dependency is needed; the message names the package to install."""

    exit_code = 5


class InvariantError(ThresherError):
    """The audit invariant failed: input ids != kept ids + removed ids."""

    exit_code = 6


class NotFoundError(ThresherError):
    """An output directory or a record id does not exist."""

    exit_code = 7


def require(module: str, message: str) -> ModuleType:
    """``import module``, or a ``MissingDependencyError`` with ``message`` (what needs it and
    how to install it).

    >>> require("json", "unused").__name__
    'json'
    >>> require("no_such_package_here", "X needs no-such-package: pip install no-such-package")
    Traceback (most recent call last):
    ...
    thresher.errors.MissingDependencyError: X needs no-such-package: pip install no-such-package
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(message) from exc
