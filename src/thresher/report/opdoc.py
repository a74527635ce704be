"""Text for ``thresher ops``: every op with its one-line doc, or one op's parameters."""

from __future__ import annotations

import re
import textwrap

from ..ops.registry import all_ops, get_op

__all__ = ["list_ops", "describe_op", "first_sentence"]


def first_sentence(doc: str | None) -> str:
    """The docstring's first sentence (its first paragraph, when that has no sentence end), on
    one line: a period, "!" or "?" ends it when a space and a capital letter, or the end, follow."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = re.search(r"[.!?](?=\s+[A-Z`]|$)", paragraph)
    return paragraph[:end.end()] if end else paragraph


def list_ops() -> str:
    """Each op: name, kind, one-line doc, then its parameters with their defaults."""
    ops = all_ops()
    width = max(len(n) for n in ops)
    lines = []
    indent = " " * (width + 10)
    for name, cls in ops.items():
        lines.append(textwrap.fill(first_sentence(cls.__doc__), width=100, initial_indent=f"{name:<{width}}  "
                                   f"{cls.kind:<6}  ", subsequent_indent=indent, break_on_hyphens=False))
        params = ", ".join(f"{p}={param.default!r}" for p, param in cls.params.items())
        lines.append(textwrap.fill(params or "(no parameters)", width=100, initial_indent=indent,
                                   subsequent_indent=indent))
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
