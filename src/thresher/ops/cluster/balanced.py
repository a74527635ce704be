"""``sample_balanced``: hierarchical balanced sampling from the cluster tree (Vo et al. 2024,
Sec. 4.3 and their reference ``hierarchical_sampling``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ...errors import InputError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..columns import seeded_id_hashes
from ..registry import register_op
from .hierarchical import CLUSTER_PATH
from .kmeans import CLUSTER_DISTANCE

__all__ = ["SampleBalanced", "split_budget", "balanced_sample"]


def split_budget(sizes: np.ndarray, target: int, tiebreak: np.ndarray) -> np.ndarray:
    """Split ``target`` over groups of ``sizes`` as evenly as they allow: the largest cap ``x``
    with ``sum(min(sizes, x)) <= target`` (found by binary search), so small groups give
    everything and big ones give ``x``; the remainder adds one to the big groups first in
    ``tiebreak`` order. The result sums to ``min(target, sizes.sum())`` exactly.

    >>> split_budget(np.array([2, 10, 50]), 30, np.arange(3)).tolist()
    [2, 10, 18]
    >>> split_budget(np.array([5, 5, 5]), 7, np.array([2, 0, 1])).tolist()
    [2, 3, 2]
    """
    sizes = np.asarray(sizes, np.int64)
    if target >= sizes.sum():
        return sizes.copy()
    lo, hi = 0, int(sizes.max())
    while hi - lo > 1:  # invariant: sum(min(sizes, lo)) <= target < sum(min(sizes, hi))
        mid = (lo + hi) // 2
        if np.minimum(sizes, mid).sum() <= target:
            lo = mid
        else:
            hi = mid
    quota = np.minimum(sizes, lo)
    remainder = target - int(quota.sum())
    if remainder:
        candidates = np.flatnonzero(sizes > lo)
        quota[candidates[np.argsort(tiebreak[candidates], kind="stable")[:remainder]]] += 1
    return quota


def balanced_sample(paths: np.ndarray, target: int, rank: np.ndarray, seed: int) -> np.ndarray:
    """A boolean mask of the records chosen: the budget is split evenly over the top-level
    clusters, then within each over its sub-clusters, down to the leaves, where records are
    taken in ``rank`` order (lowest first). ``paths`` is ``(n, levels)``, top level first."""
    n, depth = paths.shape
    chosen = np.zeros(n, bool)
    order = np.lexsort([rank] + [paths[:, j] for j in range(depth - 1, -1, -1)])  # by path, then rank
    sorted_paths = paths[order]

    def visit(lo: int, hi: int, level: int, budget: int) -> None:
        if budget <= 0:
            return
        if level == depth:  # a leaf: its records, best rank first
            chosen[order[lo:lo + budget]] = True
            return
        labels = sorted_paths[lo:hi, level]
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]]) + lo
        ends = np.r_[starts[1:], hi]
        tiebreak = np.array([_mix(seed, level, int(sorted_paths[s, level])) for s in starts], np.uint64)
        for s, e, q in zip(starts, ends, split_budget(ends - starts, budget, tiebreak)):
            visit(int(s), int(e), level + 1, int(q))

    visit(0, n, 0, target)
    return chosen


def _profile(before: np.ndarray, after: np.ndarray, points: int = 200) -> dict:
    """Leaf cluster sizes (largest first) before and after, at most ``points`` of them evenly
    spaced, for the report's plot."""
    keep = before > 0
    before, after = before[keep], after[keep]
    pick = np.unique(np.linspace(0, len(before) - 1, min(points, len(before))).round().astype(int))
    return {"rank": pick.tolist(), "before": before[pick].tolist(), "after": after[pick].tolist()}


def _mix(seed: int, level: int, cluster: int) -> int:
    return xxhash.xxh64_intdigest(f"{seed}:{level}:{cluster}".encode())


