"""``dedup_minhash``: near-duplicate removal with MinHash and locality-sensitive hashing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import RecipeError
from ...params import Param
from ..base import GlobalOp, OpContext, reason
from ..registry import register_op
from .keep import KEEP_PARAMS, priority_column, representatives
from .lsh import band_keys, candidate_edges, components, is_empty, optimal_bands, s_curve, signatures

__all__ = ["DedupMinhash"]


@register_op("dedup_minhash")
class DedupMinhash(GlobalOp):
    """Near-duplicate removal: MinHash signatures of word n-gram shingles, LSH band buckets,
    connected components, and one kept document per component.

    Shingles are word ``ngram``-grams (default 5, as in Gopher's and FineWeb's MinHash dedup)
    of the text after NFKC, lowercasing and turning punctuation into spaces; each is a 64-bit
    hash. ``num_perm`` multiply-shift hash functions give 32-bit MinHash values (Broder 1997).
    With ``bands``/``rows`` null, they are chosen for ``threshold`` by minimising the weighted
    false-positive and false-negative areas under the S-curve ``1 - (1 - s^r)^b``, as datasketch
    does (Leskovec et al., Mining of Massive Datasets, Sec. 3.4): (9, 13) for 0.8 and 128.
    Documents sharing a band bucket are linked; ``verify: signature`` keeps a link only when the
    signatures agree on at least ``threshold`` of their values (cuts LSH's false positives).
    Each connected component keeps its first document by ``(priority, id)``; the others go to
    removed/ with ``dup_of`` (the kept one), ``score`` (the estimated Jaccard similarity to it)
    and ``cluster_size``. A document with no words is never a duplicate.

    Examples
    --------
    >>> DedupMinhash().bands_rows()
    (9, 13)
    """

    params = {
        "ngram": Param(int, 5, "words per shingle", low=1, high=50),
        "num_perm": Param(int, 128, "MinHash permutations", low=8, high=1024),
        "threshold": Param(float, 0.8, "Jaccard similarity that makes a near-duplicate", low=0, high=1,
                           low_open=True),
        "bands": Param(int, None, "LSH bands (null: chosen from threshold)", low=1, nullable=True),
        "rows": Param(int, None, "rows per band (null: chosen from threshold)", low=1, nullable=True),
        "verify": Param(str, "none", "check each LSH link on the signatures", choices=("none", "signature")),
        **KEEP_PARAMS,
    }

    def validate(self) -> None:
        if (self.bands is None) != (self.rows is None):
            raise RecipeError("dedup_minhash.bands and dedup_minhash.rows must be given together (or neither).")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise RecipeError(f"dedup_minhash.bands x rows ({self.bands} x {self.rows}) must not exceed "
                              f"dedup_minhash.num_perm ({self.num_perm}).")

    def bands_rows(self) -> tuple[int, int]:
        """The LSH bands and rows in use."""
        if self.bands is not None:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.num_perm)

    def holds(self) -> str:
        bands, rows = self.bands_rows()
        curve = ", ".join(f"P({s})={s_curve(s, bands, rows):.3f}" for s in (0.5, 0.7, 0.8, 0.9))
        return (f"id and a {self.num_perm} x 32-bit signature per record; {bands} bands x {rows} rows, "
                f"probability of becoming candidates at Jaccard s: {curve}")

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * (self.num_perm * 4 * 3 + 120)

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        sigs = signatures(batch.column("text"), self.ngram, self.num_perm, ctx.seed)
        flat = pa.array(sigs.reshape(-1), pa.uint32())
        cols = {"id": batch.column("id"), "sig": pa.FixedSizeListArray.from_arrays(flat, self.num_perm)}
        if self.priority is not None:
            cols["priority"] = priority_column(self.name, self.priority, batch)
        return pa.table(cols)

    def decide(self, keys: pa.Table, ctx: OpContext) -> pa.Table:
        n = keys.num_rows
        sig_col = keys.column("sig").combine_chunks() if n else None
        sigs = sig_col.flatten().to_numpy().reshape(n, self.num_perm) if n else np.zeros((0, self.num_perm))
        bands, rows = self.bands_rows()
        u, v = candidate_edges(band_keys(sigs, bands, rows), ~is_empty(sigs))
        if self.verify == "signature" and len(u):
            agree = (sigs[u] == sigs[v]).mean(axis=1) >= self.threshold
            u, v = u[agree], v[agree]
        label = components(n, u, v)
        priority = keys.column("priority") if self.priority is not None else None
        rep = representatives(label, keys.column("id"), priority, self.prefer)
        dup = np.flatnonzero(rep != np.arange(n))
        score = (sigs[dup] == sigs[rep[dup]]).mean(axis=1) if len(dup) else np.zeros(0)
        size = np.bincount(label, minlength=n)[label[dup]]
        ids = keys.column("id")
        reps = pc.take(ids, pa.array(rep[dup], pa.int64()))
        texts = [reason("near duplicate", f"of {r} (estimated Jaccard {s:.2f}, cluster of {c})")
                 for r, s, c in zip(reps.to_pylist(), score.tolist(), size.tolist())]
        return pa.table({
            "id": pc.take(ids, pa.array(dup, pa.int64())),
            "reason": pa.array(texts, pa.string()),
            "dup_of": reps,
            "score": pa.array(score, pa.float64()),
            "cluster_size": pa.array(size, pa.int64()),
        })
