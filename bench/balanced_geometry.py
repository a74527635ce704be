#!/usr/bin/env python3
"""Why balanced sampling does or does not favour the small classes under a given encoder: the
share of each class that a one-level balanced sample would take, relative to a uniform sample.

    .venv/bin/python bench/balanced_geometry.py [--budget 0.1] [--seed 0] [--cache bench/.data/cache]
        [--lsa bench/.data/balanced/lsa/pool.parquet]

For each encoder, on the pool of ``bench/labelled_corpus.py``: spherical faiss k-means with
``k = n // 50`` (the leaf size of ``hierarchical_kmeans``'s auto levels), then the
``sample_balanced`` quotas at one level (its ``split_budget``: the largest per-cluster cap ``q``
with ``sum(min(size, q)) <= budget * n``, the remainder one more for some big clusters), so that
a record of a cluster of ``size`` records is taken with probability ``quota / size``. A class's **take ratio** is
the mean of that probability over its records divided by the budget: 1 means the balanced
sample takes the class as a uniform one would, below 1 that it under-samples it (its records sit
in clusters larger than the quota), above 1 that it over-samples it. Also the mean size of the
clusters its records fall in.

Encoders: ``static`` (vectors from thresher's embedding cache, written by ``bench/balanced.py``),
``lsa`` (the TF-IDF + SVD vectors of ``bench/balanced.py --encoder lsa``), and ``minilm`` on the
records whose MiniLM vectors are in the cache (all of them once the pool has been embedded with
``embed: {model: minilm}``; about 15 passages/s on 2 cores). Every encoder is measured on the full
pool where it has vectors for all of it, and all three on the records MiniLM has, so they can be
compared on the same records.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common import read_jsonl

HERE = Path(__file__).resolve().parent


def cached_vectors(cache: Path, model: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows that the cache holds, their vectors) for thresher's ``embed: {model: MODEL}``."""
    from thresher.ops.embed.cache import EmbeddingCache, content_keys
    from thresher.ops.embed.encoders import model_id

    name = f"{model_id(model)}:float32"
    store = EmbeddingCache(cache, name)
    keys = content_keys(name, texts)
    rows = np.flatnonzero(store.contains(keys))
    return rows, store.get(keys[rows]) if rows.size else np.zeros((0, 0), np.float32)


def take_ratios(x: np.ndarray, labels: np.ndarray, classes: list[str], budget: float, seed: int) -> dict:
    import faiss

    from thresher.ops.cluster.balanced import split_budget

    x = np.ascontiguousarray(x, dtype=np.float32)
    k = max(2, len(x) // 50)
    km = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed, spherical=True, verbose=False)
    km.train(x)
    leaf = km.index.search(x, 1)[1][:, 0]
    counts = np.bincount(leaf, minlength=k)
    quota = split_budget(counts, int(budget * len(x)), np.arange(k))
    size = counts[leaf]
    taken = quota[leaf] / size
    return {c: (float(taken[labels == c].mean() / budget), float(size[labels == c].mean())) for c in classes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / ".data" / "labelled")
    ap.add_argument("--cache", type=Path, default=HERE / ".data" / "cache")
    ap.add_argument("--lsa", type=Path, default=HERE / ".data" / "balanced" / "lsa" / "pool.parquet")
    ap.add_argument("--budget", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    pool = read_jsonl(args.data / "pool.jsonl")
    texts = [r["text"] for r in pool]
    labels = np.array([r["label"] for r in pool])
    classes = sorted(set(labels), key=lambda c: -(labels == c).sum())

    encoders: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for model in ("static", "minilm"):
        rows, x = cached_vectors(args.cache, model, texts)
        if rows.size:
            encoders[model] = (rows, x)
    if args.lsa.exists():
        import pyarrow.parquet as pq

        table = pq.read_table(args.lsa, columns=["id", "lsa"])
        where = {i: j for j, i in enumerate(table.column("id").to_pylist())}
        x = np.asarray(table.column("lsa").combine_chunks().flatten()).reshape(table.num_rows, -1)
        encoders["lsa"] = (np.arange(len(pool)), x[[where[r["id"]] for r in pool]])

    subsets = [("full pool", np.arange(len(pool)))]
    if "minilm" in encoders and encoders["minilm"][0].size < len(pool):
        subsets.append((f"the {encoders['minilm'][0].size:,} records MiniLM has encoded", encoders["minilm"][0]))
    print(f"take ratio (balanced / uniform share of the class) at a {args.budget:.0%} budget, one level, "
          f"k = n // 50, seed {args.seed}; in brackets the mean size of the class's clusters\n")
    for label, subset in subsets:
        n_here = {c: int((labels[subset] == c).sum()) for c in classes}
        print(f"{label}:\n\n| encoder | " + " | ".join(f"{c} ({n_here[c]})" for c in classes) + " |")
        print("|---|" + "---:|" * len(classes))
        for name, (rows, x) in encoders.items():
            position = {r: i for i, r in enumerate(rows.tolist())}
            if not all(r in position for r in subset.tolist()):
                continue
            picked = x[[position[r] for r in subset.tolist()]]
            ratio = take_ratios(picked, labels[subset], classes, args.budget, args.seed)
            print(f"| {name} | " + " | ".join(f"{ratio[c][0]:.2f} ({ratio[c][1]:.0f})" for c in classes) + " |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
