"""Ops: the steps of a recipe. ``thresher ops`` lists them with their parameters."""

from .base import GlobalOp, KeyParts, Op, OpContext, RowOp, RowResult, reason
from .registry import all_ops, build_op, get_op, register_op

__all__ = ["Op", "RowOp", "GlobalOp", "KeyParts", "OpContext", "RowResult", "reason",
           "register_op", "get_op", "all_ops", "build_op"]


def __getattr__(name: str):
    """Op classes by class name, e.g. ``thresher.ops.GopherQuality``."""
    if name.startswith("_") or name.islower():
        raise AttributeError(f"module 'thresher.ops' has no attribute {name!r}")
    for cls in all_ops().values():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module 'thresher.ops' has no attribute {name!r}")
