"""Text for ``thresher ops``: every op with its one-line doc, or one op's parameters."""

from __future__ import annotations

from ..ops.registry import all_ops, get_op

__all__ = ["list_ops", "describe_op"]


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def list_ops() -> str:
    ops = all_ops()
    width = max(len(n) for n in ops)
    lines = [f"{name:<{width}}  {cls.kind:<6}  {_first_line(cls.__doc__)}" for name, cls in ops.items()]
    lines.append("\n`thresher ops NAME` shows an op's parameters.")
    return "\n".join(lines)


def describe_op(name: str) -> str:
    cls = get_op(name)
    lines = [f"{name} ({cls.kind})", "", (cls.__doc__ or "").strip().split("\nExamples")[0].rstrip(), "",
             "parameters:"]
    for pname, p in cls.params.items():
        lines.append(f"  {pname} = {p.default!r}  ({p.describe()})")
        if p.doc:
            lines.append(f"      {p.doc}")
    if not cls.params:
        lines.append("  (none)")
    if cls.writes:
        lines.append("writes columns: " + ", ".join(cls.writes))
    return "\n".join(lines)
