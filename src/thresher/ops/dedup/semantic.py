"""``dedup_semantic``: SemDeDup (Abbas et al. 2023, "SemDeDup: Data-efficient learning at
web-scale through semantic deduplication", Sec. 3 and Algorithm 1)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pyarrow as pa

from ...errors import RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..cluster.kmeans import KMEANS_PARAMS
from ..cluster.kmeans_core import assign, check_k, fit_kmeans
from ..embed.vectors import EMBEDDING_KEY, embedding_keys, vectors_by_id
from ..registry import register_op
from .keep import KEEP_PARAMS, priority_column

__all__ = ["DedupSemantic", "max_earlier_similarity", "semdedup", "semdedup_by_tasks"]


def max_earlier_similarity(x: np.ndarray, chunk_bytes: int = 64 * 2**20) -> tuple[np.ndarray, np.ndarray]:
    """For each row ``j`` of ``x`` (unit rows, in keep-preference order), the highest cosine
    similarity to a row before it and that row's index (``-inf`` and ``-1`` for row 0). The
    similarity matrix is computed in blocks of rows, so memory stays under ``chunk_bytes``.

    >>> x = np.array([[1, 0], [0.6, 0.8], [1, 0]], np.float32)
    >>> sim, of = max_earlier_similarity(x)
    >>> [round(float(s), 2) for s in sim[1:]], of.tolist()
    ([0.6, 1.0], [-1, 0, 0])
    """
    n = len(x)
    sim = np.full(n, -np.inf, np.float32)
    of = np.full(n, -1, np.int64)
    block = max(1, chunk_bytes // (4 * max(n, 1)))
    for lo in range(1, n, block):
        hi = min(n, lo + block)
        s = x[lo:hi] @ x[:hi].T  # rows lo..hi-1 against every row up to hi-1
        s[np.arange(hi)[None, :] >= np.arange(lo, hi)[:, None]] = -np.inf  # only earlier rows count
        arg = s.argmax(axis=1)
        sim[lo:hi] = s[np.arange(hi - lo), arg]
        of[lo:hi] = arg
    return sim, of


def semdedup(x: np.ndarray, labels: np.ndarray, preference: np.ndarray,
             chunk_bytes: int = 64 * 2**20) -> tuple[np.ndarray, np.ndarray]:
    """Per record, the highest similarity to a record of its cluster ranked before it by
    ``preference`` (lower first, ties by index) and that record's index."""
    sim = np.full(len(x), -np.inf, np.float32)
    of = np.full(len(x), -1, np.int64)
    order = np.lexsort((np.arange(len(x)), preference, labels))
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        members = order[lo:hi]
        if len(members) > 1:
            s, o = max_earlier_similarity(x[members], chunk_bytes)
            sim[members] = s
            of[members] = np.where(o >= 0, members[np.maximum(o, 0)], -1)
    return sim, of


def semdedup_task(item: tuple) -> tuple[np.ndarray, np.ndarray]:
    """``semdedup`` of one group of whole clusters ``(x, labels, preference, chunk_bytes)``."""
    return semdedup(*item)


def semdedup_by_tasks(x: np.ndarray, labels: np.ndarray, preference: np.ndarray, chunk_bytes: int,
                      ctx: OpContext) -> tuple[np.ndarray, np.ndarray]:
    """``semdedup`` with the clusters spread over ``2 x workers`` tasks of ``ctx.map`` (the
    biggest first, each to the group with the fewest pairs so far). Records keep their order
    inside a group, so the result is ``semdedup``'s."""
    sizes = np.bincount(labels)
    groups = max(1, min(2 * max(1, ctx.workers), int((sizes > 1).sum())))
    load, group_of = np.zeros(groups), np.zeros(len(sizes), np.int64)
    for c in np.argsort(-sizes, kind="stable"):
        group_of[c] = int(np.argmin(load))
        load[group_of[c]] += float(sizes[c]) ** 2
    members = [np.flatnonzero(group_of[labels] == g) for g in range(groups)]
    results = ctx.map(semdedup_task, [(x[m], labels[m], preference[m], chunk_bytes) for m in members])
    sim = np.full(len(x), -np.inf, np.float32)
    of = np.full(len(x), -1, np.int64)
    for m, (s, o) in zip(members, results):
        sim[m] = s
        of[m] = np.where(o >= 0, m[np.maximum(o, 0)], -1)
    return sim, of


