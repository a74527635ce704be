"""``hierarchical_kmeans``: the clustering of Vo et al. 2024 (Automatic Data Curation for
Self-Supervised Learning: A Clustering-Based Approach, Sec. 4 and their reference code)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...errors import RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext
from ..embed.vectors import EmbeddingKeys, vectors_by_id
from ..registry import register_op
from .kmeans import CLUSTER, CLUSTER_DISTANCE, KMEANS_PARAMS, cluster_sizes
from .kmeans_core import assign, check_k, closest_per_cluster, fit_kmeans

__all__ = ["HierarchicalKMeans", "CLUSTER_PATH", "auto_levels", "hierarchical_kmeans"]

CLUSTER_PATH = "th_cluster_path"


def auto_levels(n: int) -> list[int]:
    """Level sizes scaled to ``n`` records: about 50 records per level-1 cluster, then 10
    clusters per cluster, while a level keeps at least 5 clusters (at most 3 levels)."""
    levels = [max(1, round(n / 50))]
    while len(levels) < 3 and levels[-1] // 10 >= 5:
        levels.append(levels[-1] // 10)
    return levels


def _per_level(owner: str, value: list[int] | None, levels: int, default: list[int]) -> list[int]:
    if value is None:
        return default
    if len(value) == 1:
        return value * levels
    if len(value) != levels:
        raise RecipeError(f"{owner} has {len(value)} values but there are {levels} levels; give one value, "
                          "or one per level.")
    return list(value)


def hierarchical_kmeans(x: np.ndarray, levels: list[int], *, niter: int, seed: int, spherical: bool,
                        resample_steps: list[int], sample_sizes: list[int | None], sampling: str,
                        max_points_per_centroid: int, owner: str = "hierarchical_kmeans",
                        ctx: OpContext | None = None):
    """Cluster ``x``, then each level's centroids; return per level ``(labels, dist, centroids)``
    where level 0's labels index records and level l's index level l-1's clusters.

    Each level runs k-means, then ``r`` resampling steps: take ``s`` points per cluster (the
    ``s`` closest to the centroid, or ``s`` at random), fit k-means on them warm-started from
    the current centroids, and reassign every point. Sampling the same number from each
    cluster moves centroids away from dense regions, so that clusters spread uniformly over
    the concepts (Vo et al. 2024, Sec. 4.2). ``s`` defaults to half the level's mean
    cluster size, as in the authors' configurations.
    """
    out = []
    data = x
    rng = np.random.default_rng(seed)
    for level, k in enumerate(levels):
        check_k(f"{owner}.levels[{level}]", k, len(data), "records" if level == 0 else "clusters of the level below")
        level_seed = seed + 1000 * level
        centroids = fit_kmeans(data, k, niter=niter, seed=level_seed, spherical=spherical,
                               max_points_per_centroid=max_points_per_centroid)
        labels, dist = assign(data, centroids, spherical, ctx)
        s = sample_sizes[level] or max(1, len(data) // (2 * k))
        for step in range(resample_steps[level] if s > 1 and k < len(data) else 0):
            if sampling == "closest":
                chosen = closest_per_cluster(labels, dist, s)
            else:
                keys = rng.random(len(data))
                chosen = closest_per_cluster(labels, keys.astype(np.float32), s)
            if len(chosen) < k:
                break
            centroids = fit_kmeans(data[chosen], k, niter=niter, seed=level_seed + step + 1, spherical=spherical,
                                   init=centroids, max_points_per_centroid=max_points_per_centroid)
            labels, dist = assign(data, centroids, spherical, ctx)
        out.append((labels, dist, centroids))
        data = centroids
    return out


@register_op("hierarchical_kmeans")
class HierarchicalKMeans(EmbeddingKeys, GlobalOp):
    """Hierarchical k-means with resampling (Vo et al. 2024): k-means on the embeddings, then
    k-means on each level's centroids, with resampling-based refinement at every level.

    Every record gets ``th_cluster_path`` (its cluster at each level, top level first),
    ``th_cluster`` (its level-1 cluster) and ``th_cluster_distance`` (to that centroid), which
    ``sample_balanced`` reads. ``levels`` lists the clusters per level, finest first (e.g.
    ``[10000, 1000, 100]``); by default about 50 records per level-1 cluster and 10 clusters per
    cluster above. ``resample_steps`` and ``sample_size`` take one value or one per level; the
    authors used 10 steps with about half the mean cluster size per cluster, and none at level 1
    of their largest run for cost.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> from thresher.ops.embed.embed import Embed
    >>> vectors = [[1.0, 0.1], [1.0, 0.2], [0.9, 0.1], [0.1, 1.0], [0.2, 1.0], [0.1, 0.9]]
    >>> rows = [{"id": f"p{i}", "text": "", "vec": v} for i, v in enumerate(vectors)]
    >>> t = try_op([Embed(precomputed="vec"), HierarchicalKMeans(levels=[2, 1])], rows)
    >>> t.kept == [r["id"] for r in rows], t.column("th_cluster_path")  # [leaf, top] cluster of each record
    (True, [[0, 0], [0, 0], [0, 0], [0, 1], [0, 1], [0, 1]])
    """

    annotates = True
    writes = (CLUSTER_PATH, CLUSTER, CLUSTER_DISTANCE)
    params = {
        "levels": Param(list, None, "clusters per level, finest first (default: scaled to the data)", item=int,
                        nullable=True),
        "resample_steps": Param(list, None, "resampling steps, one value or one per level (default: 10, none "
                                "at level 1 when it has over 1,000 clusters)", item=int, nullable=True),
        "sample_size": Param(list, None, "points per cluster in a resampling step, one value or one per level "
                             "(default: half the mean cluster size)", item=int, nullable=True),
        "sampling": Param(str, "closest", "which points a resampling step takes", choices=("closest", "random")),
        **KMEANS_PARAMS,
    }

    def validate(self) -> None:
        for name in ("levels", "resample_steps", "sample_size"):
            value = getattr(self, name)
            if value is not None and (not value or min(value) < (1 if name != "resample_steps" else 0)):
                raise RecipeError(f"{self.name}.{name} must be a non-empty list of "
                                  f"{'positive' if name != 'resample_steps' else 'non-negative'} ints, got {value}.")
        if self.levels is not None and any(b >= a for a, b in zip(self.levels, self.levels[1:])):
            raise RecipeError(f"{self.name}.levels must decrease from the finest level up, got {self.levels}.")

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * (2 * 384 * 4 + 300)

    def resolved(self, n: int) -> tuple[list[int], list[int], list[int | None]]:
        levels = self.levels or auto_levels(n)
        steps_default = [0 if (i == 0 and k > 1000) else 10 for i, k in enumerate(levels)]
        steps = _per_level(f"{self.name}.resample_steps", self.resample_steps, len(levels), steps_default)
        sizes = _per_level(f"{self.name}.sample_size", self.sample_size, len(levels), [None] * len(levels))
        return levels, steps, sizes

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table, x = vectors_by_id(keys, ctx)
        n = len(table)
        levels, steps, sizes = self.resolved(n)
        if n:
            result = hierarchical_kmeans(x, levels, niter=self.niter, seed=ctx.seed, spherical=self.spherical,
                                         resample_steps=steps, sample_sizes=sizes, sampling=self.sampling,
                                         max_points_per_centroid=self.max_points_per_centroid, owner=self.name,
                                         ctx=ctx)
            paths = [result[0][0]]
            for labels, _, _ in result[1:]:
                paths.append(labels[paths[-1]])
            path = np.stack(paths[::-1], axis=1).astype(np.int32)
            leaf, dist = result[0][0], result[0][1]
        else:
            path, leaf, dist = np.zeros((0, len(levels)), np.int32), np.zeros(0, np.int64), np.zeros(0, np.float32)
        ctx.info.update({"levels": levels, "resample_steps": steps,
                         "sizes": [cluster_sizes(path[:, -1 - i]) for i in range(len(levels))]})
        return pa.table({
            "id": table.column("id"), "reason": pa.nulls(n, pa.string()),
            CLUSTER_PATH: pa.FixedSizeListArray.from_arrays(pa.array(path.reshape(-1)), len(levels)).cast(
                pa.list_(pa.int32())),
            CLUSTER: pa.array(leaf.astype(np.int32)), CLUSTER_DISTANCE: pa.array(dist),
        })
