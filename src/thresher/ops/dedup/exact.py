"""``dedup_exact``: remove documents whose normalized text is identical to another's."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ...errors import InputError
from ...params import Param
from ..base import GlobalOp, OpContext, reason
from ..registry import register_op
from ..text.words import dedup_key, normalize_text

__all__ = ["DedupExact"]

_MASK64 = (1 << 64) - 1


@register_op("dedup_exact")
class DedupExact(GlobalOp):
    """Exact deduplication on a 128-bit hash (xxh3) of the normalized text.

    Documents with the same hash form a group; the group keeps one document, the first by
    ``(priority, id)``, and every other member goes to removed/ with ``dup_of`` naming it.
    ``normalize: full`` (default) hashes NFKC, lowercased text without punctuation and with
    single spaces, in the spirit of CCNet's paragraph normalization (Wenzek et al. 2020, Sec. 3.3);
    ``whitespace`` only collapses spaces; ``none`` hashes the raw text.

    Examples
    --------
    >>> DedupExact(priority="quality", prefer="highest").prefer
    'highest'
    """

    params = {
        "normalize": Param(str, "full", "text normalization before hashing", choices=("full", "whitespace", "none")),
        "priority": Param(str, None, "numeric column ranking which duplicate to keep (null: keep the smallest id)",
                          nullable=True),
        "prefer": Param(str, "highest", "keep the highest or lowest priority", choices=("highest", "lowest")),
    }

    def holds(self) -> str:
        return "id, 128-bit text hash" + (", priority" if self.priority else "") + " per record"

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        hi, lo = [], []
        for text in batch.column("text").to_pylist():
            h = xxhash.xxh3_128_intdigest(self._key(text).encode("utf-8", "surrogatepass"))
            hi.append(h >> 64)
            lo.append(h & _MASK64)
        cols = {"id": batch.column("id"), "h1": pa.array(hi, pa.uint64()), "h2": pa.array(lo, pa.uint64())}
        if self.priority is not None:
            cols["priority"] = self._priority(batch)
        return pa.table(cols)

    def decide(self, keys: pa.Table, ctx: OpContext) -> pa.Table:
        order = [("h1", "ascending"), ("h2", "ascending")]
        if self.priority is not None:
            direction = "descending" if self.prefer == "highest" else "ascending"
            order.append(("priority", direction))
        order.append(("id", "ascending"))
        table = keys.sort_by(order) if keys.num_rows else keys
        h1, h2 = table.column("h1").to_numpy(), table.column("h2").to_numpy()
        starts = np.ones(len(h1), dtype=bool)
        starts[1:] = (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])
        group = np.cumsum(starts) - 1
        first_of_group = np.flatnonzero(starts)
        rep_index = first_of_group[group]
        sizes = np.diff(np.append(first_of_group, len(h1)))[group]
        dup = np.flatnonzero(~starts)
        ids = table.column("id")
        reps = pc.take(ids, pa.array(rep_index[dup]))
        texts = [reason("exact duplicate", f"same normalized text as {r} (group of {n})")
                 for r, n in zip(reps.to_pylist(), sizes[dup].tolist())]
        return pa.table({
            "id": pc.take(ids, pa.array(dup)),
            "reason": pa.array(texts, pa.string()),
            "dup_of": reps,
        })

    def _key(self, text: str) -> str:
        if self.normalize == "full":
            return dedup_key(text)
        if self.normalize == "whitespace":
            return normalize_text(text, form=None, strip_control=False)
        return text

    def _priority(self, batch: pa.RecordBatch) -> pa.Array:
        if self.priority not in batch.schema.names:
            raise InputError(f"dedup_exact.priority: no column {self.priority!r}; columns: {batch.schema.names}")
        values = batch.column(self.priority)
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            raise InputError(f"dedup_exact.priority: column {self.priority!r} must be numeric, got {values.type}.")
        return values.cast(pa.float64())
