"""Declared parameter constraints, checked when an op is built (not hours into a run).

Messages follow one template: ``gopher_quality.min_words must be an int in [0, inf), got -1.``
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import RecipeError

__all__ = ["Param", "validate_params", "closest"]

_ITEM_NAMES = {int: "ints", float: "floats", str: "strings"}
_TYPE_NAMES = {int: "an int", float: "a float", str: "a string", bool: "a bool", list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Param:
    """One declared parameter of an op.

    ``kind`` is the Python type (``float`` also accepts ints); ``low``/``high`` bound numbers,
    ``choices`` enumerates allowed values, ``item`` is the element type of a list,
    ``nullable`` allows ``None``.
    """

    kind: type
    default: Any
    doc: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    item: type | None = None
    nullable: bool = False
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        """Human text for what is allowed, e.g. ``a float in (0, 1]``."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind is list and self.item is not None:
            text = f"a list of {_ITEM_NAMES.get(self.item, self.item.__name__)}"
        else:
            text = _TYPE_NAMES.get(self.kind, self.kind.__name__)
            if self.low is not None or self.high is not None:
                lo = "-inf" if self.low is None else _fmt(self.low)
                hi = "inf" if self.high is None else _fmt(self.high)
                left = "(" if self.low_open or self.low is None else "["
                right = ")" if self.high_open or self.high is None else "]"
                text += f" in {left}{lo}, {hi}{right}"
        return text + (" or null" if self.nullable else "")

    def check(self, owner: str, name: str, value: Any) -> Any:
        """Return ``value`` coerced to the declared kind, or raise a ``RecipeError``."""
        if value is None and (self.nullable or self.default is None):
            return None
        if not self._type_ok(value):
            raise _bad(owner, name, self, value)
        if self.kind is float:
            value = float(value)
        if self.kind is list:
            value = list(value)
        if self.choices is not None and value not in self.choices:
            raise _bad(owner, name, self, value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not self._in_range(value):
            raise _bad(owner, name, self, value)
        return value

    def _type_ok(self, value: Any) -> bool:
        if self.kind is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
        if self.kind is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if self.kind is list:
            if not isinstance(value, (list, tuple)):
                return False
            if self.item is None:
                return True
            return all(isinstance(v, self.item) and not (self.item is int and isinstance(v, bool)) for v in value)
        return isinstance(value, self.kind)

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _bad(owner: str, name: str, param: Param, value: Any) -> RecipeError:
    msg = f"{owner}.{name} must be {param.describe()}, got {value!r}."
    return RecipeError(msg)


def closest(name: str, candidates) -> str:
    """A ``did you mean`` hint for an unknown name, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def validate_params(owner: str, declared: dict[str, Param], given: dict[str, Any]) -> dict[str, Any]:
    """Check ``given`` against ``declared``; return the full resolved parameter dict."""
    if not isinstance(given, dict):
        raise RecipeError(f"{owner} parameters must be a mapping, got {given!r}.")
    unknown = [k for k in given if k not in declared]
    if unknown:
        key = unknown[0]
        allowed = ", ".join(sorted(declared)) or "none"
        raise RecipeError(f"{owner} has no parameter {key!r}.{closest(key, declared)} Allowed: {allowed}.")
    return {name: p.check(owner, name, given.get(name, p.default)) for name, p in declared.items()}
