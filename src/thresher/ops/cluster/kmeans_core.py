"""k-means with faiss (Johnson et al. 2019): fit centroids, assign points; deterministic under
a seed (faiss draws its initial centroids and its subsample from it; assignment is exact)."""

from __future__ import annotations

import numpy as np

from ...errors import RecipeError, require
from ..base import OpContext

__all__ = ["fit_kmeans", "assign", "closest_per_cluster", "check_k"]

_ASSIGN_ROWS = 65536


def _faiss():
    return require("faiss", "k-means needs faiss-cpu: pip install 'thresher[embed]'")


def check_k(owner: str, k: int, n: int, what: str = "records") -> None:
    if k > n:
        raise RecipeError(f"{owner} is {k}, more clusters than the {n} {what} to cluster; lower it.")


def fit_kmeans(x: np.ndarray, k: int, *, niter: int, seed: int, spherical: bool,
               init: np.ndarray | None = None, max_points_per_centroid: int = 256) -> np.ndarray:
    """``k`` centroids of ``x`` (float32, ``(k, d)``) after ``niter`` Lloyd iterations on at
    most ``max_points_per_centroid * k`` points sampled under ``seed``; ``init`` warm-starts."""
    faiss = _faiss()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if k == len(x):  # every point its own cluster: nothing to iterate
        return x.copy()
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=int(seed) % 2**31, spherical=spherical,
                      max_points_per_centroid=max_points_per_centroid, min_points_per_centroid=1, verbose=False)
    km.train(x, init_centroids=None if init is None else np.ascontiguousarray(init, dtype=np.float32))
    return np.asarray(km.centroids, dtype=np.float32)


def assign(x: np.ndarray, centroids: np.ndarray, spherical: bool,
           ctx: OpContext | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each point's nearest centroid and its distance: ``1 - cosine`` when ``spherical``, else
    the Euclidean distance. Ties go to the lower centroid index. On a cluster (``ctx``
    distributed) blocks of points are assigned by the workers, the same blocks as here."""
    if ctx is not None and ctx.distributed and len(x) > _ASSIGN_ROWS:
        blocks = ctx.map(assign_task, [(x[lo:lo + _ASSIGN_ROWS], centroids, spherical)
                                       for lo in range(0, len(x), _ASSIGN_ROWS)])
        return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])
    faiss = _faiss()
    index = faiss.IndexFlatIP(centroids.shape[1]) if spherical else faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    labels = np.empty(len(x), np.int64)
    dist = np.empty(len(x), np.float32)
    for lo in range(0, len(x), _ASSIGN_ROWS):
        d, i = index.search(np.ascontiguousarray(x[lo:lo + _ASSIGN_ROWS], dtype=np.float32), 1)
        labels[lo:lo + len(i)] = i[:, 0]
        dist[lo:lo + len(d)] = 1.0 - d[:, 0] if spherical else np.sqrt(np.maximum(d[:, 0], 0.0))
    return labels, dist


def assign_task(item: tuple) -> tuple[np.ndarray, np.ndarray]:
    """``assign`` of one block ``(x, centroids, spherical)``."""
    return assign(*item)


def closest_per_cluster(labels: np.ndarray, dist: np.ndarray, s: int) -> np.ndarray:
    """Indices of the ``s`` points closest to their centroid in every cluster (ties: index)."""
    order = np.lexsort((np.arange(len(labels)), dist, labels))
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    return np.sort(order[np.arange(len(order)) - starts < s])
