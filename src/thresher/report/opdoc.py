"""Text for ``thresher ops``: every op with its one-line doc, or one op's parameters."""

from __future__ import annotations

import textwrap

from ..ops.registry import all_ops, get_op

__all__ = ["list_ops", "describe_op"]


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def list_ops() -> str:
    """Each op: name, kind, one-line doc, then its parameters with their defaults."""
    ops = all_ops()
    width = max(len(n) for n in ops)
    lines = []
    for name, cls in ops.items():
        lines.append(f"{name:<{width}}  {cls.kind:<6}  {_first_line(cls.__doc__)}")
        params = ", ".join(f"{p}={param.default!r}" for p, param in cls.params.items())
        lines.append(textwrap.fill(params or "(no parameters)", width=100, initial_indent=" " * (width + 10),
                                   subsequent_indent=" " * (width + 10)))
    lines.append("\n`thresher ops NAME` shows an op's parameters with their ranges and meaning.")
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
