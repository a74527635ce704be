"""The error hierarchy: every failure a user can cause is a ``ThresherError``.

Each subclass carries the CLI exit code that scripts can rely on (see ``thresher --help``).
"""

from __future__ import annotations

__all__ = [
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
