"""What an expression reads: the column names of ``filter``-style expressions, known without
compiling them (a leaf module: ``Op.needs`` and the ops that take expressions use it)."""

from __future__ import annotations

import ast

__all__ = ["FUNCTION_NAMES", "expression_columns"]

#: The functions an expression may call; every other name is a column.
FUNCTION_NAMES = frozenset({"len", "lower", "upper", "abs", "is_null"})


def expression_columns(expr: str) -> list[str]:
    """The column names that ``expr`` reads (sorted), e.g. for an op's ``key_columns``.

    >>> expression_columns("len(text) > 5 and lang in ['en']")
    ['lang', 'text']
    """
    return sorted({node.id for node in ast.walk(ast.parse(expr, mode="eval")) if isinstance(node, ast.Name)}
                  - FUNCTION_NAMES)
