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
    "BusyError",
    "from_os_error",
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


class BusyError(ThresherError):
    """The output directory is in use by another run (it holds the directory's lock)."""

    exit_code = 8


#: What the machine did, in words, and the exit code: (errno names, message hints, code).
_OS_ERRORS = (
    (("ENOSPC", "EDQUOT"), ("No space left on device", "Disk quota exceeded"),
     "the disk is full ({detail}); free some space (or choose another output.path) and run the same "
     "command again: finished stages and shards are reused", ResourceError),
    (("EROFS",), ("Read-only file system",),
     "cannot write {where}: the file system is read-only ({detail}); choose a writable output.path", RecipeError),
    (("EACCES", "EPERM"), ("Permission denied", "Operation not permitted"),
     "cannot write {where}: permission denied ({detail}); choose an output.path you can write to", RecipeError),
)


def from_os_error(exc: OSError) -> ThresherError | None:
    """The clear error for what the machine refused (disk full, read-only, permission), or None
    for an OSError that is not one of those.

    >>> import errno
    >>> err = from_os_error(OSError(errno.ENOSPC, "No space left on device", "out/kept"))
    >>> type(err).__name__, err.exit_code
    ('ResourceError', 4)
    >>> from_os_error(OSError("something else")) is None
    True
    """
    import errno as errno_module

    text = str(exc)
    where = exc.filename or "the output"
    for names, hints, message, cls in _OS_ERRORS:
        codes = {getattr(errno_module, n, None) for n in names}
        if exc.errno in codes or any(h in text for h in hints):
            return cls(message.format(where=where, detail=exc.strerror or text))
    return None


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
