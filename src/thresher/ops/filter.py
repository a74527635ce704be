"""``filter``: keep records for which an expression over their columns is true."""

from __future__ import annotations

import ast

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, RecipeError
from ..params import Param
from .base import OpContext, RowOp, RowResult, reason
from .expressions import FUNCTION_NAMES, expression_columns
from .registry import register_op

__all__ = ["Filter", "compile_expression", "compile_mask", "expression_columns", "check_types"]

_COMPARE = {ast.Eq: pc.equal, ast.NotEq: pc.not_equal, ast.Lt: pc.less, ast.LtE: pc.less_equal,
            ast.Gt: pc.greater, ast.GtE: pc.greater_equal}
_ARITH = {ast.Add: pc.add, ast.Sub: pc.subtract, ast.Mult: pc.multiply, ast.Div: pc.divide}
_FUNCS = {"len": pc.utf8_length, "lower": pc.utf8_lower, "upper": pc.utf8_upper, "abs": pc.abs,
          "is_null": pc.is_null}
assert set(_FUNCS) == FUNCTION_NAMES  # expression_columns tells columns from these names
_METHODS = {"startswith": pc.starts_with, "endswith": pc.ends_with, "contains": pc.match_substring}


def compile_expression(expr: str, owner: str = "filter.expr"):
    """Parse ``expr`` into a function ``batch -> boolean array``; reject anything not allowed.
    ``owner`` (the step and parameter, e.g. ``dsir.target_expr``) starts every error message.

    Allowed: column names, numbers, strings, lists, ``and``/``or``/``not``, comparisons
    (``== != < <= > >=``, ``in``, ``not in``), ``+ - * /``, ``len(x)``, ``lower(x)``,
    ``upper(x)``, ``abs(x)``, ``is_null(x)``, ``x.startswith('..')``, ``x.endswith('..')``,
    ``x.contains('..')``.
    """
    tree = _parse(expr, owner)
    _check(tree.body, expr, owner)
    check_types(expr, {}, owner)
    return lambda batch: _eval(tree.body, batch, owner)


def _parse(expr: str, owner: str) -> ast.Expression:
    """The parsed expression, or a ``RecipeError`` pointing at the error's column (1-based; Python
    reports an expression that ends too early at column 0: the end is meant)."""
    try:
        return ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        line = (exc.text or expr).rstrip("\n")
        column = exc.offset if exc.offset and exc.offset <= len(line) else len(line.rstrip()) + 1
        where = "at the end" if column > len(line.rstrip()) else f"at column {column}"
        msg = f"{owner} is not a valid expression: {exc.msg} {where}:\n  {line}\n  {' ' * (column - 1)}^"
        raise RecipeError(msg) from None


def compile_mask(expr: str, owner: str = "filter.expr"):
    """Like ``compile_expression``, for a condition: the function gives one boolean per row,
    null (a missing value) as false, and raises an ``InputError`` when ``expr`` is not true/false."""
    fn = compile_expression(expr, owner)

    def mask(batch: pa.RecordBatch) -> pa.Array:
        value = fn(batch)
        if not pa.types.is_boolean(value.type):
            raise InputError(f"{owner} must give true/false, got {value.type} from {expr!r}")
        if isinstance(value, pa.Scalar):
            value = pa.array([value.as_py()] * batch.num_rows, pa.bool_())
        return pc.fill_null(value, False)

    def checked(batch: pa.RecordBatch) -> pa.Array:
        try:
            return mask(batch)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            columns = ", ".join(f"{n}: {batch.schema.field(n).type}" for n in expression_columns(expr)
                                if n in batch.schema.names)
            raise InputError(f"{owner}: cannot evaluate {expr!r} on these records ({columns}): "
                             f"{str(exc).splitlines()[0]}") from None

    return checked


_NUMBER, _STRING, _BOOL = "a number", "a string", "true/false"
_RESULTS = {"len": _NUMBER, "lower": _STRING, "upper": _STRING, "abs": _NUMBER, "is_null": _BOOL}


