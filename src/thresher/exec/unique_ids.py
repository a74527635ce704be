"""The implicit first step: every input id must be unique (contract of DESIGN.md)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from ..ops.base import GlobalOp, KeyParts, OpContext, reason
from ..ops.text.ngrams import mix64
from ..params import Param

__all__ = ["UniqueIds", "id_hashes"]


_BASE = 0x100000001B3  # odd: invertible modulo 2^64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_CHUNK = 1 << 16


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of ids, 8 bytes a record whatever the length of the ids: a polynomial hash
    of each id's UTF-8 bytes modulo 2^64, mixed, computed with prefix sums (no Python loop).
    Equal hashes are always confirmed on the ids themselves by their users."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    ids = ids.cast(pa.large_string())
    out = np.empty(len(ids), np.uint64)
    for lo in range(0, len(ids), _CHUNK):
        part = ids.slice(lo, _CHUNK)
        offsets = np.frombuffer(part.buffers()[1], np.int64)[part.offset:part.offset + len(part) + 1]
        data = part.buffers()[2]
        raw = np.frombuffer(data, np.uint8)[offsets[0]:offsets[-1]] if data is not None else np.zeros(0, np.uint8)
        out[lo:lo + len(part)] = _polynomial(raw, offsets - offsets[0])
    return out


_POWERS = (np.ones(1, np.uint64), np.ones(1, np.uint64))  # BASE ** k and BASE_INV ** k, k = 0, 1, ...


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` powers of the base and of its inverse, computed once for all calls."""
    global _POWERS
    powers = _POWERS
    if len(powers[0]) < n:
        size = max(n, 2 * len(powers[0]))
        with np.errstate(over="ignore"):
            powers = (np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BASE, np.uint64)]),
                      np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BASE_INV, np.uint64)]))
        _POWERS = powers  # one assignment: threads see the old pair or the new one
    return powers[0][:n], powers[1][:n]


def _polynomial(raw: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    powers, inverse = _powers(len(raw) + 1)
    with np.errstate(over="ignore"):
        prefix = np.r_[np.uint64(0), np.cumsum((raw.astype(np.uint64) + np.uint64(1)) * powers[:-1])]
        starts, ends = offsets[:-1], offsets[1:]
        value = (prefix[ends] - prefix[starts]) * inverse[starts]
        return mix64(value ^ (ends - starts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


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
