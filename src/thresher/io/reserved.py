"""The columns thresher writes, reserved: an input column of the same name is refused when the
input is read, so that a record's columns never clash and the report reads only thresher's own.

A leaf module (no thresher imports): readers, ops and the report may all use it.
"""

from __future__ import annotations

__all__ = ["RESERVED_PREFIX", "RESERVED_COLUMNS", "SOURCE_COLUMN", "is_reserved", "reserved_clash"]

#: Every column an op computes starts with this prefix (``th_words``, ``th_source``...).
RESERVED_PREFIX = "th_"

#: Where each record was read from (``file:line``), written by the readers.
SOURCE_COLUMN = "th_source"

#: The columns without the prefix that thresher writes: on every removed record (``removed_by``,
#: ``reason``) and on the records a dedup step removes (``dup_of``: the id of the kept copy;
#: ``score``: the similarity to it; ``cluster_size``: the records of its duplicate cluster).
RESERVED_COLUMNS = ("removed_by", "reason", "dup_of", "score", "cluster_size")


def is_reserved(name: str) -> bool:
    """True for a column that only thresher may write.

    >>> [is_reserved(c) for c in ("th_words", "score", "similarity", "source")]
    [True, True, False, False]
    """
    return name in RESERVED_COLUMNS or name.startswith(RESERVED_PREFIX)


def reserved_clash(names, *, text_field: str, id_field: str | None) -> str | None:
    """The first of an input's column ``names`` that clashes with a column thresher writes,
    with what to do about it, or None. ``text`` and ``id`` clash unless they are the mapped
    text and id fields (the record's own ``text`` and ``id`` would be replaced).

    >>> reserved_clash(["id", "text", "score"], text_field="text", id_field=None)
    "input column 'score' is a column thresher writes (reserved: removed_by, reason, dup_of, score, \
cluster_size and th_*); rename it, e.g. to 'user_score'."
    >>> reserved_clash(["doc", "text"], text_field="doc", id_field=None)
    "input column 'text' is where thresher puts the text of `text_field` ('doc'); rename it, e.g. to 'user_text', \
or set text_field: text if it is the text."
    """
    id_name = id_field or "id"
    for name in names:
        if name in (text_field, id_name):
            continue
        if name == "text":
            return (f"input column 'text' is where thresher puts the text of `text_field` ({text_field!r}); "
                    "rename it, e.g. to 'user_text', or set text_field: text if it is the text.")
        if name == "id":
            return (f"input column 'id' is where thresher puts the id of `id_field` ({id_name!r}); "
                    "rename it, e.g. to 'user_id', or set id_field: id if it is the id.")
        if is_reserved(name):
            listed = ", ".join(RESERVED_COLUMNS)
            return (f"input column {name!r} is a column thresher writes (reserved: {listed} and "
                    f"{RESERVED_PREFIX}*); rename it, e.g. to {'user_' + name.removeprefix(RESERVED_PREFIX)!r}.")
    return None

