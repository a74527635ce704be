"""The op registry: the recipe key of an op is its registered name."""

from __future__ import annotations

from typing import Callable, TypeVar

from ..errors import RecipeError
from ..params import closest
from .base import Op

__all__ = ["register_op", "get_op", "all_ops", "build_op"]

_REGISTRY: dict[str, type[Op]] = {}
T = TypeVar("T", bound=type[Op])


def register_op(name: str) -> Callable[[T], T]:
    """Class decorator: register an op under ``name`` (its YAML key)."""

    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"op {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def get_op(name: str) -> type[Op]:
    """The op class registered as ``name``; an unknown name suggests the closest ones."""
    _load_builtin_ops()
    try:
        return _REGISTRY[name]
    except KeyError:
        msg = f"unknown op {name!r}.{closest(name, _REGISTRY)} Run `thresher ops` to list them."
        raise RecipeError(msg) from None


def all_ops() -> dict[str, type[Op]]:
    """Every registered op, by name, sorted."""
    _load_builtin_ops()
    return dict(sorted(_REGISTRY.items()))


def build_op(name: str, params: dict | None) -> Op:
    """Build and validate one op from its recipe key and parameters."""
    if not isinstance(params, (dict, type(None))):
        raise RecipeError(f"the parameters of {name} must be a mapping like {{name: value}}, got {params!r}.")
    odd = next((k for k in params or {} if not isinstance(k, str)), None)
    if odd is not None:  # YAML reads a bare on/off/yes/no key as a boolean
        raise RecipeError(f"parameter name {odd!r} of {name} is not a string (YAML reads a bare on, off, yes or "
                          "no as a boolean: quote it).")
    return get_op(name)(**(params or {}))


def _load_builtin_ops() -> None:
    import importlib

    importlib.import_module("thresher.ops.builtin")  # importing registers the ops