@register_op("sample_balanced")
class SampleBalanced(GlobalOp):
    """Balanced sampling from the hierarchical k-means tree (Vo et al. 2024): the budget is split
    evenly over the top-level clusters (a binary search finds the per-cluster quota so that small
    clusters give everything and big ones are capped), then recursively over their
    sub-clusters; within a leaf cluster records are picked at ``random`` (the paper's best
    choice) or ``closest`` to the centroid.

    Set ``size`` (records) or ``fraction`` (of the records). Run ``hierarchical_kmeans`` first.
    Records not selected go to removed/ with reason ``not selected by <step>`` and keep their
    ``th_cluster_path``. Random picks rank records by a hash of (seed, id), so they do not
    depend on sharding; the total selected is exactly the target.

    What it balances is the embedding space, not labels: dense regions (many similar records)
    are thinned and sparse, varied ones kept, which pays off when the frequent concepts are
    redundant. A rare class that is dense in the embedding space (a uniform style or topic) is
    thinned too: on the source-labelled pool of ``bench/balanced.py`` it under-sampled the
    smallest sources with every encoder tried (bench/RESULTS.md). To balance a label column, use
    ``rebalance``.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> from thresher.ops.cluster.hierarchical import HierarchicalKMeans
    >>> from thresher.ops.embed.embed import Embed
    >>> vectors = [[1.0, 0.1], [1.0, 0.2], [0.9, 0.1], [1.0, 0.0], [0.1, 1.0], [0.2, 1.0]]  # 4 and 2
    >>> rows = [{"id": f"p{i}", "text": "", "vec": v} for i, v in enumerate(vectors)]
    >>> steps = [Embed(precomputed="vec"), HierarchicalKMeans(levels=[2, 1]), SampleBalanced(size=2)]
    >>> t = try_op(steps, rows)  # one record of each cluster, not two of the larger one
    >>> [r["th_cluster"] for r in t.rows.values() if r["id"] in t.kept] in ([0, 1], [1, 0]), len(t.kept)
    (True, 2)
    """

    params = {
        "size": Param(int, None, "records to keep", low=1, nullable=True),
        "fraction": Param(float, None, "fraction of the records to keep", low=0, high=1, low_open=True,
                          nullable=True),
        "strategy": Param(str, "random", "how records are picked within a leaf cluster",
                          choices=("random", "closest")),
    }

    def validate(self) -> None:
        if (self.size is None) == (self.fraction is None):
            raise RecipeError(f"{self.name}: set exactly one of size (records) or fraction, "
                              f"got size={self.size}, fraction={self.fraction}.")

    def holds(self) -> str:
        return "id, cluster path and distance per record"

    def key_columns(self) -> list[str]:
        return ["id", CLUSTER_PATH, CLUSTER_DISTANCE]

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        for column in (CLUSTER_PATH, CLUSTER_DISTANCE):
            if column not in batch.schema.names:
                raise InputError(f"{self.name} samples from the cluster tree, but the records have no {column} "
                                 "column: add a `- hierarchical_kmeans: {}` step before it.")
        return pa.table({"id": batch.column("id"), "path": batch.column(CLUSTER_PATH),
                         "dist": batch.column(CLUSTER_DISTANCE)})

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table = KeyParts.of(keys).read_by_id()
        n = table.num_rows
        target = self.size if self.size is not None else int(round(self.fraction * n))
        if not n or target >= n:
            ctx.info.update({"records": n, "target": target, "selected": n})
            return pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
        lengths = pc.list_value_length(table.column("path")).to_numpy(zero_copy_only=False)
        if lengths.min() != lengths.max():
            raise InputError(f"{self.name}: the records' {CLUSTER_PATH} have different depths {sorted(set(lengths))}; "
                             "were they clustered by different hierarchical_kmeans runs?")
        paths = pc.list_flatten(table.column("path")).to_numpy(zero_copy_only=False).reshape(n, int(lengths[0]))
        if self.strategy == "random":
            rank = seeded_id_hashes(table.column("id").to_pylist(), ctx.seed)
        else:
            rank = table.column("dist").to_numpy(zero_copy_only=False)  # ties: id order (the sort above)
        chosen = balanced_sample(paths, target, rank, ctx.seed)
        before = np.bincount(paths[:, -1])
        after = np.bincount(paths[chosen, -1], minlength=len(before))
        order = np.argsort(-before, kind="stable")
        ctx.info.update({"records": n, "target": target, "selected": int(chosen.sum()),
                         "leaf_clusters": int((before > 0).sum()), "leaf_clusters_selected": int((after > 0).sum()),
                         "leaf_size_max_before": int(before.max()), "leaf_size_max_after": int(after.max()),
                         "leaf_sizes": _profile(before[order], after[order])})
        dropped = np.flatnonzero(~chosen)
        detail = f"balanced sample of {target} of {n} records ({self.strategy} within leaf clusters)"
        return pa.table({"id": table.column("id").take(pa.array(dropped)),
                         "reason": pa.array([reason(f"not selected by {ctx.step or self.name}", detail)] * len(dropped),
                                            pa.string())})