def check_types(expr: str, types: dict[str, pa.DataType | None], owner: str = "filter.expr") -> None:
    """Refuse what Arrow cannot evaluate: a number compared with a string (``len(text) > '5'``),
    arithmetic on strings, ``len`` of a number. ``types`` holds the column types known when the
    recipe is planned (``{}``: only constants and functions are typed).

    >>> check_types("len(text) > '5'", {})
    Traceback (most recent call last):
    ...
    thresher.errors.RecipeError: filter.expr: len(text) > '5' compares a number (len(text)) with a string ('5'); ...
    """
    _kind(ast.parse(expr, mode="eval").body, types, owner)


def _type_kind(dtype: pa.DataType | None) -> str | None:
    if dtype is None:
        return None
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return _NUMBER
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return _STRING
    return _BOOL if pa.types.is_boolean(dtype) else None


def _kind(node: ast.AST, types: dict, owner: str) -> str | None:
    """The kind of value ``node`` gives (None: unknown), checking its parts on the way."""
    if isinstance(node, ast.Constant):
        value = node.value
        return _BOOL if isinstance(value, bool) else _NUMBER if isinstance(value, (int, float)) \
            else _STRING if isinstance(value, str) else None
    if isinstance(node, ast.Name):
        return _type_kind(types.get(node.id))
    if isinstance(node, ast.Call):
        args = [_kind(a, types, owner) for a in node.args]
        if isinstance(node.func, ast.Attribute):
            _kind(node.func.value, types, owner)
            return _BOOL
        if node.func.id in ("len", "lower", "upper") and args and args[0] not in (None, _STRING):
            raise RecipeError(f"{owner}: {ast.unparse(node)} needs a string, but {ast.unparse(node.args[0])} is "
                              f"{args[0]}.")
        return _RESULTS[node.func.id]
    if isinstance(node, ast.BinOp):
        left, right = _kind(node.left, types, owner), _kind(node.right, types, owner)
        _clash(node, (node.left, left), (node.right, right), "mixes", owner)
        if _STRING in (left, right):
            raise RecipeError(f"{owner}: {ast.unparse(node)} does arithmetic on a string.")
        return _NUMBER
    if isinstance(node, ast.UnaryOp):
        _kind(node.operand, types, owner)
        return _BOOL if isinstance(node.op, ast.Not) else _NUMBER
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _kind(value, types, owner)
        return _BOOL
    if isinstance(node, ast.Compare):
        left = (node.left, _kind(node.left, types, owner))
        for op, right in zip(node.ops, node.comparators):
            listed = isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple))
            for item in right.elts if listed else [right]:
                _clash(node, left, (item, _kind(item, types, owner)), "compares", owner)
            left = (right, None if listed else _kind(right, types, owner))
        return _BOOL
    return None


def _clash(node: ast.AST, a: tuple[ast.AST, str | None], b: tuple[ast.AST, str | None], what: str,
           owner: str) -> None:
    if {a[1], b[1]} == {_NUMBER, _STRING}:
        text = (a if a[1] == _STRING else b)[0]
        hint = f"declare the column's type, e.g. input.columns: {{{text.id}: int64}}" if isinstance(text, ast.Name) \
            else "numbers are written without quotes, e.g. len(text) > 5"
        raise RecipeError(f"{owner}: {ast.unparse(node)} {what} {a[1]} ({ast.unparse(a[0])}) with {b[1]} "
                          f"({ast.unparse(b[0])}); {hint}.")


def _check(node: ast.AST, expr: str, owner: str) -> None:
    allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.BinOp,
               ast.Name, ast.Constant, ast.List, ast.Tuple, ast.Load, ast.Call, ast.Attribute, ast.In, ast.NotIn,
               *_COMPARE, ast.Add, ast.Sub, ast.Mult, ast.Div)
    for child in ast.walk(node):
        if not isinstance(child, allowed):
            raise RecipeError(f"{owner}: {type(child).__name__} is not allowed in {expr!r}; "
                              "use columns, constants, comparisons, and/or/not, + - * /, and the functions "
                              f"{sorted(_FUNCS)} or methods {sorted(_METHODS)}.")
        if isinstance(child, ast.Call):
            fn = child.func
            ok = (isinstance(fn, ast.Name) and fn.id in _FUNCS) or (
                isinstance(fn, ast.Attribute) and fn.attr in _METHODS)
            if not ok or child.keywords:
                raise RecipeError(f"{owner}: call {ast.unparse(child)!r} is not allowed; functions: "
                                  f"{sorted(_FUNCS)}, methods: {sorted(_METHODS)}.")
        if isinstance(child, ast.Attribute) and child.attr not in _METHODS:
            raise RecipeError(f"{owner}: attribute {child.attr!r} is not allowed; methods: {sorted(_METHODS)}.")