def _kept_representative(of: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Follow ``of`` from each removed record until a kept one (``of`` points to earlier-ranked
    records of the same cluster, so every chain ends)."""
    rep = np.where(removed, of, np.arange(len(of)))
    while True:
        hop = removed[rep]
        if not hop.any():
            return rep
        rep[hop] = of[rep[hop]]


@register_op("dedup_semantic")
class DedupSemantic(GlobalOp):
    """Semantic deduplication, SemDeDup (Abbas et al. 2023): spherical k-means on the
    embeddings, then within each cluster every pair's cosine similarity; a record whose
    similarity to one ranked before it exceeds ``1 - eps`` is removed.

    Within a cluster records are ranked by ``keep``: ``farthest`` from the centroid first (the
    paper's choice: prototypical records are the most redundant), ``closest``, or ``priority``
    (the ``priority`` column, then id). Removed rows get ``dup_of`` (the kept record their chain
    of matches leads to) and ``score`` (cosine similarity to it); the reason names the direct
    match and its similarity, and the kept record when they differ. The similarity matrix of a
    large cluster is computed in blocks of at most ``chunk_mb``. ``sweep: [0.01, 0.05, ...]``
    prints and records the removed fraction for each eps and removes nothing. ``k`` defaults to
    one cluster per 1,000 records. Near-duplicates split across clusters are missed, as in the
    paper.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> from thresher.ops.embed.embed import Embed
    >>> vectors = [[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0], [0.7, 0.7]]
    >>> rows = [{"id": f"p{i}", "text": "", "vec": v} for i, v in enumerate(vectors)]
    >>> t = try_op([Embed(precomputed="vec"), DedupSemantic(eps=0.01, k=1)], rows)
    >>> t.kept, t.removed["p1"], t.column("dup_of")
    (['p0', 'p2', 'p4'], 'semantic duplicate: cosine 1.000 > 0.990 with p0', [None, 'p0', None, 'p2', None])
    """

    params = {
        "eps": Param(float, 0.05, "remove a record more similar than 1 - eps to a better-ranked one", low=0,
                     high=1, low_open=True, high_open=True),
        "k": Param(int, None, "k-means clusters (default: one per 1,000 records)", low=1, nullable=True),
        "keep": Param(str, "farthest", "which record of a duplicate group is kept first",
                      choices=("farthest", "closest", "priority")),
        **KEEP_PARAMS,
        "sweep": Param(list, None, "eps values to report the removed fraction of, removing nothing", item=float,
                       nullable=True),
        "chunk_mb": Param(int, 64, "memory for one block of the similarity matrix", low=1),
        **KMEANS_PARAMS,
    }

    def validate(self) -> None:
        if (self.keep == "priority") != (self.priority is not None):
            raise RecipeError(f"{self.name}: keep: priority needs a priority column and a priority column needs "
                              f"keep: priority; got keep={self.keep!r}, priority={self.priority!r}.")
        for eps in self.sweep or []:
            if not 0 < eps < 1:
                raise RecipeError(f"{self.name}.sweep values must be floats in (0, 1), got {eps}.")

    def holds(self) -> str:
        return "id, embedding key and the vector per record"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * (2 * 384 * 4 + 300) + self.chunk_mb * 2**20

    def key_columns(self) -> list[str]:
        return ["id", EMBEDDING_KEY] + ([self.priority] if self.priority else [])

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        cols = {"id": batch.column("id"), EMBEDDING_KEY: embedding_keys(batch, self.name)}
        if self.priority:
            cols["priority"] = priority_column(self.name, self.priority, batch)
        return pa.table(cols)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table, x = vectors_by_id(keys, ctx)
        n = len(table)
        empty = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                          "dup_of": pa.array([], pa.string()), "score": pa.array([], pa.float32())})
        if n < 2:
            return empty
        k = self.k if self.k is not None else max(1, math.ceil(n / 1000))
        check_k(f"{self.name}.k", k, n)
        centroids = fit_kmeans(x, k, niter=self.niter, seed=ctx.seed, spherical=self.spherical,
                               max_points_per_centroid=self.max_points_per_centroid)
        labels, dist = assign(x, centroids, self.spherical, ctx)
        preference, chunk = self._preference(table, dist), self.chunk_mb * 2**20
        if ctx.distributed:  # on a cluster: groups of clusters in parallel
            sim, of = semdedup_by_tasks(x, labels, preference, chunk, ctx)
        else:
            sim, of = semdedup(x, labels, preference, chunk)
        ctx.info.update({"k": k, "eps": self.eps})
        if self.sweep:
            rows = [{"eps": e, "threshold": round(1 - e, 6), "removed": int((sim > 1 - e).sum()),
                     "fraction": round(float((sim > 1 - e).mean()), 6)} for e in sorted(self.sweep)]
            ctx.info["sweep"] = rows
            _print_sweep(ctx.step or self.name, n, rows)
            return empty
        removed = sim > 1 - self.eps
        rep = _kept_representative(of, removed)
        rows = np.flatnonzero(removed)
        score = np.einsum("ij,ij->i", x[rows], x[rep[rows]]).astype(np.float32)
        ids = table.column("id")
        dup_of = ids.take(pa.array(rep[rows]))
        direct = ids.take(pa.array(of[rows])).to_pylist()
        reasons = []
        for r, match, s, kept in zip(rows.tolist(), direct, score.tolist(), dup_of.to_pylist()):
            text = f"cosine {sim[r]:.3f} > {1 - self.eps:.3f} with {match}"
            if rep[r] != of[r]:  # a chain: the match was removed too; name the kept record
                text += f", itself a duplicate of {kept} (cosine {s:.3f})"
            reasons.append(reason("semantic duplicate", text))
        ctx.info["removed"] = int(len(rows))
        return pa.table({"id": ids.take(pa.array(rows)), "reason": pa.array(reasons, pa.string()),
                         "dup_of": dup_of, "score": pa.array(score)})

    def _preference(self, table: pa.Table, dist: np.ndarray) -> np.ndarray:
        """Lower ranks first; ties go to the smaller id (the table is sorted by id)."""
        if self.keep == "farthest":
            return -dist.astype(np.float64)
        if self.keep == "closest":
            return dist.astype(np.float64)
        p = table.column("priority").to_numpy(zero_copy_only=False).astype(np.float64)
        p = -p if self.prefer == "highest" else p
        return np.where(np.isnan(p), np.inf, p)  # nulls last


def _print_sweep(step: str, n: int, rows: list[dict]) -> None:
    print(f"{step}: removed fraction by eps over {n:,} records (nothing removed: sweep mode)", file=sys.stderr)
    for r in rows:
        print(f"  eps {r['eps']:<8g} cosine > {r['threshold']:<8g} {r['removed']:>10,}  {r['fraction']:.2%}",
              file=sys.stderr)
