"""``kmeans``: one k-means over the embeddings; cluster id and distance on every record."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext
from ..embed.vectors import EmbeddingKeys, vectors_by_id
from ..registry import register_op
from .kmeans_core import assign, check_k, fit_kmeans

__all__ = ["KMeans", "CLUSTER", "CLUSTER_DISTANCE", "KMEANS_PARAMS", "cluster_sizes"]

CLUSTER = "th_cluster"
CLUSTER_DISTANCE = "th_cluster_distance"

KMEANS_PARAMS = {
    "niter": Param(int, 20, "Lloyd iterations", low=1),
    "spherical": Param(bool, True, "cosine k-means (unit-length centroids); false: Euclidean"),
    "max_points_per_centroid": Param(int, 256, "fit on a seeded sample of at most this many points per "
                                     "centroid (faiss's default); every point is assigned", low=1),
}


def default_k(n: int) -> int:
    """``sqrt(n / 2)``, the rule of thumb, at least 1."""
    return max(1, round(math.sqrt(n / 2)))


def cluster_sizes(labels: np.ndarray) -> dict:
    """Summary of cluster sizes for the manifest: count, min, median, max."""
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, int)
    sizes = sizes[sizes > 0]
    if not len(sizes):
        return {"clusters": 0}
    return {"clusters": int(len(sizes)), "min": int(sizes.min()), "median": float(np.median(sizes)),
            "max": int(sizes.max())}


@register_op("kmeans")
class KMeans(EmbeddingKeys, GlobalOp):
    """k-means on the records' embeddings (Lloyd 1982) with faiss (Johnson et al. 2019).

    Writes ``th_cluster`` (0..k-1) and ``th_cluster_distance`` (``1 - cosine`` to the centroid
    when ``spherical``, else Euclidean) on every record; removes nothing. ``k`` defaults to
    ``sqrt(n / 2)``. The records are ordered by id before fitting, and faiss draws its
    initialisation and its sample from the recipe seed, so the clusters do not depend on the
    number of workers or shards.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> from thresher.ops.embed.embed import Embed
    >>> vectors = [[1.0, 0.1], [1.0, 0.2], [0.9, 0.1], [0.1, 1.0], [0.2, 1.0], [0.1, 0.9]]
    >>> rows = [{"id": f"p{i}", "text": "", "vec": v} for i, v in enumerate(vectors)]
    >>> t = try_op([Embed(precomputed="vec"), KMeans(k=2)], rows)
    >>> t.kept == [r["id"] for r in rows], t.column("th_cluster"), t.info["kmeans"]["sizes"]["min"]
    (True, [0, 0, 0, 1, 1, 1], 3)
    """

    annotates = True
    writes = (CLUSTER, CLUSTER_DISTANCE)
    params = {
        "k": Param(int, None, "number of clusters (default: sqrt(n/2))", low=1, nullable=True),
        **KMEANS_PARAMS,
    }

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * (2 * 384 * 4 + 200)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table, x = vectors_by_id(keys, ctx)
        k = self.k if self.k is not None else default_k(len(table))
        if len(table):
            check_k(f"{self.name}.k", k, len(table))
            centroids = fit_kmeans(x, k, niter=self.niter, seed=ctx.seed, spherical=self.spherical,
                                   max_points_per_centroid=self.max_points_per_centroid)
            labels, dist = assign(x, centroids, self.spherical, ctx)
        else:
            labels, dist = np.zeros(0, np.int64), np.zeros(0, np.float32)
        ctx.info.update({"k": k, "sizes": cluster_sizes(labels)})
        return pa.table({"id": table.column("id"), "reason": pa.nulls(len(table), pa.string()),
                         CLUSTER: pa.array(labels.astype(np.int32)), CLUSTER_DISTANCE: pa.array(dist)})
