#!/usr/bin/env python3
"""Hierarchical k-means cost: thresher's ``hierarchical_kmeans`` against one faiss k-means with
the level-1 k and the same iterations, on >= 200k real embeddings.

    .venv/bin/python bench/hkmeans.py --n 200000

Vectors: the first ``--n`` documents of ``bench/.data/dedup245k/corpus.jsonl`` (build it with
``bench/dedup_corpus.py``) embedded by thresher's static encoder with 384 dimensions (model2vec
distilled from MiniLM, no PCA reduction), read back from the cache into one ``.npy`` file.
Each configuration then runs in its own process (so its peak RSS is its own), on that file:

- ``faiss``: one ``faiss.Kmeans`` (spherical) with the level-1 k, ``niter`` iterations, every
  point assigned once at the end: the reference.
- ``thresher ...``: ``hierarchical_kmeans`` (the function the op's decide calls) with the default
  levels for n (about n/50, then /10, /10), with level-1 resampling steps 0 (the default when
  level 1 has over 1,000 clusters, as in the authors' largest configuration), 1 and 3.

Printed: seconds, the ratio to the reference, peak RSS of the process (the vectors alone take
n x 384 x 4 bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from common import git_commit, run_recipe, vectors

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "bench" / ".data" / "dedup245k" / "corpus.jsonl"
os.environ.setdefault("THRESHER_CACHE", str(REPO / "bench" / ".data" / "cache"))


def embed_corpus(n: int, work: Path) -> Path:
    """Embed the first n documents with the 384-d static encoder; return the .npy of vectors."""
    from thresher import read_output
    from thresher.paths import default_cache_dir

    src = work / "docs.jsonl"
    with open(CORPUS, encoding="utf-8") as f, open(src, "w", encoding="utf-8") as out:
        for i, line in enumerate(f):
            if i >= n:
                break
            out.write(line)
    run_recipe(src, work / "out", [{"embed": {"model": "static", "pca_dims": 384}}], workers=2, fresh=False)
    keys = read_output(work / "out", "kept", ["th_embedding_key"])
    path = work / "vectors.npy"
    np.save(path, vectors(default_cache_dir(), keys.column("th_embedding_key")))
    return path


def child(args) -> None:
    """One configuration, in this process: print its JSON result."""
    from thresher.ops.cluster.hierarchical import auto_levels, hierarchical_kmeans
    from thresher.ops.cluster.kmeans_core import assign, fit_kmeans

    x = np.load(args.vectors)
    levels = auto_levels(len(x))
    start = time.perf_counter()
    if args.config == "faiss":
        centroids = fit_kmeans(x, levels[0], niter=args.niter, seed=0, spherical=True)
        assign(x, centroids, True)
    else:
        steps = [int(args.config.split("=")[1])] + [10] * (len(levels) - 1)
        hierarchical_kmeans(x, levels, niter=args.niter, seed=0, spherical=True, resample_steps=steps,
                            sample_sizes=[None] * len(levels), sampling="closest", max_points_per_centroid=256)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "levels": levels, "peak_rss_mb": vm_hwm_mb()}))


def vm_hwm_mb() -> float:
    """This process's own peak RSS (ru_maxrss would carry the forking parent's peak)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--niter", type=int, default=20)
    ap.add_argument("--vectors", type=Path, default=None)
    ap.add_argument("--config", default=None)
    args = ap.parse_args(argv)
    if args.config:
        child(args)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-hkm-"))
    vectors = args.vectors or embed_corpus(args.n, work)
    n, dim = np.load(vectors, mmap_mode="r").shape
    results = {}
    for config in ["faiss", "resample_level1=0", "resample_level1=1", "resample_level1=3"]:
        out = subprocess.run([sys.executable, __file__, "--vectors", str(vectors), "--niter", str(args.niter),
                              "--config", config], capture_output=True, text=True, check=True)
        results[config] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{config}: {results[config]}", file=sys.stderr)
    ref = results["faiss"]["seconds"]
    commit = git_commit()
    print(f"\n{date.today()}  git {commit}  `.venv/bin/python bench/hkmeans.py --n {args.n}`")
    print(f"{n:,} x {dim} real embeddings (static encoder), levels {results['faiss']['levels']}, "
          f"niter {args.niter}, spherical\n")
    print("| run | seconds | / one k-means | peak RSS |\n|---|---:|---:|---:|")
    names = {"faiss": f"one faiss k-means, k={results['faiss']['levels'][0]}"}
    for config, r in results.items():
        label = names.get(config, f"hierarchical_kmeans, level-1 resampling steps {config.split('=')[1]}, "
                                  "10 above")
        print(f"| {label} | {r['seconds']:.1f} | {r['seconds'] / ref:.2f}x | {r['peak_rss_mb']:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