def _eval(node: ast.AST, batch: pa.RecordBatch, owner: str):
    if isinstance(node, ast.Constant):
        return pa.scalar(node.value)
    if isinstance(node, ast.Name):
        if node.id not in batch.schema.names:
            raise InputError(f"{owner}: no column {node.id!r}; columns: {batch.schema.names}")
        return batch.column(node.id)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [n.value for n in node.elts if isinstance(n, ast.Constant)]
    if isinstance(node, ast.BoolOp):
        fn = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
        values = [_eval(v, batch, owner) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = fn(out, v)
        return out
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, batch, owner)
        return pc.invert(value) if isinstance(node.op, ast.Not) else pc.negate(value)
    if isinstance(node, ast.BinOp):
        return _ARITH[type(node.op)](_eval(node.left, batch, owner), _eval(node.right, batch, owner))
    if isinstance(node, ast.Compare):
        return _compare(node, batch, owner)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return _FUNCS[node.func.id](*[_eval(a, batch, owner) for a in node.args])
        target = _eval(node.func.value, batch, owner)
        pattern = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        if not isinstance(pattern, str):
            raise InputError(f"{owner}: {node.func.attr}() takes one string, in {ast.unparse(node)!r}")
        return _METHODS[node.func.attr](target, pattern=pattern)
    raise InputError(f"{owner}: cannot evaluate {ast.unparse(node)!r}")  # pragma: no cover


def _compare(node: ast.Compare, batch: pa.RecordBatch, owner: str):
    left = _eval(node.left, batch, owner)
    result = None
    for op, comparator in zip(node.ops, node.comparators):
        right = _eval(comparator, batch, owner)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, list):
                raise InputError(f"{owner}: `in` needs a list of constants on its right, e.g. x in ['a', 'b']")
            value = pc.is_in(left, value_set=pa.array(right))
            value = pc.invert(value) if isinstance(op, ast.NotIn) else value
        else:
            value = _COMPARE[type(op)](left, right)
        result = value if result is None else pc.and_kleene(result, value)
        left = right
    return result


@register_op("filter")
class Filter(RowOp):
    """Keep the records for which ``expr`` is true: user rules without code, vectorized on Arrow.

    ``expr`` is a Python-like expression over columns, e.g.
    ``th_language_score > 0.8 and len(text) >= 200 and source not in ['spam']``. Records for
    which it is false, or null (a missing value), go to removed/ with the expression as reason.

    Examples
    --------
    >>> import pyarrow as pa
    >>> b = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": ["short", "a longer text"], "n": [1, 5]})
    >>> Filter(expr="n > 2 and len(text) > 5").process(b, OpContext()).reasons.to_pylist()
    ['filter: not (n > 2 and len(text) > 5)', None]
    """

    params = {"expr": Param(str, None, "the expression that kept records satisfy")}

    def validate(self) -> None:
        if not self.expr:
            raise RecipeError("filter.expr is required, e.g. expr: \"len(text) > 100\".")
        self._cache_fn = compile_mask(self.expr)

    def needs(self) -> dict[str, str | None]:
        return self.columns_named(expression_columns(self.expr))

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        if getattr(self, "_cache_fn", None) is None:
            self._cache_fn = compile_mask(self.expr)
        try:
            keep = self._cache_fn(batch)
        except InputError as exc:
            raise InputError(f"step {ctx.step or self.name}: {exc}") from None
        text = reason("filter", f"not ({self.expr})")
        reasons = pc.if_else(keep, pa.scalar(None, pa.string()), pa.scalar(text, pa.string()))
        return RowResult(batch, reasons)
