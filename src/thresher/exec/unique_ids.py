"""The implicit first step: every input id must be unique (contract of DESIGN.md)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from ..errors import InputError
from ..ops.base import GlobalOp, KeyParts, OpContext, reason
from ..params import Param

__all__ = ["UniqueIds", "id_hashes"]


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes (xxh3) of ids: 8 bytes a record, whatever the length of the ids."""
    digest = xxhash.xxh3_64_intdigest
    return np.fromiter((digest(i.encode("utf-8", "surrogatepass")) for i in ids.to_pylist()),
                       dtype=np.uint64, count=len(ids))


class UniqueIds(GlobalOp):
    """Find ids that occur more than once; the first occurrence in input order is kept.

    Keys are 64-bit id hashes, so memory is 8 bytes a record; only the rare records whose hash
    repeats are read again (by id) to confirm the duplicate and name where it comes from.
    With ``on_error: raise`` a duplicate stops the run, naming both places; with
    ``quarantine`` the later occurrences go to removed/ as invalid input.
    """

    name = "input"
    match_column = "th_source"
    params = {"on_error": Param(str, "raise", choices=("raise", "quarantine"))}

    def holds(self) -> str:
        return "a 64-bit hash of each id"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * 24

    def key_columns(self) -> list[str]:
        return ["id"]

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        return pa.table({"h": pa.array(id_hashes(batch.column("id")), pa.uint64())})

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        empty = pa.table({name: pa.array([], pa.string()) for name in ("id", "th_source", "reason")})
        keys = KeyParts.of(keys)
        if not keys.num_rows:
            return empty
        hashes = keys.read(["h"]).column("h").to_numpy()
        values, counts = np.unique(hashes, return_counts=True)
        repeated = values[counts > 1]
        if not len(repeated):
            return empty
        ids, sources = _candidates(ctx.sources, repeated)
        first: dict[str, str] = {}
        dups = []
        for record_id, source in zip(ids, sources):  # input order: the first occurrence stays
            if record_id in first:
                dups.append((record_id, source, first[record_id]))
            else:
                first[record_id] = source
        if not dups:  # hash collisions between different ids
            return empty
        if self.on_error != "quarantine":
            record_id, source, where = dups[0]
            raise InputError(f"{source}: duplicate id {record_id!r}, first seen at {where} "
                             f"({len(dups)} duplicate(s) in all). Ids must be unique: fix the data, set "
                             "input.id_field to a unique field, or set input.on_error: quarantine.")
        return pa.table({
            "id": pa.array([d[0] for d in dups], pa.string()),
            "th_source": pa.array([d[1] for d in dups], pa.string()),
            "reason": pa.array([reason("invalid input", f"duplicate id {i!r}, first seen at {w}") for i, _, w in dups],
                               pa.string()),
        })


def _candidates(sources, repeated: np.ndarray) -> tuple[list[str], list[str]]:
    """Ids and sources, in input order, of the records whose id hash is in ``repeated``."""
    ids: list[str] = []
    where: list[str] = []
    for path in sources:
        table = pq.read_table(path, columns=["id", "th_source"])
        hit = np.isin(id_hashes(table.column("id")), repeated)
        if hit.any():
            picked = table.filter(pa.array(hit))
            ids.extend(picked.column("id").to_pylist())
            where.extend(picked.column("th_source").to_pylist())
    return ids, where
