"""The implicit first step: every input id must be unique (contract of DESIGN.md)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..ops.base import GlobalOp, OpContext, reason
from ..params import Param

__all__ = ["UniqueIds"]


class UniqueIds(GlobalOp):
    """Find ids that occur more than once; the first occurrence in input order is kept.

    With ``on_error: raise`` a duplicate stops the run, naming both places; with
    ``quarantine`` the later occurrences go to removed/ as invalid input.
    """

    name = "input"
    match_column = "th_source"
    params = {"on_error": Param(str, "raise", choices=("raise", "quarantine"))}

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        return pa.table({"id": batch.column("id"), "th_source": batch.column("th_source")})

    def decide(self, keys: pa.Table, ctx: OpContext) -> pa.Table:
        empty = pa.table({name: pa.array([], pa.string()) for name in ("id", "th_source", "reason")})
        if keys.num_rows == pc.count_distinct(keys.column("id")).as_py():
            return empty
        table = keys.append_column("pos", pa.array(np.arange(keys.num_rows)))
        firsts = table.group_by("id", use_threads=False).aggregate([("pos", "min")])
        first_pos = pc.take(firsts.column("pos_min"), pc.index_in(table.column("id"), firsts.column("id")))
        later = pc.not_equal(table.column("pos"), first_pos)
        dups = table.filter(later).sort_by("pos")
        first_src = pc.take(table.column("th_source"), pc.take(first_pos, pc.indices_nonzero(later)))
        sources = dups.column("th_source").to_pylist()
        firsts_src = first_src.to_pylist()
        ids = dups.column("id").to_pylist()
        if self.on_error != "quarantine":
            raise InputError(f"{sources[0]}: duplicate id {ids[0]!r}, first seen at {firsts_src[0]} "
                             f"({len(ids)} duplicate(s) in all). Ids must be unique: fix the data, set "
                             "input.id_field to a unique field, or set input.on_error: quarantine.")
        reasons = [reason("invalid input", f"duplicate id {i!r}, first seen at {f}") for i, f in zip(ids, firsts_src)]
        return pa.table({"id": dups.column("id"), "th_source": dups.column("th_source"),
                         "reason": pa.array(reasons, pa.string())})
